"""Docs tables generated from the committed results: ``semcom reproduce --tables``.

A table lives in a Markdown file between two marker lines::

    <!-- table: fig4 -->
    ...generated...
    <!-- /table -->

:data:`TABLES` maps each name to a function that builds the block's text from CSV files under
``results/`` (and, for the sensor-compute table, the sweeps' JSON sidecars): the paper figures' tables
and paired margins, then one table per benchmark (its CSVs, learning curves and the sentences under it,
which say when a margin has no paired interval because no per-frame scores are committed);
``write_tables`` rewrites every block of the given files, ``stale_tables`` lists the blocks that
differ from what the CSVs give (the test suite requires none).  A block whose
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
DOC_FILES = ("README.md", "docs/results.md", "docs/training.md")
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


# --- experiment tables: one benchmark's CSVs under results/ each ----------------------------------------------

#: what a margin without a paired interval says instead of one
NO_CI = "95 % interval: not available from the committed data"


def _rows(root: Path, rel: str | Path) -> list[dict]:
    rows = read_rows(root / rel)
    if not rows:
        raise SemcomError(f"table source {rel} is missing or empty")
    return rows


def _glob_one(root: Path, folder: str, pattern: str) -> Path:
    found = sorted((root / folder).glob(pattern))
    if len(found) != 1:
        raise SemcomError(f"table source {folder}/{pattern}: expected one file, found {len(found)}")
    return found[0]


def _md(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body]) + "\n"


def _pm(mean: float, half: float, d: int = 2, sign: bool = True) -> str:
    return f"{mean:{'+' if sign else ''}.{d}f} ± {half:.{d}f}"


def _by_snr(rows: list[dict]) -> dict[float, dict]:
    return {round(float(r["snr_db"]), 6): r for r in rows}


def _by(rows: list[dict], key: str, want: tuple[str, ...], src: str) -> dict[str, dict]:
    out = {r[key]: r for r in rows}
    missing = [w for w in want if w not in out]
    if missing:
        raise SemcomError(f"{src} has no row {missing[0]!r}")
    return out


def _span(values: list[float], d: int = 2, sign: bool = True) -> str:
    fmt = f"{'+' if sign else ''}.{d}f"
    lo, hi = f"{min(values):{fmt}}", f"{max(values):{fmt}}"
    return lo if lo == hi else f"{lo} to {hi}"


def _val_points(rows: list[dict]) -> list[tuple[int, float]]:
    """``(step, val_psnr)`` of a training log's validation points."""
    pts = [(int(r["step"]), float(r["val_psnr"])) for r in rows if r.get("val_psnr")]
    if len(pts) < 2:
        raise SemcomError("training log holds fewer than two validation points")
    return pts


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "missed"


def evjscc_events_table() -> Callable[[Path], str]:
    """Decoded-event NMSE and power per stream of EV-JSCC checkpoints (``results/ablation/evjscc_events.csv``)."""
    src = "results/ablation/evjscc_events.csv"

    def build(root: Path) -> str:
        body, last = [], None
        for r in _rows(root, src):
            ck = r["checkpoint"]
            name = "" if ck == last else f"`{ck}` ({'former' if '@' in ck else 'shipped'})"
            last = ck
            body.append([name, f"{_num(r['snr_db']):g}", f"{_num(r['psnr']):.2f}", f"{_num(r['event_nmse']):.3f}",
                         " / ".join(f"{_num(r[k]):.2f}" for k in ("power_image", "power_shared", "power_event"))])
        return (_md(["checkpoint", "SNR (dB)", "PSNR (dB)", "decoded-event NMSE",
                     "power per symbol: image / shared / event stream"], body)
                + "\nAWGN, CBR 1/48, 32 frames (channel draws seeded apart from the figures' sweeps, so PSNR can "
                "differ from Fig. 4 in the second decimal). NMSE `||E^ - E||² / ||E||²`: 1 is what a receiver "
                "that learned nothing about the events gives.\n")

    return build


def event_share_table(figure: tuple[str, str, str] = ("evjscc-fig4", "awgn", "1-48")) -> Callable[[Path], str]:
    """EV-JSCC with and without its event stream at equal budget (``results/ablation/evjscc_event_share.csv``,
    learning curves in ``results/ablation/event-share/``), and the shipped model both started from."""
    src, curves = "results/ablation/evjscc_event_share.csv", "results/ablation/event-share"
    labels = {"trained": "`trained` (event stream kept)", "given": "`given` (its share to the image stream)"}

    def build(root: Path) -> str:
        rows = _rows(root, src)
        data = {v: _by_snr([r for r in rows if r["variant"] == v]) for v in labels}
        if any(not d for d in data.values()):
            raise SemcomError(f"{src} lacks one of the variants {', '.join(labels)}")
        snrs = sorted(data["trained"])
        shipped = _sweep(figure[0], "ev-jscc", figure[1], figure[2], root)[0]
        head = (["variant", "split (image, shared, event)"] + [f"{s:g} dB" for s in snrs]
                + ["decoded-event NMSE (10 dB)", "validation PSNR, last two points"])
        body = []
        for v, label in labels.items():
            d = data[v]
            (s0, v0), (s1, v1) = _val_points(_rows(root, f"{curves}/{v}.csv"))[-2:]
            body.append([label, next(iter(d.values()))["split"].strip("[]").replace(",", ", ")]
                        + [f"{_num(d[s]['psnr']):.2f}" for s in snrs]
                        + [f"{_num(d[10.0]['event_nmse']):.2f}",
                           f"{v0:.2f} → {v1:.2f} ({v1 - v0:+.2f} from step {s0} to {s1})"])
        diff = [_num(data["trained"][s]["psnr"]) - _num(data["given"][s]["psnr"]) for s in snrs]
        body.append(["difference `trained` − `given`", ""] + [f"{x:+.2f}" for x in diff] + ["", ""])
        body.append([f"the shipped EV-JSCC both started from (`results/reproduce/{figure[0]}/`)", ""]
                    + [f"{_num(shipped[s]['psnr']):.2f}" if s in shipped else "" for s in snrs] + ["", ""])
        return (_md(head, body) + "\nPSNR (dB) against the sharp frame, AWGN, CBR 1/48, 32 frames; validation PSNR "
                "on the training run's held-out frames. The difference is one of means over the same frames "
                f"({NO_CI}: the benchmark keeps no per-frame scores).\n")

    return build


