"""Sweeps on Ray (``--executor ray``): one task per slice of an SNR point, same rows as the local runner.

The driver builds and checks every sweep exactly as the local runner does (:func:`prepare_sweep`:
resume, sidecar, refusals), puts each sweep's :class:`PointWork` (the link with its weights, the
evaluation batches, the metrics) into Ray's object store once, and submits, for every missing SNR
point, one task per slice of its (repeat, batch) cells (``CELLS_PER_TASK`` cells each); when a point's
slices are all in, it merges them into the point's row (:mod:`semcom.bench.cells`).  Source encodings
(HEVC payloads) made by any worker of a machine go to that machine's content-addressed encodings folder
(:func:`semcom.codecs.digital.sourcecoders.encodings_root`: ``$SEMCOM_ENCODINGS``, default
``~/.cache/semcom/encodings``), which every worker there reads before encoding a frame itself, and which
later runs reuse.  A worker
process deserializes a sweep's work once and keeps it for the sweep's later tasks, as it keeps the
encodings it used.  Each cell's channel draws
are seeded by (seed, SNR, repeat, batch) alone, so a point computed on any workers gives the local
runner's numbers.

Rows are appended as points finish (a killed driver loses only the points in flight, with their
finished slices; a rerun computes the missing ones), and a sweep's CSV is put back in the requested
SNR order when its last point is in.  The driver holds each sweep's output lock (as the local runner
does) until the call returns, so no other run writes those files meanwhile.  A lost worker's task is
retried by Ray; a task that raises stops the run with one line naming its point, the finished points
kept.

Ray is optional: ``pip install 'semcom[ray]'``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections import Counter, OrderedDict
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable, Sequence

from semcom.errors import SemcomError

INSTALL_HINT = "--executor ray needs Ray, which is not installed: pip install 'semcom[ray]'"
EXECUTORS = ("local", "ray")

#: worker process: object-store id -> a sweep's work (without its frames) or an evaluation set,
#: deserialized once and kept (the most recently used few: a worker takes points of several
#: sweeps in turn, and sweeps of one setting share their frames)
_KEPT: "OrderedDict[str, Any]" = OrderedDict()
_KEPT_WORKS, _KEPT_SETS = 8, 2


def _kept(ref: Any, limit: int, kind: str) -> Any:
    import ray

    key = f"{kind}:{ref.hex()}"
    value = _KEPT.get(key)
    if value is None:
        value = _KEPT[key] = ray.get(ref)
        mine = [k for k in _KEPT if k.startswith(f"{kind}:")]
        for old in mine[:max(0, len(mine) - limit)]:
            del _KEPT[old]
    _KEPT.move_to_end(key)
    return value


#: driver: tasks (slices of points) computed per Ray node id since this process started (benchmarks read it)
TASKS_PER_NODE: Counter[str] = Counter()
#: a task's share of a point: this many (repeat, batch) cells
CELLS_PER_TASK = 1


def require_ray():
    """The ``ray`` module, or the one-line install hint as a :class:`SemcomError`."""
    try:
        import ray
    except ImportError:
        raise SemcomError(INSTALL_HINT) from None
    return ray


def connect(address: str | None = None, *, num_cpus: int | None = None):
    """Join the Ray cluster at ``address`` (``"auto"``: the one ``ray start`` runs here), or start a
    local runtime with ``num_cpus`` CPUs (default: all); returns the ``ray`` module."""
    ray = require_ray()
    if address and address != "auto":
        _probe(address)
    if ray.is_initialized():
        return ray
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR",
                              "configure_logging": True}
    if address:
        kwargs["address"] = address
    else:
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
        # Ray starts workers at nice 15, below anything else running here (a training, say): the
        # sweep's points would crawl; a local runtime's workers run at the priority of this process
        os.environ.setdefault("RAY_worker_niceness", "0")
    # workers import semcom from where this process does (a source checkout included)
    root = str(Path(__file__).resolve().parents[2])
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}}
    try:
        ray.init(runtime_env=env, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray runtime"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SemcomError(f"cannot start {where}: {first}") from None
    return ray


def _probe(address: str, timeout_s: float = 5.0) -> None:
    """One line, at once, when nothing listens at ``host:port`` (Ray itself would retry for minutes)."""
    import socket

    host, _, port = address.rpartition(":")
    host = host.removeprefix("ray://") or "127.0.0.1"
    if not port.isdigit():
        raise SemcomError(f"--address must be HOST:PORT of a Ray cluster's head (or auto), got {address!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise SemcomError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                          "`ray start --head`, or leave out --address for a local runtime") from None


def _cells_task(refs: list, snr: float, cells: list, threads: int) -> tuple[dict, tuple[float, int], str]:
    """Worker side of one slice of a point: ``(its cells' values per configuration, (sensor seconds, frames)
    it spent, node id)`` (:func:`semcom.bench.cells.evaluate_cells`).

    ``refs`` = [the sweep's work, its evaluation frames, the run's id] (in a list, so that Ray hands over
    the references, not a fresh copy per task).  Source encodings go through the machine's encodings
    folder (the default cache's disk tier): a worker never waits on another process for them (a task that
    waited on a Ray call would free its CPU and let Ray start more workers than cores)."""
    import ray
    import torch

    from semcom.bench.cells import evaluate_cells

    torch.set_num_threads(max(1, int(threads)))
    work = _kept(refs[0], _KEPT_WORKS, "work")
    if work.batches is None:
        work.batches = _kept(refs[1], _KEPT_SETS, "frames")
    link = work.link
    before = (link.sensor_seconds, link.sensor_frames)
    values = evaluate_cells(work, snr, [tuple(c) for c in cells])
    node = ray.get_runtime_context().get_node_id()
    return values, (link.sensor_seconds - before[0], link.sensor_frames - before[1]), node


def _cause(exc: BaseException) -> BaseException:
    """The worker's own exception inside Ray's wrapper, where Ray keeps it."""
    return getattr(exc, "cause", None) or exc


def reorder_rows(path: Path, order: Sequence[float]) -> None:
    """Put the rows of a sweep CSV in the order of ``order`` (SNR points; rows of other points
    first, as they are), written whole or not at all."""
    if not path.exists():
        return
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        rows = list(reader)
    if not header or "snr_db" not in header:
        return
    col = header.index("snr_db")
    rank = {round(float(s), 6): i for i, s in enumerate(order)}
    keyed = sorted(enumerate(rows), key=lambda ir: (rank.get(round(float(ir[1][col]), 6), -1), ir[0]))
    new = [r for _, r in keyed]
    if new == rows:
        return
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(new)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def run_sweeps_ray(sweeps: Sequence[tuple[Any, Path]], *, address: str | None = None, num_cpus: int | None = None,
                   overwrite: bool = False, progress: bool = True, notice: Callable[[str], None] | None = None,
                   refused: Callable[[int, SemcomError], None] | None = None) -> list[Path | None]:
    """Run (or resume) several sweeps on Ray at once; each one's CSV path (``None``: refused).

    Args:
        sweeps: ``(SweepConfig, output folder)`` pairs.
        overwrite: replace earlier results instead of resuming.
        refused: called with the index of a sweep refused before it ran (a bad configuration, other
            weights in its files) and the refusal; without it the refusal is raised.
    """
    from tqdm import tqdm

    from semcom.bench.sweep import prepare_sweep
    from semcom.bench.output import OutputFolder
    from semcom.conventions import format_cbr

    import uuid

    from semcom.bench.cells import merge_cells, point_cells, slices, tried_configurations

    ray = connect(address, num_cpus=num_cpus)
    task = ray.remote(num_cpus=1, max_retries=3)(_cells_task)
    run = uuid.uuid4().hex[:12]  # names this run (the third of each task's refs)
    paths: list[Path | None] = [None] * len(sweeps)
    with ExitStack() as stack:
        folders: dict[Path, Path] = {}
        frame_refs: dict[tuple, Any] = {}
        jobs, refs = [], []      # refs[j]: [job j's work, its frames, the run's id]
        sizes: list[list[int]] = []  # sizes[j]: images per batch of job j's evaluation set
        for i, (cfg, out_dir) in enumerate(sweeps):
            out_dir = Path(out_dir)
            if out_dir not in folders:  # a folder left empty by refusals is removed again
                folders[out_dir] = stack.enter_context(OutputFolder(out_dir))
            try:
                job = prepare_sweep(cfg, out_dir=folders[out_dir], overwrite=overwrite, notice=notice)
            except SemcomError as exc:
                if refused is None:
                    raise
                refused(i, exc)
                continue
            stack.callback(job.close)  # its output stays locked until this call ends, however it ends
            paths[i] = job.csv_path
            if job.todo:
                # into the object store once per sweep (its frames once per evaluation set), and out
                # of this process: 36 sweeps' frames with their raw events would not fit in memory
                frames_key = (json.dumps(job.sidecar["resolved"]["dataset"], sort_keys=True, default=str),
                              cfg.limit, cfg.batch_size)
                if frames_key not in frame_refs:
                    frame_refs[frames_key] = ray.put(job.work.batches)
                sizes.append([b.size for b in job.work.batches])
                job.work.batches = None
                refs.append([ray.put(job.work), frame_refs[frames_key], run])
                jobs.append(job)
        if not jobs:
            return paths
        pending: dict[Any, tuple[int, float]] = {}
        parts: dict[tuple[int, float], list] = {}    # a point's finished slices
        expected: dict[tuple[int, float], int] = {}  # and how many it has
        order = []  # (frames the point sends, i.e. its cost in frame transmissions; job; point; its slices)
        for j, job in enumerate(jobs):
            cells = point_cells(job.cfg.repeats, len(sizes[j]))
            cuts = slices(cells, math.ceil(len(cells) / CELLS_PER_TASK))
            for snr in job.todo:
                expected[(j, snr)], parts[(j, snr)] = len(cuts), []
                sent = sum(sizes[j]) * job.cfg.repeats * len(tried_configurations(job.work, snr))
                order.append((sent, j, snr, cuts))
        # in the sweep's order: a driver killed mid-run must leave its finished points where a resumed
        # sweep finds them (costliest-first submission broke that; see the killed-driver test)
        for _, j, snr, cuts in order:
            for cut in cuts:
                pending[task.remote(refs[j], snr, cut, 1)] = (j, snr)
        left = [len(job.todo) for job in jobs]
        writers = [job.writers() for job in jobs]
        total = len(pending)
        desc = (f"{jobs[0].name} cbr {format_cbr(jobs[0].cfg.cbr)} (ray)" if len(jobs) == 1
                else f"{len(jobs)} sweeps (ray)")
        bar = tqdm(total=total, desc=desc, unit="task", disable=not progress, file=sys.stderr, dynamic_ncols=True)
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    j, snr = pending.pop(ref)
                    job = jobs[j]
                    try:
                        values, (seconds, frames), node = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - any failure of a task ends the run, one line
                        for other in pending:
                            ray.cancel(other)
                        bar.leave = False
                        raise job.failed(_cause(exc), snr) from None
                    job.link.sensor_seconds += seconds
                    job.link.sensor_frames += frames
                    TASKS_PER_NODE[node] += 1
                    bar.update(1)
                    parts[(j, snr)].append(values)
                    if len(parts[(j, snr)]) < expected[(j, snr)]:
                        continue
                    writers[j].write(merge_cells(job.work, snr, sizes[j], parts.pop((j, snr))))
                    job.release()
                    left[j] -= 1
                    if not left[j]:  # the sweep's last point: its files as the local runner leaves them
                        reorder_rows(job.csv_path, job.cfg.snr_db)
                        reorder_rows(job.configs_path, job.cfg.snr_db)
                        reorder_rows(job.frames_path, job.cfg.snr_db)
                        job.finish()
        finally:
            bar.close()
    return paths
