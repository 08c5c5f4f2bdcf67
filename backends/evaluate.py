"""`python -m backends.evaluate`: the evaluator's documented command (the code is `backends.evaluation`).

Also `python -m backends.evaluation` and `torchrun --nproc_per_node N -m backends.evaluate ...`.
"""

import sys

from backends.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
