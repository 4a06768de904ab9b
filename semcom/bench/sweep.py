"""The sweep runner: a link over SNR points on an evaluation set, one CSV row per point.

Rows are written as each SNR point finishes, so an interrupted run loses at most the point in
progress; rerunning the same command skips the points already in the CSV (resume).  Every
random draw of point ``snr_db``, repeat ``r`` and batch ``j`` comes from a generator seeded by
``(seed, snr_db, r, j)``, so a resumed run writes exactly the rows an uninterrupted one would.

One process writes a sweep's files at a time: a sweep holds an OS file lock on ``<stem>.lock``
beside its CSV while it runs (a second run on the same output is refused with one line naming the
holder).  On resume, a partial last line (a writer killed mid-row) is dropped, and a file damaged
otherwise (a second header, a garbled or repeated row) is refused with one line.

Example:
    >>> from semcom.bench.sweep import SweepConfig, run_sweep            # doctest: +SKIP
    >>> csv_path = run_sweep(SweepConfig(link="softcast", cbr=1/48, snr_db=(0.0, 10.0)))  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from semcom.bench.config import SweepConfig
from semcom.bench.identity import (display_config, input_reference, output_stem, portable_identity, resumed_points,
                                   sweep_identity, trained_range_notice, weights_digest)
from semcom.bench.output import OutputFolder
from semcom.profiling import phase
from semcom.bench.results import (BASE_COLUMNS, CsvWriter, OutputLock, check_table, config_key,
                                  drop_partial_line, git_commit, mean_ci95, package_versions, read_json, read_rows,
                                  write_json)
from semcom.conventions import format_cbr
from semcom.errors import SemcomError
from semcom.link import Component, Link, find_link
from semcom.registry import METRICS, SOURCES
from semcom.sources.base import Batch, collate

DEFAULT_OUT = Path("results/runs")


def point_seed(seed: int, snr_db: float, repeat: int, batch_index: int) -> int:
    """Seed of one (SNR point, repeat, batch): independent of which other points are run."""
    text = f"{seed}|{snr_db:.6f}|{repeat}|{batch_index}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


@dataclass(frozen=True)
class PointResult:
    """Metrics of one SNR point for one codec variant.

    ``outputs`` (only with ``keep_outputs``) holds the received frames of every (repeat,
    batch), so that further metrics can be added later by :func:`add_metrics`.
    """

    values: dict[str, np.ndarray]   # metric -> [n_images, repeats]
    extras: dict[str, float]
    cbr_used: float
    seconds: float
    outputs: list[list[torch.Tensor]] | None = None   # [repeat][batch] -> [B, 3, H, W]


def build_metrics(names: tuple[str, ...], notice: Callable[[str], None]) -> dict[str, Any]:
    """Metric modules by name; an unavailable metric is reported once and left out."""
    out: dict[str, Any] = {}
    for name in names:
        if name not in METRICS:
            raise SemcomError(METRICS.unknown_message(name))
        try:
            out[name] = METRICS.build(name)
        except SemcomError as exc:  # MetricUnavailable
            notice(str(exc))
    return out


def load_dataset(cfg: SweepConfig, default: Component) -> Any:
    name = cfg.dataset or default.name
    params = dict(default.params) if cfg.dataset is None else {}
    params.update({k: v for k, v in cfg.dataset_params.items() if v is not None})
    params["split"] = "test"
    if cfg.limit is not None:
        params["limit"] = cfg.limit
    if name not in SOURCES:
        raise SemcomError(SOURCES.unknown_message(name))
    ds = SOURCES.build(name, **params)
    if ds.sequences:  # every exposure of every sequence is sent (and scored) as a frame
        from semcom.sources.video import SequenceFrames

        ds = SequenceFrames(ds)
    if len(ds) == 0:
        raise SemcomError(f"dataset {name!r} has no samples")
    return ds


#: the most frame transmissions (frames x channel realizations x SNR points) one sweep may ask for:
#: a bound far above any figure's (32 frames x 21 points), below what would run for days
MAX_TRANSMISSIONS = 1_000_000


def check_sweep_size(*, available: int, limit: int | None, repeats: int, points: int, dataset: str = "",
                     unit: str = "frames", frames_per_unit: int = 1) -> int:
    """Refuse a ``--limit`` above what the evaluation set holds (``available`` ``unit``: frames, or
    sequences of ``frames_per_unit`` frames) and a sweep of more than :data:`MAX_TRANSMISSIONS` frame
    transmissions; the number of frames that will be scored.

    >>> check_sweep_size(available=32, limit=None, repeats=2, points=3)
    32
    """
    what = f" ({dataset})" if dataset else ""
    if limit is not None and limit > available:
        raise SemcomError(f"--limit {limit} is more than the {available} {unit} the evaluation set{what} holds")
    frames = (available if limit is None else limit) * frames_per_unit
    total = frames * repeats * points
    if total > MAX_TRANSMISSIONS:
        raise SemcomError(f"{frames} frames x {points} SNR point{'s' if points != 1 else ''} x --repeats {repeats} "
                          f"= {total:,} frame transmissions; one sweep runs at most {MAX_TRANSMISSIONS:,} "
                          "(lower --repeats, --limit or the SNR points)")
    return frames


def check_sweep(cfg: SweepConfig, source: Component) -> int:
    """:func:`check_sweep_size` for a sweep whose link reads ``source`` by default: builds the evaluation
    set without ``--limit`` (that reads no frame) to learn its size; the number of frames the sweep scores."""
    from semcom.sources.video import SequenceFrames

    full = load_dataset(replace(cfg, limit=None), source)
    sequences = isinstance(full, SequenceFrames)
    units = len(full.sequences) if sequences else len(full)
    return check_sweep_size(available=units, limit=cfg.limit, repeats=cfg.repeats, points=len(cfg.snr_db),
                            dataset=f"{cfg.dataset or source.name}, test split",
                            unit="sequences" if sequences else "frames",
                            frames_per_unit=max(1, len(full) // max(1, units)))


def batch_indices(dataset: Any, batch_size: int) -> list[list[int]]:
    """The sample indices of each batch: ``batch_size`` at a time, or for the frames of sequences whole
    sequences at a time (about ``batch_size`` frames), so that a video back-end finds each frame's neighbours."""
    from semcom.sources.video import SequenceFrames

    if isinstance(dataset, SequenceFrames):
        return dataset.sequence_batches(batch_size)
    return [list(range(s, min(s + batch_size, len(dataset)))) for s in range(0, len(dataset), batch_size)]


