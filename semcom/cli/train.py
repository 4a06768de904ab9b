"""``semcom train``: train a learned link and write a resumable checkpoint (a thin layer over
:func:`semcom.train.trainer.train`).

The command's options are generated from the fields of :class:`~semcom.train.config.TrainConfig`
(spelling, default, help); only ``--plot``, ``--threads`` and ``-q`` belong to the command itself.
"""

from __future__ import annotations

import os
from dataclasses import MISSING
from pathlib import Path
from typing import Any, Callable

import click

from semcom.cli.options import parse_kv
from semcom.errors import SemcomError
from semcom.train.config import TrainConfig, cli_fields, option_flags

__all__ = ["train_cmd", "config_from_options", "COMMAND_ONLY"]


def _parse_snr(text: str, flag: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise SemcomError(f"malformed {flag} {text!r}: expected one number in dB") from None


def _parse_range(text: str, flag: str) -> tuple[float, float]:
    """``"A:B"`` -> ``(A, B)``; whether A <= B is the config's check."""
    try:
        lo, hi = (float(p) for p in text.split(":"))
    except ValueError:
        raise SemcomError(f"malformed {flag} {text!r}: expected A:B in dB, e.g. 0:20") from None
    return lo, hi


def _parse_cbr(text: str, flag: str) -> float:
    from semcom.conventions import parse_cbr

    return parse_cbr(text)


#: how the text of an option becomes a field's value (the field's ``parse`` metadata names one)
PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "cbr": _parse_cbr,
    "snr": _parse_snr,
    "snr-range": _parse_range,
    "kv": lambda items, flag: parse_kv(items, flag),
    "list": lambda text, flag: tuple(a.strip() for a in text.split(",") if a.strip()),
}


def cli_default(f: Any) -> Any:
    """The option's default as click holds it (a comma-separated list is text on the command line)."""
    default = None if f.default is MISSING else f.default
    if f.metadata.get("parse") == "list":
        return ",".join(default)
    return default


def field_option(f: Any) -> Callable:
    """The click option of :class:`TrainConfig` field ``f``."""
    meta, kind = f.metadata, f.metadata["kind"]
    flags = list(option_flags(f))
    kwargs: dict[str, Any] = {"help": meta["help"]}
    if kind == "flag":
        kwargs["is_flag"] = True
    elif kind == "switch":
        flags[0] = f"{flags[0]}/--no-{flags[0][2:]}"
        kwargs.update(default=f.default, show_default=True)
    else:
        default = cli_default(f)
        kwargs["default"] = default
        if meta.get("parse") == "kv":
            kwargs["multiple"] = True
        elif default is not None:
            kwargs["show_default"] = meta.get("show_default", True)
        if kind == "int":
            kwargs["type"] = int if "minimum" not in meta else click.IntRange(min=meta["minimum"])
        elif kind == "float":
            kwargs["type"] = float
        elif kind == "path":
            kwargs["type"] = click.Path()
        elif kind == "file":
            kwargs["type"] = click.Path(exists=True, dir_okay=False)
        elif kind == "choice":
            kwargs["type"] = click.Choice(list(meta["choices"]))
    if "metavar" in meta:
        kwargs["metavar"] = meta["metavar"]
    return click.option(*flags, f.name, **kwargs)


#: the options of the command itself, not training settings: (option, the field they precede in --help)
COMMAND_ONLY: list[tuple[Callable, str | None]] = [
    (click.option("--plot", "plot_log", default=None, type=click.Path(),
                  help="Only draw the learning curve of this training log (CSV) into --out (default: LOG.png); "
                       "a folder: redraw every learning curve under it (each PNG beside its CSV log)."),
     "checkpoint_every"),
    (click.option("--threads", default=None, type=int, help="torch CPU threads."), "checkpoint_every"),
    (click.option("-q", "--quiet", is_flag=True, help="No progress bar."), None),
]


def train_options(command: Callable) -> Callable:
    """Every option of ``semcom train``: the config's fields in their order, the command's own among them."""
    decorators = []
    for f in cli_fields():
        decorators += [opt for opt, before in COMMAND_ONLY if before == f.name]
        decorators.append(field_option(f))
    decorators += [opt for opt, before in COMMAND_ONLY if before is None]
    for decorate in reversed(decorators):  # click lists the options in the order the decorators are written
        command = decorate(command)
    return command


def config_from_options(options: dict[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` of the command's option values (texts parsed in field order; checked there)."""
    values = {}
    for f in cli_fields():
        value = options[f.name]
        parse = f.metadata.get("parse")
        if parse is not None and value is not None:
            value = PARSERS[parse](value, option_flags(f)[0])
        values[f.name] = value
    return TrainConfig(**values)


@click.command("train")
@train_options
def train_cmd(plot_log: str | None, threads: int | None, quiet: bool, **options: Any) -> None:
    """Train a learned link (resumes an interrupted run with the same --out)."""
    out = options["out"]
    if plot_log is not None:
        from semcom.train.curves import plot_training_log

        if Path(plot_log).is_dir():
            from semcom.train.curves import redraw_curves

            for png in redraw_curves(plot_log):
                click.echo(png)
            return
        if not Path(plot_log).is_file():
            raise SemcomError(f"training log not found: {plot_log}")
        click.echo(plot_training_log(plot_log, out or Path(plot_log).with_suffix(".png")))
        return
    if options["link"] is None or options["cbr"] is None:
        raise SemcomError("semcom train needs --link and --cbr (or --plot LOG.csv to draw a learning curve)")
    config = config_from_options(options)
    if out is not None and (Path(out).is_dir() or out.endswith(("/", os.sep))):
        from semcom.linkspec import find_link
        from semcom.train.config import default_out

        name = default_out(find_link(config.link).name, config.cbr, config.snr_db, config.snr_range).name
        raise SemcomError(f"--out {out!r} names a folder; give the checkpoint's file name, "
                          f"e.g. --out {Path(out) / name}")
    import torch

    if threads is not None:
        if threads < 1:
            raise SemcomError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)

    from semcom.bench.output import OutputFolder
    from semcom.train import distributed
    from semcom.train.trainer import train

    with OutputFolder(Path(out).parent if out else Path("checkpoints"), "--out"):
        result = train(config, progress=not quiet)
    if distributed.rank() != 0:
        return
    how = f"resumed from step {result.resumed_from}" if result.resumed_from else "fresh run"
    val = "" if result.val_psnr != result.val_psnr else f", validation PSNR {result.val_psnr:.2f} dB"
    click.echo(f"{result.checkpoint}  ({result.steps} steps, {how}, final loss {result.final_loss:.5g}{val}, "
               f"log {result.log})")