def blurry_target_table(target_db: float = 3.0) -> Callable[[Path], str]:
    """DeepJSCC fine-tuned on the blurry target against BPG at capacity (``results/baselines/blurry_target.csv``,
    the runs and learning curve in ``results/baselines/blurry-target/``)."""
    src, folder = "results/baselines/blurry_target.csv", "results/baselines/blurry-target"

    def build(root: Path) -> str:
        rows = _rows(root, src)
        jscc = _by_snr(_rows(root, _glob_one(root, folder, "deepjscc-blurry_*.csv").relative_to(root)))
        bpg = _by_snr(_rows(root, _glob_one(root, folder, "bpg-capacity-blurry_*.csv").relative_to(root)))
        snrs = [round(float(r["snr_db"]), 6) for r in rows]

        def ssim(d: dict, s: float) -> str:
            return f" / {_num(d[s]['ssim']):.3f}" if s in d else ""

        body = [["DeepJSCC, blurry target"] + [f"{_num(r['deepjscc_blurry']):.2f}{ssim(jscc, s)}"
                                               for s, r in zip(snrs, rows)],
                ["BPG at capacity (the separation bound)"] + [f"{_num(r['bpg_capacity_blurry']):.2f}{ssim(bpg, s)}"
                                                              for s, r in zip(snrs, rows)],
                ["BPG at capacity: bits per pixel"] + [f"{_num(bpg[s]['bpp']):.3f}" if s in bpg else "" for s in snrs],
                ["gap in PSNR (dB)"] + [f"{_num(r['gap_db']):.2f}" for r in rows]]
        gap = _num(_by_snr(rows)[10.0]["gap_db"])
        pts = _val_points(_rows(root, f"{folder}/training.csv"))
        verdict = "**met**" if gap <= target_db else f"missed by {gap - target_db:.2f} dB"
        return (_md(["SNR (dB)"] + [f"{s:g}" for s in snrs], body)
                + f"\nPSNR (dB) / SSIM against the blurry frame, AWGN, CBR 1/48, 32 frames. Target (within "
                f"{target_db:g} dB of the bound at 10 dB): the gap is {gap:.2f} dB, {verdict}. The gap is a "
                f"difference of means over the same frames ({NO_CI}: no per-frame scores). Fine-tuning "
                f"({rows[0]['steps']} steps): validation PSNR against the blurry frame {pts[0][1]:.2f} dB at step "
                f"{pts[0][0]}, {pts[-1][1]:.2f} at step {pts[-1][0]} ({pts[-1][1] - pts[-2][1]:+.2f} over the last "
                f"{pts[-1][0] - pts[-2][0]} steps).\n")

    return build


#: the ablation's variants (``variant`` column), their label and, where the CSV's ``params`` do not
#: name it, their split of the channel uses (image, shared, event)
ABLATION = (("split-0.5-0.25-0.25", "EV-JSCC, EDI prior in the shared encoder (default)", ""),
            ("split-0.625-0.125-0.25", "EV-JSCC, image-heavier split", ""),
            ("split-0.5-0.25-0.25-noprior", "EV-JSCC without the EDI prior (the paper's plain fusion)", ""),
            ("noshared-0.667-0-0.333", "without the shared encoder (`ev-jscc-noshared`)", "0.667, 0, 0.333"),
            ("deepjscc-deblur", "without events (`deepjscc-deblur`, trained end to end)", "1, 0, 0"),
            ("split-0.5-0.25-0.25-width48", "EV-JSCC (default), feature width 48 instead of 32", ""),
            ("split-0.5-0.25-0.25-width64", "EV-JSCC (default), feature width 64", ""))


def evjscc_ablation_table() -> Callable[[Path], str]:
    """EV-JSCC's parts at equal small budget (``results/ablation/evjscc_ablation.csv``), the best per column
    in bold, and the differences the text discusses."""
    src = "results/ablation/evjscc_ablation.csv"

    def build(root: Path) -> str:
        rows = _by(_rows(root, src), "variant", tuple(v for v, _, _ in ABLATION), src)
        best_p = max(_num(r["psnr"]) for r in rows.values())
        best_s = max(_num(r["ssim"]) for r in rows.values())
        body = []
        for key, label, split in ABLATION:
            r = rows[key]
            m = re.search(r"split=\[([^\]]*)\]", r["params"])
            p, s = _num(r["psnr"]), _num(r["ssim"])
            body.append([label, m.group(1).replace(",", ", ") if m else split,
                         f"**{p:.2f}**" if p == best_p else f"{p:.2f}", f"**{s:.3f}**" if s == best_s else f"{s:.3f}",
                         f"{_num(r['train_seconds']):.0f}"])
        p = {k: _num(r["psnr"]) for k, r in rows.items()}
        d = "split-0.5-0.25-0.25"
        diffs = (("default − without the shared encoder", p[d] - p["noshared-0.667-0-0.333"]),
                 ("default − without the EDI prior", p[d] - p["split-0.5-0.25-0.25-noprior"]),
                 ("image-heavier split − default", p["split-0.625-0.125-0.25"] - p[d]),
                 ("`deepjscc-deblur` − default", p["deepjscc-deblur"] - p[d]),
                 ("`deepjscc-deblur` − the best EV-JSCC", p["deepjscc-deblur"] - max(
                     v for k, v in p.items() if rows[k]["link"] == "ev-jscc")),
                 ("width 48 − width 32", p["split-0.5-0.25-0.25-width48"] - p[d]),
                 ("width 64 − width 48", p["split-0.5-0.25-0.25-width64"] - p["split-0.5-0.25-0.25-width48"]))
        setting = {(r["steps"], r["snr_db"], r["cbr"]) for r in rows.values()}
        if len(setting) != 1:
            raise SemcomError(f"{src}: the variants were not trained and scored alike")
        steps, snr, cbr = setting.pop()
        return (_md(["variant", "split (image, shared, event)", "PSNR (dB)", "SSIM", "training (s)"], body)
                + f"\nEach variant trained once from scratch for {steps} steps, scored at {snr} dB, CBR {cbr}, on 16 "
                "frames; bold: the best per column. Differences in PSNR: "
                + "; ".join(f"{k} {v:+.2f} dB" for k, v in diffs)
                + f" ({NO_CI}: one mean per variant and one training run each).\n")

    return build


STRA_LABELS = {"STRA full": "STRA full (the paper's design, link `stra`)",
               "STRA full, event skips (ours)": "STRA full, event skips (ours, link `stra-skips`)"}


def stra_table() -> Callable[[Path], str]:
    """STRA's ablation on exact inputs (``results/stra/table.csv``), with the throughput the TMB costs and
    the last validation points of the curves (``results/training/`` for the shipped ``stra-skips``,
    ``results/stra/training/`` for the others)."""
    src = "results/stra/table.csv"

    def build(root: Path) -> str:
        rows = _rows(root, src)
        body = []
        for r in rows:
            params = int(_num(r["parameters"]))
            blurry = _num(r["gain_over_blurry_db"]) == 0 and _num(r["gain_ci95"]) == 0
            gain = "" if blurry else _pm(_num(r["gain_over_blurry_db"]), _num(r["gain_ci95"]))
            body.append([STRA_LABELS.get(r["method"], r["method"]),
                         _pm(_num(r["psnr"]), _num(r["psnr_ci95"]), sign=False), f"{_num(r['ssim']):.3f}", gain,
                         f"{params / 1e6:.2f} M" if params else "",
                         f"{_num(r['fps_cpu_180x320']):.1f}" if r["fps_cpu_180x320"] else "",
                         f"{_num(r['train_seconds']) / 60:.1f} min" if r["train_seconds"] else ""])
        by = _by(rows, "method", ("STRA full", "STRA without TMB", "STRA full, event skips (ours)",
                                  "STRA without TMB, event skips (ours)"), src)
        fps = {k: _num(r["fps_cpu_180x320"]) for k, r in by.items()}
        cur = {}
        for name, curve in (("stra-skips", "results/training/stra-skips-cbr1-1-snr0.csv"),
                            ("unet-xattn", "results/stra/training/unet-xattn.csv")):
            pts = dict(_val_points(_rows(root, curve)))
            last = max(pts)
            mid = max(s for s in pts if s <= 0.75 * last)
            cur[name] = f"`{name}` {pts[mid]:.2f} → {pts[last]:.2f} dB (steps {mid} → {last})"
        return (_md(["method", "PSNR (dB, ± 95 %)", "SSIM", "gain over the blurry input (dB, paired ± 95 %)",
                     "parameters", "frames/s (CPU)", "training"], body)
                + f"\n{rows[0]['frames']} frames; intervals 1.96 s/√n over them; frames/s at 180x320 on this CPU, "
                "one sequence of 3 frames a pass, "
                "each measured right after its training (single runs). Throughput without the TMB over with it: "
                f"{fps['STRA without TMB'] / fps['STRA full']:.2f}x (the paper's design), "
                f"{fps['STRA without TMB, event skips (ours)'] / fps['STRA full, event skips (ours)']:.2f}x (with the "
                "event skips). Validation PSNR over the last quarter of training: " + "; ".join(cur.values()) + ".\n")

    return build


