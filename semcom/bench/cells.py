"""Slices of one SNR point: some of its (repeat, batch) cells computed apart, then merged into its row.

The Ray executor's unit of work (``--executor ray``): a point of a sweep with 32 frames in 4 batches
becomes 4 tasks, so that the points of a sweep spread over more cores than it has points, and a costly
point no longer sets the sweep's wall time on its own.

:func:`merge_cells` gives exactly the row of :meth:`semcom.bench.sweep.PointWork.point`: every cell's
draws are seeded by ``(seed, SNR, repeat, batch)`` alone; each image's values land at its place in the
point's ``[image, repeat]`` table; the reception's extras are concatenated in the local runner's order
(repeat, then batch) before their mean; ``cbr_used`` is the last cell's; an envelope (a codec with
configurations) picks its configuration on the merged values with the local rule (the first best wins
ties).  One difference in cost, not in numbers: a slice cannot know which configuration will win, so it
scores every metric of every configuration it tries, where the local runner scores the other metrics of
the winner only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

Cell = tuple[int, int]   # (repeat, batch index)


@dataclass
class CellValues:
    """One configuration's results on some cells of a point."""

    values: dict[str, dict[Cell, np.ndarray]]       # metric -> cell -> one value per image of the batch
    extras: dict[Cell, dict[str, list[float]]]      # cell -> the reception's extras, flattened
    cbr: dict[Cell, float]                          # cell -> the CBR the transmission used
    seconds: float


def point_cells(repeats: int, n_batches: int) -> list[Cell]:
    """Every cell of a point, in the local runner's order (repeat, then batch)."""
    return [(r, j) for r in range(repeats) for j in range(n_batches)]


def tried_configurations(work: Any, snr: float) -> list[str | None]:
    """The configurations a point tries (``[None]`` for a codec without any), as the local runner does."""
    from semcom.bench.sweep import tried_configurations as tried

    if not work.link.codec.variants():
        return [None]
    return tried(work.link, float(snr), all_configs=work.cfg.all_configs)


def evaluate_cells(work: Any, snr: float, cells: Sequence[Cell]) -> dict[str | None, CellValues]:
    """Every metric of every tried configuration on ``cells`` of point ``snr`` (worker side)."""
    from semcom.bench.sweep import evaluate_cell

    link = work.link
    out: dict[str | None, CellValues] = {}
    for variant in tried_configurations(work, snr):
        if variant is not None:
            link.codec.set_variant(variant)
        t0 = time.perf_counter()
        got = CellValues({m: {} for m in work.metrics}, {}, {}, 0.0)
        with torch.no_grad():
            for r, j in cells:
                res, values, extras = evaluate_cell(link, work.batches[j], work.metrics, snr_db=float(snr),
                                                    seed=work.cfg.seed, repeat=r, index=j)
                for m, v in values.items():
                    got.values[m][(r, j)] = v
                got.extras[(r, j)] = extras
                got.cbr[(r, j)] = res.transmission.cbr
        got.seconds = time.perf_counter() - t0
        out[variant] = got
    return out


def merge_cells(work: Any, snr: float, sizes: Sequence[int], parts: Sequence[dict[str | None, CellValues]]
                ) -> Any:
    """The point's rows (:class:`~semcom.bench.sweep.PointRows`: its row, with ``all_configs`` one row
    per configuration, and its frames) from the slices covering it.

    ``sizes``: the images in each batch of the evaluation set; ``parts``: :func:`evaluate_cells` of
    slices that together hold every cell of the point once."""
    from semcom.bench.sweep import PointResult, PointRows, _row, envelope_score, frame_rows

    cfg, metrics = work.cfg, work.metrics
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    tried = list(parts[0])
    results: dict[str | None, PointResult] = {}
    for variant in tried:
        values = {m: np.full((int(offsets[-1]), cfg.repeats), np.nan) for m in metrics}
        extras: dict[Cell, dict[str, list[float]]] = {}
        cbr: dict[Cell, float] = {}
        seconds = 0.0
        for part in parts:
            got = part[variant]
            seconds += got.seconds
            for m in metrics:
                for (r, j), v in got.values[m].items():
                    values[m][offsets[j]:offsets[j + 1], r] = v
            extras.update(got.extras)
            cbr.update(got.cbr)
        cells = point_cells(cfg.repeats, len(sizes))
        missing = [c for c in cells if c not in cbr]
        if missing:
            raise ValueError(f"the slices of point {snr:g} dB lack cells {missing[:4]}")
        flat: dict[str, list[float]] = {}
        for cell in cells:
            for k, v in extras[cell].items():
                flat.setdefault(k, []).extend(v)
        results[variant] = PointResult(values, {k: float(np.mean(v)) for k, v in flat.items()},
                                       cbr[cells[-1]] if cells else math.nan, seconds)
    row_of = lambda res: _row(work.name, work.channel, cfg.cbr, float(snr), res,  # noqa: E731
                              tuple(cfg.metrics), cfg.repeats)
    frames = lambda res: frame_rows(float(snr), work.names, res)  # noqa: E731
    if tried == [None]:
        return PointRows(row_of(results[None]), [], frames(results[None]))
    score = envelope_score(metrics)
    best = tried[0]
    for variant in tried[1:]:
        if score(results[variant]) > score(results[best]):
            best = variant
    config_rows = [{**row_of(results[v]), "config": v} for v in tried] if cfg.all_configs else []
    return PointRows({**row_of(results[best]), "config": best, "seconds": sum(r.seconds for r in results.values())},
                     config_rows, frames(results[best]))


def slices(cells: Sequence[Cell], n: int) -> list[list[Cell]]:
    """``cells`` cut into ``n`` contiguous slices of nearly equal length (none empty)."""
    n = max(1, min(int(n), len(cells)))
    bounds = np.linspace(0, len(cells), n + 1).round().astype(int)
    return [list(cells[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