#: largest total size of one variant's kept outputs; above it every variant is scored in full
MAX_KEPT_BYTES = 1 << 30


def _kept_bytes(batches: list[Batch], repeats: int) -> int:
    return 4 * repeats * sum(int(b.sharp.numel()) for b in batches)


def evaluate_cell(link: Link, batch: Batch, metrics: dict[str, Any], *, snr_db: float, seed: int, repeat: int,
                  index: int) -> tuple[Any, dict[str, np.ndarray], dict[str, list[float]]]:
    """Batch ``index`` under channel realization ``repeat`` at one SNR (draws seeded by all four):
    ``(the link's output, one value per image per metric, the reception's extras flattened)``."""
    gen = torch.Generator().manual_seed(point_seed(seed, snr_db, repeat, index))
    out = link(batch, snr_db=snr_db, generator=gen)
    target = link.target(batch)
    with phase("metrics"):
        values = {m: module(out.output, target).double().cpu().numpy() for m, module in metrics.items()}
    extras = {k: torch.as_tensor(v, dtype=torch.float64).reshape(-1).tolist() for k, v in out.reception.extras.items()}
    return out, values, extras


def tried_configurations(link: Link, snr_db: float, *, all_configs: bool) -> list:
    """The configurations an envelope tries at one SNR: all with ``all_configs``, else the codec's candidates."""
    variants = link.codec.variants()
    return list(variants) if all_configs else list(link.codec.candidate_variants(snr_db, fading=link.channel.fades))


def envelope_score(metrics: dict[str, Any]) -> Callable[[PointResult], float]:
    """What an envelope maximizes: the mean of one metric (PSNR where asked), signed by its direction."""
    select = "psnr" if "psnr" in metrics else next(iter(metrics))
    sign = 1.0 if metrics[select].higher_is_better else -1.0
    return lambda res: sign * float(np.nanmean(res.values[select]))