def _target_text(target: str) -> str:
    t = float(target)
    return "> 0" if t == 0 else f"≥ {t:+g}"


def stra_targets_table() -> Callable[[Path], str]:
    """STRA's targets, paired over the same frames (``results/stra/targets.csv``)."""
    src = "results/stra/targets.csv"

    def build(root: Path) -> str:
        body = [[r["comparison"].replace(" - ", " − "), _pm(_num(r["psnr_diff_db"]), _num(r["ci95"])),
                 _target_text(r["target_db"]), _verdict(r["met"] == "True")] for r in _rows(root, src)]
        return (_md(["comparison", "measured (dB, paired ± 95 %)", "target", ""], body)
                + "\nPaired over the same frames; the benchmark takes the interval as 1.96 s/√n.\n")

    return build


def stra_links_table() -> Callable[[Path], str]:
    """The video links through the channel beside their exact-input counterparts (``results/stra/links/links.csv``)."""
    src = "results/stra/links/links.csv"

    def build(root: Path) -> str:
        rows = _rows(root, src)
        body = [[f"`{r['link']}`", _pm(_num(r["psnr"]), _num(r["psnr_ci95"]), sign=False), f"{_num(r['ssim']):.3f}",
                 r["exact_input_counterpart"], f"{_num(r['counterpart_psnr']):.2f}"] for r in rows]
        p = {r["link"]: _num(r["psnr"]) for r in rows}
        c = [_num(r["counterpart_psnr"]) for r in rows]
        pairs = [f"`{k}` − `{k[:-5]}` {p[k] - p[k[:-5]]:+.2f} dB" for k in p if k.endswith("-stra") and k[:-5] in p]
        snr = {r["snr_db"] for r in rows}
        return (_md(["link", "PSNR (dB, ± 95 %)", "SSIM", "exact-input counterpart", "its PSNR"], body)
                + f"\nAWGN {'/'.join(snr)} dB, CBR 1/48, {rows[0]['frames']} frames. Through the channel the links "
                f"span {min(p.values()):.2f} to {max(p.values()):.2f} dB ({max(p.values()) - min(p.values()):.2f} dB "
                f"apart), their exact-input counterparts {min(c):.2f} to {max(c):.2f} dB "
                f"({max(c) - min(c):.2f} dB apart). STRA behind each codec against the codec's own receiver: "
                + "; ".join(pairs) + f" (differences of means over the same frames; {NO_CI}: no per-frame scores).\n")

    return build


SDM64, SDM80 = "SDM (64-tick window, bilinear: the sdm back-end)", "SDM (80-tick window, bilinear)"
BSN, TEACHER, SSDM = "SDM + BSN", "SDM + BSN + SR (the teacher)", "S-SDM: LDN distilled (self-supervised)"
SUPERVISED, BLURRY = "LDN supervised on sharp frames", "blurry input"


def _theta_cells(gap: dict, exact: dict | None = None) -> list[str]:
    """PSNR at thresholds 1, 2, 4 (with ± 95 % / SSIM at threshold 1 where ``exact`` has them) and the loss."""
    cells = [f"{_num(gap[f'psnr_theta{t}']):.2f}" for t in (1, 2, 4)]
    if exact is not None:
        cells[0] = f"{_pm(_num(exact['psnr']), _num(exact['psnr_ci95']), sign=False)} / {_num(exact['ssim']):.3f}"
    loss = _num(gap["loss_1_to_4_db"])
    return cells + ["" if gap["method"] == BLURRY else f"{loss:.2f}"]


def ssdm_cascade_table(target_db: float = 3.0, max_loss_db: float = 1.5) -> Callable[[Path], str]:
    """S-SDM's cascade with the BSN, at three spike thresholds (``results/ssdm/domain_gap.csv``, ``cascade.csv``,
    ``seconds.csv``), and its targets."""

    def build(root: Path) -> str:
        names = (BLURRY, SDM64, SDM80, BSN, TEACHER, SSDM, SUPERVISED)
        gap = _by(_rows(root, "results/ssdm/domain_gap.csv"), "method", names, "results/ssdm/domain_gap.csv")
        exact = _by(_rows(root, "results/ssdm/cascade.csv"), "method", names, "results/ssdm/cascade.csv")
        body = [[m] + _theta_cells(gap[m], exact[m]) for m in names]
        p = {m: _num(exact[m]["psnr"]) for m in names}
        stages = (("the BSN", p[BSN] - p[SDM80]), ("the SR", p[TEACHER] - p[BSN]),
                  ("the LDN over its teacher", p[SSDM] - p[TEACHER]))
        secs = "; ".join(f"{r['stage']} {_num(r['seconds']):.1f} s ({r['steps']} steps)"
                         for r in _rows(root, "results/ssdm/seconds.csv"))
        loss = _num(gap[SSDM]["loss_1_to_4_db"])
        return (_md(["method", "θ = 1: PSNR (dB, ± 95 %) / SSIM", "θ = 2", "θ = 4", "loss 1 → 4 (dB)"], body)
                + f"\nPSNR (dB) against the sharp frame, 32 frames. Targets: S-SDM − SDM (80-tick) at θ = 1 "
                f"{p[SSDM] - p[SDM80]:+.2f} dB (≥ +{target_db:g}: {_verdict(p[SSDM] - p[SDM80] >= target_db)}; "
                f"S-SDM − blurry input {p[SSDM] - p[BLURRY]:+.2f} dB); each stage adds: "
                + ", ".join(f"{k} {v:+.2f} dB" for k, v in stages)
                + f" ({_verdict(all(v > 0 for _, v in stages))}); S-SDM loses {loss:.2f} dB from θ = 1 to 4 "
                f"(≤ {max_loss_db:g}: {_verdict(loss <= max_loss_db)}), the supervised LDN "
                f"{_num(gap[SUPERVISED]['loss_1_to_4_db']):.2f} dB. Differences of means over the same frames "
                f"({NO_CI}: no per-frame scores). Training: {secs}.\n")

    return build


