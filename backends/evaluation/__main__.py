"""`python -m backends.evaluation`: the same command as `python -m backends.evaluate`."""

import sys

from backends.evaluation.cli import main

sys.exit(main())
