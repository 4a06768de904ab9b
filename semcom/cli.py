"""The ``semcom`` command line: thin click commands over library functions.

Bad input is reported as one line on stderr (``semcom: error: ...``) with exit status 2.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from semcom.cliutil import executor_options, parse_kv
from semcom.errors import SemcomError


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


@cli.command("run")
@click.option("--link", "link_name", required=True, help="Link name (see `semcom links`) or a link TOML file.")
@click.option("--snr", required=True, help="SNR points in dB: 0:20 (1 dB steps), 0:20:2, 7 or 0,5,10.")
@click.option("--cbr", required=True, help="Channel bandwidth ratio: 1/48 or 0.0208.")
@click.option("--channel", default=None, help="Channel: awgn, rayleigh or none (default: the link's).")
@click.option("--channel-param", multiple=True, metavar="KEY=VALUE",
              help="Channel argument, e.g. fading=fast or coherence=64 (repeatable).")
@click.option("--dataset", default=None, help="Evaluation data source (default: the link's, synth-blur).")
@click.option("--data-root", default=None, type=click.Path(), help="Folder for datasets read from disk.")
@click.option("--size", default=None, type=int, help="Crop side of the evaluation frames in pixels.")
@click.option("--limit", default=None, type=int, help="Evaluate at most N samples.")
@click.option("--repeats", default=1, show_default=True, type=int, help="Channel realizations per image.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every channel draw.")
@click.option("--batch-size", default=8, show_default=True, type=int,
              help="Frames per forward pass (memory, not results).")
@click.option("--metrics", default="psnr,ssim,dists", show_default=True, help="Comma-separated metrics.")
@click.option("--checkpoint", default=None, type=click.Path(),
              help="Checkpoint of the learned codec, or of the learned back-end behind a codec without weights (stra).")
@click.option("--all-configs", is_flag=True, help="Adaptive digital links: also write every configuration's curve.")
@click.option("--out", "out_dir", default="results/runs", show_default=True, type=click.Path(),
              help="Folder for the CSV, JSON sidecar and PNG.")
@click.option("--overwrite", is_flag=True, help="Replace earlier results of this link/channel/CBR instead of resuming.")
@click.option("--no-plot", is_flag=True, help="Do not draw the PNG.")
@executor_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or table.")
def run_cmd(link_name: str, snr: str, cbr: str, channel: str | None, channel_param: tuple[str, ...],
            dataset: str | None, data_root: str | None, size: int | None, limit: int | None, repeats: int,
            seed: int, batch_size: int, metrics: str, checkpoint: str | None, all_configs: bool, out_dir: str,
            overwrite: bool, no_plot: bool, executor: str, address: str | None, quiet: bool) -> None:
    """Run a link over SNR points and write CSV + JSON + PNG (resumes an interrupted run)."""
    from semcom.bench.plots import plot_curves, summarize
    from semcom.bench.sweep import SweepConfig, run_sweep
    from semcom.cliutil import check_sweep
    from semcom.conventions import parse_cbr, parse_snr
    from semcom.link import find_link
    from semcom.registry import CHANNELS

    snr_points = parse_snr(snr)
    if size is not None and not 16 <= size <= 4096:
        raise SemcomError(f"--size must lie in [16, 4096] pixels, got {size}")
    cbr_value = parse_cbr(cbr)
    spec = find_link(link_name)  # fail fast on an unknown link
    if channel is not None and channel not in CHANNELS:
        raise SemcomError(CHANNELS.unknown_message(channel))
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise SemcomError(f"checkpoint not found: {checkpoint}")
    cfg = SweepConfig(link=link_name, cbr=cbr_value, snr_db=tuple(snr_points), channel=channel,
                      channel_params=parse_kv(channel_param, "--channel-param"), dataset=dataset,
                      dataset_params={"data_root": data_root, "size": size}, limit=limit, repeats=repeats,
                      seed=seed, batch_size=batch_size,
                      metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()),
                      all_configs=all_configs, checkpoint=checkpoint)
    # --limit beyond what the evaluation set holds, and a sweep too large to finish (--repeats 100000000),
    # are refused before anything is written
    check_sweep(cfg, spec.source)
    if executor == "ray":
        from semcom.bench.distributed import run_sweeps_ray

        csv_path = run_sweeps_ray([(cfg, Path(out_dir))], address=address, overwrite=overwrite, progress=not quiet)[0]
    else:
        csv_path = run_sweep(cfg, out_dir=out_dir, overwrite=overwrite, progress=not quiet)
    if not no_plot:
        png = plot_curves([csv_path], csv_path.with_suffix(".png"))
        configs = csv_path.with_name(csv_path.stem + "_configs.csv")
        if all_configs and configs.exists():  # one curve per configuration and their envelope
            png = f"{png}\n         {plot_curves([configs], configs.with_suffix('.png'))}"
    if not quiet:
        click.echo(summarize([csv_path]))
    click.echo(f"results: {csv_path}" + ("" if no_plot else f"\nplot:    {png}"))


@cli.command("links")
def links_cmd() -> None:
    """List the links (name and one-line description); a link that cannot load says why.

    Links are read from $SEMCOM_LINKS (folders separated by ':'), ./links and the package; a link
    file of one's own is checked against the registries, plugins included."""
    import semcom.linkspec as linkspec

    shipped = Path(linkspec.__file__).resolve().parent / "links"
    links = linkspec.available_links()
    width = max((len(n) for n in links), default=0)
    for name, path in links.items():
        try:  # the shipped links are tested to load; reading them needs no torch
            spec = linkspec.LinkSpec.load(path, validate=path.parent != shipped)
            desc = (spec.description.splitlines() or [""])[0]
        except SemcomError as exc:
            desc = f"(cannot load: {_link_failure(exc, path)})"
        click.echo(f"{name.ljust(width)}  {desc}")


