"""S-SDM behind the channel (issue 20): after SP-JSCC's stream decoders and after the digital spike link,
beside the links that handle the same frame and spikes otherwise, at AWGN 10 dB and CBR 1/48 on the 32 test
frames of synth-blur.

Links (each through ``semcom run``'s sweep, resumable: the CSVs under ``--out``):

* ``sp-jscc`` (SP-JSCC end to end: its own U-Net, trained on decoded streams) and ``sp-jscc-s-sdm`` (the
  same streams, S-SDM instead of the U-Net), and the decoded frame of those streams alone;
* ``bpg-ldpc-spikes-s-sdm`` (BPG frame + BPG-coded spike-rate windows over LDPC, S-SDM) and its decoded frame
  alone; ``bpg-ldpc`` (the frame with the whole budget); ``sdm-tx-bpg-ldpc`` (SDM at the sensor, its output
  sent);
* diagnostics: the decoded frame of each spike link with S-SDM on the exact spike stream (what the coded
  spikes cost), the digital spike link coding the three windows themselves instead of the two pictures
  S-SDM reads, and with other shares of the channel uses for its spike stream;
* the choice of that code, on 8 training-split frames (``train_split.csv``).

Also, on exact inputs (no channel): S-SDM on the raw spike stream (the ``s-sdm`` link) and on the exact
spike-rate windows the links send, six or three (what the window representation costs before any coding).
Writes ``--out/links.csv``.

    python benchmarks/ssdm_links.py [--snr 10] [--out results/ssdm/links]
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

import torch
from ssdm import score_at_thresholds  # benchmarks/ssdm.py, beside this script

from semcom.bench.results import write_table
from semcom.bench.sweep import SweepConfig, run_sweep
from semcom.codecs.spjscc import spike_windows
from semcom.link import Link
from semcom.linkspec import available_links, find_link
from semcom.receivers.ssdm import SSDM, window_frames
from semcom.registry import SOURCES
from semcom.sources.base import collate

LINKS = {  # name in the table -> (link file, receiver: None keeps the link's)
    "sp-jscc (its U-Net)": ("sp-jscc", None),
    "sp-jscc streams: decoded frame": ("sp-jscc-s-sdm", "decoded"),
    "sp-jscc streams + S-SDM (sp-jscc-s-sdm)": ("sp-jscc-s-sdm", None),
    "sp-jscc decoded frame + S-SDM on the exact spikes": ("sp-jscc-s-sdm", "exact-spikes"),
    "bpg-ldpc (frame only)": ("bpg-ldpc", None),
    "bpg-ldpc + spikes: decoded frame": ("bpg-ldpc-spikes-s-sdm", "decoded"),
    "bpg-ldpc + spikes + S-SDM (bpg-ldpc-spikes-s-sdm)": ("bpg-ldpc-spikes-s-sdm", None),
    "bpg-ldpc + spikes: decoded frame + S-SDM on the exact spikes": ("bpg-ldpc-spikes-s-sdm", "exact-spikes"),
    "SDM at the sensor (sdm-tx-bpg-ldpc)": ("sdm-tx-bpg-ldpc", None),
}
LINK_SPIKES = "bpg-ldpc-spikes-s-sdm"
RECEIVERS = {  # diagnostic receivers put in a copy of the link file
    "decoded": '[receiver]\nname = "identity"\n\n',
    "exact-spikes": '[receiver]\nname = "s-sdm"\nsource = "raw"\nweights = "shipped"\n\n',
}


def variant(link: str, tag: str, out: Path, *, receiver: str | None = None, **settings) -> Path:
    """A copy of the link file named ``<link>-<tag>``, with one of ``RECEIVERS`` in place of its receiver
    and/or other values of its codec's ``settings`` (lines ``key = value`` already in the file)."""
    text = Path(available_links()[link]).read_text()
    text = re.sub(r"^name = \"[^\"]+\"", f'name = "{link}-{tag}"', text, count=1, flags=re.M)
    if receiver:
        text = re.sub(r"\[receiver\].*?(?=^\[)", RECEIVERS[receiver], text, count=1, flags=re.S | re.M)
    for key, value in settings.items():
        value = f'"{value}"' if isinstance(value, str) else value
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        assert n == 1, (link, key)
    path = out / f"{link}-{tag}.toml"
    path.write_text(text)
    return path


