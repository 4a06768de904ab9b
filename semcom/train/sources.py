"""Training samples: generated once (in worker processes) and kept compact on the training device,
or simulated afresh on the device every step (``--fresh-data``)."""

from __future__ import annotations

import math
from typing import Any

import torch

from semcom.errors import SemcomError
from semcom.registry import SOURCES
from semcom.seeds import step_seed
from semcom.sources.base import SequenceSample
from semcom.train.data import TrainingData

__all__ = ["load_training_data", "fresh_source"]


def _build_source(dataset: str, *, size: int, n: int, seed: int, split: str, params: dict[str, Any]):
    if dataset not in SOURCES:
        raise SemcomError(SOURCES.unknown_message(dataset))
    kwargs: dict[str, Any] = {"split": split, "size": int(size), "seed": int(seed)}
    if dataset == "skimage":
        kwargs.update(crops_per_picture=max(1, math.ceil(n / 10)), limit=n)
    else:
        kwargs["n"] = int(n)
    kwargs.update(params)
    try:
        ds = SOURCES.build(dataset, **kwargs)
    except TypeError as exc:
        raise SemcomError(f"cannot build training data {dataset!r}: {exc}") from None
    return ds


def _samples(args: tuple) -> list[tuple]:
    """Worker: generate samples ``indices`` (the dataset caches them on disk)."""
    dataset, size, n, seed, split, params, indices, spikes = args
    torch.set_num_threads(1)
    import semcom  # noqa: F401  (fill the registries in a fresh process)

    ds = _build_source(dataset, size=size, n=n, seed=seed, split=split, params=params)
    return [_sample_tuple(ds[i], spikes) for i in indices]


def _sample_tuple(s, spikes: bool) -> tuple:
    if isinstance(s, SequenceSample):  # a sequence: its exposures stacked along the channels
        from semcom.sources.video import stack_sequence

        if spikes:
            raise SemcomError("training on sequences with spike streams is not supported (no codec needs it)")
        return (*stack_sequence(s), None)
    return s.sharp, s.blurry, s.events, s.spikes if spikes else None


def load_training_data(dataset: str, *, size: int, n: int, seed: int, split: str = "train",
                       params: dict[str, Any] | None = None, workers: int = 0,
                       spikes: bool = False, device: torch.device | str = "cpu") -> TrainingData:
    """Generate (or read from the dataset's disk cache) ``n`` training samples, compacted on ``device``.

    Args:
        dataset: a registered source; built with ``split``, ``size``, ``n`` (``limit`` for
            ``skimage``), ``seed`` and ``params``.
        workers: generate samples in this many processes (0 or 1: in this one).
        spikes: keep the spike streams too (for codecs with spike side information).
        device: where the compact tensors live (the training device).
    """
    params = dict(params or {})
    ds = _build_source(dataset, size=size, n=n, seed=seed, split=split, params=params)
    count = min(len(ds), int(n))
    if count == 0:
        raise SemcomError(f"dataset {dataset!r} gave no training samples")
    if workers and workers > 1 and count > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        chunks = [list(range(count))[k::workers] for k in range(workers)]
        jobs = [(dataset, size, n, seed, split, params, c, spikes) for c in chunks if c]
        with ProcessPoolExecutor(len(jobs), mp_context=mp.get_context("spawn")) as pool:
            parts = list(pool.map(_samples, jobs))
        rows: list[tuple | None] = [None] * count
        for job, part in zip(jobs, parts):
            for i, t in zip(job[6], part):
                rows[i] = t
    else:
        rows = [_sample_tuple(ds[i], spikes) for i in range(count)]
    sharp = torch.stack([t[0] for t in rows])
    blurry = torch.stack([t[1] for t in rows])
    events = torch.stack([t[2] for t in rows]) if all(t[2] is not None for t in rows) else None
    spike_stack = None
    if spikes:
        if any(t[3] is None for t in rows):
            raise SemcomError(f"training data {dataset!r} has no spike streams (a spike codec needs them)")
        spike_stack = torch.stack([torch.as_tensor(t[3]) for t in rows])
    info = {**ds.describe(), "n": count}
    data = TrainingData.from_float(sharp, blurry, events, describe=info, spikes=spike_stack,
                                   representation=info.get("representation"), device=device)
    if ds.sequences:  # each sample is a stacked sequence; batches unstack it into frames
        data.extra["exposures"] = int(ds.exposures)
    return data


