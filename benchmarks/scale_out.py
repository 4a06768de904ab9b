"""Scale-out measurements of the Ray executor (issue 21), written to results/scale_out/.

Two parts:

``reproduce``: ``semcom reproduce --all`` from nothing with the local runner (``--jobs 2``) and
with ``--executor ray`` (a local runtime on every core), each into its own folder; wall times,
and every sweep CSV of the two compared value by value (timing columns aside).  Target: Ray
within 1.1x of ``--jobs 2``.  ``--limit N`` evaluates N frames per sweep instead of 32.

``cluster``: a ``bpg-ldpc`` sweep (CBR 1/48, AWGN, 0:20:2) on a one-node Ray runtime with one CPU,
then on a two-node cluster on this machine (``ray start --head`` and ``ray start --address`` as
separate processes on 127.0.0.1, one CPU each, each pinned to its own core with ``taskset``); wall times, tasks (slices of SNR points) computed per node, and the
two CSVs compared.  Target: the two-node run <= 0.6x the one-node run.

    python benchmarks/scale_out.py cluster [--limit N]
    python benchmarks/scale_out.py reproduce [--limit N]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "scale_out"
TIMING = {"seconds"}


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(f)]


def compare_folders(a: Path, b: Path) -> tuple[int, list[str]]:
    """Number of sweep CSVs compared, and the relative paths that differ (or lack a twin)."""
    diffs, n = [], 0
    for pa in sorted(a.rglob("*.csv")):
        rel = pa.relative_to(a)
        pb = b / rel
        if pa.name == "margins.csv" or "evjscc-fig6" in pa.name:
            continue
        n += 1
        if not pb.exists() or _rows(pa) != _rows(pb):
            diffs.append(str(rel))
    return n, diffs


def _write(name: str, rows: list[dict]) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def part_reproduce(limit: int | None, keep: Path | None) -> int:
    semcom = str(Path(sys.executable).with_name("semcom"))
    extra = ["--limit", str(limit)] if limit else []
    with tempfile.TemporaryDirectory() as tmp:
        base = keep or Path(tmp)
        runs = {"local --jobs 2": ["--jobs", "2"], "ray (local runtime)": ["--executor", "ray"]}
        rows, folders = [], {}
        for label, opts in runs.items():
            folder = base / label.split()[0]
            stamp = base / f"{folder.name}.wall"
            if keep and stamp.exists():  # a finished run kept from an earlier call: its files and time
                wall = float(stamp.read_text())
            else:
                if folder.exists():
                    shutil.rmtree(folder)
                stamp.unlink(missing_ok=True)
                t0 = time.perf_counter()
                subprocess.run([semcom, "reproduce", "--all", "--out", str(folder), "-q", *extra, *opts], check=True,
                               stdout=subprocess.DEVNULL)
                wall = time.perf_counter() - t0
                stamp.write_text(f"{wall:.1f}")
            folders[label] = folder
            rows.append({"run": label, "limit": limit or "", "wall_s": round(wall, 1), "cores": os.cpu_count()})
            print(f"semcom reproduce --all {' '.join(extra + opts)}: {wall:.1f} s", flush=True)
        n, diffs = compare_folders(*folders.values())
        ratio = rows[1]["wall_s"] / rows[0]["wall_s"]
        for r in rows:
            r.update(csvs_compared=n, csvs_differing=len(diffs), ray_over_local=round(ratio, 3))
        print(f"ray / local: {ratio:.3f} (target <= 1.1); {n} sweep CSVs compared, {len(diffs)} differ {diffs[:5]}")
    print(_write(f"reproduce{'_n' + str(limit) if limit else ''}.csv", rows))
    return 0 if not diffs else 1


def _pin(core: int) -> list[str]:
    """``taskset -c CORE``: Ray's ``--num-cpus 1`` only counts tasks, and the HEVC encoder runs threads on
    every core (69 ms per 256² encode on two cores, 94 ms on one, here), so a "1-CPU" node is pinned to one
    core (its processes and every worker they start inherit it)."""
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


def _ray(*args: str, env: dict | None = None, core: int = 0) -> None:
    exe = str(Path(sys.executable).with_name("ray"))
    subprocess.run([*_pin(core), exe, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)


def part_cluster(limit: int | None, port: int) -> int:
    from semcom.bench.sweep import SweepConfig
    from semcom.conventions import parse_snr

    cfg = SweepConfig(link="bpg-ldpc", cbr=1 / 48, snr_db=tuple(parse_snr("0:20:2")), limit=limit,
                      metrics=("psnr", "ssim"))
    # Ray 2.5x clusters authenticate with a token (~/.ray/auth_token, written by the head): every node and
    # the driver must say so
    env = {**os.environ, "RAY_worker_niceness": "0", "RAY_AUTH_MODE": "token", "PYTHONPATH": str(ROOT)}
    script = ("import sys, time, json; from pathlib import Path\n"
              "from semcom.bench import distributed as d\n"
              "from semcom.bench.sweep import SweepConfig\n"
              "cfg = SweepConfig(**json.loads(sys.argv[1]))\n"
              "t = time.perf_counter()\n"
              "d.run_sweeps_ray([(cfg, Path(sys.argv[2]))], address=sys.argv[3] or None, num_cpus=1, progress=False)\n"
              "print(json.dumps({'wall': time.perf_counter() - t, 'nodes': dict(d.TASKS_PER_NODE)}))\n")
    import json

    args = json.dumps({"link": cfg.link, "cbr": cfg.cbr, "snr_db": list(cfg.snr_db), "limit": cfg.limit,
                       "metrics": list(cfg.metrics)})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for label, address in (("one node, 1 CPU", ""), ("two nodes, 1 CPU each", f"127.0.0.1:{port}")):
            if address:  # each node its own folder of shared encodings, as on separate machines
                _ray("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port), "--num-cpus", "1",
                     "--include-dashboard", "false", "--disable-usage-stats",
                     env={**env, "SEMCOM_ENCODINGS": f"{tmp}/node0"})
                _ray("start", "--address", address, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                     "--disable-usage-stats", env={**env, "SEMCOM_ENCODINGS": f"{tmp}/node1"}, core=1)
            try:  # the driver (and a local runtime it starts) on the head's core
                out = subprocess.run([*_pin(0), sys.executable, "-c", script, args, f"{tmp}/{len(results)}", address],
                                     check=True, capture_output=True, text=True, env=env).stdout
            finally:
                if address:
                    _ray("stop", "--force", env=env)
            res = json.loads(out.strip().splitlines()[-1])
            results[label] = res
            rows.append({"run": label, "limit": limit or "", "points": len(cfg.snr_db), "wall_s": round(res["wall"], 1),
                         "nodes_used": len(res["nodes"]),
                         "tasks_per_node": " ".join(str(v) for v in sorted(res["nodes"].values()))})
            print(f"{label}: {res['wall']:.1f} s, tasks per node {sorted(res['nodes'].values())}", flush=True)
        a, b = (next(Path(f"{tmp}/{i}").glob("*.csv")) for i in (0, 1))
        same = _rows(a) == _rows(b)
    ratio = rows[1]["wall_s"] / rows[0]["wall_s"]
    for r in rows:
        r.update(identical=same, two_over_one=round(ratio, 3))
    print(f"two nodes / one node: {ratio:.3f} (target <= 0.6); CSVs identical: {same}")
    print(_write(f"cluster{'_n' + str(limit) if limit else ''}.csv", rows))
    return 0 if same else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["reproduce", "cluster"])
    ap.add_argument("--limit", type=int, default=None, help="frames per sweep (default: all 32)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="reproduce: keep both runs' outputs under this folder; a run finished there before "
                         "(its .wall file) is reused, not run again")
    ap.add_argument("--port", type=int, default=6390, help="cluster: the head's port on 127.0.0.1")
    args = ap.parse_args()
    if args.part == "reproduce":
        return part_reproduce(args.limit, args.keep)
    return part_cluster(args.limit, args.port)


if __name__ == "__main__":
    sys.exit(main())
