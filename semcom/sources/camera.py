"""The hybrid camera: one exposure of latent frames seen by an RGB, an event and a spike camera
(:class:`HybridCamera`), its settings (:class:`CameraConfig`) and what it captured (:class:`Capture`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Sequence

import numpy as np

from semcom.sources.cache import decode_events, encode_events
from semcom.sources.events import EventCamera
from semcom.sources.rgb import RGBCamera
from semcom.sources.scene import LatentSequence
from semcom.sources.spikes import SpikeCamera


@dataclass(frozen=True, eq=False)
class Capture:
    """What the hybrid camera records over one exposure.

    Args:
        sharp: target ``(3, H, W)`` uint8 (the middle latent frame).
        blurry: blurry frame ``(3, H, W)`` uint8.
        raw_events: structured array of ``EVENT_DTYPE`` or ``None``.
        spikes: ``(T, h, w)`` uint8 or ``None``.
        info: scalar facts (see :class:`semcom.sources.base.Sample`).
        rep: the event representation ``(C, H, W)`` float32 (stored so loading skips it).
    """

    sharp: np.ndarray
    blurry: np.ndarray
    raw_events: np.ndarray | None
    spikes: np.ndarray | None
    info: dict[str, Any] = field(default_factory=dict)
    rep: np.ndarray | None = None

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"sharp": self.sharp, "blurry": self.blurry,
               "info_json": np.frombuffer(json.dumps(self.info, sort_keys=True).encode(), np.uint8)}
        if self.raw_events is not None:
            out["raw_events"] = encode_events(self.raw_events)
        if self.spikes is not None:
            binary = self.spikes.size == 0 or int(self.spikes.max()) <= 1
            out["spikes"] = np.packbits(self.spikes.ravel()) if binary else self.spikes
            out["spikes_shape"] = np.asarray(self.spikes.shape, np.int64)
            out["spikes_packed"] = np.asarray(binary)
        if self.rep is not None:
            out.update(_pack_rep(self.rep))
        return out

    @classmethod
    def from_arrays(cls, arrs: dict[str, np.ndarray]) -> "Capture":
        spikes = None
        if "spikes" in arrs:
            shape = tuple(int(v) for v in arrs["spikes_shape"])
            if bool(arrs["spikes_packed"]):
                spikes = np.unpackbits(arrs["spikes"], count=int(np.prod(shape))).reshape(shape)
            else:
                spikes = arrs["spikes"].reshape(shape)
        raw = decode_events(arrs["raw_events"]) if "raw_events" in arrs else None
        return cls(sharp=arrs["sharp"], blurry=arrs["blurry"], raw_events=raw, spikes=spikes,
                   info=json.loads(arrs["info_json"].tobytes().decode()),
                   rep=_unpack_rep(arrs) if "rep_zst" in arrs else None)


def _pack_rep(rep: np.ndarray) -> dict[str, np.ndarray]:
    """An event representation as zstd bytes (int16 when it holds small integers, exactly)."""
    import imagecodecs

    as_int = np.all(rep == np.round(rep)) and (rep.size == 0 or np.abs(rep).max() < 2**15)
    arr = rep.astype(np.int16) if as_int else rep.astype(np.float32)
    return {"rep_zst": np.frombuffer(imagecodecs.zstd_encode(arr.tobytes(), level=3), np.uint8),
            "rep_shape": np.asarray(rep.shape, np.int64), "rep_int16": np.asarray(bool(as_int))}


def _unpack_rep(arrs: dict[str, np.ndarray]) -> np.ndarray:
    import imagecodecs

    dtype = np.int16 if bool(arrs["rep_int16"]) else np.float32
    data = np.frombuffer(imagecodecs.zstd_decode(arrs["rep_zst"].tobytes()), dtype)
    return data.reshape(tuple(int(v) for v in arrs["rep_shape"])).astype(np.float32)


class HybridCamera:
    """An RGB camera, an event camera and a spike camera that share optics and exposure.

    Follows the hybrid camera of EV-JSCC (Sec. II-B: time- and space-synchronized RGB and event
    cameras) with the spike camera of SpikeReveal beside them.

    Args:
        rgb: the frame camera.
        events: the event camera, or ``None``.
        spikes: the spike camera, or ``None``.

    Shape:
        :meth:`capture` takes a :class:`~semcom.sources.scene.LatentSequence` with RGB frames
        ``(K, 3, H, W)`` and returns a :class:`Capture`.
    """

    def __init__(self, *, rgb: RGBCamera, events: EventCamera | None = None,
                 spikes: SpikeCamera | None = None) -> None:
        self.rgb, self.events, self.spikes = rgb, events, spikes

    def describe(self) -> dict[str, Any]:
        return {"rgb": self.rgb.describe(), "events": None if self.events is None else self.events.describe(),
                "spikes": None if self.spikes is None else self.spikes.describe()}

    def capture(self, seq: LatentSequence, rng: np.random.Generator, *,
                sharp: np.ndarray | None = None, blurry: np.ndarray | None = None,
                raw_events: np.ndarray | None = None) -> Capture:
        """Record one exposure; ``sharp``/``blurry`` codes replace the simulated ones (GoPro), ``raw_events``
        the event camera's (a video's exposure, cut from events simulated over the whole video)."""
        r_rgb, r_ev, r_sp = rng.spawn(3)
        frames = seq.frames
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"the hybrid camera needs RGB latent frames (K, 3, H, W), got {frames.shape}")
        sharp_codes = self.rgb.sharp(seq.sharp) if sharp is None else sharp
        blurry_codes = self.rgb.expose(frames, r_rgb) if blurry is None else blurry
        info: dict[str, Any] = {"exposure_us": int(seq.exposure_us), "num_latent": seq.num_latent,
                                "blur_px": round(float(seq.blur_px), 4), "foreground": bool(seq.foreground)}
        raw = None
        if self.events is not None:
            raw = (self.events.simulate(frames, seq.times_us, exposure_us=seq.exposure_us, rng=r_ev)
                   if raw_events is None else raw_events)
            info.update(contrast_threshold=self.events.contrast, contrast_neg=self.events.contrast_neg,
                        contrast_sigma=self.events.contrast_sigma, num_events=int(len(raw)),
                        bytes_per_event=self.events.bytes_per_event, event_bytes=self.events.payload_bytes(raw))
        spikes = None
        if self.spikes is not None:
            spikes = self.spikes.simulate(frames, seq.times_us, exposure_us=seq.exposure_us, rng=r_sp)
            info.update(spike_rate_hz=self.spikes.rate_hz, spike_theta=self.spikes.theta,
                        spike_gain=self.spikes.gain, spike_scale=self.spikes.scale,
                        spike_ticks=int(spikes.shape[0]), num_spikes=int(spikes.sum(dtype=np.int64)))
        return Capture(sharp=sharp_codes, blurry=blurry_codes, raw_events=raw, spikes=spikes, info=info)


#: the hybrid camera's noise presets: the settings each one changes from :class:`CameraConfig`'s defaults
#: (the sources of the numbers: docs/sources.md, "Sensor noise")
PRESETS: dict[str, dict[str, Any]] = {
    # today's camera, unchanged: per-sample threshold mismatch of 0.03, nothing else
    "default": {},
    # no noise at all: exact thresholds, no noise events, noiseless spikes and RGB frame
    "ideal": {"contrast_sigma": 0.0, "refractory_us": 0.0, "noise_rate_hz": 0.0, "dark_current": 0.0,
              "full_well": None, "read_noise": 0.0},
    # v2e's defaults (a DAVIS-like event camera in good light), a typical spike camera (SCSim's mismatch
    # and dark current), a typical RGB sensor
    "v2e": {"contrast_sigma": 0.03, "mismatch": "sensor", "cutoff_hz": 300.0, "shot_noise_hz": 0.001,
            "leak_hz": 0.01, "leak_jitter": 0.1, "noise_spread_decades": 0.1, "refractory_us": 500.0,
            "dark_current": 0.005, "dark_sigma": 0.3, "spike_theta_sigma": 0.045, "spike_gain_sigma": 0.058,
            "spike_read_noise": 0.01, "spike_photons": 1000.0,
            "full_well": 10_000.0, "read_noise": 0.0003},
    # v2e's 'noisy' preset (low light), a spike camera and an RGB sensor in low light
    "noisy": {"contrast_sigma": 0.05, "mismatch": "sensor", "cutoff_hz": 30.0, "shot_noise_hz": 5.0,
              "leak_hz": 0.1, "leak_jitter": 0.1, "noise_spread_decades": 0.1, "refractory_us": 500.0,
              "dark_current": 0.02, "dark_sigma": 0.5, "spike_theta_sigma": 0.09, "spike_gain_sigma": 0.116,
              "spike_read_noise": 0.03, "spike_photons": 200.0,
              "full_well": 1_000.0, "read_noise": 0.005},
}


@dataclass(frozen=True)
class CameraConfig:
    """The settings of the hybrid camera's three sensors, shared by every hybrid-camera dataset.

    A dataset takes them as one ``camera`` table (a link's ``[source] camera = {...}``, or a
    :class:`CameraConfig`) or as keywords of their own (``--dataset-param spikes=false``); the two
    may be mixed, but not name the same setting twice.  The table may name a noise preset
    (``camera = {preset = "v2e", leak_hz = 0.05}``, or just ``camera = "noisy"``; see :data:`PRESETS`):
    the preset's values first, then every setting the table or the keywords name.

    Args:
        events: whether the event camera is present.
        contrast, contrast_sigma, refractory_us, noise_rate_hz, bytes_per_event: the event camera
            (:class:`~semcom.sources.events.EventCamera`).
        mismatch, sensor_seed: ``"sample"`` (a fresh mismatch per sample, today's default) or ``"sensor"``
            (a fixed pattern of each sensor, seeded by ``sensor_seed``), for the event and spike cameras.
        cutoff_hz, shot_noise_hz, leak_hz, leak_jitter, noise_spread_decades: the event camera's v2e noise.
        spikes: whether the spike camera is present.
        spike_rate_hz, spike_theta, spike_gain, spike_scale, dark_current: the spike camera
            (:class:`~semcom.sources.spikes.SpikeCamera`).
        spike_theta_sigma, spike_gain_sigma, dark_sigma, spike_read_noise, spike_photons: its noise
            (threshold and gain mismatch, dark-current spread, thermal/readout noise, photon shot noise).
        full_well, read_noise: the RGB camera's noise (:class:`~semcom.sources.rgb.RGBCamera`).

    Example:
        >>> cfg = CameraConfig.from_settings({"contrast": 0.3}, spikes=False)
        >>> cfg.contrast, cfg.spikes
        (0.3, False)
        >>> cfg.build().spikes is None
        True
    """

    events: bool = True
    contrast: float = 0.2
    contrast_sigma: float = 0.03
    refractory_us: float = 0.0
    noise_rate_hz: float = 0.0
    bytes_per_event: int = 8
    spikes: bool = True
    spike_rate_hz: float = 40_000.0
    spike_theta: float = 1.0
    spike_gain: float = 1.0
    spike_scale: int = 4
    dark_current: float = 0.0
    full_well: float | None = None
    read_noise: float = 0.0
    mismatch: str = "sample"
    sensor_seed: int = 0
    cutoff_hz: float = 0.0
    shot_noise_hz: float = 0.0
    leak_hz: float = 0.0
    leak_jitter: float = 0.1
    noise_spread_decades: float = 0.0
    spike_theta_sigma: float = 0.0
    spike_gain_sigma: float = 0.0
    dark_sigma: float = 0.0
    spike_read_noise: float = 0.0
    spike_photons: float | None = None

    @classmethod
    def preset(cls, name: str, **settings: Any) -> "CameraConfig":
        """The configuration of preset ``name`` (:data:`PRESETS`), with ``settings`` on top of it."""
        return cls.from_settings({"preset": name}, **settings)

    @classmethod
    def settings(cls) -> tuple[str, ...]:
        """The names of every setting."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_settings(cls, camera: "CameraConfig | Mapping[str, Any] | None" = None, *, what: str = "camera",
                      others: Sequence[str] = (), **settings: Any) -> "CameraConfig":
        """A configuration from a ``camera`` table and/or keywords; an unknown or repeated name is refused
        with one line naming ``what`` (and its own arguments ``others``, for the suggestion)."""
        from semcom.errors import SemcomError
        from semcom.registry import did_you_mean

        if isinstance(camera, CameraConfig):
            base, table = camera, {}
        elif camera is None or isinstance(camera, (Mapping, str)):
            table = {"preset": camera} if isinstance(camera, str) else dict(camera or {})
            preset = table.pop("preset", "default")
            if not isinstance(preset, str) or preset not in PRESETS:
                raise SemcomError(f"{what}: unknown camera preset {preset!r}{did_you_mean(str(preset), PRESETS)} "
                                  f"(presets: {', '.join(PRESETS)})")
            base = cls(**PRESETS[preset])
        else:
            raise SemcomError(f"{what}: camera must be a table of settings ({', '.join(cls.settings())}) or a "
                              f"preset's name ({', '.join(PRESETS)}), got {camera!r}")
        known = cls.settings()
        for key in table:
            if key not in known:
                raise SemcomError(f"{what}: the camera table takes no setting {key!r}{did_you_mean(key, known)} "
                                  f"(camera settings: preset, {', '.join(known)})")
        for key in settings:
            if key not in known:
                own = f"valid: {', '.join(others)}; " if others else ""
                raise SemcomError(f"{what} takes no argument {key!r}{did_you_mean(key, [*others, *known])} "
                                  f"({own}camera settings: {', '.join(known)})")
        twice = sorted(set(table) & set(settings))
        if twice:
            raise SemcomError(f"{what}: {', '.join(twice)} given both in the camera table and on its own")
        for key in ("events", "spikes"):
            value = {**table, **settings}.get(key, True)
            if not isinstance(value, (bool, np.bool_)):
                raise SemcomError(f"{what}: {key} must be true or false, got {value!r}")
        return replace(base, **table, **settings)

    def build(self) -> HybridCamera:
        """The :class:`HybridCamera` these settings describe (``ValueError`` for an invalid value)."""
        return HybridCamera(rgb=self.rgb_camera(), events=self.event_camera() if self.events else None,
                            spikes=self.spike_camera() if self.spikes else None)

    def rgb_camera(self) -> RGBCamera:
        return RGBCamera(full_well=self.full_well, read_noise=self.read_noise)

    def event_camera(self) -> EventCamera:
        return EventCamera(contrast=self.contrast, contrast_sigma=self.contrast_sigma,
                           refractory_us=self.refractory_us, noise_rate_hz=self.noise_rate_hz,
                           bytes_per_event=self.bytes_per_event, mismatch=self.mismatch, sensor_seed=self.sensor_seed,
                           cutoff_hz=self.cutoff_hz, shot_noise_hz=self.shot_noise_hz, leak_hz=self.leak_hz,
                           leak_jitter=self.leak_jitter, noise_spread_decades=self.noise_spread_decades)

    def spike_camera(self) -> SpikeCamera:
        return SpikeCamera(rate_hz=self.spike_rate_hz, theta=self.spike_theta, gain=self.spike_gain,
                           scale=self.spike_scale, dark_current=self.dark_current,
                           theta_sigma=self.spike_theta_sigma, gain_sigma=self.spike_gain_sigma,
                           dark_sigma=self.dark_sigma, read_noise=self.spike_read_noise, photons=self.spike_photons,
                           mismatch=self.mismatch, sensor_seed=self.sensor_seed)

    def changed(self) -> dict[str, Any]:
        """The settings that differ from the default camera."""
        default = CameraConfig()
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != getattr(default, f.name)}
