"""A link: source node -> encoder -> channel -> decoder -> receiver back-end, declared in TOML.

A link file (``semcom/links/NAME.toml``, or ``NAME.toml`` in a folder of one's own) names its components from the registries::

    name = "softcast"
    description = "SoftCast: linear analog transmission of the blurry frame"
    target = "sharp"            # what the metrics compare the output with: "sharp" or "blurry"

    [codec]                     # CODECS; the other keys are constructor arguments
    name = "softcast"
    chunk = 16

    [channel]                   # CHANNELS; default channel, `--channel` overrides it
    name = "awgn"

    [receiver]                  # RECEIVERS; default "identity"
    name = "identity"

    [source]                    # SOURCES; the default evaluation data, `--dataset` overrides it
    name = "synth-blur"

    [transmitter]               # optional, RECEIVERS: a back-end run at the sensor on the raw
    name = "edi"                # sensor data (events, spikes); the codec carries its output in
                                # place of the blurry frame, within the same channel uses
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn

from semcom.profiling import phase
from semcom.channels.base import Channel
from semcom.codecs.base import Codec, Reception, Transmission
from semcom.conventions import channel_uses_budget, format_cbr
from semcom.errors import SemcomError
# find_link is part of this module's API: a link is found (linkspec) and built (Link) from here
from semcom.linkspec import Component, LinkSpec, find_link  # noqa: F401
from semcom.registry import CHANNELS, CODECS, RECEIVERS, keywords, parameters
from semcom.sources.base import Batch
from semcom.zoo.build import build_codec, build_receiver, is_learned, receiver_is_learned


@dataclass(frozen=True)
class LinkOutput:
    """One pass of a batch through a link."""

    output: torch.Tensor
    transmission: Transmission
    reception: Reception


def _build(registry, comp: Component, *, zoo: dict[str, Any] | None = None, **extra: Any) -> Any:
    """Build ``comp`` with ``extra`` arguments; ``zoo``: which shipped weights a learned codec looks up.
    Learned codecs and back-ends are built by the zoo, which finds, verifies and loads their weights
    (a codec's ``checkpoint``, a back-end's ``weights``)."""
    args = {**comp.params, **extra}  # an override replaces the link file's value
    try:
        if registry is CODECS:
            if is_learned(comp.name):
                return build_codec(comp.name, **args, **(zoo or {}))
            if extra.get("checkpoint") is not None:
                raise SemcomError(f"codec {comp.name!r} has no learned weights; a checkpoint does not apply to it")
        if registry is RECEIVERS:
            return build_receiver(comp.name, **args)
        return registry.build(comp.name, **args)
    except SemcomError:
        raise
    except (TypeError, ValueError) as exc:  # unexpected keyword or bad value in a TOML table
        given = {**comp.params, **extra}
        if registry is RECEIVERS and receiver_is_learned(comp.name):
            given.pop("weights", None)  # the zoo's argument, not the constructor's
        unknown = _unknown_keys(registry.get(comp.name), given)
        if not unknown and isinstance(exc, TypeError):
            import re

            unknown = re.findall(r"unexpected keyword argument '([^']+)'", str(exc))
        if unknown:
            raise SemcomError(f"{registry.kind} {comp.name!r} takes no argument {', '.join(map(repr, unknown))} "
                              f"(valid: {', '.join(keywords(registry.get(comp.name))) or 'none'})") from None
        raise SemcomError(f"cannot build {registry.kind} {comp.name!r}: {exc}") from None


def _unknown_keys(factory: Any, given: dict[str, Any]) -> list[str]:
    params = parameters(factory)
    if params is None or any(p.kind is p.VAR_KEYWORD for p in params):  # e.g. a class without an __init__ of its own
        return []
    valid = set(keywords(factory))
    return [k for k in given if k not in valid]


def receiver_takes_weights(spec: LinkSpec) -> bool:
    """Whether the link's receiver back-end has learned weights of its own (the zoo loads them: ``weights``)."""
    return spec.receiver.name in RECEIVERS and receiver_is_learned(spec.receiver.name)


