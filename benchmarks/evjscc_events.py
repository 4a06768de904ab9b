"""Does EV-JSCC use its event stream?  Decoded-event NMSE and the power of each stream.

For each checkpoint (default: the shipped EV-JSCC at CBR 1/48) and SNR, on the default
evaluation set: PSNR of the output against the sharp frame, normalized MSE of the decoded event
representation ``||E^ - E||^2 / ||E||^2`` (1.0: the receiver learned nothing about the events),
and the mean power per complex symbol of the image, shared and event streams of the unit-power
transmission (a stream the encoder starves gets well below 1).

Usage: ``python benchmarks/evjscc_events.py [--checkpoint A.ckpt,NAME=B.ckpt] [--snr 0,10,20] [--limit 32]``;
prints a table and writes ``results/ablation/evjscc_events.csv`` (``--out``).  The ``checkpoint`` column names
each checkpoint by its zoo name when the file is a shipped one (same SHA-256), else by its path inside the
repository, else by the ``NAME`` given with it (a file outside the repository must be named: the table
never records a path that exists only on one machine).  The committed table's ``ev-jscc-cbr1-48-adaptive@b178253``
is the shipped EV-JSCC 1/48 of commit b178253 (6000 steps on synth-blur), extracted with
``git show b178253:semcom/zoo/checkpoints/ev-jscc-cbr1-48-adaptive.ckpt > FILE``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def checkpoint_label(checkpoint: str | None, *, cbr: float) -> tuple[str | None, str]:
    """``(file, label)`` of one ``--checkpoint`` item (``PATH`` or ``NAME=PATH``; ``None``: the shipped one).

    The label is the zoo name of a shipped file (matched by SHA-256), else the path relative to the
    repository, else the given ``NAME``; a file outside the repository without a name is refused.
    """
    from semcom.errors import SemcomError
    from semcom.zoo.store import entry_path, find_entry, read_manifest, sha256_of

    if checkpoint is None:
        return None, find_entry(codec="ev-jscc", cbr=cbr, snr_mode="adaptive", link="ev-jscc")["name"]
    name, sep, path = checkpoint.rpartition("=")
    if sep and name:
        return path, name
    digest = sha256_of(Path(path))
    for entry in read_manifest():
        if entry.get("sha256") == digest and entry_path(entry).is_file():
            return path, entry["name"]
    try:
        return path, Path(path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        raise SemcomError(f"{path} lies outside the repository and is not a shipped checkpoint: "
                          "name it, NAME=PATH (e.g. ev-jscc-cbr1-48-adaptive@b178253=/tmp/old.ckpt)") from None


def measure(checkpoint: str | None, *, snrs: list[float], limit: int, cbr: float,
            label: str | None = None) -> list[dict]:
    from semcom.link import Link, find_link
    from semcom.metrics.functional import psnr
    from semcom.registry import SOURCES
    from semcom.sources.base import collate

    over = {} if checkpoint is None else {"checkpoint": checkpoint}
    link = Link(find_link("ev-jscc"), cbr=cbr, codec_overrides=over).eval()
    codec = link.codec
    ds = SOURCES.build("synth-blur", split="test", limit=limit)
    batches = [collate([ds[i] for i in range(s, min(s + 8, len(ds)))]) for s in range(0, len(ds), 8)]
    rows = []
    for snr in snrs:
        err = ref = 0.0
        power = torch.zeros(3, dtype=torch.float64)
        scores = []
        for k, b in enumerate(batches):
            g = torch.Generator().manual_seed(1000 + k)
            with torch.no_grad():
                out = link(b, snr_db=snr, generator=g)
            ev = out.reception.events
            err += float(((ev - b.events) ** 2).sum())
            ref += float((b.events ** 2).sum())
            scores.append(psnr(out.output, b.sharp))
            uses = out.transmission.state.uses
            parts = torch.split(out.transmission.symbols, list(uses), dim=1)
            for i, part in enumerate(parts):
                if part.shape[1]:
                    power[i] += float(part.abs().square().mean()) * b.size
        n = sum(b.size for b in batches)
        rows.append({"checkpoint": label or checkpoint or "shipped", "snr_db": snr,
                     "psnr": round(float(torch.cat(scores).mean()), 3), "event_nmse": round(err / ref, 4),
                     "power_image": round(float(power[0]) / n, 3), "power_shared": round(float(power[1]) / n, 3),
                     "power_event": round(float(power[2]) / n, 3)})
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None,
                    help="comma-separated checkpoint files, each PATH or NAME=PATH (default: the shipped one)")
    ap.add_argument("--snr", default="0,10,20")
    ap.add_argument("--limit", type=int, default=32)
    ap.add_argument("--cbr", type=float, default=1 / 48)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "ablation" / "evjscc_events.csv")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import semcom  # noqa: F401
    from semcom.bench.results import write_table

    snrs = [float(s) for s in args.snr.split(",")]
    rows = []
    for item in (args.checkpoint.split(",") if args.checkpoint else [None]):
        path, label = checkpoint_label(item, cbr=args.cbr)
        rows += measure(path, snrs=snrs, limit=args.limit, cbr=args.cbr, label=label)
    write_table(args.out, rows)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
