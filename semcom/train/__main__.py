"""``python -m semcom.train ...``: the ``semcom train`` command without the rest of the CLI."""

import sys

import click

from semcom.errors import SemcomError


def main(argv: list[str] | None = None) -> int:
    import semcom  # noqa: F401  (fill the registries)
    from semcom.train.command import train

    try:
        train.main(args=argv, prog_name="python -m semcom.train", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"semcom: error: {exc.format_message()}", err=True)
        return 2
    except SemcomError as exc:
        click.echo(f"semcom: error: {' '.join(str(exc).split())}", err=True)
        return 2
    except (click.Abort, KeyboardInterrupt):
        click.echo("semcom: interrupted; the last checkpoint is saved, rerun the same command to resume", err=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
