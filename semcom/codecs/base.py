"""Codec interface: a transmitter (``encode``) and a receiver (``decode``) around a channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from semcom.channels.base import Channel, ChannelOutput
from semcom.conventions import cbr_of, format_cbr
from semcom.errors import SemcomError
from semcom.sources.base import Batch

__all__ = ["Transmission", "Reception", "TrainStep", "Codec", "LearnedCodec", "resolve_config"]


@dataclass(frozen=True)
class Transmission:
    """What the transmitter puts on the air for one batch.

    Args:
        symbols: ``[B, n]`` complex64, average power 1 per frame (per row).
        channel_uses: complex channel uses per frame, every stream included (``n``, unless
            some symbols are padding that is not sent; padding that *is* sent counts).
        frame_shape: ``(C, H, W)`` of the RGB frame the CBR refers to.
        state: what the receiver may know without reading the symbols: shapes fixed by the
            protocol, or header fields that were charged in ``channel_uses``.  Never the source.
    """

    symbols: torch.Tensor
    channel_uses: int
    frame_shape: tuple[int, int, int]
    state: Any = None

    @property
    def cbr(self) -> float:
        """The CBR actually used."""
        c, h, w = self.frame_shape
        return cbr_of(self.channel_uses, h, w, c)


@dataclass(frozen=True)
class Reception:
    """What the decoder hands to the receiver back-end.

    Args:
        image: decoded frame ``[B, 3, H, W]`` float32 in [0, 1].
        events: decoded event/spike representation ``[B, C, H, W]`` or ``None`` when none was sent.
        extras: per-frame numbers for the results (``[B]`` tensors), for example
            ``decode_failed``; averaged into CSV columns of the same name.
    """

    image: torch.Tensor
    events: torch.Tensor | None = None
    extras: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainStep:
    """One differentiable pass for the trainer: transmission, reception and intermediate outputs.

    Args:
        transmission, reception: as from :meth:`Codec.transmit` (the reception not clamped).
        aux: intermediate tensors a loss may use; ``"image"`` is the reconstruction of the
            transmitted frame before any deblurring, ``"events"`` of the side information and
            ``"events_target"`` the side information that was sent.
    """

    transmission: Transmission
    reception: Reception
    aux: Mapping[str, torch.Tensor] = field(default_factory=dict)


class Codec(nn.Module):
    """Base class of registered codecs.

    Constructors are keyword-only and take at least ``cbr`` (the CBR the link requests).
    ``encode`` must not spend more than ``floor(cbr * 3 * H * W)`` channel uses per frame;
    the link checks it.  ``snr_db`` is a ``[B]`` float tensor: SNR-adaptive codecs may
    read it, others ignore it.
    """

    def encode(self, batch: Batch, *, snr_db: torch.Tensor) -> Transmission:  # pragma: no cover
        raise NotImplementedError

    def decode(self, received: ChannelOutput, tx: Transmission, *,
               snr_db: torch.Tensor) -> Reception:  # pragma: no cover
        raise NotImplementedError

    def variants(self) -> list[str]:
        """Names of the configurations an adaptive sweep chooses among at each SNR.

        A digital codec returns its (modulation, code rate) table here; the sweep runs every
        variant at every SNR and reports the envelope (the variant with the best mean PSNR, as
        adaptive modulation and coding would pick).  ``[]`` (the default) means one fixed codec.
        """
        return []

    def set_variant(self, name: str) -> None:
        """Select one of :meth:`variants`."""
        raise ValueError(f"{type(self).__name__} has no variants (asked for {name!r})")

    def candidate_variants(self, snr_db: float, *, fading: bool) -> list[str]:
        """The variants worth trying at ``snr_db`` (the sweep's envelope search); default: all."""
        return self.variants()

    def transmit(self, batch: Batch, channel: Channel, *, snr_db: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[Transmission, Reception]:
        """Encode, pass through ``channel`` and decode.  Override for analytical links
        (a capacity bound) that do not send individual symbols."""
        tx = self.encode(batch, snr_db=snr_db)
        rx = channel(tx.symbols, snr_db=snr_db, generator=generator)
        return tx, self.decode(rx, tx, snr_db=snr_db)

    def transmit_train(self, batch: Batch, channel: Channel, *, snr_db: torch.Tensor,
                       generator: torch.Generator | None = None) -> TrainStep:
        """The differentiable pass the trainer runs (a codec without weights in front of a learned
        back-end uses this default: :meth:`transmit`, no intermediate outputs)."""
        tx, rx = self.transmit(batch, channel, snr_db=snr_db, generator=generator)
        return TrainStep(tx, rx, {})


def resolve_config(name: str, stored: Mapping[str, Any], explicit: Mapping[str, Any], *,
                   path: str = "") -> dict[str, Any]:
    """Constructor arguments of a codec built from a checkpoint.

    The checkpoint's stored architecture ``stored`` wins where the caller left an argument at
    ``None``; an explicit value that differs from the stored one is an error naming both.
    """
    cfg = dict(stored)
    for key, value in explicit.items():
        if value is None or key not in cfg:
            cfg.setdefault(key, value)
            continue
        if value != cfg[key]:
            raise SemcomError(f"checkpoint {path} was trained with {key}={cfg[key]!r} for codec {name!r}, "
                              f"but {key}={value!r} was asked for")
    return cfg


class LearnedCodec(Codec):
    """Contract of codecs with learned weights: what the trainer, the sweep and the zoo rely on.

    A learned codec is built untrained by its constructor (keyword-only, ``cbr`` first, then its
    SNR mode ``snr_db`` / ``adaptive`` and architecture arguments) and with weights by
    :meth:`from_checkpoint`, which the zoo (:func:`semcom.zoo.build_codec`) calls after it has
    found and verified a checkpoint file.  Codecs never read files themselves.

    Class attributes:
        registry_name: the name it is registered under (set by the registry; checkpoints record it).
        default_schedule: the training schedule (a name in :mod:`semcom.train.schedules`)
            ``semcom train`` uses unless told otherwise.
        needs_spikes: the training data must carry the spike stream.

    Subclasses implement :meth:`config` (the architecture arguments, stored in checkpoints and
    fed back to the constructor), :attr:`snr_mode` and :meth:`transmit_train`.
    """

    registry_name: ClassVar[str] = ""
    default_schedule: ClassVar[str] = "single"
    needs_spikes: ClassVar[bool] = False
    #: the metadata of the checkpoint the weights came from (``None``: untrained)
    checkpoint_meta: dict[str, Any] | None = None

    def config(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """The architecture arguments; ``type(self)(cbr=..., **config())`` rebuilds the same model."""
        raise NotImplementedError

    @property
    def snr_mode(self) -> str:  # pragma: no cover - abstract
        """``"adaptive"`` (one model for a range of SNRs) or ``"single"`` (trained at one SNR)."""
        raise NotImplementedError

    def _refuse_checkpoint(self, checkpoint: Any) -> None:
        """Constructors took ``checkpoint=`` before the zoo built codecs; say where it went."""
        if checkpoint is not None and str(checkpoint).lower() != "none":
            raise SemcomError(f"{type(self).__name__}(checkpoint=...) no longer loads weights: use "
                              f"semcom.zoo.build_codec({self.registry_name!r}, cbr=..., checkpoint=...) "
                              "or a Link with codec_overrides={'checkpoint': ...}")

    @staticmethod
    def snr_mode_for(*, snr_db: float | None, adaptive: bool | None) -> str:
        """The SNR mode constructor arguments ask for (``snr_db`` or ``adaptive=False``: single)."""
        return "single" if (snr_db is not None or adaptive is False) else "adaptive"

    @classmethod
    def from_checkpoint(cls, *, cbr: float, meta: Mapping[str, Any], state: Mapping[str, torch.Tensor],
                        path: str = "", snr_db: float | None = None, adaptive: bool | None = None,
                        **params: Any) -> "LearnedCodec":
        """Build the codec a checkpoint describes and load its weights.

        Args:
            cbr: the CBR the link asks for (the caller checked it matches the checkpoint's).
            meta: the checkpoint's metadata; ``meta["config"]`` holds the architecture.
            state: the codec's state dict.
            path: where the checkpoint came from (for messages).
            snr_db, adaptive, params: constructor arguments the caller gave explicitly; each
                must agree with the checkpoint's (``None``: take the checkpoint's).
        """
        mode = cls.snr_mode_for(snr_db=snr_db, adaptive=adaptive)
        explicit = {"adaptive": None if adaptive is None and snr_db is None else (mode == "adaptive"),
                    "snr_db": None if snr_db is None else float(snr_db), **params}
        cfg = resolve_config(cls.registry_name, meta.get("config", {}), explicit, path=path)
        try:
            codec = cls(cbr=cbr, **cfg)
        except TypeError as exc:
            raise SemcomError(f"checkpoint {path} does not fit codec {cls.registry_name!r}: {exc}") from None
        try:
            codec.load_state_dict(dict(state), strict=True)
        except RuntimeError as exc:
            raise SemcomError(f"checkpoint {path} does not fit codec {cls.registry_name!r} "
                              f"at CBR {format_cbr(cbr)}: {str(exc).splitlines()[0]}") from None
        codec.checkpoint_meta = dict(meta)
        return codec

    def transmit_train(self, batch: Batch, channel: Channel, *, snr_db: torch.Tensor,
                       generator: torch.Generator | None = None) -> TrainStep:  # pragma: no cover - abstract
        """Differentiable encode -> channel -> decode with the intermediate outputs the losses use."""
        raise NotImplementedError
