"""``python -m semcom.train ARGS`` (and ``torchrun ... -m semcom.train ARGS``): runs ``semcom train ARGS``.

The command itself is :mod:`semcom.cli.train`; this entry point starts it by its module's name, as
``python -m semcom.cli train ARGS`` would, so the training package imports nothing of the command line.
"""

import runpy
import sys

if __name__ == "__main__":
    sys.argv[1:1] = ["train"]
    runpy.run_module("semcom.cli", run_name="__main__", alter_sys=True)
