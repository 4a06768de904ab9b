"""Docs tables generated from the committed results: ``semcom reproduce --tables``.

A table lives in a Markdown file between two marker lines::

    <!-- table: fig4 -->
    ...generated...
    <!-- /table -->

:data:`TABLES` maps each name to a function that builds the block's text from CSV files under
``results/``; ``write_tables`` rewrites every block of the given files, ``stale_tables`` lists
the blocks that differ from what the CSVs give (the test suite requires none).  A block whose
name is unknown is an error, so a table cannot silently stop being generated.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable

from semcom.bench.results import read_json, read_rows
from semcom.errors import SemcomError

__all__ = ["TABLES", "DOC_FILES", "render", "write_tables", "stale_tables"]

ROOT = Path(__file__).resolve().parents[2]
#: the files whose marked blocks are generated
DOC_FILES = ("README.md", "docs/results.md")
REPRODUCE = Path("results/reproduce")

LABELS = {"ev-jscc": "EV-JSCC", "deepjscc-deblur": "DeepJSCC-Deblur", "deepjscc": "DeepJSCC",
          "bpg-ldpc": "BPG + LDPC", "bpg-capacity": "BPG + capacity"}
BLOCK = re.compile(r"(<!-- table: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /table -->)", re.S)


def _sweep(folder: str, link: str, channel: str, cbr: str, root: Path) -> tuple[dict[float, dict], dict]:
    """Rows by SNR and the sidecar of one committed sweep."""
    csv = root / REPRODUCE / folder / f"{link}_{channel}_cbr{cbr}.csv"
    rows = read_rows(csv)
    if not rows:
        raise SemcomError(f"table source {csv} is missing or empty")
    return {round(float(r["snr_db"]), 6): r for r in rows}, read_json(csv.with_suffix(".json"))


def _num(text: str) -> float:
    return float(text) if text not in ("", None) else math.nan


def figure_table(folder: str, channel: str, cbr: str, *, links: tuple[str, ...] = tuple(LABELS),
                 snrs: tuple[float, ...] = (0, 4, 10, 16, 20)) -> Callable[[Path], str]:
    """PSNR / SSIM per link at a few SNR points, the blurry input's row, and where each link is
    below the blurry input (marked ``↓``)."""

    def build(root: Path) -> str:
        data = {link: _sweep(folder, link, channel, cbr, root) for link in links}
        ref = (data[links[0]][1].get("reference") or {}).get("blurry input") or {}
        rp, rs = ref.get("psnr", math.nan), ref.get("ssim", math.nan)
        head = "| SNR (dB) | " + " | ".join(LABELS.get(k, k) for k in links) + " |"
        lines = [head, "| --- |" + " --- |" * len(links)]
        for snr in snrs:
            cells = []
            for link in links:
                row = data[link][0].get(round(float(snr), 6))
                if row is None:
                    cells.append("")
                    continue
                p, s = _num(row["psnr"]), _num(row["ssim"])
                cells.append(f"{p:.2f}{'↓' if p < rp else ''} / {s:.3f}{'↓' if s < rs else ''}")
            lines.append(f"| {snr:g} | " + " | ".join(cells) + " |")
        lines.append(f"| blurry input | {rp:.2f} / {rs:.3f} |" + " |" * (len(links) - 1))
        below = []
        for link in links:
            rows = data[link][0].values()
            n = len(rows)
            bp = sum(_num(r["psnr"]) < rp for r in rows)
            bs = sum(_num(r["ssim"]) < rs for r in rows)
            below.append(f"{LABELS.get(link, link)} {bp}/{n} in PSNR, {bs}/{n} in SSIM")
        return ("\n".join(lines) + "\n\nPSNR (dB) / SSIM against the sharp frame; ↓: below the blurry input. "
                "Points below the blurry input over all " + str(len(next(iter(data.values()))[0]))
                + " SNR points: " + "; ".join(below) + ".\n")

    return build


def margins_table(pairs: tuple[tuple[str, str, str, str, str], ...],
                  snrs: tuple[float, ...] = (0, 4, 10, 16, 20)) -> Callable[[Path], str]:
    """Paired margins ``a - b`` (dB, mean over the same frames and channel draws ± 95 %) for
    ``(figure folder, channel, cbr, a, b)`` rows."""

    def build(root: Path) -> str:
        from semcom.bench.compare import paired_margins

        lines = ["| setting | margin | " + " | ".join(f"{s:g} dB" for s in snrs) + " |",
                 "| --- | --- |" + " --- |" * len(snrs)]
        for folder, channel, cbr, a, b in pairs:
            base = root / REPRODUCE / folder
            rows = paired_margins(base / f"{a}_{channel}_cbr{cbr}.csv", base / f"{b}_{channel}_cbr{cbr}.csv")
            by = {round(r["snr_db"], 6): r for r in rows}
            cells = []
            for s in snrs:
                r = by.get(round(float(s), 6))
                cells.append("" if r is None else f"{r['diff']:+.2f} ± {r['ci95']:.2f}")
            setting = f"{'AWGN' if channel == 'awgn' else 'Rayleigh'} {cbr.replace('-', '/')}"
            lines.append(f"| {setting} | {LABELS.get(a, a)} − {LABELS.get(b, b)} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    return build


def where_events_table(snrs: tuple[float, ...] = (0, 4, 8, 12, 16, 20)) -> Callable[[Path], str]:
    """PSNR of where-events-help's links per setting, the best per column in bold."""
    settings = (("AWGN 1/48", "evjscc-fig4", "awgn", "1-48"), ("AWGN 1/96", "evjscc-fig5", "awgn", "1-96"),
                ("Rayleigh 1/48", "evjscc-fig4-rayleigh", "rayleigh", "1-48"),
                ("Rayleigh 1/96", "evjscc-fig5-rayleigh", "rayleigh", "1-96"))
    links = ("ev-jscc", "edi-tx-deepjscc", "edi-tx-bpg-ldpc", "bpg-ldpc-events", "bpg-ldpc", "oracle-bpg-capacity")

    def build(root: Path) -> str:
        lines = ["| setting | link | " + " | ".join(f"{s:g}" for s in snrs) + " |",
                 "| --- | --- |" + " --- |" * len(snrs)]
        for title, folder, channel, cbr in settings:
            data = {k: _sweep(folder, k, channel, cbr, root)[0] for k in links}
            best = {s: max(_num(data[k][round(float(s), 6)]["psnr"]) for k in links if k != "oracle-bpg-capacity")
                    for s in snrs}
            for i, k in enumerate(links):
                cells = []
                for s in snrs:
                    v = _num(data[k][round(float(s), 6)]["psnr"])
                    bold = k != "oracle-bpg-capacity" and v == best[s]
                    cells.append(f"**{v:.2f}**" if bold else f"{v:.2f}")
                lines.append(f"| {title if i == 0 else ''} | `{k}` | " + " | ".join(cells) + " |")
        return ("\n".join(lines) + "\n\nPSNR (dB) against the sharp frame; bold: the best link at that point "
                "(the oracle, which sends the sharp frame, excluded).\n")

    return build


