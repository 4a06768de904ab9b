"""``semcom compare``: paired margins between two sweeps (:func:`semcom.bench.compare.paired_margins`)."""

from __future__ import annotations

from pathlib import Path

import click

from semcom.errors import SemcomError

__all__ = ["compare_cmd"]


@click.command("compare")
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