def ssdm_nobsn_table(target_db: float = 3.0, max_loss_db: float = 1.5) -> Callable[[Path], str]:
    """The cascade without the BSN, the shipped ``s-sdm`` (``results/ssdm/nobsn.csv``, beside SDM from
    ``domain_gap.csv``), and its targets."""
    src = "results/ssdm/nobsn.csv"

    def build(root: Path) -> str:
        gap = _by(_rows(root, "results/ssdm/domain_gap.csv"), "method", (BLURRY, SDM64, SDM80, SUPERVISED),
                  "results/ssdm/domain_gap.csv")
        rows = _rows(root, src)
        methods = list(dict.fromkeys(r["method"] for r in rows))
        if len(methods) != 2:
            raise SemcomError(f"{src}: expected the teacher and the LDN, found {methods}")
        teacher, ldn = methods
        v = {(r["method"], int(_num(r["spike_theta"]))): r for r in rows}
        body = [[SDM80] + _theta_cells(gap[SDM80])]
        for m in methods:
            cells = [f"{_pm(_num(v[m, t]['psnr']), _num(v[m, t]['psnr_ci95']), sign=False)} / "
                     f"{_num(v[m, t]['ssim']):.3f}" for t in (1, 2, 4)]
            body.append([m] + cells + [f"{_num(v[m, 1]['psnr']) - _num(v[m, 4]['psnr']):.2f}"])
        p = {(m, t): _num(v[m, t]["psnr"]) for m in methods for t in (1, 2, 4)}
        sdm = {t: _num(gap[SDM80][f"psnr_theta{t}"]) for t in (1, 2, 4)}
        over64 = p[ldn, 1] - _num(gap[SDM64]["psnr_theta1"])
        loss = p[ldn, 1] - p[ldn, 4]
        log = _rows(root, "results/training/s-sdm-cbr1-1-snr0.csv")
        return (_md(["method", "θ = 1: PSNR (dB, ± 95 %) / SSIM", "θ = 2", "θ = 4", "loss 1 → 4 (dB)"], body)
                + f"\nPSNR (dB) against the sharp frame, 32 frames. The LDN (the shipped `s-sdm`, {log[-1]['step']} "
                f"steps, {_num(log[-1]['seconds']):.0f} s of training) at θ = 1: {over64:+.2f} dB over SDM (64-tick, "
                f"the `sdm` back-end), {p[ldn, 1] - _num(gap[BLURRY]['psnr_theta1']):+.2f} dB over the blurry input "
                f"(SDM + {target_db:g} dB: {_verdict(over64 >= target_db)}); it loses {loss:.2f} dB from θ = 1 to 4 "
                f"(≤ {max_loss_db:g}: {_verdict(loss <= max_loss_db)}; the supervised LDN "
                f"{_num(gap[SUPERVISED]['loss_1_to_4_db']):.2f}, SDM (64-tick) {_num(gap[SDM64]['loss_1_to_4_db']):.2f}"
                "). Each stage at θ = 1 / 2 / 4: the SR over SDM (80-tick) "
                + " / ".join(f"{p[teacher, t] - sdm[t]:+.2f}" for t in (1, 2, 4))
                + " dB, the LDN over its teacher " + " / ".join(f"{p[ldn, t] - p[teacher, t]:+.2f}" for t in (1, 2, 4))
                + f" dB. Differences of means over the same frames ({NO_CI}: no per-frame scores).\n")

    return build


def ssdm_unet_table() -> Callable[[Path], str]:
    """The supervised U-Net of Table 1 against S-SDM across thresholds (``results/ssdm/unet_gap.csv``,
    ``unet_gap_1500steps.csv``, SSIM from ``unet.csv``)."""
    sources = (("results/ssdm/unet_gap.csv", "6000 steps"), ("results/ssdm/unet_gap_1500steps.csv", "1500 steps"))

    def build(root: Path) -> str:
        exact = {(r["method"], int(_num(r["spike_theta"]))): r for r in _rows(root, "results/ssdm/unet.csv")}
        body, seen, ssdm, unets = [], set(), None, []
        for src, steps in sources:
            for r in _rows(root, src):
                if r["method"] in seen:
                    continue
                seen.add(r["method"])
                is_unet = r["method"].startswith("U-Net")
                cells = []
                for t in (1, 2, 4):
                    e = exact.get((r["method"], t))
                    p = f"{_num(r[f'psnr_theta{t}']):.2f}"
                    cells.append(f"{p} / {_num(e['ssim']):.3f}" if e else p)
                body.append([f"{r['method']}, {steps}" if is_unet else r["method"]] + cells
                            + [f"{_num(r['loss_1_to_4_db']):.2f}"])
                if is_unet:
                    unets.append(r)
                else:
                    ssdm = r
        if ssdm is None or not unets:
            raise SemcomError("results/ssdm/unet_gap*.csv lack S-SDM or the U-Net")
        u = unets[0]
        diffs = [_num(u[f"psnr_theta{t}"]) - _num(ssdm[f"psnr_theta{t}"]) for t in (1, 2, 4)]
        return (_md(["method", "θ = 1: PSNR (dB) / SSIM", "θ = 2", "θ = 4", "loss 1 → 4 (dB)"], body)
                + "\nPSNR (dB) against the sharp frame, 32 frames. The U-Net (6000 steps) − S-SDM at θ = 1 / 2 / 4: "
                + " / ".join(f"{d:+.2f}" for d in diffs) + f" dB, above it at {sum(d > 0 for d in diffs)} of 3 "
                f"thresholds ({NO_CI}: no per-frame scores).\n")

    return build


def ssdm_noise_table() -> Callable[[Path], str]:
    """Does the BSN help once the spike camera has dark current (``results/ssdm/noise/noise.csv``)."""
    src = "results/ssdm/noise/noise.csv"

    def build(root: Path) -> str:
        rows = _rows(root, src)
        body = []
        for r in rows:
            g = lambda k: _num(r[k])  # noqa: E731
            body.append([f"{g('dark_current'):g}", f"{g('mse_raw'):.3g} / {g('mse_bsn'):.3g}",
                         f"{g('noise_raw'):.3g} / {g('noise_bsn'):.3g} / {g('noise_neighbours'):.3g}",
                         f"{100 * g('saturated'):.1f} %", f"{g('psnr_sdm'):.2f}", f"{g('psnr_sdm_bsn'):.2f}",
                         _pm(g("bsn_gain_db"), g("bsn_gain_ci95")), f"{g('psnr_sdm_calibrated'):.2f}",
                         f"{g('psnr_sdm_calibrated') - g('psnr_sdm'):+.2f}"])
        below = sum(_num(r["bsn_gain_db"]) + _num(r["bsn_gain_ci95"]) < 0 for r in rows)
        rate = _rows(root, "results/ssdm/links/decoded_windows.csv")[0]["mean_rate_true"]
        return (_md(["d", "offset + noise: raw / BSN", "noise: raw / BSN / neighbours", "saturated", "SDM",
                     "SDM + BSN", "BSN gain (dB, paired ± 95 %)", "SDM, dark rate subtracted",
                     "subtracted − SDM (dB)"], body)
                + f"\nPSNR (dB) against the sharp frame, {rows[0]['frames']} frames; the BSN retrained for each `d` "
                f"({rows[0]['bsn_steps']} steps, {_span([_num(r['bsn_seconds']) for r in rows], 0, False)} s each). "
                "The BSN gain is paired over the frames (interval 1.96 s/√n); its "
                f"interval lies below zero at {below} of {len(rows)} "
                f"levels. `subtracted − SDM`: differences of means ({NO_CI}: no per-frame scores). For scale: "
                f"without dark current a spike pixel fires on {_num(rate):.2f} of the ticks on average "
                "(`mean_rate_true`, `results/ssdm/links/decoded_windows.csv`).\n")

    return build


#: the differences ``a - b`` of ``results/ssdm/links/links.csv`` (by ``link``) the text discusses
SSDM_LINK_DIFFS = (("bpg-ldpc-spikes-s-sdm", "bpg-ldpc-spikes-s-sdm-decoded",
                    "S-SDM over the digital link's decoded frame"),
                   ("bpg-ldpc-spikes-s-sdm-exact-spikes", "bpg-ldpc-spikes-s-sdm-decoded",
                    "S-SDM with the exact spikes over the same decoded frame"),
                   ("bpg-ldpc-spikes-s-sdm", "bpg-ldpc", "the digital spike link over `bpg-ldpc`"),
                   ("sdm-tx-bpg-ldpc", "bpg-ldpc-spikes-s-sdm", "SDM at the sensor over the digital spike link"),
                   ("sp-jscc-s-sdm", "sp-jscc-s-sdm-decoded", "S-SDM over SP-JSCC's decoded frame"),
                   ("sp-jscc-s-sdm-exact-spikes", "sp-jscc-s-sdm-decoded",
                    "S-SDM with the exact spikes over SP-JSCC's decoded frame"),
                   ("sp-jscc", "sp-jscc-s-sdm", "SP-JSCC's own U-Net over S-SDM behind SP-JSCC's decoders"))