def _first_csv(folder: Path) -> dict[float, dict]:
    csvs = [p for p in sorted(folder.glob("*.csv")) if not p.name.endswith(("_frames.csv", "_configs.csv"))]
    if not csvs:
        raise SemcomError(f"table source {folder} holds no sweep CSV")
    return {round(float(r["snr_db"]), 6): r for r in read_rows(csvs[0])}


def snr_modes_table(snrs: tuple[float, ...] = (0, 4, 8, 10, 14, 20)) -> Callable[[Path], str]:
    """PSNR / SSIM of the SNR-adaptive and the 10 dB models (``results/snr-modes/``)."""
    rows = (("DeepJSCC, SNR-adaptive", "deepjscc/adaptive"), ("DeepJSCC, trained at 10 dB", "deepjscc/snr10"),
            ("EV-JSCC, SNR-adaptive", "ev-jscc/adaptive"), ("EV-JSCC, trained at 10 dB", "ev-jscc/snr10"))

    def build(root: Path) -> str:
        lines = ["| SNR (dB) | " + " | ".join(f"{s:g}" for s in snrs) + " |", "| --- |" + " --- |" * len(snrs)]
        data = {label: _first_csv(root / "results/snr-modes" / sub) for label, sub in rows}
        for label, _ in rows:
            cells = [f"{_num(data[label][round(float(s), 6)]['psnr']):.2f} / "
                     f"{_num(data[label][round(float(s), 6)]['ssim']):.3f}" for s in snrs]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        gaps = []
        for codec in ("DeepJSCC", "EV-JSCC"):
            a, b = data[f"{codec}, SNR-adaptive"], data[f"{codec}, trained at 10 dB"]
            gaps.append(f"{codec} {_num(a[10.0]['psnr']) - _num(b[10.0]['psnr']):+.2f} dB at 10 dB, "
                        f"{_num(a[0.0]['psnr']) - _num(b[0.0]['psnr']):+.2f} dB at 0 dB, "
                        f"{_num(a[20.0]['psnr']) - _num(b[20.0]['psnr']):+.2f} dB at 20 dB")
        return ("\n".join(lines) + "\n\nPSNR (dB) / SSIM against the sharp frame, CBR 1/48, AWGN. Adaptive minus "
                "10 dB model: " + "; ".join(gaps) + ".\n")

    return build


