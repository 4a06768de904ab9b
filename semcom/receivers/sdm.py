"""``sdm``: the Spike-guided Deblurring Model (no learning).

Follows SpikeReveal (Chen et al., "SpikeReveal: Unlocking temporal sequences from real blurry
inputs with spike streams", the SDM of their Eq. 5-8).  An integrate-and-fire spike camera
emits spikes at a rate proportional to the linear light reaching a pixel, so the spike count
over the whole exposure ``T`` is proportional to the blurry frame, and the count over a short
window ``δ`` around the middle to the sharp frame.  Dividing one relation by the other removes
the unknown threshold and gain::

    x_c(f) = y_c · (N_δ / δ) / (N_T / T)          for each colour channel c,

with ``y_c`` the blurry frame in linear light.  The spike stream usually has a lower
resolution than the RGB frame; the two rates are brought to the RGB resolution first
(bilinear by default, as in the paper's ablation without the super-resolution network).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from semcom.errors import SemcomError
from semcom.receivers.base import Receiver
from semcom.receivers.edi import linear_to_srgb, srgb_to_linear
from semcom.registry import RECEIVERS
from semcom.sources.base import Batch
from semcom.sources.representations import window_bounds

__all__ = ["SDM"]


@RECEIVERS.register("sdm", help="SDM: model-based deblurring with spikes (SpikeReveal Eq. 8)")
class SDM(Receiver):
    """Spike-guided Deblurring Model (SpikeReveal, Eq. 8).

    ``sharp = blurry · (spikes in a short window / its length) / (spikes over T / T)``, in
    linear light, with the same per-pixel ratio for the three colour channels.

    Args:
        window: length of the short window around the middle of the exposure, in spike ticks
            (clipped to the stream length).  Longer windows are less noisy, shorter ones sharper;
            64 ticks (1.6 ms at 40 kHz) was best on the ``synth-blur`` training split.
        upsample: ``"bilinear"`` or ``"nearest"``: how the spike rates reach the RGB resolution.
        min_count: pixels (after upsampling) with fewer spikes than this over the whole
            exposure keep the decoded value: the ratio is undefined or too noisy there.
        max_gain: the ratio is clipped to ``[0, max_gain]``.
        linear_input: the decoded frame is already linear light and the output stays linear.

    Shape:
        ``image``: ``(B, 3, H, W)``; spikes (``batch.spikes``) ``(B, T, h, w)`` uint8 at any
        resolution (rates are resized to ``H, W``); output ``(B, 3, H, W)`` in [0, 1].

    Example:
        >>> sdm = SDM(window=64)                          # doctest: +SKIP
        >>> sharp = sdm(batch.blurry, batch=batch)         # doctest: +SKIP
    """

    def __init__(self, *, window: int = 64, upsample: str = "bilinear", min_count: float = 0.5,
                 max_gain: float = 20.0, linear_input: bool = False) -> None:
        super().__init__()
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive number of spike ticks, got {window!r}")
        if upsample not in ("bilinear", "nearest"):
            raise ValueError(f"upsample must be 'bilinear' or 'nearest', got {upsample!r}")
        if not (min_count > 0):
            raise ValueError(f"min_count must be positive, got {min_count!r}")
        if not (max_gain > 1):
            raise ValueError(f"max_gain must be greater than 1, got {max_gain!r}")
        self.window = int(window)
        self.upsample = upsample
        self.min_count = float(min_count)
        self.max_gain = float(max_gain)
        self.linear_input = bool(linear_input)

    def extra_repr(self) -> str:
        return f"window={self.window}, upsample={self.upsample!r}, linear_input={self.linear_input}"

    def _resize(self, counts: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(counts.shape[-2:]) == size:
            return counts
        if self.upsample == "nearest":
            return F.interpolate(counts, size=size, mode="nearest")
        return F.interpolate(counts, size=size, mode="bilinear", align_corners=False)

    def gain(self, spikes: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-pixel ratio of the short-window rate to the exposure rate, and where it is valid.

        Shape:
            ``spikes``: ``(B, T, h, w)``; returns ``(B, 1, H, W)`` float64 and bool.
        """
        if spikes.ndim != 4:
            raise ValueError(f"sdm expects spikes (B, T, h, w), got {tuple(spikes.shape)}")
        ticks = spikes.shape[1]
        start, stop = window_bounds(ticks, self.window)
        s = spikes.to(torch.float64)
        total = self._resize(s.sum(1, keepdim=True), size)
        short = self._resize(s[:, start:stop].sum(1, keepdim=True), size)
        valid = total >= self.min_count
        rate_short = short / (stop - start)
        rate_total = total.clamp_min(self.min_count) / ticks
        ratio = (rate_short / rate_total).clamp(0.0, self.max_gain)
        return torch.where(valid, ratio, torch.ones_like(ratio)), valid

    def forward(self, image: torch.Tensor, *, events: torch.Tensor | None = None,
                batch: Batch | None = None) -> torch.Tensor:
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"sdm expects an image (B, 3, H, W), got {tuple(image.shape)}")
        if batch is None or batch.spikes is None:
            raise SemcomError("sdm needs the spike stream of the batch (a source with a spike camera)")
        if batch.spikes.shape[0] != image.shape[0]:
            raise ValueError(f"sdm: {batch.spikes.shape[0]} spike streams for {image.shape[0]} images")
        ratio, valid = self.gain(batch.spikes.to(image.device), tuple(image.shape[-2:]))
        lin = (image if self.linear_input else srgb_to_linear(image)).to(torch.float64)
        latent = (lin * ratio).clamp(0.0, 1.0)
        out = latent if self.linear_input else linear_to_srgb(latent)
        out = out.to(image.dtype)
        return torch.where(valid, out, image.clamp(0.0, 1.0))
