"""S-SDM's LDN distilled from a teacher without the BSN (SDM + SR), after ``benchmarks/ssdm.py``.

``benchmarks/ssdm.py`` found the BSN harmful here: the simulated spike camera has no noise but the
quantization of counts (integrate-and-fire, no dark current), so a short-window spike frame is already close
to the clean rate (MSE 0.0035 to the sharp frame's luminance on normalized frames, 8 test frames), and the
blind-spot estimate, made from the neighbours only, loses detail (MSE 0.089). The SR network alone adds
0.43 dB to SDM (25.09 -> 25.52 dB). This script reuses ``benchmarks/ssdm.py``'s SR network (``--nets``),
distills the LDN from SDM + SR for ``--steps`` steps (same data, loss and settings otherwise) and scores it
at thresholds 1, 2 and 4. Writes ``results/ssdm/nobsn.csv``, its training log and curve, and the LDN as
``s-sdm`` weights.

    python benchmarks/ssdm_nobsn.py [--steps 600]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import torch
from ssdm import THETAS, score_at_thresholds  # benchmarks/ssdm.py, beside this script

from semcom.bench.results import write_table
from semcom.receivers.ssdm import Cascade, SpikeSR
from semcom.train.curves import plot_training_log
from semcom.train.ssdm import load_spike_data, save_receiver, train_ldn


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--nets", default="ckpt/ssdm/nets.pt", help="benchmarks/ssdm.py's trained networks")
    ap.add_argument("--ckpt", default="ckpt/ssdm-nobsn")
    ap.add_argument("--out", default="results/ssdm")
    args = ap.parse_args()
    ck = Path(args.ckpt)
    ck.mkdir(parents=True, exist_ok=True)
    sr = SpikeSR()
    sr.load_state_dict(torch.load(args.nets)["sr"])
    sr.eval()
    teacher = Cascade(sr=sr, width=80)
    path = ck / "s-sdm.ckpt"
    if not path.exists():
        data = load_spike_data(n=512)
        t0 = time.perf_counter()
        ldn = train_ldn(data, teacher, steps=args.steps, lam=10.0, log=ck / "log.csv")
        save_receiver(path, ldn, width=80, training={"steps": args.steps, "lam": 10.0, "n_train": 512, "size": 128,
                                                      "dataset": "synth-blur", "spike_theta": 1.0,
                                                      "teacher": "SDM + SR (no BSN)",
                                                      "seconds": round(time.perf_counter() - t0, 1)})
    from semcom.receivers.ssdm import SSDM

    rx = SSDM(weights=str(path)).eval()
    rows = score_at_thresholds({"SDM + SR (the teacher)": lambda b: teacher(b.blurry, b.spikes),
                                "S-SDM: LDN distilled from SDM + SR": lambda b: rx(b.blurry, batch=b)}, THETAS)
    write_table(Path(args.out) / "nobsn.csv", rows)
    # the shipped s-sdm's curve lives with the other shipped checkpoints' curves (the manifest's ``curve``),
    # drawn from the copy so that it is titled by its entry
    curve = Path(args.out).parent / "training" / "s-sdm-cbr1-1-snr0.csv"
    shutil.copy(ck / "log.csv", curve)
    plot_training_log(curve, curve.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
