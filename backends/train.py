"""`python -m backends.train`: the training command as documented (the code is `backends.training`)."""

import os
import sys

from backends.training.cli import main

if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