class Link(nn.Module):
    """A built link, ready to carry batches at a given SNR.

    Args:
        spec: the parsed link file.
        cbr: the requested CBR; the codec may use less, never more.
        channel: a channel component overriding the spec's.
        codec_overrides: extra codec constructor arguments (for example ``checkpoint``).  Where the codec
            has no learned weights and the receiver does (``stra``), ``checkpoint`` goes to the receiver as
            its ``weights`` (``"none"``: untrained).
        receiver_overrides: extra receiver constructor arguments.

    Example:
        >>> link = Link(find_link("softcast"), cbr=1/48)        # doctest: +SKIP
        >>> out = link(batch, snr_db=10.0, generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
    """

    def __init__(self, spec: LinkSpec, *, cbr: float, channel: Component | None = None,
                 codec_overrides: dict[str, Any] | None = None,
                 receiver_overrides: dict[str, Any] | None = None) -> None:
        super().__init__()
        codec_overrides, receiver_overrides = dict(codec_overrides or {}), dict(receiver_overrides or {})
        if codec_overrides.get("checkpoint") is not None and receiver_takes_weights(spec) \
                and not is_learned(spec.codec.name):
            weights = str(codec_overrides.pop("checkpoint"))
            receiver_overrides["weights"] = None if weights.lower() == "none" else weights
        self.spec = spec
        self.cbr = float(cbr)
        self.channel_spec = channel or spec.channel
        if self.channel_spec.name not in CHANNELS:
            raise SemcomError(CHANNELS.unknown_message(self.channel_spec.name))
        self.codec: Codec = _build(CODECS, spec.codec, cbr=self.cbr, **codec_overrides,
                                   zoo={"link": spec.name, "own_weights": spec.needs_own_weights})
        self.channel: Channel = _build(CHANNELS, self.channel_spec)
        self.receiver = _build(RECEIVERS, spec.receiver, **receiver_overrides)
        #: the sensor-side stage (fixed: not trained with the codec), or ``None``
        self.transmitter = None if spec.transmitter is None else _build(RECEIVERS, spec.transmitter)
        if self.transmitter is not None:
            self.transmitter.requires_grad_(False)
        self.sensor_seconds, self.sensor_frames = 0.0, 0
        #: evaluation only: id(batch) -> (batch, its sensor output); a sweep sends each batch at
        #: many SNR points and configurations, and the sensor's output does not depend on them
        self._sensor_cache: dict[int, tuple[Batch, Batch]] = {}

    def at_sensor(self, batch: Batch) -> Batch:
        """What the codec is given: the batch itself, or with a transmitter stage its output in place
        of the blurry frame (clamped to [0, 1]; the events and spikes stay the sensor's)."""
        if self.transmitter is None:
            return batch
        hit = None if self.training else self._sensor_cache.get(id(batch))
        if hit is not None and hit[0] is batch:
            return hit[1]
        t0 = time.perf_counter()
        with torch.no_grad(), phase("transmitter"):
            self.transmitter.eval()
            frame = self.transmitter(batch.blurry, events=batch.events, batch=batch).clamp(0.0, 1.0)
        self.sensor_seconds += time.perf_counter() - t0
        self.sensor_frames += batch.size
        sent = replace(batch, blurry=frame.to(batch.blurry.dtype))
        if not self.training:
            if len(self._sensor_cache) >= 256:
                self._sensor_cache.clear()
            self._sensor_cache[id(batch)] = (batch, sent)
        return sent

    def __getstate__(self) -> dict:
        """Picklable without the sensor cache (it is keyed by object identity, meaningless elsewhere)."""
        state = dict(super().__getstate__())
        state["_sensor_cache"] = {}
        return state

    def sensor_cost(self) -> dict[str, Any] | None:
        """The transmitter stage's compute: its parameters and measured milliseconds per frame so far."""
        if self.transmitter is None:
            return None
        ms = 1000.0 * self.sensor_seconds / self.sensor_frames if self.sensor_frames else None
        return {"name": self.spec.transmitter.name, "parameters": sum(p.numel() for p in self.transmitter.parameters()),
                "ms_per_frame": None if ms is None else round(ms, 3), "frames": self.sensor_frames}

    @property
    def name(self) -> str:
        return self.spec.name

    def forward(self, batch: Batch, *, snr_db: float | torch.Tensor,
                generator: torch.Generator | None = None) -> LinkOutput:
        snr = torch.as_tensor(snr_db, dtype=torch.float32)
        if snr.ndim == 0:
            snr = snr.expand(batch.size)
        batch = self.at_sensor(batch)
        with phase("learned" if is_learned(self.spec.codec.name) else "codec_other"):
            tx, rx = self.codec.transmit(batch, self.channel, snr_db=snr, generator=generator)
        c, h, w = batch.frame_shape
        budget = channel_uses_budget(self.cbr, h, w, c)
        if tx.channel_uses > budget:
            raise SemcomError(
                f"link {self.name!r}: codec used {tx.channel_uses} channel uses per frame, more than the "
                f"budget of {budget} for CBR {format_cbr(self.cbr)} at {h}x{w}")
        with phase("receiver"):
            out = self.receiver(rx.image, events=rx.events, batch=batch).clamp(0.0, 1.0)
        return LinkOutput(out, tx, rx)

    def reachable_outputs(self, batch: Batch) -> tuple[torch.Tensor, ...] | None:
        """Every output the link can produce for ``batch`` under the codec's active configuration,
        whatever the channel draws (per frame, one of these), where the codec can say so and the
        receiver shows the decoded frame as it is (``identity``); else None."""
        reach = getattr(self.codec, "reachable_images", None)
        if reach is None or self.spec.receiver.name != "identity":
            return None
        return tuple(img.clamp(0.0, 1.0) for img in reach(self.at_sensor(batch)))

    def target(self, batch: Batch) -> torch.Tensor:
        return batch.sharp if self.spec.target == "sharp" else batch.blurry
