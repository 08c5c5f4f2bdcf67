"""`python -m backends.training`: the same command as `python -m backends.train`."""

import os
import sys

from backends.training.cli import main

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.exit(main())
