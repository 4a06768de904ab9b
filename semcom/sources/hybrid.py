"""What every hybrid-camera dataset shares: seeded samples generated on first access and cached
(:class:`_HybridDataset`)."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from semcom.errors import SemcomError
from semcom.sources.base import Sample, SourceDataset
from semcom.sources.cache import CACHE_VERSION, _load_npz, cache_root, config_hash, save_npz
from semcom.sources.camera import CameraConfig, Capture
from semcom.sources.representations import REPRESENTATIONS, event_representation
from semcom.sources.rgb import to_float


_SPLITS = {"train": 0, "test": 1}


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise SemcomError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class _HybridDataset(SourceDataset):
    """Shared constructor arguments, per-sample seeding, caching and :class:`Sample` assembly."""

    has_events = True
    has_spikes = True
    name = "hybrid"

    def _setup(self, *, split: str, limit: int | None, seed: int, exposure_us: int, representation: str,
               num_bins: int, camera: CameraConfig | Mapping[str, Any] | None, camera_settings: dict[str, Any],
               cache: bool | str) -> None:
        if split not in _SPLITS:
            raise SemcomError(f"split must be 'train' or 'test', got {split!r}")
        if limit is not None:
            _positive_int("limit", limit, 0)
        if representation not in REPRESENTATIONS:
            raise SemcomError(f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
        if representation == "scer" and (int(num_bins) != num_bins or num_bins < 2 or num_bins % 2):
            raise SemcomError(f"SCER needs an even num_bins >= 2, got {num_bins!r}")
        self.split, self.limit, self.seed = split, limit, int(seed)
        self.exposure_us = _positive_int("exposure_us", exposure_us)
        self.representation, self.num_bins = representation, _positive_int("num_bins", num_bins)
        self.camera_config = CameraConfig.from_settings(camera, what=self.name, others=self.arguments(),
                                                        **camera_settings)
        try:
            self.camera = self.camera_config.build()
        except ValueError as exc:
            raise SemcomError(f"{self.name}: {exc}") from None
        events, spikes = self.camera_config.events, self.camera_config.spikes
        self.has_events, self.has_spikes = bool(events), bool(spikes)
        if cache is True:
            self.cache_dir: Path | None = cache_root()
        elif cache is False or cache is None:
            self.cache_dir = None
        else:
            self.cache_dir = Path(cache).expanduser()
        self._memory: dict[int, Capture] = {}

    @classmethod
    def arguments(cls) -> list[str]:
        """The constructor's own keyword arguments (the camera's settings come on top of them)."""
        import inspect

        names: dict[str, None] = {}
        for klass in cls.__mro__:  # a subclass (photos) forwards the rest to its base's constructor
            if "__init__" in vars(klass) and klass is not object:
                names.update((p.name, None) for p in inspect.signature(vars(klass)["__init__"]).parameters.values()
                             if p.kind is p.KEYWORD_ONLY)
        return list(names)

    @classmethod
    def check_settings(cls, params: Mapping[str, Any], *, what: str | None = None) -> None:
        """Refuse, with one line, an argument neither the dataset nor its camera takes (a link file's
        ``[source]`` table, checked when the file is read)."""
        own = cls.arguments()
        settings = {k: v for k, v in params.items() if k not in own}
        CameraConfig.from_settings(params.get("camera"), what=what or cls.name, others=own, **settings)

    # subclasses: the number of samples, the configuration and one capture
    def _count(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def _config(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _generate(self, index: int) -> Capture:  # pragma: no cover - abstract
        raise NotImplementedError

    def _stored(self) -> int:
        """How many captures there are (a sequence dataset has more captures than samples)."""
        return len(self)

    def _full_config(self) -> dict[str, Any]:
        return {"dataset": self.name, "version": CACHE_VERSION, "split": self.split, "seed": self.seed,
                "exposure_us": self.exposure_us, "camera": self.camera.describe(),
                "representation": self.representation, "num_bins": self.num_bins, **self._config()}

    @property
    def key(self) -> str:
        """Hash of the configuration; names the cache folder."""
        return config_hash(self._full_config())

    def sample_path(self, index: int) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / self.name / self.key / f"{self.split}-{index:05d}.npz"

    def _rng(self, index: int) -> np.random.Generator:
        salt = int(hashlib.sha256(self.name.encode()).hexdigest()[:8], 16)
        return np.random.default_rng(np.random.SeedSequence([self.seed, _SPLITS[self.split], int(index), salt]))

    #: what one stored item of the cache is called (a progress bar's unit)
    unit = "sample"

    def _cached(self, index: int, generate: Callable[[int], Any], pack: Callable[[Any], dict[str, np.ndarray]],
                unpack: Callable[[dict[str, np.ndarray]], Any]) -> Any:
        """Stored item ``index``: held in memory (no cache folder), read from its file, or generated and
        stored (a damaged file is generated again)."""
        if index in self._memory:
            return self._memory[index]
        path = self.sample_path(index)
        if path is not None and path.is_file():
            try:
                return unpack(_load_npz(path))
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                pass  # a damaged file: generate again
        item = generate(index)
        if path is None:
            self._memory[index] = item
        else:
            save_npz(path, pack(item))
            if not (path.parent / "config.json").exists():
                (path.parent / "config.json").write_text(json.dumps(self._full_config(), indent=1, sort_keys=True,
                                                                    default=str))
        return item

    def _with_rep(self, cap: Capture) -> Capture:
        """``cap`` with its event representation (computed once, stored with the capture)."""
        if cap.raw_events is None:
            return cap
        h, w = cap.sharp.shape[1:]
        rep = event_representation(self.representation, cap.raw_events, height=h, width=w,
                                   exposure_us=int(cap.info["exposure_us"]), num_bins=self.num_bins)
        return replace(cap, rep=rep)

    def capture(self, index: int) -> Capture:
        """The stored capture of sample ``index`` (generated and cached on first access)."""
        if not 0 <= index < self._stored():
            raise IndexError(f"sample {index} out of range (dataset of {self._stored()})")
        return self._cached(index, lambda i: self._with_rep(self._generate(i)), Capture.to_arrays,
                            Capture.from_arrays)

    def _item(self, index: int) -> Any:
        """Stored item ``index`` (a capture here; a sequence dataset stores sequences)."""
        return self.capture(index)

    def prepare(self, progress: bool = False) -> None:
        """Generate every missing stored item now (``semcom data synth``)."""
        it = range(self._stored())
        if progress:
            from tqdm import tqdm
            it = tqdm(it, desc=f"{self.name} {self.split}", unit=self.unit)
        for i in it:
            path = self.sample_path(i)
            if path is None or not path.is_file():
                self._item(i)

    def __len__(self) -> int:
        n = self._count()
        return n if self.limit is None else min(n, int(self.limit))

    def __getitem__(self, index: int) -> Sample:
        if index < 0:
            index += len(self)
        shared = index in self._memory  # arrays kept in memory are copied, those read from disk are fresh
        return self._sample(self.capture(index), index, shared=shared)

    def _sample(self, cap: Capture, index: int, *, shared: bool) -> Sample:
        """The :class:`Sample` of a stored capture (its arrays copied when ``shared``: held in memory)."""
        own = (lambda a: np.array(a, copy=True)) if shared else (lambda a: a)  # noqa: E731
        info = dict(cap.info)
        h, w = cap.sharp.shape[1:]
        events = None
        if cap.raw_events is not None:
            rep = cap.rep
            if rep is None:
                rep = event_representation(self.representation, cap.raw_events, height=h, width=w,
                                           exposure_us=int(info["exposure_us"]), num_bins=self.num_bins)
            events = torch.from_numpy(own(rep) if cap.rep is not None else rep)
            info.update(representation=self.representation, num_bins=int(rep.shape[0]))
        spikes = None if cap.spikes is None else torch.from_numpy(own(cap.spikes))
        return Sample(sharp=torch.from_numpy(to_float(cap.sharp)), blurry=torch.from_numpy(to_float(cap.blurry)),
                      events=events, spikes=spikes, raw_events=None if cap.raw_events is None else own(cap.raw_events),
                      name=str(info.get("name", index)),
                      info=info)

    def describe(self) -> dict[str, Any]:
        return {**self._full_config(), "n": len(self), "representation": self.representation,
                "num_bins": self.num_bins, "key": self.key}