def evaluate_point(link: Link, batches: list[Batch], metrics: dict[str, Any], *, snr_db: float,
                   repeats: int, seed: int, keep_outputs: bool = False,
                   tick: Callable[[int], None] | None = None) -> PointResult:
    """Run every batch ``repeats`` times at one SNR and collect per-image metric values;
    ``tick`` is told the frames of each batch done (the progress bar counts frames)."""
    t0 = time.perf_counter()
    n_images = sum(b.size for b in batches)
    values = {m: np.full((n_images, repeats), np.nan) for m in metrics}
    extras: dict[str, list[float]] = {}
    cbr_used = math.nan
    outputs: list[list[torch.Tensor]] | None = [] if keep_outputs else None
    with torch.no_grad():
        for r in range(repeats):
            start = 0
            if outputs is not None:
                outputs.append([])
            for j, batch in enumerate(batches):
                out, cell_values, cell_extras = evaluate_cell(link, batch, metrics, snr_db=snr_db, seed=seed,
                                                              repeat=r, index=j)
                for m, v in cell_values.items():
                    values[m][start:start + batch.size, r] = v
                for k, v in cell_extras.items():
                    extras.setdefault(k, []).extend(v)
                if outputs is not None:
                    outputs[r].append(out.output.detach().cpu())
                cbr_used = out.transmission.cbr
                start += batch.size
                if tick is not None:
                    tick(batch.size)
    return PointResult(values, {k: float(np.mean(v)) for k, v in extras.items()}, cbr_used,
                       time.perf_counter() - t0, outputs)


def add_metrics(res: PointResult, link: Link, batches: list[Batch], metrics: dict[str, Any]) -> PointResult:
    """``res`` with the metrics it lacks computed from its kept outputs (and the outputs dropped)."""
    if res.outputs is None:
        raise ValueError("add_metrics needs a result evaluated with keep_outputs=True")
    t0 = time.perf_counter()
    values = dict(res.values)
    n_images = sum(b.size for b in batches)
    with torch.no_grad():
        for m, module in metrics.items():
            if m in values:
                continue
            values[m] = np.full((n_images, len(res.outputs)), np.nan)
            for r, outs in enumerate(res.outputs):
                start = 0
                for batch, output in zip(batches, outs):
                    target = link.target(batch)
                    with phase("metrics"):
                        value = module(output.to(target.device), target)
                    values[m][start:start + batch.size, r] = value.double().cpu().numpy()
                    start += batch.size
    return PointResult(values, res.extras, res.cbr_used, res.seconds + time.perf_counter() - t0, None)


def _row(cfg_link: str, channel: str, cbr: float, snr_db: float, res: PointResult,
         metric_names: tuple[str, ...], repeats: int) -> dict[str, Any]:
    n_images = next(iter(res.values.values())).shape[0] if res.values else 0
    row: dict[str, Any] = {"link": cfg_link, "channel": channel, "cbr": cbr, "cbr_used": res.cbr_used,
                           "snr_db": snr_db, "n": n_images * repeats, "n_images": n_images, "repeats": repeats}
    for m in metric_names:
        if m in res.values:
            row[m], row[f"{m}_ci95"] = mean_ci95(res.values[m])
        else:
            row[m], row[f"{m}_ci95"] = None, None
    row.update(res.extras)
    row["seconds"] = res.seconds
    return row


def run_sweep(cfg: SweepConfig, *, out_dir: Path | str = DEFAULT_OUT, overwrite: bool = False,
              progress: bool = True, notice: Callable[[str], None] | None = None, plot: bool = False) -> Path:
    """Run (or resume) a sweep and return the path of its CSV file (see :func:`_run_sweep`);
    a sweep refused before it wrote anything leaves no folder behind.  ``plot``: also draw its
    figure beside the CSV (``<stem>.png``, what ``semcom run`` draws)."""
    with OutputFolder(out_dir) as folder:
        csv_path = _run_sweep(cfg, out_dir=folder, overwrite=overwrite, progress=progress, notice=notice)
    if plot:
        from semcom.bench.plots import plot_curves

        plot_curves([csv_path], csv_path.with_suffix(".png"))
    return csv_path