def ssdm_links_table() -> Callable[[Path], str]:
    """S-SDM behind the channel (``results/ssdm/links/links.csv``) and the differences between its rows."""
    src = "results/ssdm/links/links.csv"

    def build(root: Path) -> str:
        rows = _rows(root, src)
        body = [[r["method"], f"**`{r['link']}`**" if r["link"] == "bpg-ldpc-spikes-s-sdm" else
                 (f"`{r['link']}`" if r["link"] else ""),
                 _pm(_num(r["psnr"]), _num(r["psnr_ci95"]), sign=False), f"{_num(r['ssim']):.3f}"] for r in rows]
        p = {r["link"]: _num(r["psnr"]) for r in rows if r["link"]}
        for a, b, _ in SSDM_LINK_DIFFS:
            if a not in p or b not in p:
                raise SemcomError(f"{src} has no row for link {a if a not in p else b!r}")
        diffs = [[label, f"`{a}` − `{b}`", f"{p[a] - p[b]:+.2f}"] for a, b, label in SSDM_LINK_DIFFS]
        return (_md(["method", "link", "PSNR (dB, ± 95 %)", "SSIM"], body)
                + "\nAWGN 10 dB, CBR 1/48, 32 frames; `exact:` rows have no channel. Differences of means over the "
                f"same frames ({NO_CI}: no per-frame scores):\n\n"
                + _md(["difference", "links", "dB"], diffs))

    return build


def ssdm_windows_table() -> Callable[[Path], str]:
    """How well each link delivers what S-SDM reads (``results/ssdm/links/decoded_windows.csv``)."""
    src = "results/ssdm/links/decoded_windows.csv"

    def build(root: Path) -> str:
        body = [[f"`{r['link']}`", r["windows"], f"{_num(r['ratio_correlation']):.3f}", f"{_num(r['correlation']):.3f}",
                 f"{_num(r['std_decoded']):.3f} / {_num(r['std_true']):.3f}",
                 f"{_num(r['mean_rate_decoded']):.3f} / {_num(r['mean_rate_true']):.3f}"] for r in _rows(root, src)]
        return _md(["link", "windows", "correlation of the middle window's departure (what S-SDM reads)",
                    "correlation of the windows", "spread: decoded / true", "mean rate: decoded / true"], body)

    return build


def ssdm_decoded_table() -> Callable[[Path], str]:
    """S-SDM fine-tuned on the digital link's decoded inputs (``results/ssdm/decoded/decoded_*.csv`` and their
    training logs)."""
    folder = "results/ssdm/decoded"

    def build(root: Path) -> str:
        files = sorted((root / folder).glob("decoded_*.csv"))
        if not files:
            raise SemcomError(f"table source {folder}/decoded_*.csv is missing")
        body, shipped = [], None
        for f in files:
            rows = _rows(root, f.relative_to(root))
            base, tuned = rows[0], rows[-1]
            if shipped is None:
                shipped = _num(base["psnr"])
                body.append([base["receiver"], f"{shipped:.2f}", f"{_num(base['ssim']):.3f}", "", "", ""])
            elif abs(_num(base["psnr"]) - shipped) > 1e-9:
                raise SemcomError(f"{f.name}: its shipped S-SDM row differs from the other runs'")
            log = _rows(root, f"{folder}/training_log_{f.stem[len('decoded_'):]}.csv")
            body.append([tuned["receiver"], f"{_num(tuned['psnr']):.2f}", f"{_num(tuned['ssim']):.3f}",
                         f"{_num(tuned['psnr']) - shipped:+.2f}",
                         f"{_num(log[0]['loss']):.3f} → {_num(log[-1]['loss']):.3f} (steps {log[0]['step']} → "
                         f"{log[-1]['step']})", f"{_num(log[-1]['seconds']):.0f}"])
        return (_md(["receiver of `bpg-ldpc-spikes-s-sdm`", "PSNR (dB)", "SSIM", "− as shipped (dB)",
                     "training loss", "training (s)"], body)
                + f"\nAWGN 10 dB, CBR 1/48, 32 test frames; single runs ({NO_CI}: no per-frame scores).\n")

    return build


DIFFEVENT_E = "DiffEvent (e) y = f(E)x + r"
#: paired differences ``a - b`` of ``results/diffevent/per_frame.csv`` the text discusses
DIFFEVENT_PAIRS = (("DiffEvent (a) y = Ex", "EDI (SCER)"),
                   ("DiffEvent (b) y = f(E)x", "y / f(E), learned f (no diffusion)"),
                   ("y / f(E), filtered f (no diffusion)", "EDI (SCER)"))


def diffevent_table(max_seconds: float = 30.0) -> Callable[[Path], str]:
    """DiffEvent's ablation on exact inputs (``results/diffevent/ablation.csv``) and its time target."""
    src = "results/diffevent/ablation.csv"

    def build(root: Path) -> str:
        rows = _rows(root, src)
        e = _by(rows, "method", (DIFFEVENT_E,), src)[DIFFEVENT_E]
        body = []
        for r in rows:
            label = (f"**{r['method']}** (link `diffevent-projected`)" if r["method"] == DIFFEVENT_E else r["method"])
            s = r["seconds_per_frame"]
            body.append([label, f"{_num(r['psnr']):.2f}", f"{_num(r['ssim']):.3f}",
                         "" if s == "" or r["method"] == BLURRY else f"{_num(s):.2f}"])
        sec = _num(e["seconds_per_frame"])
        return (_md(["method", "PSNR (dB)", "SSIM", "s / frame (CPU)"], body)
                + f"\n{rows[0]['n']} frames, PSNR / SSIM against the sharp frame. Time target (≤ {max_seconds:g} s "
                f"for a 256² frame at the default step count): (e) takes {sec:.1f} s, "
                f"{_verdict(sec <= max_seconds)}.\n")

    return build


def diffevent_targets_table() -> Callable[[Path], str]:
    """DiffEvent's targets (``results/diffevent/targets.csv``) and further paired differences from
    ``per_frame.csv``."""

    def build(root: Path) -> str:
        from semcom.bench.results import mean_ci95
        import numpy as np

        body = [[r["difference"].replace(" - ", " − "), _pm(_num(r["mean_db"]), _num(r["ci95_db"])),
                 r["target_db"].replace(">=", "≥"), _verdict(r["met"] == "yes")]
                for r in _rows(root, "results/diffevent/targets.csv")]
        frames = _rows(root, "results/diffevent/per_frame.csv")
        for a, b in DIFFEVENT_PAIRS:
            if a not in frames[0] or b not in frames[0]:
                raise SemcomError(f"results/diffevent/per_frame.csv has no column {a if a not in frames[0] else b!r}")
            mean, half = mean_ci95(np.array([_num(f[a]) - _num(f[b]) for f in frames]))
            body.append([f"{a} − {b}", _pm(mean, half), "", ""])
        return (_md(["comparison", "measured (dB, paired ± 95 %)", "target", ""], body)
                + f"\nPaired over the same {len(frames)} frames. The benchmark's rows (with a target) take the "
                "interval as 1.96 s/√n; the rows without one are computed here from `per_frame.csv` with a Student-t "
                "interval.\n")

    return build


