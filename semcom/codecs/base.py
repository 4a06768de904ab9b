"""Codec interface: a transmitter (``encode``) and a receiver (``decode``) around a channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from semcom.channels.base import Channel, ChannelOutput
from semcom.conventions import cbr_of
from semcom.sources.base import Batch


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

    def transmit(self, batch: Batch, channel: Channel, *, snr_db: torch.Tensor,
                 generator: torch.Generator | None = None) -> tuple[Transmission, Reception]:
        """Encode, pass through ``channel`` and decode.  Override for analytical links
        (a capacity bound) that do not send individual symbols."""
        tx = self.encode(batch, snr_db=snr_db)
        rx = channel(tx.symbols, snr_db=snr_db, generator=generator)
        return tx, self.decode(rx, tx, snr_db=snr_db)
