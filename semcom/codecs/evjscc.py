"""EV-JSCC: joint transmission of a blurry frame and its events, and deblurring at the receiver.

Follows "Joint Transmission and Deblurring: A Semantic Communication Approach Using Events"
(EV-JSCC, Sec. II-B and III).  The transmitter of a hybrid camera sends three complex streams:

* ``z_i = f_i(B)``     image encoder (domain-specific information of the blurry frame ``B``),
* ``z_s = f_s(B, E)``  shared encoder (what the frame and the events have in common),
* ``z_e = f_e(E)``     event encoder (domain-specific information of the event tensor ``E``,
  SCER with ``N`` channels by default).

They are concatenated, ``z = [z_i, z_s, z_e]``, and the whole stream is normalized to average
power 1 per complex symbol (the encoders are free to give one stream more power than another).
The receiver splits the received stream, runs a small network on each part, joins the shared
part to each domain-specific part, and decodes the blurry frame ``B^ = g_i(z^_i, z^_s)`` and the
events ``E^ = g_e(z^_e, z^_s)``; the deblurring decoder ``D`` (the ``unet-xattn`` U-Net with
event-image cross attention) turns them into the clear frame ``D(B^, E^)``.

Layout (module names are what the training schedule freezes and trains):

* ``encoder`` (:class:`EVJSCCEncoder`): ``image_stem``, ``event_stem`` (two stride-2 layers each,
  to 1/4 resolution), then ``image``, ``event`` and ``shared`` heads (two more stride-2 layers
  to 1/16 resolution); the shared head reads the concatenated stem features of both inputs,
  so ``f_s`` is a function of ``B`` and ``E`` without a third full-resolution stem.
* ``decoder`` (:class:`EVJSCCDecoder`): ``image_in``, ``shared_in``, ``event_in`` (one layer per
  received stream), then the ``image`` and ``event`` tails (four stride-2 transposed layers),
  each reading its own stream's features concatenated with the shared ones.
* ``deblur``: :class:`~semcom.receivers.unet_xattn.UNetXAttn`.

On a JSCC backbone (``backbone="conv"``, ``"resconv"`` or ``"swin"``, see
:mod:`semcom.codecs.backbones`) the same names hold whole networks of that backbone instead, as
Sec. II-B describes them: ``encoder`` (:class:`~semcom.codecs.evjscc_nets.EVJSCCBackboneEncoder`)
has three separate encoders ``image`` (reads ``B``), ``shared`` (reads ``B``, ``E`` and the prior
image, concatenated) and ``event`` (reads ``E``); ``decoder``
(:class:`~semcom.codecs.evjscc_nets.EVJSCCBackboneDecoder`) has ``image`` (reads ``z^_i`` and
``z^_s`` concatenated) and ``event`` (``z^_e`` and ``z^_s``).  They work on the backbone's latent
grid, ``1/downsample`` of the frame (16 or 8).  Without ``backbone`` (the default, and what a
checkpoint without a ``backbone`` entry holds) the codec has the original networks above.

Channel-use accounting: the budget ``n = floor(cbr * 3 * H * W)`` is split among the streams
by the fractions ``split = (image, shared, event)`` with largest-remainder rounding, so
``n_i + n_s + n_e = n`` exactly.  With ``ds`` the latent grid's downsampling (16 for the
original networks, the backbone's ``downsample`` otherwise), each stream's latent has
``k_x = ceil(f_x * cbr * 3 * ds^2)`` complex symbols per position of the ``1/ds`` grid (frames
are padded to multiples of ``ds``), which always holds its ``n_x`` symbols
(``k_x * ceil(H/ds) * ceil(W/ds) >= f_x * cbr * 3 * H * W``); trailing latent symbols beyond
``n_x`` (from the padding, or from rounding ``k_x`` up) are not sent and the decoder reads zeros
in their place.  The padding is therefore never charged and never sent.

Configurations: the paper's (link ``ev-jscc-paper``: ``prior="none"``, so the shared encoder fuses
CNN features of ``B`` and ``E`` only; ``width=64``, DeepJSCC's; ``head="rgb-residual"``, a free RGB
residual out of the U-Net as in EFNet, whose fusion block the paper takes) and ours (link ``ev-jscc``,
the defaults: the EDI prior in the shared encoder, width 32, the gain-and-grey-offset head).
docs/fidelity-evjscc.md lists every element of the paper against this code.

Three-stage training (Sec. III-D, Algorithm 1) is the schedule ``ev-jscc`` declared in
:data:`semcom.train.schedules.SCHEDULES`: (1) ``codec.encoder`` + ``codec.decoder`` on
``MSE(B, B^) + lam MSE(E, E^)`` with the U-Net frozen, (2) ``codec.deblur`` alone on
``MSE(S, D(B^, E^))``, (3) everything on the stage-2 loss at half the learning rate (stage lengths
35 / 15 / 50 % of the steps).

Example:
    >>> codec = EVJSCC(cbr=1/48)            # untrained; semcom.zoo.build_codec loads weights
    >>> codec.stream_uses(256, 256)
    (2048, 1024, 1024)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn
from torch.nn import functional as F

from semcom.channels.base import Channel, ChannelOutput
from semcom.codecs.base import LearnedCodec, Reception, TrainStep, Transmission
from semcom.codecs.backbones import BACKBONES, backbone_defaults
from semcom.codecs.deepjscc import DOWNSAMPLE
from semcom.codecs.evjscc_nets import (EDIPrior, EVJSCCBackboneDecoder, EVJSCCBackboneEncoder,  # noqa: F401
                                       EVJSCCDecoder, EVJSCCEncoder)  # (EDIPrior re-exported)
from semcom.codecs.layers import reals_to_symbols, symbols_to_reals
from semcom.conventions import channel_uses_budget, format_cbr, normalize_power
from semcom.receivers.unet_xattn import DEFAULT_HEAD, UNetXAttn
from semcom.registry import CODECS
from semcom.sources.base import Batch

__all__ = ["EVJSCC", "EVJSCCNoShared", "EVJSCCEncoder", "EVJSCCDecoder", "EVJSCCBackboneEncoder",
           "EVJSCCBackboneDecoder", "EVJSCCState", "split_symbols", "DEFAULT_SPLIT", "DEFAULT_SPLIT_NOSHARED",
           "LEGACY_NETWORKS"]

#: default fractions of the channel uses for the (image, shared, event) streams
DEFAULT_SPLIT = (0.5, 0.25, 0.25)
#: default fractions without the shared encoder (the shared quarter given to the other two, 2:1)
DEFAULT_SPLIT_NOSHARED = (2 / 3, 0.0, 1 / 3)
STREAMS = ("image", "shared", "event")
#: the backbone options of the original networks: what a checkpoint that names no backbone holds
LEGACY_NETWORKS = {"backbone": None, "depth": None, "downsample": DOWNSAMPLE}


def split_symbols(n: int, fractions: tuple[float, ...]) -> tuple[int, ...]:
    """Split ``n`` channel uses among streams in proportion to ``fractions`` (which sum to 1).

    Largest-remainder rounding (ties to the earlier stream), so the parts add up to ``n``
    exactly; a stream with a positive fraction gets at least one symbol (taken from the
    largest part), a stream with fraction 0 gets none.

    >>> split_symbols(10, (0.5, 0.25, 0.25))
    (5, 3, 2)
    """
    active = sum(1 for f in fractions if f > 0)
    if n < active:
        raise ValueError(f"{n} channel uses cannot carry {active} streams (one symbol each at least)")
    raw = [f * n for f in fractions]
    parts = [int(math.floor(r + 1e-9)) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - parts[i]), i))
    for i in order[: n - sum(parts)]:
        parts[i] += 1
    for i, f in enumerate(fractions):
        if f > 0 and parts[i] == 0:
            parts[max(range(len(parts)), key=lambda j: parts[j])] -= 1
            parts[i] = 1
    return tuple(parts)


@dataclass(frozen=True)
class EVJSCCState:
    """What the receiver knows from the protocol (never the source).

    Args:
        uses: channel uses of the (image, shared, event) streams, in the order sent.
        latent_hw: the latent grid ``(h, w)`` (``1/downsample`` of the padded frame).
        frame_hw: the frame size ``(H, W)``.
    """

    uses: tuple[int, int, int]
    latent_hw: tuple[int, int]
    frame_hw: tuple[int, int]


def _as_split(split: Any) -> tuple[float, float, float]:
    try:
        parts = tuple(float(x) for x in split)
    except (TypeError, ValueError):
        raise ValueError(f"split must be three fractions (image, shared, event), got {split!r}") from None
    if len(parts) != 3 or any(not math.isfinite(p) or p < 0 for p in parts):
        raise ValueError(f"split must be three non-negative fractions (image, shared, event), got {split!r}")
    if abs(sum(parts) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must add up to 1, got {split!r} (sum {sum(parts):.6g})")
    if parts[0] == 0:
        raise ValueError(f"split must give the image stream a positive share, got {split!r}")
    return parts


@CODECS.register("ev-jscc", help="EV-JSCC: image, shared and event streams + U-Net deblurring with cross attention")
class EVJSCC(LearnedCodec):
    """EV-JSCC codec: blurry frame and events in, clear frame (and decoded events) out.

    Args:
        cbr: channel bandwidth ratio; exactly ``floor(cbr * 3 * H * W)`` symbols are sent,
            shared among the three streams.
        snr_db: the single training/testing SNR of the paper's protocol (implies
            ``adaptive=False``); ``None`` for the SNR-adaptive model.
        adaptive: feed the SNR to encoders and decoders through AF modules (default ``True``
            unless ``snr_db`` is given).
        width: feature channels of the encoders and decoders (default 32 for the original
            networks, the backbone's default with a ``backbone``; 64).
        backbone: ``None`` (default): the original networks (stems shared by the encoders, see
            above); ``"conv"``, ``"resconv"`` or ``"swin"``: five separate networks of that JSCC
            backbone (:data:`semcom.codecs.backbones.BACKBONES`).
        depth: layers or blocks per stage of the backbone (default: the backbone's); only with a
            ``backbone``.
        downsample: the latent grid, 16 (default) or 8 times coarser than the frame; the
            original networks have 16 only.
        split: fractions ``(image, shared, event)`` of the channel uses (default
            ``(0.5, 0.25, 0.25)``; without the shared encoder ``(2/3, 0, 1/3)``).
        shared: include the shared encoder and stream (default ``True``).
        event_channels: channels ``C`` of the event representation (default 6: SCER, N = 6).
        event_scale: the event tensor is divided by this before the event encoder and the
            U-Net, and the decoded events multiplied by it (default 8 events per pixel, about
            the standard deviation of synth-blur's SCER channels).
        unet_width: ``width`` of the deblurring U-Net (default 24).
        head: the U-Net's output head: ``"gain-offset"`` (default, and what a checkpoint without a
            ``head`` entry holds) or ``"rgb-residual"`` (a free RGB residual added to ``B^``, the
            paper's configuration); see :mod:`semcom.receivers.unet_xattn`.
        prior: ``"edi"`` (default with the shared encoder): the shared encoder also reads the
            EDI estimate of the sharp frame computed from ``B`` and ``E`` at the transmitter
            (:class:`EDIPrior`, one learned contrast; ours); ``"none"``: it reads ``B`` and ``E`` only,
            as in the paper (see docs/training.md for why the default differs and what it buys).
        output: ``"deblurred"`` (default) or ``"streams"``: decode delivers the decoded blurry frame ``B^``
            instead (with the decoded events), for links with a back-end of their own (``deepjscc-stra``).

    Shape:
        encode: ``batch.blurry`` ``(B, 3, H, W)`` and ``batch.events`` ``(B, C, H, W)`` ->
        symbols ``(B, n)`` complex64, ``n = floor(cbr * 3 * H * W)``, unit power per row,
        ordered ``[image | shared | event]``.
        decode: -> ``Reception.image`` ``(B, 3, H, W)`` in [0, 1] (the deblurred frame),
        ``Reception.events`` ``(B, C, H, W)`` (the decoded events, same units as the input).
    """

    #: model-based fusions the shared encoder can read (see :class:`EDIPrior`), and the default
    priors: tuple[str, ...] = ("none", "edi")
    default_prior = "edi"
    #: what the event tensor is divided by before the networks (about the std of SCER counts)
    default_event_scale = 8.0
    #: the training schedule `semcom train` uses for this codec unless told otherwise
    default_schedule = "ev-jscc"
    _shared_fixed: bool | None = None

    def __init__(self, *, cbr: float, snr_db: float | None = None, adaptive: bool | None = None,
                 width: int | None = None, backbone: str | None = None, depth: int | None = None,
                 downsample: int | None = None,
                 split: tuple[float, float, float] | list[float] | None = None, shared: bool | None = None,
                 event_channels: int | None = None, event_scale: float | None = None,
                 unet_width: int | None = None, prior: str | None = None, head: str | None = None,
                 output: str = "deblurred", checkpoint: None = None) -> None:
        super().__init__()
        self._refuse_checkpoint(checkpoint)
        if output not in ("deblurred", "streams"):
            raise ValueError(f"output must be 'deblurred' or 'streams', got {output!r}")
        #: what decode delivers as the image: the U-Net's deblurred frame, or (``"streams"``, for a back-end
        #: of its own at the receiver such as STRA) the decoded blurry frame, the U-Net unused
        self.output = output
        if isinstance(cbr, bool) or not isinstance(cbr, (int, float)) or not 0 < cbr <= 1:
            raise ValueError(f"cbr must be a number in (0, 1], got {cbr!r}")
        if snr_db is not None and (isinstance(snr_db, bool) or not isinstance(snr_db, (int, float))):
            raise ValueError(f"snr_db must be a number in dB or None, got {snr_db!r}")
        if snr_db is not None and adaptive:
            raise ValueError("snr_db selects the single-SNR protocol; it cannot be combined with adaptive=True")
        if shared is not None and not isinstance(shared, bool):
            raise ValueError(f"shared must be true or false, got {shared!r}")
        if self._shared_fixed is not None:
            if shared is not None and shared != self._shared_fixed:
                raise ValueError(f"codec {self.registry_name!r} has shared={self._shared_fixed} by definition")
            shared = self._shared_fixed
        if split is not None:
            split = list(_as_split(split))
        self.cbr = float(cbr)
        mode = self.snr_mode_for(snr_db=snr_db, adaptive=adaptive)
        if mode == "single" and snr_db is None:
            raise ValueError("adaptive=False needs snr_db (the SNR the model is trained and tested at)")
        cfg = {"adaptive": mode == "adaptive", "snr_db": None if snr_db is None else float(snr_db), "width": width,
               "split": split, "shared": shared, "event_channels": event_channels, "event_scale": event_scale,
               "unet_width": unet_width, "prior": prior, "head": head}
        self.adaptive = bool(cfg["adaptive"])
        self.snr_db = cfg.get("snr_db") if not self.adaptive else None
        self.shared = True if cfg.get("shared") is None else bool(cfg["shared"])
        self._set_networks(backbone, width=cfg.get("width"), depth=depth, downsample=downsample)
        self.event_channels = int(cfg.get("event_channels") or 6)
        self.event_scale = float(cfg.get("event_scale") or self.default_event_scale)
        self.unet_width = int(cfg.get("unet_width") or 24)
        #: the U-Net's output head (checkpoints made before the option hold no entry: today's head)
        self.head = cfg.get("head") or DEFAULT_HEAD
        self.prior = cfg.get("prior") or ("none" if not self.shared else self.default_prior)
        if self.prior not in self.priors:
            raise ValueError(f"prior must be one of {self.priors} for {self.registry_name!r}, got {self.prior!r}")
        if self.prior != "none" and not self.shared:
            raise ValueError(f"prior={self.prior!r} feeds the shared encoder; without it use prior='none'")
        if self.event_channels < 1:
            raise ValueError(f"event_channels must be a positive integer, got {self.event_channels}")
        if not (math.isfinite(self.event_scale) and self.event_scale > 0):
            raise ValueError(f"event_scale must be positive, got {self.event_scale}")
        default = DEFAULT_SPLIT if self.shared else DEFAULT_SPLIT_NOSHARED
        self.split = _as_split(cfg["split"]) if cfg.get("split") is not None else default
        if self.shared and self.split[1] == 0:
            raise ValueError("split gives the shared stream no channel uses; use shared=false (ev-jscc-noshared)")
        if not self.shared and self.split[1] != 0:
            raise ValueError(f"without the shared encoder the shared fraction must be 0, got split={self.split}")
        if not self.shared and self.split[2] == 0:
            raise ValueError(f"split {self.split} sends the events in no stream (neither shared nor event)")
        ds = self.downsample
        #: complex symbols per position of the latent grid of each stream (image, shared, event)
        self.symbols_per_position = tuple(
            0 if f == 0 else max(1, math.ceil(f * self.cbr * 3 * ds * ds - 1e-9)) for f in self.split)
        latents = tuple(2 * k for k in self.symbols_per_position)
        prior = None if self.prior == "none" else self.prior
        if self.backbone is None:
            self.encoder = EVJSCCEncoder(event_channels=self.event_channels, width=self.width, latents=latents,
                                         adaptive=self.adaptive, prior=prior)
            self.decoder = EVJSCCDecoder(event_channels=self.event_channels, width=self.width, latents=latents,
                                         adaptive=self.adaptive)
        else:
            sizes = dict(backbone=self.backbone, event_channels=self.event_channels, width=self.width,
                         depth=self.depth, downsample=ds, latents=latents, adaptive=self.adaptive)
            self.encoder = EVJSCCBackboneEncoder(**sizes, prior=prior)
            self.decoder = EVJSCCBackboneDecoder(**sizes)
        self.deblur = UNetXAttn(event_channels=self.event_channels, width=self.unet_width, head=self.head)

    def _set_networks(self, backbone: Any, *, width: Any, depth: Any, downsample: Any) -> None:
        """Validate and set ``backbone``, ``width``, ``depth`` and ``downsample``."""
        if width is not None and (isinstance(width, bool) or not isinstance(width, (int, float))
                                  or int(width) != width):
            raise ValueError(f"width must be an integer, got {width!r}")
        width = None if width is None else int(width)
        if backbone is None:
            if depth is not None:
                raise ValueError(f"depth={depth!r} sizes a backbone; the original networks (backbone=None) "
                                 f"have none (backbones: {', '.join(BACKBONES)})")
            if downsample is not None and downsample != DOWNSAMPLE:
                raise ValueError(f"the original networks (backbone=None) have a 1/{DOWNSAMPLE} latent grid, "
                                 f"downsample={downsample!r} needs a backbone ({', '.join(BACKBONES)})")
            width = 32 if width is None else width
            if width < 4 or width % 2:
                raise ValueError(f"width must be an even integer >= 4, got {width}")
            self.backbone, self.width, self.depth, self.downsample = None, width, None, DOWNSAMPLE
            return
        if not isinstance(backbone, str):
            raise ValueError(f"backbone must be a name ({', '.join(BACKBONES)}) or None, got {backbone!r}")
        self.backbone = backbone
        self.width, self.depth, self.downsample = backbone_defaults(
            backbone, width=width, depth=depth, downsample=DOWNSAMPLE if downsample is None else downsample)

    # -- configuration ----------------------------------------------------------------------------
    def backbone_config(self) -> dict[str, Any]:
        """``backbone``, ``depth`` and ``downsample``; empty for the original networks, so their
        configuration reads as it did before backbones existed."""
        if self.backbone is None:
            return {}
        return {"backbone": self.backbone, "depth": self.depth, "downsample": self.downsample}

    def config(self) -> dict[str, Any]:
        """The architecture arguments, stored in checkpoints (with the backbone's sizes on a backbone)."""
        return {"adaptive": self.adaptive, "snr_db": self.snr_db, "width": self.width, **self.backbone_config(),
                "split": list(self.split), "shared": self.shared, "event_channels": self.event_channels,
                "event_scale": self.event_scale, "unet_width": self.unet_width, "prior": self.prior,
                "head": self.head}

    @classmethod
    def from_checkpoint(cls, *, cbr: float, meta: Mapping[str, Any], state: Mapping[str, torch.Tensor],
                        path: str = "", snr_db: float | None = None, adaptive: bool | None = None,
                        **params: Any) -> "EVJSCC":
        """As :meth:`LearnedCodec.from_checkpoint`; a checkpoint that names no backbone holds the
        original networks, so asking it for a backbone (or another grid) is an error naming both."""
        stored = dict(meta.get("config", {}))
        if "backbone" not in stored:
            stored.update(LEGACY_NETWORKS)
        codec = super().from_checkpoint(cbr=cbr, meta={**meta, "config": stored}, state=state, path=path,
                                        snr_db=snr_db, adaptive=adaptive, **params)
        codec.checkpoint_meta = dict(meta)
        return codec

    @property
    def snr_mode(self) -> str:
        return "adaptive" if self.adaptive else "single"

    # -- accounting -------------------------------------------------------------------------------
    def latent_hw(self, h: int, w: int) -> tuple[int, int]:
        """The latent grid of an ``h x w`` frame: ``1/downsample`` of it padded up to multiples of ``downsample``."""
        return -(-h // self.downsample), -(-w // self.downsample)

    def channel_uses(self, h: int, w: int) -> int:
        """Complex symbols sent for an ``h x w`` frame, all streams: ``floor(cbr * 3 * h * w)``."""
        return sum(self.stream_uses(h, w))

    def stream_uses(self, h: int, w: int) -> tuple[int, int, int]:
        """Channel uses ``(n_i, n_s, n_e)`` of the image, shared and event streams of an ``h x w`` frame."""
        n = channel_uses_budget(self.cbr, h, w)
        active = sum(1 for f in self.split if f > 0)
        if n < active:
            raise ValueError(f"CBR {format_cbr(self.cbr)} leaves {n} channel uses for a {h}x{w} frame, "
                             f"fewer than the {active} streams of {self.registry_name}")
        uses = split_symbols(n, self.split)
        hl, wl = self.latent_hw(h, w)
        for name, u, k in zip(STREAMS, uses, self.symbols_per_position):
            if u > k * hl * wl:  # pragma: no cover - guaranteed by the choice of k (see the module doc)
                raise AssertionError(f"{name} stream of {u} symbols does not fit its latent of {k * hl * wl}")
        return uses  # type: ignore[return-value]

    # -- transmitter ------------------------------------------------------------------------------
    def _snr(self, snr_db: torch.Tensor, b: int, device: torch.device) -> torch.Tensor:
        snr = torch.as_tensor(snr_db, dtype=torch.float32, device=device)
        return snr.expand(b) if snr.ndim == 0 else snr.reshape(b)

    def _frame(self, batch: Batch) -> torch.Tensor:
        """The blurry frame the codec sends, checked to be ``(B, 3, H, W)``."""
        img = batch.blurry
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"{self.registry_name} sends RGB frames (B, 3, H, W), got {tuple(img.shape)}")
        return img

    def _inputs(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        img, ev = self._frame(batch), batch.events
        if ev is None:
            raise ValueError("ev-jscc needs an event representation (batch.events); use a source with an event "
                             "camera, such as synth-blur")
        if ev.ndim != 4 or ev.shape[1] != self.event_channels or ev.shape[-2:] != img.shape[-2:] \
                or ev.shape[0] != img.shape[0]:
            raise ValueError(f"{self.registry_name} is built for events of shape (B, {self.event_channels}, H, W) "
                             f"matching the frame {tuple(img.shape)}, got {tuple(ev.shape)}")
        return img, ev.to(img.dtype)

    def _prior_image(self, img: torch.Tensor, side: torch.Tensor, batch: Batch) -> torch.Tensor | None:
        """The model-based fusion the shared encoder reads (``None`` without a prior)."""
        if self.encoder.prior is None:
            return None
        return self.encoder.prior(img, side)

    def encode(self, batch: Batch, *, snr_db: torch.Tensor) -> Transmission:
        return self._encode(*self._inputs(batch), batch, snr_db=snr_db)

    def _encode(self, img: torch.Tensor, ev: torch.Tensor, batch: Batch, *, snr_db: torch.Tensor) -> Transmission:
        """:meth:`encode` from the frame and side information :meth:`_inputs` already extracted."""
        b, _, h, w = img.shape
        uses = self.stream_uses(h, w)
        hl, wl = self.latent_hw(h, w)
        ph, pw = hl * self.downsample - h, wl * self.downsample - w
        x = F.pad(img, (0, pw, 0, ph), mode="replicate")
        e = F.pad(ev / self.event_scale, (0, pw, 0, ph))
        prior = self._prior_image(img, ev, batch)
        if prior is not None:
            prior = F.pad(prior, (0, pw, 0, ph), mode="replicate")
        zi, zs, ze = self.encoder(x, e, self._snr(snr_db, b, img.device), prior)
        parts = [reals_to_symbols(z, u) for z, u in zip((zi, zs, ze), uses) if u > 0]
        symbols = normalize_power(torch.cat(parts, dim=1))
        return Transmission(symbols, sum(uses), (3, h, w), EVJSCCState(uses, (hl, wl), (h, w)))

    # -- receiver ---------------------------------------------------------------------------------
    def decode_streams(self, received: ChannelOutput, tx: Transmission, *,
                       snr_db: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The decoded blurry frame ``B^`` ``(B, 3, H, W)`` in [0, 1] and events ``E^`` ``(B, C, H, W)``."""
        st: EVJSCCState = tx.state
        # per-symbol LMMSE scaling of the equalized symbols (unit-power inputs), as in DeepJSCC
        y = received.equalized / (1.0 + received.noise_var.to(received.equalized.real.dtype))
        if y.shape[1] != sum(st.uses):
            raise ValueError(f"received {y.shape[1]} symbols per frame, expected {sum(st.uses)}")
        pieces = torch.split(y, list(st.uses), dim=1)
        hl, wl = st.latent_hw
        lat = [None if u == 0 else symbols_to_reals(p, (2 * k, hl, wl))
               for p, u, k in zip(pieces, st.uses, self.symbols_per_position)]
        snr = self._snr(snr_db, y.shape[0], y.device)
        logits, events = self.decoder(lat[0], lat[1], lat[2], snr)
        h, w = st.frame_hw
        image = torch.sigmoid(logits[:, :, :h, :w]).contiguous()
        return image, (events[:, :, :h, :w] * self.event_scale).contiguous()

    def _deblur(self, image: torch.Tensor, events: torch.Tensor) -> torch.Tensor:
        return self.deblur(image, events=events / self.event_scale)

    def decode(self, received: ChannelOutput, tx: Transmission, *, snr_db: torch.Tensor) -> Reception:
        image, events = self.decode_streams(received, tx, snr_db=snr_db)
        if self.output == "streams":
            return Reception(image, events=events)
        return Reception(self._deblur(image, events).clamp(0.0, 1.0), events=events)

    def transmit_train(self, batch: Batch, channel: Channel, *, snr_db: torch.Tensor,
                       generator: torch.Generator | None = None) -> TrainStep:
        """Differentiable encode -> channel -> decode for the trainer.

        ``reception.image`` is the U-Net output (unclamped in training mode), ``aux["image"]``
        the decoded blurry frame ``B^`` and ``aux["events"]`` the decoded events ``E^`` (what
        the stage-1 ``transmission`` loss compares with ``batch.blurry`` and ``batch.events``).
        """
        img, side = self._inputs(batch)
        tx = self._encode(img, side, batch, snr_db=snr_db)
        rx = channel(tx.symbols, snr_db=snr_db, generator=generator)
        image, events = self.decode_streams(rx, tx, snr_db=snr_db)
        return TrainStep(tx, Reception(self._deblur(image, events), events=events),
                         {"image": image, "events": events, "events_target": side})


@CODECS.register("ev-jscc-noshared",
                 help="EV-JSCC ablation without the shared encoder: independent image and event streams")
class EVJSCCNoShared(EVJSCC):
    """EV-JSCC without the shared encoder (ablation): independent image and event streams.

    Same as :class:`EVJSCC` with ``shared=False``: the channel uses go to the image and event
    streams only (default split ``(2/3, 0, 1/3)``), the decoders read no shared stream.  A
    separate registry name so that its checkpoints are told apart from EV-JSCC's in the zoo.

    Args:
        (those of :class:`EVJSCC`; ``shared`` may only be ``False``).

    Shape:
        as :class:`EVJSCC`.
    """

    _shared_fixed = False
