"""``python -m semcom.experiments NAME [--tiny] [--out DIR]``: the ``semcom experiment`` command."""

import sys

import click

from semcom.errors import SemcomError
from semcom.experiments.command import experiment


def main(argv: list[str] | None = None) -> int:
    """Run the command; a user error is one line and exit status 2."""
    try:
        experiment.main(args=argv, prog_name="python -m semcom.experiments", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 2
    except SemcomError as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