def diffevent_link_table() -> Callable[[Path], str]:
    """DiffEvent's receivers behind ``bpg-ldpc-events`` (``results/diffevent/link.csv``)."""
    src = "results/diffevent/link.csv"

    def build(root: Path) -> str:
        rows = _rows(root, src)
        by = _by(rows, "method", ("EDI on the decoded SCER", "y / f(E), learned f, on the decoded SCER"), src)
        learned, edi = by["y / f(E), learned f, on the decoded SCER"], by["EDI on the decoded SCER"]
        gain = _num(learned["psnr"]) - _num(edi["psnr"])
        r0 = rows[0]
        return (_md(["receiver", "PSNR (dB)"], [[r["method"], f"{_num(r['psnr']):.2f}"] for r in rows])
                + f"\n`{r0['link']}` at AWGN {r0['snr_db']} dB, CBR {r0['cbr']} ({r0['config']}), {r0['n']} frames. "
                f"The learned enhancement over EDI on the decoded SCER: {gain:+.2f} dB ({NO_CI}: `link.csv` holds "
                "means only).\n")

    return build


def diffevent_tuning_table() -> Callable[[Path], str]:
    """DiffEvent's guidance grid on 4 training frames (``results/diffevent/tuning.csv``)."""

    def build(root: Path) -> str:
        rows = _rows(root, "results/diffevent/tuning.csv")
        return _md(["s", "s′", "λ′", "steps", "PSNR (dB)", "s / frame"],
                   [[f"{_num(r['s']):g}", f"{_num(r['s_r']):g}", f"{_num(r['lam_r']):g}", r["steps"],
                     f"{_num(r['psnr']):.2f}", f"{_num(r['seconds_per_frame']):.2f}"] for r in rows])

    return build


def diffevent_training_table(tail: float = 0.2) -> Callable[[Path], str]:
    """DiffEvent's three trained parts (``results/training/diffevent-cbr1-1-snr0.csv``): steps, time, and the
    loss over the last ``tail`` of each part's steps against the ``tail`` before."""
    src = "results/training/diffevent-cbr1-1-snr0.csv"

    def build(root: Path) -> str:
        rows = _rows(root, src)
        body, total = [], 0.0
        for part in dict.fromkeys(r["stage"] for r in rows):
            rs = [r for r in rows if r["stage"] == part]
            steps = int(rs[-1]["stage_step"])
            last = [_num(r["loss"]) for r in rs if int(r["stage_step"]) > (1 - tail) * steps]
            before = [_num(r["loss"]) for r in rs
                      if (1 - 2 * tail) * steps < int(r["stage_step"]) <= (1 - tail) * steps]
            total += _num(rs[-1]["seconds"])
            body.append([part, str(steps), f"{_num(rs[-1]['seconds']):.0f}",
                         f"{sum(before) / len(before):.4f} → {sum(last) / len(last):.4f}"])
        return (_md(["part", "steps", "training (s)",
                     f"mean loss, the {tail:.0%} of steps before the last → the last {tail:.0%}"], body)
                + f"\n{total / 60:.1f} min in all on this CPU.\n")

    return build


def spjscc_table(figure: tuple[str, str, str] = ("evjscc-fig4", "awgn", "1-48"),
                 snrs: tuple[float, ...] = (0, 4, 10, 16, 20)) -> Callable[[Path], str]:
    """SP-JSCC (``results/spjscc/``) beside DeepJSCC-Deblur and EV-JSCC of Fig. 4."""

    def build(root: Path) -> str:
        rows = _by_snr(_rows(root, _glob_one(root, "results/spjscc", "sp-jscc_*.csv").relative_to(root)))
        folder, channel, cbr = figure
        deblur = _sweep(folder, "deepjscc-deblur", channel, cbr, root)[0]
        ev, side = _sweep(folder, "ev-jscc", channel, cbr, root)
        rp = ((side.get("reference") or {}).get("blurry input") or {}).get("psnr", math.nan)
        body = []
        for s in snrs:
            r = rows.get(round(float(s), 6))
            if r is None:
                continue
            p = _num(r["psnr"])
            body.append([f"{s:g}", f"{p:.2f}{'↓' if p < rp else ''} / {_num(r['ssim']):.3f}",
                         f"{p - _num(deblur[round(float(s), 6)]['psnr']):+.2f}",
                         f"{p - _num(ev[round(float(s), 6)]['psnr']):+.2f}"])
        common = [s for s in rows if s in deblur and s in ev]
        over = [_num(rows[s]["psnr"]) - _num(deblur[s]["psnr"]) for s in common]
        under = [_num(rows[s]["psnr"]) - _num(ev[s]["psnr"]) for s in common]
        return (_md(["SNR (dB)", "SP-JSCC", "− DeepJSCC-Deblur (dB)", "− EV-JSCC (dB)"], body)
                + "\nPSNR (dB) / SSIM against the sharp frame, AWGN, CBR 1/48, 32 frames; ↓: below the blurry input. "
                f"Over all {len(common)} SNR points SP-JSCC is above DeepJSCC-Deblur at {sum(d > 0 for d in over)} "
                f"({_span(over)} dB) and below EV-JSCC at {sum(d < 0 for d in under)} ({_span(under)} dB). "
                f"Differences of means over the same frames and seeded draws ({NO_CI}: the SP-JSCC sweep has no "
                "per-frame file).\n")

    return build


#: the sweeps whose sidecar records a ``transmitter`` stage: (setting, folder under results/, glob)
SENSOR_SWEEPS = tuple((title, f"results/reproduce/{folder}", f"{link}_*.json")
                      for title, folder in (("AWGN 1/48", "evjscc-fig4"), ("AWGN 1/96", "evjscc-fig5"),
                                            ("Rayleigh 1/48", "evjscc-fig4-rayleigh"),
                                            ("Rayleigh 1/96", "evjscc-fig5-rayleigh"))
                      for link in ("edi-tx-bpg-ldpc", "edi-tx-deepjscc")) + (
    ("AWGN 1/48", "results/where-events", "sdm-tx-bpg-ldpc_*.json"),
    ("AWGN 1/48, 10 dB", "results/ssdm/links", "sdm-tx-bpg-ldpc_*.json"))


def sensor_compute_table() -> Callable[[Path], str]:
    """What the sensor computes before sending: each sweep's sidecar ``transmitter`` entry."""

    def build(root: Path) -> str:
        body, ms = [], {}
        for title, folder, pattern in SENSOR_SWEEPS:
            path = _glob_one(root, folder, pattern)
            side = read_json(path)
            tx = side.get("transmitter")
            if not tx:
                raise SemcomError(f"{path.relative_to(root)} records no transmitter stage")
            link = (side.get("config") or {}).get("link", path.stem.split("_")[0])
            ms.setdefault(link, []).append(float(tx["ms_per_frame"]))
            body.append([title, f"`{link}`", tx["name"], f"{float(tx['ms_per_frame']):.1f}", str(tx["parameters"]),
                         str(side.get("torch_threads", "")), f"`{path.relative_to(root).parent}/`"])
        return (_md(["setting", "link", "at the sensor", "ms per 256² frame", "parameters", "torch threads",
                     "sweep"], body)
                + "\nPer link: " + "; ".join(f"`{k}` {min(v):.1f} to {max(v):.1f} ms" for k, v in ms.items())
                + " per frame (each sweep timed once, while other work may have shared the cores).\n")

    return build


