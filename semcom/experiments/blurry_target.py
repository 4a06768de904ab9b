"""How well does DeepJSCC compress?  DeepJSCC judged on the blurry frame it sends, against the separation
bound (``results/baselines/``).

Deblurring is taken out of the comparison: DeepJSCC is fine-tuned with the blurry frame as its target (link
``deepjscc-blurry``, one of this package's own links in ``semcom/experiments/links/``: warm start from the
shipped SNR-adaptive DeepJSCC at CBR 1/48, the ``cpu`` recipe) and compared with ``bpg-capacity-blurry``
(BPG at the AWGN capacity, the best rate back-off per SNR) on the default evaluation set, both scored
against the blurry frame.  The issue's target: DeepJSCC within 3 dB of the bound at 10 dB.  The runs and
the fine-tuning's learning curve go to ``blurry-target/``, the table (PSNR per SNR and the gap) to
``blurry_target.csv``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from semcom.conventions import parse_snr
from semcom.experiments.base import Results, experiment
from semcom.experiments.shared import LINKS_DIR, link_file, sweep, train_once
from semcom.zoo.store import entry_path, read_manifest

#: the shipped checkpoint the fine-tuning starts from
SHIPPED = "deepjscc-cbr1-48-adaptive"


@dataclass(frozen=True)
class BlurryTargetConfig:
    """Args: ``steps`` of the fine-tuning; ``recipe`` of :data:`~semcom.experiments.shared.RECIPES`;
    ``snr`` points of the sweeps; ``limit`` evaluation frames (None: all 32); ``ckpt_dir`` for the
    checkpoint (None: ``<out>/ckpt``); ``codec_params`` more ``KEY=VALUE`` codec arguments (the tiny run's
    narrow network, trained without the warm start)."""

    steps: int = 3000
    recipe: str = "cpu"
    snr: str = "0:20:5"
    limit: int | None = None
    ckpt_dir: str | None = "ckpt/blurry-target"
    codec_params: tuple[str, ...] = ()
    warm_start: bool = True


TINY = BlurryTargetConfig(steps=2, recipe="tiny", snr="10", limit=2, ckpt_dir=None, codec_params=("width=8",),
                          warm_start=False)


@experiment("blurry-target", config=BlurryTargetConfig, tiny=TINY, out="results/baselines")
def run(cfg: BlurryTargetConfig, results: Results) -> None:
    """DeepJSCC fine-tuned on the blurry frame against BPG at capacity, both judged on the blurry frame."""
    shipped = str(entry_path(next(e for e in read_manifest() if e["name"] == SHIPPED)))
    warm = ["--warm-start", shipped] if cfg.warm_start else []
    extra = [a for p in cfg.codec_params for a in ("--codec-param", p)]
    ck = train_once("deepjscc-blurry", results.scratch(cfg.ckpt_dir) / "deepjscc-blurry-cbr1-48-adaptive.ckpt",
                    steps=cfg.steps, recipe=cfg.recipe,
                    args=["--cbr", "1/48", "--snr-range", "0:20", *warm, *extra], env={"SEMCOM_LINKS": str(LINKS_DIR)})
    runs = results.folder("blurry-target")
    curves = {}
    for link, checkpoint in (("deepjscc-blurry", str(ck)), ("bpg-capacity-blurry", None)):
        _, curves[link] = sweep(link_file(link), cbr=1 / 48, snr_db=parse_snr(cfg.snr), checkpoint=checkpoint,
                                limit=cfg.limit, metrics=("psnr", "ssim"), out_dir=runs, plot=True, say=results.say)
    for ext in (".csv", ".png"):  # the fine-tuning's learning curve beside the runs
        if ck.with_suffix(ext).exists():
            shutil.copyfile(ck.with_suffix(ext), runs / f"training{ext}")
    jscc = {s: float(r["psnr"]) for s, r in curves["deepjscc-blurry"].items()}
    rows = [{"snr_db": snr, "deepjscc_blurry": round(jscc[snr], 3), "bpg_capacity_blurry": round(float(r["psnr"]), 3),
             "gap_db": round(float(r["psnr"]) - jscc[snr], 3), "steps": cfg.steps}
            for snr, r in sorted(curves["bpg-capacity-blurry"].items())]
    results.table("blurry_target.csv", rows)
    for r in rows:
        results.say(f"{r['snr_db']:5.1f} dB: DeepJSCC {r['deepjscc_blurry']:.2f} dB, bound "
                    f"{r['bpg_capacity_blurry']:.2f} dB, gap {r['gap_db']:.2f} dB")
