"""``python -m semcom.experiments NAME [--tiny] [--out DIR]``: runs ``semcom experiment NAME ...``.

The command itself is :mod:`semcom.cli.experiment`; this entry point starts it by its module's name, as
``python -m semcom.cli experiment ...`` would, so the experiments package imports nothing of the command line.
"""

import runpy
import sys

if __name__ == "__main__":
    sys.argv[1:1] = ["experiment"]
    runpy.run_module("semcom.cli", run_name="__main__", alter_sys=True)
