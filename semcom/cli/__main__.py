"""``python -m semcom.cli ...``: the same as ``semcom ...``."""

import sys

from semcom.cli import main

if __name__ == "__main__":
    sys.exit(main())
