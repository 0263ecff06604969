"""``python -m tpmlab.website``: the command line of :mod:`tpmlab.website.build`."""

import sys

from tpmlab.website.build import main

sys.exit(main())