def sweep_row(name: str, target: str, args, *, out: Path | None = None, train_frames: int = 0) -> dict:
    """One point of ``semcom run``'s sweep (resumed from ``out``, default ``--out``, when there) as a table row;
    on the test frames, or on ``train_frames`` training-split frames (256², another seed)."""
    data = ({"dataset": "synth-blur", "dataset_params": {"split": "train", "size": 256, "n": train_frames, "seed": 7}}
            if train_frames else {"limit": args.limit})
    path = run_sweep(SweepConfig(link=target, cbr=args.cbr, snr_db=(args.snr,), metrics=("psnr", "ssim"), **data),
                     out_dir=out or Path(args.out), progress=False)
    r = next(csv.DictReader(open(path)))
    print(f"{name:<52} PSNR {float(r['psnr']):6.2f} dB  SSIM {float(r['ssim']):.4f}  {r.get('config', '')}",
          flush=True)
    return {"method": name, "link": Path(target).stem, "snr_db": args.snr, "cbr": round(args.cbr, 6),
            "frames": r["n_images"], "psnr": round(float(r["psnr"]), 3),
            "psnr_ci95": round(float(r["psnr_ci95"] or "nan"), 3), "ssim": round(float(r["ssim"]), 4),
            "cbr_used": round(float(r["cbr_used"]), 6), "config": r.get("config", "")}


def exact_rows(limit: int | None) -> list[dict]:
    raw = SSDM(weights="shipped").eval()
    windows = SSDM(weights="shipped", source="representation").eval()
    methods = {
        "exact: blurry input": lambda b: b.blurry,
        "exact: S-SDM on the raw spike stream (s-sdm)": lambda b: raw(b.blurry, batch=b),
        "exact: S-SDM on six exact spike-rate windows (sp-jscc's)": lambda b: windows(
            b.blurry, events=spike_windows(b.spikes, num_windows=6, size=tuple(b.blurry.shape[-2:])), batch=b),
        "exact: S-SDM on three exact spike-rate windows (the digital link's)": lambda b: windows(
            b.blurry, events=spike_windows(b.spikes, num_windows=3, size=tuple(b.blurry.shape[-2:])), batch=b),
    }
    return [{"method": r["method"], "link": "", "snr_db": "", "cbr": "", "frames": r["frames"], "psnr": r["psnr"],
             "psnr_ci95": r["psnr_ci95"], "ssim": r["ssim"], "cbr_used": "", "config": ""}
            for r in score_at_thresholds(methods, (1.0,), limit=limit)]


def train_split_rows(args, out: Path) -> list[dict]:
    """The choice of the spike code, made on training-split frames: the shipped link (contrast), the same link
    coding the windows, and ``bpg-ldpc``."""
    return [sweep_row(f"training split: {name}", target, args, out=out / "train_split", train_frames=args.train_frames)
            for name, target in (("bpg-ldpc-spikes-s-sdm (contrast)", LINK_SPIKES),
                                 ("bpg-ldpc-spikes-s-sdm coding the windows",
                                  str(out / f"{LINK_SPIKES}-windows.toml")),
                                 ("bpg-ldpc (frame only)", "bpg-ldpc"))]