def _held_notices(notice: Callable[[str], None] | None) -> tuple[Callable[[str], None], Callable[[], None],
                                                                    Callable[[str], None]]:
    """``(hold, release, say)``: notices wait for the first finished point, so that a refused sweep
    prints its error alone; ``say`` prints at once, each notice on a line of its own (a progress
    bar on the terminal is cleared for it and drawn again below)."""
    target = notice or (lambda msg: print(msg, file=sys.stderr, flush=True))

    def say(msg: str) -> None:
        with tqdm.external_write_mode(file=sys.stderr):
            target(msg)

    held: list[str] = []

    def release() -> None:
        while held:
            say(held.pop(0))

    return held.append, release, say


def envelope_point(link: Link, batches: list[Batch], metrics: dict[str, Any], *, snr_db: float, cfg: SweepConfig,
                   configs_row: Callable[[PointResult, str], None] | None,
                   tick: Callable[[int], None], bounds: dict[str, float | None] | None = None
                   ) -> tuple[str, PointResult, float]:
    """The best of the codec's configurations at one SNR: ``(configuration, result, seconds)``.

    The envelope is chosen on one metric (PSNR where asked); without ``configs_row`` (no
    ``--all-configs``) the others are computed for the chosen configuration only, from its kept
    outputs (DISTS and SSIM are the costly ones).  ``configs_row`` receives every configuration's
    result; ``tick`` is told the frames done (of every configuration tried).  ``bounds`` keeps each
    configuration's best case across the SNR points of one sweep (same batches and metric).
    """
    tried = tried_configurations(link, snr_db, all_configs=configs_row is not None)
    select = "psnr" if "psnr" in metrics else next(iter(metrics))
    score = envelope_score(metrics)
    lazy = configs_row is None and _kept_bytes(batches, cfg.repeats) <= MAX_KEPT_BYTES
    first = {select: metrics[select]} if lazy else metrics
    best, best_res, seconds = None, None, 0.0
    n_frames = sum(b.size for b in batches) * cfg.repeats
    for v in tried:
        link.codec.set_variant(v)
        if best_res is not None and configs_row is None and cfg.skip_hopeless:
            bounds = {} if bounds is None else bounds
            if v not in bounds:
                t0 = time.perf_counter()
                bounds[v] = best_case_score(link, batches, metrics[select], repeats=cfg.repeats)
                seconds += time.perf_counter() - t0
            bound = bounds[v]
            if bound is not None and bound <= score(best_res) - SKIP_MARGIN:
                tick(n_frames)  # no channel draw can make it win: not sent
                continue
        res = evaluate_point(link, batches, first, snr_db=snr_db, repeats=cfg.repeats, seed=cfg.seed,
                             keep_outputs=lazy, tick=tick)
        seconds += res.seconds
        if configs_row is not None:
            configs_row(res, v)
        if best_res is None or score(res) > score(best_res):   # the first best wins ties
            best, best_res = v, res                             # (older outputs are dropped)
    if lazy:
        scored = add_metrics(best_res, link, batches, metrics)
        seconds += scored.seconds - best_res.seconds
        best_res = scored
    return best, best_res, seconds


#: how far under the best score so far a configuration's best case must lie to be skipped: far above the
#: floating-point difference between one frame's metric computed alone and within its batch
SKIP_MARGIN = 1e-6


def best_case_score(link: Link, batches: list[Batch], metric: Any, *, repeats: int) -> float | None:
    """The highest envelope score the codec's active configuration could reach on ``batches`` under any
    channel draw (signed like :func:`envelope_score`), or None where the link cannot say.

    Each frame's output is one of :meth:`Link.reachable_outputs` whatever the channel does (for the
    digital codec: the decoded payload or the fallback), so the best case takes, per frame, the better
    of their metric values; every channel realization (``repeats``) has the same best case.
    """
    per_frame = []
    with torch.no_grad():
        for batch in batches:
            outputs = link.reachable_outputs(batch)
            if outputs is None:
                return None
            target = link.target(batch)
            with phase("metrics"):
                values = np.stack([metric(o.to(target.device), target).double().cpu().numpy() for o in outputs])
            per_frame.append(values.max(0) if metric.higher_is_better else values.min(0))
    frames = np.repeat(np.concatenate(per_frame)[:, None], repeats, axis=1)
    sign = 1.0 if metric.higher_is_better else -1.0
    return sign * float(np.nanmean(frames))


