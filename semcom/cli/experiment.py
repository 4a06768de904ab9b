"""``semcom experiment NAME [--tiny] [--out DIR] [--set KEY=VALUE ...]``, and ``--list``: runs a registered
experiment of :mod:`semcom.experiments` (imported inside the command, so start-up stays light)."""

from __future__ import annotations

from dataclasses import asdict

import click

from semcom.errors import SemcomError

__all__ = ["experiment"]


@click.command("experiment")
@click.argument("name", required=False)
@click.option("--tiny", is_flag=True, help="Run the tiny configuration (seconds on a CPU; what the tests run).")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Output folder (default: the experiment's own folder under results/).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Change one option of the configuration (repeatable; tuples comma-separated).")
@click.option("--list", "list_", is_flag=True, help="List the experiments and their output folders.")
@click.option("--show", is_flag=True, help="Print the configuration NAME would run with, and run nothing.")
def experiment(name: str | None, tiny: bool, out: str | None, overrides: tuple[str, ...], list_: bool,
               show: bool) -> None:
    """Run a registered experiment (a measurement the docs quote) and write its tables and sidecars."""
    from semcom.experiments.base import EXPERIMENTS, run_experiment, with_overrides

    if list_:
        for exp_name, exp in EXPERIMENTS.items():
            click.echo(f"{exp_name:<22} {exp.out:<22} {exp.summary}")
        return
    if name is None:
        raise SemcomError("semcom experiment needs a NAME (or --list)")
    exp = EXPERIMENTS.get(name)
    if show:
        cfg = with_overrides(exp.tiny if tiny else exp.full(), overrides)
        for key, value in asdict(cfg).items():
            click.echo(f"{key} = {value!r}")
        return
    results = run_experiment(name, tiny=tiny, out=out, overrides=overrides)
    for path in results.written:
        click.echo(f"wrote {path}")
