"""The ``semcom`` command line: one module per command group, each a thin click command over library
functions (``run``, ``links``, ``plot``, ``compare``, ``train``, ``data``, ``reproduce``,
``experiment``).

Bad input is reported as one line on stderr (``semcom: error: ...``) with exit status 2.  Start-up
reads no model code: the command modules import torch and the heavy libraries inside their functions.
"""

from __future__ import annotations

import os

import click

from semcom.cli.compare import compare_cmd
from semcom.cli.data import data
from semcom.cli.experiment import experiment
from semcom.cli.links import links_cmd
from semcom.cli.plot import default_plot_path, plot_cmd
from semcom.cli.reproduce import reproduce_cmd
from semcom.cli.run import run_cmd
from semcom.cli.train import train_cmd
from semcom.errors import SemcomError

__all__ = ["cli", "main", "raise_interrupt", "default_plot_path"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--plugin", "plugins", multiple=True, metavar="FILE.py|MODULE",
              help="Import a module of your own components (codecs, channels, ... registered as the built-in ones "
                   "are) before the command; repeatable; give it before the command. $SEMCOM_PLUGINS "
                   "(separated by ':') and installed packages' 'semcom.plugins' entry points are loaded too.")
@click.version_option(package_name="semcom")
def cli(plugins: tuple[str, ...]) -> None:
    """Link-level simulation of semantic communication with event and spike cameras."""
    from semcom.plugins import export, load_plugins

    load_plugins(plugins)
    export(plugins)  # processes this command starts (reproduce --jobs, Ray) load them too


for _command in (run_cmd, links_cmd, plot_cmd, compare_cmd, data, train_cmd, reproduce_cmd, experiment):
    cli.add_command(_command)
del _command


def raise_interrupt(signum: int, frame: object) -> None:
    """A signal handler that stops the program as Ctrl-C does (SIGTERM: ``kill``, ``timeout``, preemption)."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning user errors into one line and exit status 2.  SIGTERM (``kill``,
    ``timeout``, a scheduler's preemption) stops a command as Ctrl-C does, keeping the finished work; so does
    SIGINT, also where the shell started the command with SIGINT ignored (a background job)."""
    import signal
    import threading

    from semcom.plugins import ENV

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    plugins_env = os.environ.get(ENV)  # --plugin adds to it for the processes a command starts
    try:
        import semcom  # noqa: F401  (fill the registries)

        cli.main(args=argv, prog_name="semcom", standalone_mode=False)
        return 0
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        hint = f" (try `semcom {exc.ctx.command.name} --help`)" if exc.ctx and exc.ctx.command.name != "cli" else ""
        click.echo(f"semcom: error: {_usage_message(exc)}{hint}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"semcom: error: {exc.format_message()}", err=True)
        return 2
    except SemcomError as exc:
        msg = " ".join(str(exc).split())
        click.echo(f"semcom: error: {msg}", err=True)
        return 2
    except (click.Abort, KeyboardInterrupt):
        click.echo("semcom: interrupted; finished work is saved, rerun the same command to resume", err=True)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if plugins_env is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = plugins_env


def _usage_message(exc: click.UsageError) -> str:
    """Click's message, with a case-insensitive "did you mean" for an unknown option or command, and where
    ``--plugin`` goes when it was given after the command."""
    from semcom.registry import did_you_mean

    msg = exc.format_message()
    ctx = exc.ctx
    option = getattr(exc, "option_name", None)
    if option is not None and ctx is not None:
        if option == "--plugin" and ctx.parent is not None:
            return (f"--plugin is an option of semcom itself: give it before the command, "
                    f"semcom --plugin FILE.py {ctx.command.name} ...")
        if not getattr(exc, "possibilities", None):
            names = [o for p in ctx.command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")]
            hint = did_you_mean(option, names)
            if hint:
                msg = f"{msg.rstrip('.')}{hint}"
    command = getattr(exc, "command_name", None)
    if command is not None and ctx is not None and isinstance(ctx.command, click.Group) \
            and not getattr(exc, "possibilities", None):
        hint = did_you_mean(command, ctx.command.list_commands(ctx))
        if hint:
            msg = f"{msg.rstrip('.')}{hint}"
    return msg
