"""Where a sweep's CPU time goes: a per-phase timer the pipeline calls, and a profiler over sweeps.

The pipeline marks its stages with :func:`phase`::

    with phase("ldpc_decode"):
        bits, ok = coder.decode(llr)

Outside a profile (:data:`semcom.profiling._ACTIVE` is ``None``) :func:`phase` hands back one shared no-op context
manager: a global read and a call, nothing is timed.  Inside :func:`profiling` each phase is charged
the *process* CPU time (every thread of this process: torch's intra-op threads and the source
decoder's guard thread included) spent while it is the innermost open phase, so nested phases are
never counted twice; what no phase covers is ``other``.

Phases (:data:`PHASES`): ``sensor`` (the source's camera simulation: building the evaluation
batches), ``transmitter`` (a back-end run at the sensor, e.g. EDI in ``edi-tx-*``), ``hevc_encode``
(source encodings that were not in a cache), ``ldpc_setup`` (building a 5G LDPC encoder/decoder pair),
``ldpc_encode``, ``demap``, ``ldpc_decode``, ``hevc_decode``, ``learned`` (a learned codec's encoder,
channel and decoder), ``codec_other`` (the rest of a codec's transmit: rate control, packing,
mapping, the channel), ``receiver`` (the receiver back-end), ``metrics``, ``io`` (writing the
sweep's files).  ``hevc_*`` count every registered source coder (BPG is the one the shipped links use).

Command line (CPU seconds per phase, per sweep and in total; one CSV row per sweep and phase, and a
JSON sidecar with the command, the commit and the versions)::

    python -m semcom.bench.profile --preset kinds --limit 8 --snr 0,10,20 --out results/profile

``--preset kinds`` profiles one sweep of each link kind of ``semcom reproduce --all``;
``--extrapolate results/reproduce`` spreads each committed sweep's recorded evaluation seconds over
the phases in the proportions measured for its link kind (an estimate of where a whole
``reproduce --all`` spends its time; recorded seconds are wall time under whatever else ran then).
Each sweep runs from nothing in a temporary folder, with a fresh encodings cache unless ``--warm``.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

__all__ = ["PHASES", "PhaseTimer", "phase", "profiling", "profile_sweep", "extrapolate", "main"]

PHASES = ("sensor", "transmitter", "hevc_encode", "ldpc_setup", "ldpc_encode", "demap", "ldpc_decode",
          "hevc_decode", "learned", "codec_other", "receiver", "metrics", "io")
#: the link kinds of ``semcom reproduce --all`` (one sweep each in ``--preset kinds``): link, channel, CBR
KINDS = (("bpg-ldpc", "rayleigh", 1 / 48), ("bpg-ldpc-events", "rayleigh", 1 / 48),
         ("edi-tx-bpg-ldpc", "rayleigh", 1 / 48), ("oracle-bpg-capacity", "rayleigh", 1 / 48),
         ("bpg-capacity", "awgn", 1 / 48), ("ev-jscc", "awgn", 1 / 48), ("deepjscc", "awgn", 1 / 48),
         ("deepjscc-deblur", "awgn", 1 / 48), ("edi-tx-deepjscc", "awgn", 1 / 48))


# the timer itself lives below every package that marks phases (codecs, link, sweep)
from semcom.profiling import _NULL, PhaseTimer, phase, profiling  # noqa: E402,F401


@contextmanager
def _fresh_caches(folder: Path | None, *, sensor: bool) -> Iterator[None]:
    """Source encodings (and with ``sensor`` the simulated samples) cached under ``folder`` for the
    duration, starting empty; ``None``: the caches as configured."""
    from semcom.codecs.digital.sourcecoders import ENCODING_CACHE

    if folder is None:
        yield
        return
    names = ["SEMCOM_ENCODINGS"] + (["SEMCOM_CACHE"] if sensor else [])
    saved = {k: os.environ.get(k) for k in names}
    os.environ["SEMCOM_ENCODINGS"] = str(folder / "encodings")
    if sensor:
        os.environ["SEMCOM_CACHE"] = str(folder / "samples")
    ENCODING_CACHE.clear()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        ENCODING_CACHE.clear()


def _clear_process_caches() -> None:
    """Forget what an earlier sweep of this process built (block coders), so each profile starts alike."""
    from semcom.codecs.digital import separate

    separate._BLOCK_CODERS.clear()


def profile_sweep(cfg: Any, *, out_dir: Path, warm: bool = False, cold_sensor: bool = False) -> dict[str, Any]:
    """Run one sweep into ``out_dir`` under the phase timer; its record (phase -> CPU s).

    ``warm``: keep what earlier runs cached (encodings in memory and on the machine's disk, LDPC block
    coders); else the sweep starts with empty caches and a fresh encodings folder.  ``cold_sensor``: also
    simulate the evaluation samples anew (else they come from the machine's sample cache when there).
    """
    import tempfile

    from semcom.bench.sweep import run_sweep

    if not warm:
        _clear_process_caches()
    with tempfile.TemporaryDirectory(prefix="semcom-profile-enc-") as enc:
        with _fresh_caches(None if warm else Path(enc), sensor=cold_sensor):
            wall = time.perf_counter()
            with profiling() as timer:
                run_sweep(cfg, out_dir=out_dir, progress=False, notice=lambda msg: None)
            wall = time.perf_counter() - wall
    seconds = timer.snapshot()
    return {"link": cfg.link, "channel": cfg.channel or "", "cbr": cfg.cbr, "limit": cfg.limit,
            "snr_points": len(cfg.snr_db), "seconds": seconds, "calls": dict(timer.calls),
            "cpu_total": timer.total(), "wall": wall}


def _rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    total = record["cpu_total"]
    out = []
    for name in (*PHASES, "other"):
        sec = record["seconds"].get(name, 0.0)
        out.append({"link": record["link"], "channel": record["channel"], "cbr": record["cbr"],
                    "limit": record["limit"], "snr_points": record["snr_points"], "phase": name,
                    "cpu_s": sec, "share": sec / total if total else 0.0, "calls": record["calls"].get(name, 0)})
    out.append({"link": record["link"], "channel": record["channel"], "cbr": record["cbr"],
                "limit": record["limit"], "snr_points": record["snr_points"], "phase": "total",
                "cpu_s": total, "share": 1.0, "calls": 0, "wall_s": record["wall"]})
    return out


def _kind(link: str) -> str:
    """The profiled link kind a committed sweep's link belongs to."""
    return link


def extrapolate(records: Sequence[dict[str, Any]], results_dir: Path) -> list[dict[str, Any]]:
    """Each committed sweep under ``results_dir`` (``*/*.csv`` with a ``seconds`` column): its recorded
    evaluation seconds spread over the phases in the proportions profiled for its link, summed over
    the sweeps per phase; sweeps of a link not profiled are counted under ``unprofiled``."""
    import csv

    shares: dict[str, dict[str, float]] = {}
    for rec in records:
        evaluated = sum(v for k, v in rec["seconds"].items() if k not in ("sensor",)) or 1.0
        shares[rec["link"]] = {k: v / evaluated for k, v in rec["seconds"].items() if k != "sensor"}
    totals: dict[str, float] = defaultdict(float)
    per_link: dict[str, float] = defaultdict(float)
    for path in sorted(Path(results_dir).glob("*/*.csv")):
        if path.name.endswith(("_configs.csv", "_frames.csv")):
            continue
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or "seconds" not in rows[0]:
            continue
        link = rows[0].get("link", "")
        recorded = sum(float(r["seconds"]) for r in rows if r.get("seconds"))
        per_link[link] += recorded
        share = shares.get(_kind(link))
        if share is None:
            totals["unprofiled"] += recorded
            continue
        for k, v in share.items():
            totals[k] += recorded * v
    grand = sum(totals.values()) or 1.0
    out = [{"phase": k, "estimated_s": totals.get(k, 0.0), "share": totals.get(k, 0.0) / grand}
           for k in (*PHASES, "other", "unprofiled") if totals.get(k)]
    out += [{"phase": f"link:{link}", "estimated_s": sec, "share": sec / grand} for link, sec in sorted(per_link.items())]
    return out


def _table(records: Sequence[dict[str, Any]]) -> str:
    """A text table: phases down, profiled sweeps across (CPU seconds)."""
    names = [r["link"] for r in records]
    width = max(12, *(len(n) for n in names)) + 1
    lines = ["phase".ljust(13) + "".join(n.rjust(width) for n in names) + "total".rjust(10)]
    for name in (*PHASES, "other"):
        vals = [r["seconds"].get(name, 0.0) for r in records]
        if not any(vals):
            continue
        lines.append(name.ljust(13) + "".join(f"{v:{width}.1f}" for v in vals) + f"{sum(vals):10.1f}")
    tot = [r["cpu_total"] for r in records]
    lines.append("total".ljust(13) + "".join(f"{v:{width}.1f}" for v in tot) + f"{sum(tot):10.1f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import tempfile

    from semcom.bench.results import CsvWriter, git_commit, package_versions, write_json
    from semcom.bench.sweep import SweepConfig
    from semcom.conventions import parse_cbr, parse_snr

    ap = argparse.ArgumentParser(prog="python -m semcom.bench.profile", description=__doc__.splitlines()[0])
    ap.add_argument("--link", action="append", default=[], metavar="LINK[:CHANNEL[:CBR]]",
                    help="a sweep to profile (repeatable); channel and CBR default to the link's and 1/48")
    ap.add_argument("--preset", choices=("kinds",), help="one sweep of each link kind of `semcom reproduce --all`")
    ap.add_argument("--limit", type=int, default=8, help="frames of the evaluation set (default 8)")
    ap.add_argument("--snr", default="0,10,20", help="SNR points (default 0,10,20)")
    ap.add_argument("--warm", action="store_true",
                    help="use the machine's caches (default: each sweep with empty encoding and block-coder caches)")
    ap.add_argument("--cold-sensor", action="store_true",
                    help="simulate the evaluation samples anew too (default: the machine's sample cache)")
    ap.add_argument("--extrapolate", default=None, metavar="DIR",
                    help="also estimate the phases of DIR's committed sweeps from their recorded seconds")
    ap.add_argument("--out", default="results/profile", help="folder of profile.csv / profile.json")
    args = ap.parse_args(argv)

    specs: list[tuple[str, str | None, float]] = []
    if args.preset == "kinds":
        specs += [(link, ch, cbr) for link, ch, cbr in KINDS]
    for item in args.link:
        parts = item.split(":")
        specs.append((parts[0], parts[1] if len(parts) > 1 and parts[1] else None,
                      parse_cbr(parts[2]) if len(parts) > 2 else 1 / 48))
    if not specs:
        ap.error("name a sweep with --link or use --preset kinds")
    points = tuple(parse_snr(args.snr))
    records = []
    with tempfile.TemporaryDirectory(prefix="semcom-profile-") as tmp:
        for i, (link, channel, cbr) in enumerate(specs):
            cfg = SweepConfig(link=link, cbr=cbr, snr_db=points, channel=channel, limit=args.limit)
            rec = profile_sweep(cfg, out_dir=Path(tmp) / f"{i}", warm=args.warm, cold_sensor=args.cold_sensor)
            records.append(rec)
            print(f"{link} ({channel or 'default'}, cbr {cbr:.4g}): {rec['cpu_total']:.1f} CPU s, "
                  f"{rec['wall']:.1f} s wall", file=sys.stderr, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "profile.csv"
    csv_path.unlink(missing_ok=True)
    writer = CsvWriter(csv_path, columns=["link", "channel", "cbr", "limit", "snr_points", "phase", "cpu_s",
                                          "share", "calls", "wall_s"])
    for rec in records:
        writer.write_many(_rows(rec))
    sidecar: dict[str, Any] = {
        "command": "python -m semcom.bench.profile " + " ".join(argv if argv is not None else sys.argv[1:]),
        "git_commit": git_commit(), "versions": package_versions(), "cpu_count": os.cpu_count(),
        "clock": "process CPU time (all threads of the process), exclusive per innermost phase; wall_s is context only",
        "snr_db": list(points), "limit": args.limit, "warm": args.warm, "cold_sensor": args.cold_sensor, "csv": csv_path.name,
        "phases": list(PHASES),
    }
    if args.extrapolate:
        est = extrapolate(records, Path(args.extrapolate))
        est_path = out / "extrapolated.csv"
        est_path.unlink(missing_ok=True)
        CsvWriter(est_path, columns=["phase", "estimated_s", "share"]).write_many(est)
        sidecar["extrapolated"] = {"csv": est_path.name, "from": str(args.extrapolate)}
    write_json(out / "profile.json", sidecar)
    print(_table(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