def frame_rows(snr_db: float, names: tuple[str, ...], res: PointResult) -> list[dict[str, Any]]:
    """One row per (image, channel realization) of a point: what paired comparisons read.

    ``image`` is the sample's position in the evaluation set and ``name`` its name; two sweeps
    over the same set and seed draw their channel from the same seeds per (point, repeat, batch).
    """
    if not res.values:
        return []
    n_images, repeats = next(iter(res.values.values())).shape
    rows = []
    for r in range(repeats):
        for i in range(n_images):
            row: dict[str, Any] = {"snr_db": snr_db, "image": i, "name": names[i] if i < len(names) else "",
                                   "repeat": r}
            row.update({m: float(v[i, r]) for m, v in res.values.items()})
            rows.append(row)
    return rows


#: columns of a sweep's per-frame file (``<stem>_frames.csv``)
FRAME_COLUMNS = ("snr_db", "image", "name", "repeat")


def frames_path(csv_path: Path | str) -> Path:
    """The per-frame file beside a sweep's CSV."""
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.stem + "_frames.csv")


@dataclass(frozen=True)
class PointRows:
    """What one finished SNR point writes: the sweep's row, one row per codec configuration
    (``--all-configs``) and one row per image and channel realization."""

    row: dict[str, Any]
    config_rows: list[dict[str, Any]]
    frames: list[dict[str, Any]]


@dataclass
class PointWork:
    """What computing one SNR point of a sweep needs (picklable: the Ray executor sends it to its
    workers once per sweep)."""

    cfg: SweepConfig
    name: str                         # the link's name
    channel: str                      # the channel's name
    link: Link
    metrics: dict[str, Any]
    batches: list[Batch]
    names: tuple[str, ...] = ()       # the samples' names, in evaluation order
    #: each configuration's best case (:func:`best_case_score`), which no SNR point changes: computed once
    bounds: dict[str, float | None] = field(default_factory=dict, repr=False)

    def frames(self, snr: float) -> int:
        """Frames one SNR point sends: images x repeats x the codec configurations it tries."""
        n_images = sum(b.size for b in self.batches or ())
        tried = len(tried_configurations(self.link, float(snr), all_configs=self.cfg.all_configs)) \
            if self.link.codec.variants() else 1
        return n_images * self.cfg.repeats * max(1, tried)

    def point(self, snr: float, *, tick: Callable[[int], None] = lambda n: None) -> PointRows:
        """One SNR point: its row, with ``all_configs`` one row per codec configuration, and its frames."""
        cfg = self.cfg
        row_of = lambda res: _row(self.name, self.channel, cfg.cbr, float(snr), res,  # noqa: E731
                                  tuple(cfg.metrics), cfg.repeats)
        config_rows: list[dict[str, Any]] = []
        if self.link.codec.variants():
            configs_row = None if not cfg.all_configs else (
                lambda res, v: config_rows.append({**row_of(res), "config": v}))
            best, res, seconds = envelope_point(self.link, self.batches, self.metrics, snr_db=float(snr), cfg=cfg,
                                                configs_row=configs_row, tick=tick, bounds=self.bounds)
            return PointRows({**row_of(res), "config": best, "seconds": seconds}, config_rows,
                             frame_rows(float(snr), self.names, res))
        res = evaluate_point(self.link, self.batches, self.metrics, snr_db=float(snr), repeats=cfg.repeats,
                             seed=cfg.seed, tick=tick)
        return PointRows(row_of(res), config_rows, frame_rows(float(snr), self.names, res))


