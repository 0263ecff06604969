import sys

from tpmlab.grading.cli import main

sys.exit(main())
