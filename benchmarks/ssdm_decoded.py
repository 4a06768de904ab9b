"""S-SDM fine-tuned on what the digital spike link delivers, still without sharp frames (issue 20's next step).

The shipped ``s-sdm`` was distilled on exact inputs. Here its LDN is fine-tuned on the decoded frame and the
decoded spike pictures of ``bpg-ldpc-spikes-s-sdm`` (AWGN ``--snr``, CBR 1/48, the configuration its sweep
picks there) for training-split samples at the evaluation size, against the same teacher as the shipped one
(SDM on the SR network's frames, ``benchmarks/ssdm.py``'s SR) computed from the *exact* blurry frame and spikes
at the transmitter's side of the training data: the network learns to undo the channel and deblur at once, and
no sharp frame is read. Scored through the link on the 32 test frames beside the shipped weights.

    python benchmarks/ssdm_decoded.py [--n-train 128] [--steps 400]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from ssdm_links import variant  # benchmarks/ssdm_links.py, beside this script

from semcom.bench.identity import display_path
from semcom.bench.results import write_table
from semcom.bench.sweep import SweepConfig, run_sweep
from semcom.link import Link
from semcom.linkspec import find_link
from semcom.receivers.ssdm import SSDM, Cascade, SpikeSR, window_frames
from semcom.train.ssdm import load_spike_data, save_receiver
from semcom.train.stages import run_stage

LINK = "bpg-ldpc-spikes-s-sdm"


def decoded_set(args, config: str) -> dict[str, torch.Tensor]:
    """Decoded frames and spike frames, and the teacher's output on the exact inputs, for the training samples."""
    data = load_spike_data(size=256, n=args.n_train, seed=1)
    link = Link(find_link(LINK), cbr=1 / 48).eval()
    link.codec.set_variant(config)
    sr = SpikeSR()
    sr.load_state_dict(torch.load(args.nets)["sr"])
    teacher = Cascade(sr=sr.eval(), width=80)
    parts: dict[str, list[torch.Tensor]] = {"image": [], "short": [], "long": [], "target": []}
    for i, j in enumerate(range(0, args.n_train, 8)):
        b = data.batch(slice(j, min(j + 8, args.n_train)))
        # no sharp frame: NaN in its place (a step that read it would give NaN), the camera's tick count
        b = type(b)(torch.full_like(b.sharp, float("nan")), b.blurry, None, b.spikes, (), (),
                    tuple({"spike_ticks": b.spikes.shape[1]} for _ in range(b.size)))
        with torch.no_grad():
            _, rec = link.codec.transmit(b, link.channel, snr_db=torch.full((b.size,), float(args.snr)),
                                         generator=torch.Generator().manual_seed(1000 + i))
            ticks = b.spikes.shape[1]
            short, long = window_frames(rec.events, ticks=ticks, centre=ticks / 2, width=80)
            parts["image"].append(rec.image.clamp(0, 1))
            parts["short"].append(short)
            parts["long"].append(long)
            parts["target"].append(teacher(b.blurry, b.spikes))
        print(f"decoded {min(j + 8, args.n_train)}/{args.n_train}", file=sys.stderr, flush=True)
    return {k: torch.cat(v) for k, v in parts.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snr", type=float, default=10.0)
    ap.add_argument("--n-train", type=int, default=128)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--nets", default="ckpt/ssdm/nets.pt", help="benchmarks/ssdm.py's trained networks (the SR)")
    ap.add_argument("--ckpt", default="ckpt/ssdm-decoded")
    ap.add_argument("--out", default="results/ssdm/decoded")
    args = ap.parse_args()
    ck, out = Path(args.ckpt), Path(args.out)
    ck.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    shipped = run_sweep(SweepConfig(link=LINK, cbr=1 / 48, snr_db=(args.snr,), metrics=("psnr", "ssim")),
                        out_dir=out, progress=False)
    base = next(csv.DictReader(open(shipped)))
    tag = f"n{args.n_train}-s{args.steps}"
    weights = ck / f"s-sdm-decoded-{tag}.ckpt"
    if not weights.exists():
        d = decoded_set(args, base["config"])
        ldn = SSDM(weights="shipped").net.train()
        g = torch.Generator().manual_seed(0)
        n, c = d["image"].shape[0], args.crop

        def loss_fn(step: int) -> torch.Tensor:
            idx = torch.randint(0, n, (8,), generator=g)
            y0, x0 = (int(v) * 4 for v in torch.randint(0, (256 - c) // 4 + 1, (2,), generator=g))
            sl, sp = (slice(y0, y0 + c), slice(x0, x0 + c)), (slice(y0 // 4, (y0 + c) // 4),
                                                               slice(x0 // 4, (x0 + c) // 4))
            out_ = ldn(d["image"][idx][..., sl[0], sl[1]], d["short"][idx][..., sp[0], sp[1]],
                       d["long"][idx][..., sp[0], sp[1]])
            return F.l1_loss(out_, d["target"][idx][..., sl[0], sl[1]])

        log = ck / f"log-{tag}.csv"
        log.unlink(missing_ok=True)
        t0 = time.perf_counter()
        run_stage("ldn-decoded", list(ldn.parameters()), loss_fn, steps=args.steps, lr=2e-4, log=log)
        save_receiver(weights, ldn.eval(), width=80,
                      training={"steps": args.steps, "n_train": args.n_train, "size": 256, "link": LINK,
                                "snr_db": args.snr, "config": base["config"], "teacher": "SDM + SR on exact inputs",
                                "init": "shipped s-sdm", "seconds": round(time.perf_counter() - t0, 1)})
        (out / f"training_log_{tag}.csv").write_text(log.read_text())
    # the link file names the weights from the repository's root (where the command runs; a path the sweep
    # loads from the working directory), never by this machine's absolute path unless given one outside it
    named = display_path(str(weights))
    tuned_link = variant(LINK, f"ft-{tag}", out, weights=named if Path(named).resolve() == weights.resolve()
                         else str(weights))
    tuned = next(csv.DictReader(open(run_sweep(SweepConfig(link=str(tuned_link), cbr=1 / 48, snr_db=(args.snr,),
                                                           metrics=("psnr", "ssim")), out_dir=out, progress=False))))
    rows = [{"receiver": "s-sdm as shipped (distilled on exact inputs)", "psnr": base["psnr"], "ssim": base["ssim"],
             "config": base["config"]},
            {"receiver": f"s-sdm fine-tuned on the link's decoded inputs (no sharp frame; {args.n_train} samples, "
                         f"{args.steps} steps)", "psnr": tuned["psnr"],
             "ssim": tuned["ssim"], "config": tuned["config"]}]
    write_table(out / f"decoded_{tag}.csv", rows)
    for r in rows:
        print(r, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