@dataclass
class SweepJob:
    """A sweep built, checked and resumed, ready for its missing points (``todo``)."""

    work: PointWork
    csv_path: Path
    json_path: Path
    configs_path: Path
    frames_path: Path
    sidecar: dict[str, Any]
    todo: list[float]
    existed: dict[Path, bool]
    release: Callable[[], None]
    say: Callable[[str], None]
    lock: OutputLock | None = None

    @property
    def cfg(self) -> SweepConfig:
        return self.work.cfg

    @property
    def name(self) -> str:
        return self.work.name

    @property
    def link(self) -> Link:
        return self.work.link

    def point(self, snr: float, *, tick: Callable[[int], None] = lambda n: None) -> PointRows:
        return self.work.point(snr, tick=tick)

    def writers(self) -> "PointWriters":
        """Writers of the sweep's files, appending to what a resumed run left."""
        return PointWriters(self)

    def frames(self, snr: float) -> int:
        """Progress units of one point: the frames it sends (every configuration an envelope tries)."""
        return self.work.frames(snr)

    def close(self) -> None:
        """Let go of the output's lock (the sweep's files may be written by another run from now on)."""
        if self.lock is not None:
            self.lock.release()

    def failed(self, exc: BaseException, snr: float | None = None) -> SemcomError:
        """The one-line error of a point that raised; a sweep with no row at all leaves no files."""
        self.discard_if_empty()
        text = str(exc).strip()
        first = (text.splitlines() or [type(exc).__name__])[-1 if "allocate" in text else 0]
        where = "" if snr is None else f" at {snr:g} dB"
        return SemcomError(f"{self.name} at CBR {format_cbr(self.cfg.cbr)}{where}: {first}")

    def discard_if_empty(self) -> None:
        """Remove the files this run created while the sweep has no row at all (a refused or
        interrupted first point leaves nothing behind, not a lone sidecar)."""
        if not _has_rows(self.csv_path):
            for path, was in self.existed.items():
                if not was:
                    path.unlink(missing_ok=True)

    def finish(self) -> Path:
        """The sidecar completed (finish time, the sensor stage's cost); the CSV's path."""
        self.sidecar["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        cost = self.link.sensor_cost()
        if cost is not None:  # what the transmitter stage costs at the sensor (parameters, ms per frame here)
            self.sidecar["transmitter"] = cost
        write_json(self.json_path, self.sidecar)
        return self.csv_path


def lock_path(csv_path: Path | str) -> Path:
    """The lock file of a sweep's output (``<stem>.lock`` beside its CSV), there while a run writes it."""
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.stem + ".lock")


def _has_rows(path: Path) -> bool:
    try:
        return bool(read_rows(path))
    except (ValueError, OSError, csv.Error):  # a damaged file counts as holding rows: it is not removed
        return True


#: what a sweep's files must look like to be resumed: (columns the header starts with, the columns
#: that identify a row, columns that always hold a number)
_TABLES = {"main": (BASE_COLUMNS, ("snr_db",), ("snr_db",)),
           "configs": (BASE_COLUMNS, ("snr_db", "config"), ("snr_db",)),
           "frames": (FRAME_COLUMNS, ("snr_db", "image", "repeat"), ("snr_db", "image", "repeat"))}
_OPTIONAL_NUMBERS = tuple(c for c in BASE_COLUMNS if c not in ("link", "channel", "snr_db"))


def check_sweep_files(csv_path: Path, configs_path: Path, per_frame: Path, metrics: tuple[str, ...]) -> None:
    """Make a sweep's files fit to resume: a partial last line (a writer killed mid-row) is cut off;
    a file damaged otherwise (a second header, a row with other fields, a non-numeric SNR, one point
    twice) is refused with one line naming the file, the line and the way out."""
    for kind, path in (("main", csv_path), ("configs", configs_path), ("frames", per_frame)):
        drop_partial_line(path)
        first, keys, numbers = _TABLES[kind]
        optional = tuple(metrics) if kind == "frames" else _OPTIONAL_NUMBERS
        check_table(path, first=first, keys=keys, numbers=numbers, optional_numbers=optional)


#: the options of a sidecar's ``config`` that describe files (a rerun that writes them otherwise re-describes them)
_DESCRIBED = ("link", "checkpoint")


