"""``semcom plot``: draw sweep CSV files into one figure (:func:`semcom.bench.plots.plot_curves`)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["plot_cmd", "default_plot_path"]


@click.command("plot")
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
