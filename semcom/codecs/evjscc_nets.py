"""The networks of EV-JSCC: per-stream encoder heads over shared stems and the decoder tails (the
original networks), the same encoders and decoders built from a JSCC backbone, and the EDI prior
(module names are what the training schedule freezes and trains)."""

from __future__ import annotations

import math

import torch
from torch import nn

from semcom.codecs.backbones import build_decoder, build_encoder
from semcom.codecs.layers import AFModule, DownBlock, UpBlock
from semcom.colour import linear_to_srgb, srgb_to_linear
from semcom.receivers.edi import edi_denominator_from_samples
from semcom.sources.representations import scer_levels


class _Head(nn.Module):
    """Features at 1/4 resolution -> real latent ``(B, 2k, H/16, W/16)`` (two stride-2 layers)."""

    def __init__(self, cin: int, width: int, latent: int, *, adaptive: bool) -> None:
        super().__init__()
        self.layers = nn.ModuleList([
            DownBlock(cin, width, kernel=3, stride=2),
            DownBlock(width, width, kernel=3, stride=2),
            DownBlock(width, width, kernel=3, stride=1),
        ])
        self.af = nn.ModuleList([AFModule(width) for _ in self.layers]) if adaptive else None
        self.out = nn.Conv2d(width, latent, 3, padding=1)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.af is not None:
                x = self.af[i](x, snr_db)
        return self.out(x)