def prepare_sweep(cfg: SweepConfig, *, out_dir: Path, overwrite: bool,
                  notice: Callable[[str], None] | None) -> SweepJob:
    """Build and check a sweep, lock its output, resume it from its files and write its sidecar
    (when points are missing).

    Writes ``<out>/<link>_<channel>_cbr<R>.csv`` (one row per SNR point), a ``.json`` sidecar
    with the configuration, seed, git commit and package versions, and with ``all_configs``
    a ``..._configs.csv`` with one row per (SNR point, codec configuration).  The returned job
    holds the output's lock (``<stem>.lock``) until :meth:`SweepJob.close`; a second run on the
    same output is refused (:class:`~semcom.bench.results.OutputBusy`) before it writes anything.
    """
    hold, release, say = _held_notices(notice)
    # 1. build and check everything before a file is written
    spec = find_link(cfg.link)
    check_sweep(cfg, spec.source)  # --limit beyond the evaluation set; more than the frame-transmission cap
    channel = Component(cfg.channel, dict(cfg.channel_params)) if cfg.channel else spec.channel
    if cfg.channel is None and cfg.channel_params:
        channel = Component(spec.channel.name, {**spec.channel.params, **cfg.channel_params})
    stem = output_stem(spec.name, channel.name, cfg.cbr, cfg)
    csv_path, json_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.json"
    # one writer per output: taken before anything is read or written, held until the job is closed
    lock = OutputLock(lock_path(csv_path), csv_path).acquire()
    try:
        return _prepare_locked(cfg, spec, channel, csv_path, json_path, lock, overwrite=overwrite,
                               hold=hold, release=release, say=say)
    except BaseException:
        lock.release()
        raise


