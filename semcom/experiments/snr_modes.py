"""SNR-adaptive against single-SNR models (the paper's protocol) at one CBR, from the shipped checkpoints
(``results/snr-modes/``).

For each learned codec with a shipped single-SNR checkpoint and an SNR-adaptive partner at ``cbr``, both are
swept over ``snr`` on the default evaluation set (``<codec>/adaptive/`` and ``<codec>/snr<S>/``), both curves
are drawn in one PNG (``<codec>_snr_modes_cbr<R>.png``), and ``snr_modes.csv`` gives the gap at the single
model's training SNR, where the paper's protocol tests it.
"""

from __future__ import annotations

from dataclasses import dataclass

from semcom.conventions import format_cbr, parse_cbr, parse_snr
from semcom.errors import SemcomError
from semcom.experiments.base import Results, experiment
from semcom.experiments.shared import sweep
from semcom.zoo.store import entry_path, read_manifest, same_cbr


@dataclass(frozen=True)
class SnrModesConfig:
    """Args: ``snr`` SNR points (``A:B:STEP`` or a list); ``cbr`` as text; ``limit`` evaluation frames
    (None: all); ``codecs`` only these codecs (empty: every one with both kinds of checkpoint);
    ``metrics`` of the sweeps."""

    snr: str = "0:20:2"
    cbr: str = "1/48"
    limit: int | None = None
    codecs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ("psnr", "ssim", "dists")


TINY = SnrModesConfig(snr="10", limit=2, codecs=("deepjscc",), metrics=("psnr",))


def pairs(cbr: float, codecs: tuple[str, ...] = ()) -> list[tuple[dict, dict]]:
    """``(adaptive, single)`` manifest entries of one codec each, at ``cbr``."""
    entries = read_manifest()
    out = []
    for single in [e for e in entries if e.get("snr_mode") == "single" and same_cbr(e["cbr"], cbr)]:
        if codecs and single["codec"] not in codecs:
            continue
        adaptive = [e for e in entries if e["codec"] == single["codec"] and e.get("snr_mode") == "adaptive"
                    and same_cbr(e["cbr"], cbr)]
        if adaptive:
            out.append((adaptive[0], single))
    return out


def _plot(curves: dict[str, dict[float, tuple[float, float]]], *, codec: str, cbr: float, snr0: float, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), constrained_layout=True)
    for mode, c in curves.items():
        xs = sorted(c)
        ax.errorbar(xs, [c[x][0] for x in xs], yerr=[c[x][1] for x in xs], marker="o", ms=3, capsize=2, label=mode)
    ax.axvline(snr0, color="gray", lw=0.8, ls=":")
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("PSNR (dB) against the sharp frame")
    ax.set_title(f"{codec}, CBR {format_cbr(cbr)}, AWGN: SNR-adaptive vs trained at {snr0:g} dB", fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


@experiment("snr-modes", config=SnrModesConfig, tiny=TINY, out="results/snr-modes")
def run(cfg: SnrModesConfig, results: Results) -> None:
    """SNR-adaptive against single-SNR shipped models: both curves and the gap at the single model's SNR."""
    cbr = parse_cbr(cfg.cbr)
    points = tuple(parse_snr(cfg.snr))
    rows = []
    for adaptive, single in pairs(cbr, cfg.codecs):
        codec = single["codec"]  # every learned codec has a link of the same name
        snr0 = float(single["snr_db"])
        curves = {}
        for mode, entry, sub in (("adaptive", adaptive, "adaptive"), (f"single {snr0:g} dB", single, f"snr{snr0:g}")):
            _, data = sweep(codec, cbr=cbr, snr_db=sorted(set(points) | {snr0}), limit=cfg.limit,
                            metrics=cfg.metrics, checkpoint=str(entry_path(entry)),
                            out_dir=results.folder(f"{codec}/{sub}"), say=results.say)
            curves[mode] = {s: (float(r["psnr"]), float(r["psnr_ci95"] or 0)) for s, r in data.items()}
        png = results.path(f"{codec}_snr_modes_cbr{format_cbr(cbr).replace('/', '-')}.png")
        _plot(curves, codec=codec, cbr=cbr, snr0=snr0, path=png)
        a, s = curves["adaptive"][snr0][0], curves[f"single {snr0:g} dB"][snr0][0]
        rows.append({"codec": codec, "cbr": format_cbr(cbr), "snr_db": snr0, "psnr_adaptive": f"{a:.3f}",
                     "psnr_single": f"{s:.3f}", "gap_db": f"{s - a:.3f}"})
        results.say(f"{codec} CBR {format_cbr(cbr)} at {snr0:g} dB: adaptive {a:.2f} dB, single-SNR {s:.2f} dB, "
                    f"gap (single - adaptive) {s - a:+.2f} dB   [{png}]")
    if not rows:
        raise SemcomError("no shipped single-SNR checkpoint with an adaptive partner at this CBR")
    results.table("snr_modes.csv", rows)
