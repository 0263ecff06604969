"""``python -m tpmlab.grading.sandbox -f CONNECTION_FILE``: the sandboxed kernel's launcher
(:mod:`tpmlab.grading.sandbox.launcher`), the command of the ``tpmlab-sandbox`` kernelspec."""

import sys

from tpmlab.grading.sandbox.launcher import main

sys.exit(main())
