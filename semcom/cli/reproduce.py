"""``semcom reproduce``: the EV-JSCC paper's figures (:mod:`semcom.bench.reproduce` declares and runs them)."""

from __future__ import annotations

from pathlib import Path

import click

from semcom.bench.reproduce import (DEFAULT_OUT, FIGURES, VARIANTS, _reproduce_into, _write_tables, figure_folder,
                                    get_figure, once_to_stderr, panel_configs, variant_notice)
from semcom.cli.options import executor_options
from semcom.conventions import parse_snr
from semcom.errors import SemcomError

__all__ = ["reproduce_cmd"]


@click.command("reproduce")
@click.argument("figures", nargs=-1)
@click.option("--list", "list_", is_flag=True, help="List the figures.")
@click.option("--all", "all_", is_flag=True, help="Reproduce every figure.")
@click.option("--out", default=None, type=click.Path(),
              help=f"Output folder (default: {DEFAULT_OUT}; when --limit, --snr, --seed or --repeats, or for the "
                   f"visual grid --links, change a figure: {DEFAULT_OUT}/{VARIANTS}/<options>/, e.g. "
                   f"{VARIANTS}/n4_snr0-10, so the committed figures are never overwritten).")
@click.option("--snr", default=None, help="Override the SNR points (curves) or the SNR (grid).")
@click.option("--limit", default=None, type=int, help="Evaluate at most N samples (grid: N rows).")
@click.option("--repeats", default=1, show_default=True, type=int, help="Channel realizations per image.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every channel draw.")
@click.option("--links", "links_", default=None, help="Comma-separated subset of the figure's links.")
@click.option("--jobs", default=None, type=int,
              help="Processes for the curve figures (default: one per CPU core, at most one per CBR).")
@click.option("--overwrite", is_flag=True,
              help="Recompute the figures' sweeps (with --links: those links only) instead of resuming them.")
@click.option("--tables", is_flag=True,
              help="Regenerate the docs' tables (README.md, docs/results.md) from the committed CSVs, after any figure.")
@executor_options
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def reproduce_cmd(figures: tuple[str, ...], list_: bool, all_: bool, out: str | None, snr: str | None,
                  limit: int | None, repeats: int, seed: int, links_: str | None, jobs: int | None, overwrite: bool,
                  tables: bool, executor: str, address: str | None, quiet: bool) -> None:
    """Reproduce the EV-JSCC paper's figures (resumes finished points)."""
    if tables and not figures and not all_:
        _write_tables()
        return
    if list_:
        width = max(len(n) for n in FIGURES)
        for f in FIGURES.values():
            click.echo(f"{f.name.ljust(width)}  {f.description}")
        return
    for opt, value in (("--limit", limit), ("--jobs", jobs), ("--repeats", repeats)):
        if value is not None and value < 1:
            raise SemcomError(f"{opt} must be at least 1, got {value}")
    names = list(FIGURES) if all_ else list(figures)
    if not names:
        raise SemcomError("name a figure (see `semcom reproduce --list`) or pass --all")
    for n in names:
        get_figure(n)
    subset = tuple(s.strip() for s in links_.split(",") if s.strip()) if links_ else None
    if subset is not None:
        from semcom.linkspec import find_link

        if not subset:
            raise SemcomError("--links names no link")
        for link in subset:
            find_link(link)  # an unknown name is refused before anything runs
        outside = [link for link in subset if not any(link in FIGURES[n].links for n in names)]
        if outside:  # each figure then runs the named links it has
            raise SemcomError(f"--links: {', '.join(outside)} in none of {', '.join(names)} "
                              f"(their links: {', '.join(dict.fromkeys(lk for n in names for lk in FIGURES[n].links))})")
    if snr is not None:
        parse_snr(snr)
    if limit is not None or repeats > 1:  # --limit beyond an evaluation set, too many transmissions: one line, now
        from semcom.bench.sweep import check_sweep
        from semcom.linkspec import find_link

        for n in names:
            if FIGURES[n].kind == "curves":
                for i in range(len(FIGURES[n].settings())):
                    for cfg, _ in panel_configs(FIGURES[n], i, out_dir=Path(), snr=snr, limit=limit,
                                                repeats=repeats, seed=seed, links=subset):
                        check_sweep(cfg, find_link(cfg.link).source)
    if executor == "ray" and jobs is not None:
        raise SemcomError("--jobs applies to the local executor (Ray spreads the points over its cluster)")
    options = dict(snr=snr, limit=limit, repeats=repeats, seed=seed, links=subset)
    folders: dict[Path, list[str]] = {}
    for n in names:  # figures whose options change them go to a folder of their own (figure_folder)
        folders.setdefault(figure_folder(FIGURES[n], out, **options), []).append(n)
    for folder, members in folders.items():
        if out is None and folder != DEFAULT_OUT:
            once_to_stderr(variant_notice(members, folder, **options))
        _reproduce_into(folder, members, options, jobs=jobs, executor=executor, address=address,
                        overwrite=overwrite, quiet=quiet)
    if tables:
        _write_tables()