def _prepare_locked(cfg: SweepConfig, spec: Any, channel: Component, csv_path: Path, json_path: Path,
                    lock: OutputLock, *, overwrite: bool, hold: Callable[[str], None], release: Callable[[], None],
                    say: Callable[[str], None]) -> SweepJob:
    """:func:`prepare_sweep` once the output is locked."""
    overrides = {"checkpoint": cfg.checkpoint} if cfg.checkpoint else {}
    link = Link(spec, cbr=cfg.cbr, channel=channel, codec_overrides=overrides)
    link.eval()
    dataset = load_dataset(cfg, spec.source)
    unavailable: list[str] = []   # metrics left out (DISTS without its weights): said only if a point is computed
    metrics = build_metrics(cfg.metrics, unavailable.append)
    if cfg.all_configs and not link.codec.variants():
        raise SemcomError(f"--all-configs: link {spec.name!r} has one configuration only (it applies to links "
                          "that choose among several, e.g. bpg-ldpc)")
    outside = trained_range_notice(link, cfg.snr_db)
    if outside:
        hold(outside)

    # 2. identity and resume
    configs_path = csv_path.with_name(f"{csv_path.stem}_configs.csv")
    per_frame = frames_path(csv_path)
    identity = sweep_identity(cfg, spec, channel, dataset)
    key = config_key(portable_identity(identity))
    # the checkpoint's name (or None for the shipped one) is in the identity; its contents are not,
    # so the weights' fingerprint is kept beside it: a resumed run must not mix two models' rows
    weights = weights_digest(link)
    if overwrite:
        for p in (csv_path, json_path, configs_path, per_frame):
            p.unlink(missing_ok=True)
    old_sidecar = read_json(json_path)
    check_sweep_files(csv_path, configs_path, per_frame, tuple(cfg.metrics))
    done = resumed_points(csv_path, old_sidecar, key=key, weights=weights)

    # 3. the sidecar
    with phase("sensor"):
        batches = [collate([dataset[i] for i in group]) for group in batch_indices(dataset, cfg.batch_size)]
    existed = {p: p.exists() for p in (csv_path, json_path, configs_path, per_frame)}
    sidecar = {"config_key": key, "weights": weights, "config": display_config(cfg),
               "resolved": identity,
               "git_commit": git_commit(), "versions": package_versions(), "csv": csv_path.name,
               "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "torch_threads": torch.get_num_threads()}
    reference = input_reference(batches, metrics) if spec.target == "sharp" else {}
    if reference:  # what doing nothing scores (none where the input is the target): a reference line in plots
        sidecar["reference"] = {"blurry input": reference}
    todo = [float(s) for s in cfg.snr_db if round(float(s), 6) not in done]
    for msg in unavailable if todo else ():
        hold(msg)
    # nothing to compute and the reference already there: the sidecar stays as it is (a clean clone stays clean)
    if todo or old_sidecar.get("reference") != sidecar.get("reference"):
        write_json(json_path, sidecar)
    elif (old_sidecar.get("resolved") != sidecar["resolved"]
          or any((old_sidecar.get("config") or {}).get(k) != sidecar["config"][k] for k in _DESCRIBED)):
        # the same numbers described anew (e.g. a link file's or a checkpoint's path written relative to the
        # package or the repository): the commit and times of the run that computed the rows stay
        config = {**(old_sidecar.get("config") or {}), **{k: sidecar["config"][k] for k in _DESCRIBED}}
        write_json(json_path, {**old_sidecar, "config": config, "resolved": sidecar["resolved"]})
    if not todo:
        release()
        say(f"all {len(cfg.snr_db)} SNR points already in {csv_path}")
    names = tuple(name for b in batches for name in b.names)
    return SweepJob(PointWork(cfg, spec.name, channel.name, link, metrics, batches, names), csv_path, json_path,
                    configs_path, per_frame, sidecar, todo, existed, release, say, lock)


class PointWriters:
    """Appends a finished point's rows to a sweep's files (the CSV last: a point counts as done,
    and is skipped on resume, only once its frames and configurations are on disk)."""

    def __init__(self, job: SweepJob) -> None:
        if job.lock is not None and not job.lock.held:
            raise SemcomError(f"{job.csv_path}: the sweep's output is no longer locked (its job was closed)")
        self.main = CsvWriter(job.csv_path)
        self.configs = CsvWriter(job.configs_path) if job.cfg.all_configs else None
        metric_cols = [m for m in job.cfg.metrics]
        self.frames = CsvWriter(job.frames_path, columns=[*FRAME_COLUMNS, *metric_cols])
        # the CSV row comes last, so rows of a point still to do were left by a point interrupted before
        # its row was written: dropped once here, not re-read before every point
        for path in (job.frames_path, job.configs_path):
            drop_points(path, job.todo)

    def write(self, rows: PointRows) -> None:
        if rows.frames:
            self.frames.write_many(rows.frames)
        if rows.config_rows:
            self.configs.write_many(rows.config_rows)
        self.main.write(rows.row)


def drop_points(path: Path, snrs: Sequence[float]) -> None:
    """Remove the rows of the SNR points ``snrs`` from a per-frame or configurations file."""
    rows = read_rows(path)
    if not rows:
        return
    drop = {round(float(s), 6) for s in snrs}
    keep = [r for r in rows if r.get("snr_db") == "" or round(float(r["snr_db"]), 6) not in drop]
    if len(keep) == len(rows):
        return
    columns = list(rows[0])
    tmp = Path(str(path) + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(keep)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _run_sweep(cfg: SweepConfig, *, out_dir: Path, overwrite: bool, progress: bool,
               notice: Callable[[str], None] | None) -> Path:
    """Run (or resume) a sweep here, point after point; the path of its CSV file."""
    job = prepare_sweep(cfg, out_dir=out_dir, overwrite=overwrite, notice=notice)
    try:
        if not job.todo:
            return job.csv_path
        writers = job.writers()
        # the bar counts frames (every configuration an adaptive link tries included), so that it
        # moves and estimates the time left on links that spend minutes on one point
        bar = tqdm(total=sum(job.frames(snr) for snr in job.todo), desc=f"{job.name} cbr {format_cbr(cfg.cbr)}",
                   unit="frame", disable=not progress, file=sys.stderr, dynamic_ncols=True)
        try:
            for snr in job.todo:
                rows = job.point(snr, tick=bar.update)
                with phase("io"):
                    writers.write(rows)
                row = rows.row
                job.release()
                if "psnr" in row and row["psnr"] is not None:
                    bar.set_postfix_str(f"{snr:g} dB: {row['psnr']:.2f} dB PSNR")
        except (ValueError, RuntimeError) as exc:  # a component refused the input, or memory ran out
            bar.leave = False  # the error line stands alone
            raise job.failed(exc) from None
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM: finished points stay, an empty sweep leaves nothing
            job.discard_if_empty()
            raise
        finally:
            bar.close()
        return job.finish()
    finally:
        job.close()