def sdm_tx_table(figure: tuple[str, str, str] = ("evjscc-fig4", "awgn", "1-48")) -> Callable[[Path], str]:
    """``sdm-tx-bpg-ldpc`` on AWGN 1/48 (``results/where-events/``) beside EV-JSCC of Fig. 4."""

    def build(root: Path) -> str:
        rows = _rows(root, _glob_one(root, "results/where-events", "sdm-tx-bpg-ldpc_*.csv").relative_to(root))
        ev = _sweep(figure[0], "ev-jscc", figure[1], figure[2], root)[0]
        body, diffs = [], []
        for r in rows:
            s = round(float(r["snr_db"]), 6)
            p = _num(r["psnr"])
            e = ev.get(s)
            d = "" if e is None else f"{p - _num(e['psnr']):+.2f}"
            if e is not None:
                diffs.append((s, p - _num(e["psnr"])))
            body.append([f"{s:g}", f"{p:.2f} / {_num(r['ssim']):.3f}", r.get("config", ""),
                         "" if e is None else f"{_num(e['psnr']):.2f} / {_num(e['ssim']):.3f}", d])
        return (_md(["SNR (dB)", "`sdm-tx-bpg-ldpc`", "configuration", "`ev-jscc` (Fig. 4)", "difference (dB)"], body)
                + f"\nPSNR (dB) / SSIM against the sharp frame, 32 frames; `ev-jscc` only where Fig. 4 has the SNR. "
                f"Differences of means over the same frames ({NO_CI}: this sweep has no per-frame file).\n")

    return build


#: the training runs of the Figs. 4 and 5 models (``results/training/<run>.csv``)
FIGURE_RUNS = ("deepjscc-cbr1-48-adaptive", "deepjscc-cbr1-96-adaptive", "deepjscc-deblur-cbr1-48-adaptive-init",
               "deepjscc-deblur-cbr1-48-adaptive-finetune", "deepjscc-deblur-cbr1-96-adaptive",
               "ev-jscc-cbr1-48-adaptive", "ev-jscc-cbr1-96-adaptive")


def training_budget_table() -> Callable[[Path], str]:
    """Steps, crops and wall time of the runs behind Figs. 4 and 5 (``results/training/``)."""

    def build(root: Path) -> str:
        body, samples, minutes = [], [], []
        for run in FIGURE_RUNS:
            rows = _rows(root, f"results/training/{run}.csv")
            last = rows[-1]
            samples.append(int(_num(last["samples"])))
            minutes.append(_num(last["seconds"]) / 60)
            body.append([f"`{run}`", last["step"], f"{samples[-1]:,}".replace(",", " "), f"{minutes[-1]:.1f}",
                         f"{_val_points(rows)[-1][1]:.2f}"])
        def n(x: int) -> str:
            return f"{x:,}".replace(",", " ")

        return (_md(["run", "steps", "crops seen", "wall (min)", "last validation PSNR (dB)"], body)
                + f"\nFrom `results/training/<run>.csv`: {n(min(samples))} to {n(max(samples))} crops of 128², "
                f"{min(minutes):.1f} to {max(minutes):.1f} minutes per run on this CPU.\n")

    return build


def cost_table(folders: tuple[str, ...] = ("evjscc-fig4", "evjscc-fig5", "evjscc-fig4-rayleigh",
                                           "evjscc-fig5-rayleigh"), budget_min: float = 15.0) -> Callable[[Path], str]:
    """What `semcom reproduce --all` costs (``results/scale_out/reproduce.csv``, ``cluster.csv``) and where the
    committed sweeps' evaluation time goes (their ``seconds`` column)."""

    def build(root: Path) -> str:
        runs = _rows(root, "results/scale_out/reproduce.csv")
        local = next((r for r in runs if r["run"].startswith("local")), None)
        if local is None:
            raise SemcomError("results/scale_out/reproduce.csv has no local run")
        body = [[r["run"], f"{_num(r['wall_s']):.1f}", r["cores"], f"{r['csvs_compared']} / {r['csvs_differing']}"]
                for r in runs]
        wall = _num(local["wall_s"]) / 60
        text = (_md(["run", "wall (s)", "cores", "sweeps compared / differing from the committed ones"], body)
                + f"\n`{local['run']}`: {wall:.1f} min against the {budget_min:g} minutes aimed for: "
                f"{_verdict(wall <= budget_min)}; the Ray run over it: {_num(local['ray_over_local']):.2f}x.\n\n")
        cl = _rows(root, "results/scale_out/cluster.csv")
        text += (_md(["Ray cluster", "SNR points", "wall (s)", "nodes", "tasks per node", "results identical"],
                     [[r["run"], r["points"], f"{_num(r['wall_s']):.1f}", r["nodes_used"], r["tasks_per_node"],
                       r["identical"]] for r in cl])
                 + f"\nTwo 1-core nodes over one: {_num(cl[-1]['two_over_one']):.2f}x the wall time.\n\n")
        secs: dict[str, list[float]] = {}
        for folder in folders:
            for csv in sorted((root / REPRODUCE / folder).glob("*.csv")):
                if csv.name.endswith("_frames.csv"):
                    continue
                link = csv.name.split("_")[0]
                secs.setdefault(link, []).extend(_num(r["seconds"]) for r in read_rows(csv) if r.get("seconds"))
        if not secs:
            raise SemcomError("no committed sweep records its seconds")
        order = sorted(secs, key=lambda k: -sum(secs[k]))
        total = sum(sum(v) for v in secs.values())
        text += (_md(["link", "points", "evaluation (s)", "share"],
                     [[f"`{k}`", str(len(secs[k])), f"{sum(secs[k]):.0f}", f"{sum(secs[k]) / total:.0%}"]
                      for k in order])
                 + f"\nEvaluation seconds the committed sweeps of the four figure folders record (summed over "
                 f"points; {total:.0f} s in all, one process's time each, recorded when the sweeps were last "
                 "computed, not during the timed runs above).\n")
        return text

    return build


