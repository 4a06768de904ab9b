"""SP-JSCC: the EV-JSCC architecture with spike side information from a hybrid RGB + spike camera.

The transmitter of an RGB + spike camera sends the blurry frame ``B`` and a representation ``S``
of its spike stream through the same three streams as :class:`~semcom.codecs.evjscc.EVJSCC`:
``z_i = f_i(B)``, ``z_s = f_s(B, S)``, ``z_e = f_e(S)``, decoded by ``g_i``, ``g_e`` and the
deblurring U-Net with cross attention, and trained with the same three stages.

* **Spike representation** (``S``, ``num_windows`` channels): the exposure's ``T`` ticks are cut
  into ``num_windows`` consecutive windows of (nearly) equal length; each channel is the firing
  rate in its window (spikes per tick, a texture-from-playback image, proportional to the linear
  luminance of that part of the exposure), brought from the spike camera's resolution to the RGB
  resolution by bilinear interpolation.
* **Prior** (``prior="sdm"``, the default): the shared encoder also reads the SDM estimate of the
  sharp frame (SpikeReveal Eq. 8, :class:`~semcom.receivers.sdm.SDM`: the blurry frame in linear
  light times the ratio of the short-window rate around the middle to the exposure's rate),
  computed at the transmitter from the raw spikes; the spike counterpart of EV-JSCC's EDI prior.
* **Networks**: EV-JSCC's, the original ones by default or, with ``backbone`` (``"conv"``,
  ``"resconv"``, ``"swin"``; ``width``, ``depth``, ``downsample``), five separate networks of that
  JSCC backbone on its latent grid, the channel uses accounted as EV-JSCC does.

Example:
    >>> codec = SPJSCC(cbr=1/48)            # doctest: +SKIP
    >>> codec.stream_uses(256, 256)                              # doctest: +SKIP
    (2048, 1024, 1024)
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch.nn import functional as F

from semcom.codecs.evjscc import EVJSCC
from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.receivers.sdm import SDM
from semcom.registry import CODECS
from semcom.sources.base import Batch

__all__ = ["SPJSCC", "spike_windows"]


def spike_windows(spikes: torch.Tensor, *, num_windows: int, size: tuple[int, int]) -> torch.Tensor:
    """Firing rates of ``num_windows`` consecutive windows of the exposure, at the RGB resolution.

    Args:
        spikes: ``(B, T, h, w)`` uint8 (or any numeric type), ``T >= num_windows``.
        num_windows: channels of the output.
        size: the RGB resolution ``(H, W)``.

    Shape:
        returns ``(B, num_windows, H, W)`` float32, spikes per tick (in [0, 1] for a camera that
        fires at most once per tick).
    """
    if spikes.ndim != 4:
        raise ValueError(f"spikes must be (B, T, h, w), got {tuple(spikes.shape)}")
    ticks = spikes.shape[1]
    if ticks < num_windows:
        raise ValueError(f"{ticks} spike ticks cannot fill {num_windows} windows")
    s = spikes.to(torch.float32)
    rates = torch.stack([part.mean(1) for part in torch.tensor_split(s, num_windows, dim=1)], dim=1)
    if tuple(rates.shape[-2:]) != tuple(size):
        rates = F.interpolate(rates, size=tuple(size), mode="bilinear", align_corners=False)
    return rates


@CODECS.register("sp-jscc", help="SP-JSCC: EV-JSCC with spike side information (RGB + spike camera)")
class SPJSCC(EVJSCC):
    """EV-JSCC with spikes in place of events.

    Args:
        (those of :class:`~semcom.codecs.evjscc.EVJSCC`) with
        event_channels: windows of the spike representation (default 6).
        event_scale: the spike rates are divided by this before the networks (default 0.25).
        prior: ``"sdm"`` (default) or ``"none"``.
        backbone, width, depth, downsample: the networks, as EV-JSCC's.

    Shape:
        encode: ``batch.blurry`` ``(B, 3, H, W)`` and ``batch.spikes`` ``(B, T, h, w)`` ->
        symbols ``(B, n)`` complex64, ``n = floor(cbr * 3 * H * W)``.
        decode: -> ``Reception.image`` ``(B, 3, H, W)`` and ``Reception.events``, the decoded
        spike representation ``(B, C, H, W)``.
    """

    priors = ("none", "sdm")
    default_prior = "sdm"
    default_event_scale = 0.25
    #: the training data must carry the spike stream
    needs_spikes = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sdm = SDM(window=64)

    # the constructor takes EV-JSCC's keyword arguments: say so to those who read signatures (the
    # link's messages about a bad argument, the contract tests' backbone cases)
    __init__.__signature__ = inspect.signature(EVJSCC.__init__)  # type: ignore[attr-defined]

    def _inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        img, spikes = self._frame(batch), batch.spikes
        if spikes is None:
            raise ValueError("sp-jscc needs the spike stream (batch.spikes); use a source with a spike camera, "
                             "such as synth-blur")
        if spikes.ndim != 4 or spikes.shape[0] != img.shape[0]:
            raise ValueError(f"sp-jscc expects spikes (B, T, h, w) for {img.shape[0]} frames, "
                             f"got {tuple(spikes.shape)}")
        rep = spike_windows(spikes.to(img.device), num_windows=self.event_channels, size=tuple(img.shape[-2:]))
        return img, rep.to(img.dtype)

    def _prior_image(self, img: torch.Tensor, side: torch.Tensor, batch: Batch) -> torch.Tensor | None:
        if self.prior != "sdm":
            return None
        with torch.no_grad():
            ratio, valid = self._sdm.gain(batch.spikes.to(img.device), tuple(img.shape[-2:]))
        out = linear_to_srgb(srgb_to_linear(img) * ratio.to(img.dtype))
        return torch.where(valid, out, img)