def fresh_source(dataset: str, *, size: int, seed: int, n_val: int, device: torch.device,
                 params: dict[str, Any], spikes: bool = False) -> tuple[Any, TrainingData | None]:
    """The on-device simulator for ``--fresh-data`` and its fixed validation samples."""
    from semcom.sources.torchsim import FreshSource

    pictures: list[torch.Tensor] = []
    if dataset == "photos":
        from semcom.sources.photos import _load_scaled, installed_photos

        short = int(params.get("short_side", 512))
        pictures = [torch.from_numpy(_load_scaled(str(p), short).copy()).permute(2, 0, 1).contiguous()
                    for _, p in installed_photos(params.get("photos_root"))]
    elif dataset not in ("synth-blur", "dead-leaves"):
        raise SemcomError(f"--fresh-data draws dead leaves and the photos corpus (--dataset photos, synth-blur); "
                          f"not {dataset!r}")
    known = ("dead_leaves", "exposure_us", "contrast", "contrast_sigma", "num_bins", "representation",
             "short_side", "photos_root", "spikes", "camera")
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise SemcomError(f"--fresh-data takes the dataset parameters {', '.join(known)}; not {', '.join(unknown)}")
    keep = {k: params[k] for k in known[:6] if k in params}
    source = FreshSource(size=size, device=device, pictures=pictures, spikes=spikes, camera=params.get("camera"),
                         **keep)
    val = None
    if n_val:
        g = torch.Generator(device=device).manual_seed(step_seed(seed, 0, 4))  # a stream training never draws
        val = _held(source, [source.batch(n_val, g)], describe={**source.describe, "split": "validation"})
    return source, val


def _held(source: Any, batches: list, *, describe: dict[str, Any]) -> TrainingData:
    """Fresh batches of ``source`` held on its device as one :class:`TrainingData`."""
    cat = lambda xs: None if xs[0] is None else torch.cat(xs)  # noqa: E731
    return TrainingData.from_float(cat([b.sharp for b in batches]), cat([b.blurry for b in batches]),
                                   cat([b.events for b in batches]), describe=describe,
                                   spikes=cat([b.spikes for b in batches]), representation=source.representation,
                                   device=source.device)


class FreshPool:
    """Training batches drawn from ``size`` fresh samples held on the device, simulated anew every ``renew``
    steps (``--fresh-pool``): each batch is a random crop, flip, rotation and time reversal of pool samples,
    as from a dataset held on the device.  On a GPU, simulating a batch of 128 costs about three DeepJSCC
    training steps (results/train_throughput/cuda.csv); a pool pays that once per ``renew`` steps.

    Pool ``k`` (the one of steps ``k * renew`` to ``(k + 1) * renew - 1``) is drawn from ``(seed, k)`` alone,
    so a resumed run rebuilds the same pool, and it is the same in every process of a DDP run."""

    def __init__(self, source: Any, *, size: int, renew: int, chunk: int = 256) -> None:
        if size < 1 or renew < 1:
            raise SemcomError(f"--fresh-pool needs a positive size and renewal period, not {size} / {renew}")
        self.source, self.size, self.renew, self.chunk = source, int(size), int(renew), int(chunk)
        self.describe = {**source.describe, "pool": self.size, "renew": self.renew}
        self.index: int | None = None  # which pool is held
        self.data: TrainingData | None = None
        self.built = 0  # pools simulated so far (for tests and logs)

    def pool(self, seed: int, step: int) -> TrainingData:
        k = int(step) // self.renew
        if k != self.index:
            self.data = None  # free the old pool first
            g = torch.Generator(device=self.source.device).manual_seed(step_seed(seed, k, 5))
            parts = [self.source.batch(min(self.chunk, self.size - i), g) for i in range(0, self.size, self.chunk)]
            self.data = _held(self.source, parts, describe=self.describe)
            self.index = k
            self.built += 1
        return self.data

    def draw(self, *, seed: int, step: int, batch_size: int, shard: int = 0, crop: int | None = None,
             augment: tuple[str, ...] = ()) -> Any:
        return self.pool(seed, step).draw(seed=seed, step=step, batch_size=batch_size, shard=shard, crop=crop,
                                          augment=augment)