def backbone_study_table() -> Callable[[Path], str]:
    """The equal-compute backbone study (``results/jscc-backbones/runs.csv``): one row per candidate,
    the bounds' PSNR in the note."""

    def build(root: Path) -> str:
        rows = read_rows(root / "results/jscc-backbones/runs.csv")
        if not rows:
            raise SemcomError("table source results/jscc-backbones/runs.csv is missing or empty")
        runs = [r for r in rows if r.get("backbone")]
        bounds = {r["candidate"]: r for r in rows if not r.get("backbone")}
        lines = ["| candidate | parameters | budget (min) | steps | samples | run time (min) | validation PSNR | "
                 "test PSNR / SSIM at 10 dB | gap to capacity (dB) |",
                 "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in runs:
            lines.append(f"| `{r['candidate']}` | {int(float(r['params'])) / 1e6:.2f} M | {float(r['budget_s']) / 60:g} | "
                         f"{int(float(r['steps']))} | {int(float(r['samples']))} | {float(r['train_seconds']) / 60:.1f} | "
                         f"{_num(r['val_psnr']):.2f} | {_num(r['test_psnr']):.2f} / {_num(r['test_ssim']):.3f} | "
                         f"{_num(r['gap_to_capacity_db']):.2f} |")
        budgets = sorted({float(r["budget_s"]) for r in runs})
        bests = []
        for b in budgets:
            best = max((r for r in runs if float(r["budget_s"]) == b), key=lambda r: _num(r["test_psnr"]))
            bests.append(f"{b / 60:g} min `{best['candidate']}`, {_num(best['gap_to_capacity_db']):.2f} dB under "
                         "the bound")
        gains = []  # candidates trained at two budgets: what doubling the budget gave
        for name in dict.fromkeys(r["candidate"] for r in runs):
            mine = sorted((r for r in runs if r["candidate"] == name), key=lambda r: float(r["budget_s"]))
            if len(mine) >= 2:
                gains.append(f"`{name}` {_num(mine[-1]['test_psnr']) - _num(mine[0]['test_psnr']):+.2f} dB "
                             f"({float(mine[0]['budget_s']) / 60:g} to {float(mine[-1]['budget_s']) / 60:g} min)")
        cap, ldpc = bounds.get("image-bpg-capacity"), bounds.get("image-bpg-ldpc")
        note = (f"\n\nTest: the 25 held-out photographs (256² centre crops), AWGN 10 dB, CBR 1/48; on them "
                f"`image-bpg-capacity` scores {_num(cap['test_psnr']):.2f} dB / {_num(cap['test_ssim']):.3f} and "
                f"`image-bpg-ldpc` {_num(ldpc['test_psnr']):.2f} dB / {_num(ldpc['test_ssim']):.3f}. Best at "
                + "; at ".join(bests) + ". "
                + (f"Test PSNR gained by doubling the budget: {', '.join(gains)}. " if gains else "")
                + "Validation: 32 held-out training crops (128²) at 0, 10 and 20 dB. Run time is the log's wall "
                "time, stretched where other work shared the cores; the step count is what the budget planned "
                "on an idle machine.\n") if cap and ldpc else "\n"
        return "\n".join(lines) + note

    return build


def jscc_image_table(links: tuple[str, ...] = ("image-deepjscc-resconv", "image-deepjscc", "image-deepjscc-swin",
                                                "image-bpg-ldpc", "image-bpg-capacity"),
                     bound: str = "image-bpg-capacity") -> Callable[[Path], str]:
    """The image task (``results/reproduce/jscc-image/``): PSNR / SSIM per link at 0, 10 and 20 dB for
    CBR 1/48 and 1/96, the gap to BPG at capacity at 10 dB, and PSNR at 10 dB against CBR (blank where
    a link has no checkpoint for that CBR)."""
    folder = REPRODUCE / "jscc-image"

    def rows_of(path: Path) -> dict[float, dict]:
        return {round(float(r["snr_db"]), 6): r for r in read_rows(path)} if path.exists() else {}

    def build(root: Path) -> str:
        curves = {(lk, c): rows_of(root / folder / f"{lk}_awgn_cbr{c}.csv") for lk in links for c in ("1-48", "1-96")}
        if not curves[(bound, "1-48")]:
            raise SemcomError(f"table source {folder}/{bound}_awgn_cbr1-48.csv is missing or empty")
        head = ["link"] + [f"{c.replace('-', '/')} at {snr} dB" for c in ("1-48", "1-96") for snr in (0, 10, 20)]
        head += ["gap at 10 dB, 1/48 / 1/96"]
        body = []
        for lk in links:
            cells = [f"`{lk}`"]
            for c in ("1-48", "1-96"):
                for snr in (0.0, 10.0, 20.0):
                    r = curves[(lk, c)].get(snr)
                    cells.append(f"{_num(r['psnr']):.2f} / {_num(r['ssim']):.3f}" if r else "no checkpoint")
            gaps = []
            for c in ("1-48", "1-96"):
                r, b = curves[(lk, c)].get(10.0), curves[(bound, c)].get(10.0)
                gaps.append(f"{_num(b['psnr']) - _num(r['psnr']):.2f}" if r and b else "-")
            cells.append(" / ".join(gaps) if lk != bound else "")
            body.append(cells)
        cbrs = sorted({p.stem.split("_cbr")[1].split("_")[0] for p in (root / folder / "cbr-axis").glob("*_cbr*.csv")
                       if not p.name.endswith("_frames.csv")}, key=lambda t: -int(t.split("-")[1]))
        axis_head = ["link"] + [c.replace("-", "/") for c in cbrs]
        axis_body = []
        for lk in links:
            cells = [f"`{lk}`"]
            for c in cbrs:
                r = rows_of(root / folder / "cbr-axis" / f"{lk}_awgn_cbr{c}.csv").get(10.0)
                cells.append(f"{_num(r['psnr']):.2f}" if r else "")
            axis_body.append(cells)
        n = next((int(r["n_images"]) for r in curves[(bound, "1-48")].values() if r.get("n_images")), None)
        return (_md(head, body) + f"\nPSNR (dB) / SSIM of the received photograph against the one sent, "
                f"{n} held-out photographs, AWGN; gap: dB under `{bound}` at 10 dB.\n\n"
                + _md(axis_head, axis_body) + "\nPSNR (dB) at 10 dB against CBR; blank: no checkpoint for "
                "that CBR.\n")

    return build


def sensor_noise_table(folder: str = "results/sensor-noise/backends") -> Callable[[Path], str]:
    """Every back-end on exact inputs under each camera preset (``backends.csv``, ``events.csv``): PSNR / SSIM
    per preset, the change against the default camera, and what each preset does to the streams."""

    def build(root: Path) -> str:
        rows = _rows(root, f"{folder}/backends.csv")
        presets = list(dict.fromkeys(r["preset"] for r in rows))
        methods = list(dict.fromkeys(r["back_end"] for r in rows))
        cell = {(r["preset"], r["back_end"]): r for r in rows}
        head = ["back-end (frames)"] + [f"`{p}`" for p in presets]
        body = []
        for m in methods:
            frames = next(cell[(p, m)]["frames"] for p in presets if (p, m) in cell)
            cells = [f"{m} ({frames})"]
            for p in presets:
                r = cell.get((p, m))
                if r is None:
                    cells.append("")
                    continue
                text = f"{_num(r['psnr']):.2f} / {_num(r['ssim']):.3f}"
                if p != "default":
                    text += f" ({_pm(_num(r['psnr_vs_default_db']), _num(r['psnr_vs_default_ci95']))})"
                cells.append(text)
            body.append(cells)
        best = {p: max((m for m in methods if (p, m) in cell), key=lambda m: _num(cell[(p, m)]["psnr"]))
                for p in presets}
        events = {r["preset"]: r for r in _rows(root, f"{folder}/events.csv")}
        streams = "; ".join(f"`{p}` {_num(events[p]['events_vs_default']):.2f}x the events and "
                            f"{_num(events[p]['spikes_vs_default']):.2f}x the spikes" for p in presets
                            if p in events and p != "default")
        return (_md(head, body) + "\nPSNR (dB) / SSIM against the sharp frame on the camera's exact output; in "
                "brackets the paired change against the same back-end under `default` (dB, 95 % interval). Best "
                "per preset: " + "; ".join(f"`{p}` {best[p]}" for p in presets)
                + f". Streams against the default camera: {streams}.\n")

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
    "jscc-backbones": backbone_study_table(),
    "jscc-image": jscc_image_table(),
    "backends": backends_table(),
    "evjscc-events": evjscc_events_table(),
    "event-share": event_share_table(),
    "blurry-target": blurry_target_table(),
    "evjscc-ablation": evjscc_ablation_table(),
    "stra": stra_table(),
    "stra-targets": stra_targets_table(),
    "stra-links": stra_links_table(),
    "ssdm-cascade": ssdm_cascade_table(),
    "ssdm-nobsn": ssdm_nobsn_table(),
    "ssdm-unet": ssdm_unet_table(),
    "ssdm-noise": ssdm_noise_table(),
    "ssdm-links": ssdm_links_table(),
    "ssdm-windows": ssdm_windows_table(),
    "ssdm-decoded": ssdm_decoded_table(),
    "diffevent": diffevent_table(),
    "diffevent-targets": diffevent_targets_table(),
    "diffevent-link": diffevent_link_table(),
    "diffevent-tuning": diffevent_tuning_table(),
    "diffevent-training": diffevent_training_table(),
    "spjscc": spjscc_table(),
    "sensor-compute": sensor_compute_table(),
    "sensor-noise": sensor_noise_table(),
    "sdm-tx": sdm_tx_table(),
    "training-budget": training_budget_table(),
    "cost": cost_table(),
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