def decoded_window_rows(args, configs: dict[str, str]) -> list[dict]:
    """How close each link's decoded spike-rate windows come to the exact ones (same windows, same frames):
    their mean rate, correlation and spread (standard deviation over pixels and windows) against the truth's,
    and the correlation of what SDM and S-SDM read from them: the ratio of the short-window frame to the
    whole-exposure one (:func:`window_frames`, at the spike resolution), minus 1."""
    rows = []
    ds = SOURCES.build("synth-blur", split="test", limit=args.limit, events=False)
    for link_name, config in configs.items():
        link = Link(find_link(link_name), cbr=args.cbr).eval()
        if config:
            link.codec.set_variant(config)
        windows = getattr(link.codec, "spike_windows", None) or getattr(link.codec, "event_channels", 6)
        dec, ref, ticks = [], [], 0
        for i, j in enumerate(range(0, len(ds), 8)):
            b = collate([ds[k] for k in range(j, min(j + 8, len(ds)))])
            with torch.no_grad():
                _, rec = link.codec.transmit(b, link.channel, snr_db=torch.full((b.size,), float(args.snr)),
                                             generator=torch.Generator().manual_seed(100 + i))
            dec.append(rec.events.float())
            ticks = int(b.spikes.shape[1])
            ref.append(spike_windows(b.spikes, num_windows=int(windows), size=tuple(b.blurry.shape[-2:])))
        d, r = torch.cat(dec), torch.cat(ref)
        corr = float(torch.corrcoef(torch.stack([d.flatten(), r.flatten()]))[0, 1])
        ratios = []
        for w in (d, r):
            short, long = window_frames(w, ticks=ticks, centre=ticks / 2, width=80)
            ratios.append((short / long.clamp_min(0.02) - 1.0).flatten())
        ratio_corr = float(torch.corrcoef(torch.stack(ratios))[0, 1])
        row = {"link": Path(link_name).stem, "windows": int(windows), "frames": d.shape[0],
               "mean_rate_decoded": round(float(d.mean()), 4),
               "mean_rate_true": round(float(r.mean()), 4), "correlation": round(corr, 3),
               "std_decoded": round(float(d.std()), 4), "std_true": round(float(r.std()), 4),
               "negative_fraction": round(float((d < 0).float().mean()), 5),
               "ratio_correlation": round(ratio_corr, 3)}
        print(row, flush=True)
        rows.append(row)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snr", type=float, default=10.0)
    ap.add_argument("--cbr", type=float, default=1 / 48)
    ap.add_argument("--limit", type=int, default=None, help="test frames (default: all 32)")
    ap.add_argument("--shares", default="0.1,0.4,0.6",
                    help="other shares of the channel uses for the digital spike stream (comma-separated; '' none)")
    ap.add_argument("--train-frames", type=int, default=8,
                    help="training-split frames on which the spike code was chosen (0: skip)")
    ap.add_argument("--out", default="results/ssdm/links")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = exact_rows(args.limit)
    for name, (link, receiver) in LINKS.items():
        rows.append(sweep_row(name, link if receiver is None else str(variant(link, receiver, out, receiver=receiver)),
                              args))
    rows.append(sweep_row("bpg-ldpc-spikes-s-sdm coding the three windows (spike_code = windows)",
                          str(variant("bpg-ldpc-spikes-s-sdm", "windows", out, spike_code="windows")), args))
    for share in (float(v) for v in args.shares.split(",") if v):   # the spike stream's share, not tuned
        rows.append(sweep_row(f"bpg-ldpc-spikes-s-sdm, spike stream share {share:g} (shipped: 0.25)",
                              str(variant("bpg-ldpc-spikes-s-sdm", f"share{round(100 * share)}", out,
                                          event_share=share)), args))
    write_table(out / "links.csv", rows)
    by_link = {r["link"]: r["config"] for r in rows}
    windows_variant = out / "bpg-ldpc-spikes-s-sdm-windows.toml"
    configs = {"sp-jscc-s-sdm": "", "bpg-ldpc-spikes-s-sdm": by_link["bpg-ldpc-spikes-s-sdm"],
               str(windows_variant): by_link[windows_variant.stem]}
    write_table(out / "decoded_windows.csv", decoded_window_rows(args, configs))
    if args.train_frames:
        write_table(out / "train_split.csv", train_split_rows(args, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