def _link_failure(exc: SemcomError, path: Path) -> str:
    """Why a link file cannot load, without its path (the listing names the link) or the list of known names."""
    import re

    msg = " ".join(str(exc).split())
    if msg.startswith(f"{path}: "):
        msg = msg[len(f"{path}: "):]
    msg = re.sub(r" \(known: [^)]*\)$", "", msg)
    if msg.startswith("unknown "):
        msg += "; if a plugin registers it, load that: semcom --plugin FILE.py ... or $SEMCOM_PLUGINS"
    return msg


@cli.command("plot")
@click.argument("csv_files", nargs=-1, required=True, type=click.Path())
@click.option("--out", default=None, type=click.Path(),
              help="PNG path (default: beside the first CSV; one CSV: its own PNG, redrawn; several: a name of "
                   "their own, e.g. A+B.png, so no run's PNG is replaced).")
@click.option("--title", default=None, help="Figure title (default: what the curves share).")
def plot_cmd(csv_files: tuple[str, ...], out: str | None, title: str | None) -> None:
    """Draw PSNR, SSIM and DISTS against SNR from sweep CSV files into one PNG."""
    from semcom.bench.plots import plot_curves

    out_path = Path(out) if out else default_plot_path(csv_files)
    click.echo(str(plot_curves(list(csv_files), out_path, title=title)))


def default_plot_path(csv_files: tuple[str, ...] | list[str]) -> Path:
    """Where ``semcom plot`` draws without ``--out``: one CSV's own PNG (``A.png``, what ``semcom run``
    drew), or for several a name of their own beside the first (``A+B.png``; past three names or 150
    characters ``A+N-more_<hash>.png``), never another run's PNG.

    >>> default_plot_path(["runs/a.csv", "runs/b.csv"]).as_posix()
    'runs/a+b.png'
    """
    import hashlib

    first = Path(csv_files[0])
    stems = [Path(c).stem for c in csv_files]
    if len(stems) == 1:
        return first.with_suffix(".png")
    name = "+".join(stems)
    if len(stems) > 3 or len(name) > 150:
        digest = hashlib.sha1("\n".join(str(Path(c).resolve()) for c in csv_files).encode()).hexdigest()[:8]
        name = f"{stems[0]}+{len(stems) - 1}-more_{digest}"
    return first.with_name(name + ".png")


@cli.command("compare")
@click.argument("a_csv", type=click.Path())
@click.argument("b_csv", type=click.Path())
@click.option("--metrics", default="psnr,ssim", show_default=True, help="Comma-separated metrics.")
@click.option("--out", default=None, type=click.Path(), help="Also write the margins as CSV here.")
def compare_cmd(a_csv: str, b_csv: str, metrics: str, out: str | None) -> None:
    """Paired margin A - B per SNR point: mean difference over the same frames with its 95 % interval."""
    from semcom.bench.compare import format_margins, paired_margins
    from semcom.bench.results import write_table

    names = [m.strip() for m in metrics.split(",") if m.strip()]
    if not names:
        raise SemcomError("--metrics names no metric (give e.g. psnr,ssim)")
    a, b = Path(a_csv).stem.split("_")[0], Path(b_csv).stem.split("_")[0]
    table = []
    for metric in names:
        rows = paired_margins(a_csv, b_csv, metric=metric)
        click.echo(format_margins(rows, a=a, b=b, metric=metric))
        table += [{"metric": metric, "a": a, "b": b, **r} for r in rows]
    if out:
        write_table(out, table)
        click.echo(f"wrote {out}")


def _add_optional_commands() -> None:
    """Commands that live next to the code they drive."""
    import importlib

    for module, attr in (("semcom.sources.command", "data"), ("semcom.train.command", "train"),
                         ("semcom.bench.reproduce", "reproduce_cmd")):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        cmd = getattr(mod, attr, None)
        if cmd is not None:
            cli.add_command(cmd)


_add_optional_commands()


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


if __name__ == "__main__":
    sys.exit(main())