def _stem(cin: int, width: int) -> nn.Sequential:
    """Input ``(B, cin, H, W)`` -> features ``(B, width, H/4, W/4)``."""
    return nn.Sequential(DownBlock(cin, width // 2, kernel=5, stride=2), DownBlock(width // 2, width, kernel=3, stride=2))


class _Tail(nn.Module):
    """Joined features at 1/16 resolution -> output at full resolution (four stride-2 layers)."""

    def __init__(self, cin: int, width: int, cout: int, *, adaptive: bool) -> None:
        super().__init__()
        half = width // 2
        self.layers = nn.ModuleList([
            UpBlock(cin, width, kernel=3, stride=1),
            UpBlock(width, width, kernel=3, stride=2),
            UpBlock(width, width, kernel=3, stride=2),
            UpBlock(width, half, kernel=3, stride=2),
        ])
        self.af = nn.ModuleList([AFModule(width) for _ in range(3)]) if adaptive else None
        self.out = UpBlock(half, cout, kernel=3, stride=2, gdn=False, act=False)

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if self.af is not None and i < 3:
                x = self.af[i](x, snr_db)
        return self.out(x)


class EDIPrior(nn.Module):
    """Model-based fusion of the blurry frame and its SCER: the EDI estimate of the sharp frame.

    The event double integral (Pan et al., CVPR 2019; see :mod:`semcom.receivers.edi`) with one
    learned contrast threshold ``c`` (initialised at the camera's nominal 0.2): the blurry
    frame in linear light divided by ``D = (1/T) ∫ exp(c E(f, t)) dt``, integrated from the
    ``N + 1`` SCER levels by the trapezoid rule.  Differentiable; two parameters' worth of
    learning, so it works from the first training step.  Pixels without events keep ``B``.

    Shape:
        image ``(B, 3, H, W)`` in [0, 1] (sRGB), scer ``(B, N, H, W)`` in event counts
        -> ``(B, 3, H, W)`` in [0, 1].
    """

    def __init__(self, *, contrast: float = 0.2) -> None:
        super().__init__()
        self.log_contrast = nn.Parameter(torch.tensor(math.log(contrast)))

    def forward(self, image: torch.Tensor, scer: torch.Tensor) -> torch.Tensor:
        n = scer.shape[1]
        times = torch.linspace(0.0, 1.0, n + 1, dtype=image.dtype, device=image.device)
        denom = edi_denominator_from_samples(scer_levels(scer), times, contrast=self.log_contrast.exp())
        return linear_to_srgb(srgb_to_linear(image) / denom.unsqueeze(1))


class EVJSCCEncoder(nn.Module):
    """The transmitter's three encoders: ``f_i(B)``, ``f_s(B, E)`` and ``f_e(E)``.

    Args:
        event_channels: channels ``C`` of the event tensor.
        width: feature channels (the stems reach ``width`` at 1/4 resolution).
        latents: ``(2 k_i, 2 k_s, 2 k_e)`` real latent channels; ``2 k_s = 0`` leaves out the
            shared head, ``2 k_e = 0`` the event head (the events then reach only the shared one).
        adaptive: AF modules fed with the SNR after every head layer.
        prior: a model-based fusion of ``B`` and ``E`` (``"edi"``: :class:`EDIPrior`) whose
            output the shared encoder reads through a third stem; ``None`` for none.

    Shape:
        image ``(B, 3, H, W)``, events ``(B, C, H, W)`` with H, W multiples of 16, snr_db ``(B,)``
        (and ``prior_image`` ``(B, 3, H, W)`` with a prior) -> three latents
        ``(B, 2 k_x, H/16, W/16)`` (``None`` for an absent shared head).
    """

    def __init__(self, *, event_channels: int, width: int, latents: tuple[int, int, int], adaptive: bool,
                 prior: str | None = None) -> None:
        super().__init__()
        li, ls, le = latents
        self.image_stem = _stem(3, width)
        self.event_stem = _stem(event_channels, width)
        self.image = _Head(width, width, li, adaptive=adaptive)
        # no event head when the events' share goes to the image stream (they still reach the shared one)
        self.event = _Head(width, width, le, adaptive=adaptive) if le else None
        with_prior = prior is not None and bool(ls)
        self.prior = EDIPrior() if with_prior and prior == "edi" else None
        self.prior_stem = _stem(3, width) if with_prior else None
        self.shared = _Head((3 if with_prior else 2) * width, width, ls, adaptive=adaptive) if ls else None

    def forward(self, image: torch.Tensor, events: torch.Tensor, snr_db: torch.Tensor,
                prior_image: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        cl = torch.channels_last  # faster convolutions on CPU
        fi = self.image_stem(image.contiguous(memory_format=cl))
        fe = self.event_stem(events.contiguous(memory_format=cl))
        zs = None
        if self.shared is not None:
            feats = [fi, fe]
            if self.prior_stem is not None:
                if prior_image is None:
                    raise ValueError("this encoder's shared stream reads a prior image; none was given")
                feats.append(self.prior_stem(prior_image.contiguous(memory_format=cl)))
            zs = self.shared(torch.cat(feats, dim=1), snr_db)
        return self.image(fi, snr_db), zs, None if self.event is None else self.event(fe, snr_db)


class EVJSCCDecoder(nn.Module):
    """The receiver's image and event decoders ``g_i(z^_i, z^_s)`` and ``g_e(z^_e, z^_s)``.

    Args:
        event_channels: channels ``C`` of the decoded event tensor.
        width: feature channels.
        latents: ``(2 k_i, 2 k_s, 2 k_e)`` as in :class:`EVJSCCEncoder`.
        adaptive: AF modules fed with the SNR in the tails.

    Shape:
        three latents ``(B, 2 k_x, h, w)`` (the shared one ``None`` without a shared stream),
        snr_db ``(B,)`` -> image logits ``(B, 3, 16 h, 16 w)`` and events ``(B, C, 16 h, 16 w)``
        (both before the output activation / scaling).
    """

    def __init__(self, *, event_channels: int, width: int, latents: tuple[int, int, int], adaptive: bool) -> None:
        super().__init__()
        li, ls, le = latents
        joined = 2 * width if ls else width
        self.image_in = UpBlock(li, width, kernel=3, stride=1)
        self.event_in = UpBlock(le, width, kernel=3, stride=1) if le else None
        self.shared_in = UpBlock(ls, width, kernel=3, stride=1) if ls else None
        self.image = _Tail(joined, width, 3, adaptive=adaptive)
        self.event = _Tail((width if le else 0) + (width if ls else 0), width, event_channels, adaptive=adaptive)

    def forward(self, zi: torch.Tensor, zs: torch.Tensor | None, ze: torch.Tensor | None,
                snr_db: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cl = torch.channels_last
        fi = self.image_in(zi.contiguous(memory_format=cl))
        fe = [] if self.event_in is None or ze is None else [self.event_in(ze.contiguous(memory_format=cl))]
        if self.shared_in is not None and zs is not None:
            fs = self.shared_in(zs.contiguous(memory_format=cl))
            fi, fe = torch.cat([fi, fs], dim=1), [*fe, fs]
        return self.image(fi, snr_db), self.event(torch.cat(fe, dim=1) if len(fe) > 1 else fe[0], snr_db)


# ================================================================================== on a JSCC backbone

class EVJSCCBackboneEncoder(nn.Module):
    """The transmitter's three encoders ``f_i(B)``, ``f_s(B, E)`` and ``f_e(E)``, each a whole encoder of a
    JSCC backbone (:mod:`semcom.codecs.backbones`), as the paper's Sec. II-B describes them: three
    separate networks, the shared one reading ``B`` and ``E`` concatenated (and the prior image, when
    the codec has one), each ending on the backbone's latent grid (``1/downsample``).

    Args:
        backbone: ``"conv"``, ``"resconv"`` or ``"swin"``.
        event_channels: channels ``C`` of the event tensor.
        width, depth, downsample: the backbone's sizes (validated by the caller).
        latents: ``(2 k_i, 2 k_s, 2 k_e)`` real latent channels; 0 leaves that encoder out (as
            :class:`EVJSCCEncoder`).
        adaptive: the networks read the SNR.
        prior: ``"edi"`` (the :class:`EDIPrior` lives here, so the transmission stage trains its
            contrast), another name (the codec computes the prior image itself) or ``None``.

    Shape:
        image ``(B, 3, H, W)``, events ``(B, C, H, W)`` with H, W multiples of ``downsample``,
        snr_db ``(B,)`` (and ``prior_image`` ``(B, 3, H, W)`` with a prior) -> three latents
        ``(B, 2 k_x, H/ds, W/ds)`` (``None`` for an absent encoder).
    """

    def __init__(self, *, backbone: str, event_channels: int, width: int, depth: int, downsample: int,
                 latents: tuple[int, int, int], adaptive: bool, prior: str | None = None) -> None:
        super().__init__()
        li, ls, le = latents
        kw = dict(width=width, depth=depth, downsample=downsample, adaptive=adaptive)
        #: whether the shared encoder reads a prior image (3 more input channels)
        self.reads_prior = prior is not None and bool(ls)
        self.image = build_encoder(backbone, latent_channels=li, in_channels=3, **kw)
        self.shared = build_encoder(backbone, latent_channels=ls, **kw,
                                    in_channels=3 + event_channels + (3 if self.reads_prior else 0)) if ls else None
        self.event = build_encoder(backbone, latent_channels=le, in_channels=event_channels, **kw) if le else None
        self.prior = EDIPrior() if self.reads_prior and prior == "edi" else None

    def forward(self, image: torch.Tensor, events: torch.Tensor, snr_db: torch.Tensor,
                prior_image: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        zs = None
        if self.shared is not None:
            inputs = [image, events]
            if self.reads_prior:
                if prior_image is None:
                    raise ValueError("this encoder's shared stream reads a prior image; none was given")
                inputs.append(prior_image)
            zs = self.shared(torch.cat(inputs, dim=1), snr_db)
        ze = None if self.event is None else self.event(events, snr_db)
        return self.image(image, snr_db), zs, ze


class EVJSCCBackboneDecoder(nn.Module):
    """The receiver's decoders ``g_i(z^_i, z^_s)`` and ``g_e(z^_e, z^_s)``, each a whole decoder of a JSCC
    backbone reading its own stream's latent concatenated with the shared one (channel-wise).

    Both return their last layer as it is (``output="linear"``): the codec applies the image's
    sigmoid and the events' scaling.

    Args:
        backbone, event_channels, width, depth, downsample, latents, adaptive: as
            :class:`EVJSCCBackboneEncoder`.

    Shape:
        three latents ``(B, 2 k_x, h, w)`` (``None`` for an absent stream), snr_db ``(B,)`` ->
        image logits ``(B, 3, ds h, ds w)`` and events ``(B, C, ds h, ds w)``.
    """

    def __init__(self, *, backbone: str, event_channels: int, width: int, depth: int, downsample: int,
                 latents: tuple[int, int, int], adaptive: bool) -> None:
        super().__init__()
        li, ls, le = latents
        kw = dict(width=width, depth=depth, downsample=downsample, adaptive=adaptive, output="linear")
        self.image = build_decoder(backbone, latent_channels=li + ls, out_channels=3, **kw)
        self.event = build_decoder(backbone, latent_channels=le + ls, out_channels=event_channels, **kw)

    def forward(self, zi: torch.Tensor, zs: torch.Tensor | None, ze: torch.Tensor | None,
                snr_db: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shared = [] if zs is None else [zs]
        own = [] if ze is None else [ze]
        xi = torch.cat([zi, *shared], dim=1) if shared else zi
        xe = torch.cat([*own, *shared], dim=1) if len(own) + len(shared) > 1 else (own or shared)[0]
        return self.image(xi, snr_db), self.event(xe, snr_db)
