"""``python -m semcom.train ...``: the same as ``semcom train ...``."""

import sys


def main(argv: list[str] | None = None) -> int:
    from semcom.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