def backends_table() -> Callable[[Path], str]:
    """The back-ends on exact inputs (``results/backends/backends.csv``), in the file's order."""

    def build(root: Path) -> str:
        rows = read_rows(root / "results/backends/backends.csv")
        if not rows:
            raise SemcomError("table source results/backends/backends.csv is missing or empty")
        lines = ["| back-end | frames | PSNR (dB) | SSIM | gain over the blurry frame (dB) |",
                 "| --- | --- | --- | --- | --- |"]
        for r in rows:
            lines.append(f"| {r['back-end']} | {r['n']} | {_num(r['psnr']):.2f} | {_num(r['ssim']):.3f} | "
                         f"{_num(r['psnr_gain_db']):+.2f} |")
        return "\n".join(lines) + "\n"

    return build


#: table name -> builder(root) -> Markdown text
TABLES: dict[str, Callable[[Path], str]] = {
    "fig4": figure_table("evjscc-fig4", "awgn", "1-48"),
    "fig5": figure_table("evjscc-fig5", "awgn", "1-96"),
    "fig4-rayleigh": figure_table("evjscc-fig4-rayleigh", "rayleigh", "1-48"),
    "fig5-rayleigh": figure_table("evjscc-fig5-rayleigh", "rayleigh", "1-96"),
    "margins": margins_table(tuple(
        (folder, channel, cbr, a, b)
        for folder, channel, cbr in (("evjscc-fig4", "awgn", "1-48"), ("evjscc-fig5", "awgn", "1-96"),
                                     ("evjscc-fig4-rayleigh", "rayleigh", "1-48"),
                                     ("evjscc-fig5-rayleigh", "rayleigh", "1-96"))
        for a, b in (("ev-jscc", "deepjscc-deblur"), ("deepjscc-deblur", "deepjscc"), ("ev-jscc", "bpg-ldpc")))),
    "where-events": where_events_table(),
    "snr-modes": snr_modes_table(),
    "backends": backends_table(),
}


def render(text: str, root: Path = ROOT) -> str:
    """``text`` with every marked block regenerated."""

    def repl(m: re.Match) -> str:
        name = m.group("name")
        if name not in TABLES:
            raise SemcomError(f"unknown generated table {name!r} (known: {', '.join(TABLES)})")
        return m.group(1) + TABLES[name](root) + m.group(4)

    return BLOCK.sub(repl, text)


def stale_tables(root: Path = ROOT, files: tuple[str, ...] = DOC_FILES) -> list[str]:
    """``file: table`` for every marked block that differs from what the CSVs give."""
    stale = []
    for f in files:
        text = (root / f).read_text()
        fresh = render(text, root)
        old = {m.group("name"): m.group("body") for m in BLOCK.finditer(text)}
        new = {m.group("name"): m.group("body") for m in BLOCK.finditer(fresh)}
        stale += [f"{f}: {n}" for n in old if old[n] != new.get(n)]
    return stale


def write_tables(root: Path = ROOT, files: tuple[str, ...] = DOC_FILES) -> list[str]:
    """Regenerate every marked block of ``files``; the blocks that changed."""
    changed = stale_tables(root, files)
    for f in files:
        path = root / f
        text = path.read_text()
        fresh = render(text, root)
        if fresh != text:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(fresh)
            tmp.replace(path)
    return changed
