"""DeepJSCC and DeepJSCC-Deblur: learned joint source-channel coding of the blurry frame.

``deepjscc`` follows Bourtsoulatze, Burth Kurka & Gündüz, "Deep joint source-channel coding for
wireless image transmission" (IEEE TCCN 2019): a convolutional encoder (PReLU, here with GDN as
in later DeepJSCC work) maps the frame to a real latent whose values are paired into complex
symbols and normalized to unit average power; a transposed-convolution decoder with a sigmoid
output reconstructs the frame from the noisy symbols.  With ``adaptive=True`` the SNR enters
encoder and decoder through the attention-feature (AF) modules of ADJSCC (Xu et al., IEEE TCSVT
2022), so one model serves a range of SNRs; otherwise the model follows the paper's protocol
(trained at one SNR, tested at the same).

The networks are a choice of backbone (:mod:`semcom.codecs.backbones`): ``conv`` (the design
above, the default and that of the shipped checkpoints), ``resconv`` (residual convolutions with
attention, after Cheng et al., CVPR 2020) or ``swin`` (Swin transformer stages with SNR
modulation, as in WITT / SwinJSCC), on a latent grid of 1/16 (default) or 1/8 of the frame.

As in the EV-JSCC paper's baseline, the codec transmits the *blurry* frame and is trained
against the sharp one.  ``deepjscc-deblur`` (the EV-JSCC paper's DeepJSCC-Deblur baseline) adds
the :class:`~semcom.receivers.unet_xattn.UNetXAttn` deblurring decoder after the JSCC decoder,
fed with a constant (zero) event tensor; the codec owns it so one checkpoint holds both.

Channel-use accounting: the encoder downsamples by ``ds`` (16 or 8); a frame of ``H x W`` is
padded (edge replication) to multiples of ``ds``, the latent has ``2k`` channels with
``k = ceil(cbr * 3 * ds^2)`` complex symbols per latent position, and exactly
``floor(cbr * 3 * H * W)`` symbols are sent: when padding makes the latent hold more, the
trailing symbols (last channel plane, bottom rows) are not sent and the decoder reads zeros in
their place.

Example:
    >>> codec = DeepJSCC(cbr=1/48)          # untrained; semcom.zoo.build_codec loads weights
    >>> codec.channel_uses(256, 256)
    4096
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch.nn import functional as F

from semcom.channels.base import Channel, ChannelOutput
from semcom.codecs.base import LearnedCodec, Reception, TrainStep, Transmission
from semcom.codecs.backbones import BACKBONES, JSCCDecoder, JSCCEncoder, backbone_defaults, build_backbone
from semcom.codecs.layers import reals_to_symbols, symbols_to_reals
from semcom.conventions import channel_uses_budget, format_cbr, normalize_power
from semcom.registry import CODECS
from semcom.receivers.unet_xattn import UNetXAttn
from semcom.sources.base import Batch

__all__ = ["DeepJSCC", "DeepJSCCDeblur", "JSCCEncoder", "JSCCDecoder", "DOWNSAMPLE", "symbols_per_position"]

#: the default downsampling factor of the encoder (four stride-2 layers); a codec's own is ``codec.downsample``
DOWNSAMPLE = 16

#: backbone options of the original design; checkpoints made before backbones existed do not name them
LEGACY_BACKBONE = {"backbone": "conv", "depth": BACKBONES["conv"].depth, "downsample": DOWNSAMPLE}


def symbols_per_position(cbr: float, downsample: int = DOWNSAMPLE) -> int:
    """Complex symbols per latent position that let the latent hold the whole CBR budget:
    ``ceil(cbr * 3 * downsample^2)``, at least one."""
    return max(1, math.ceil(cbr * 3 * downsample * downsample - 1e-9))


def _refuse_unknown(name: str, cfg: dict[str, Any], valid: set[str]) -> None:
    unknown = sorted(set(cfg) - valid)
    if unknown:
        raise TypeError(f"codec {name!r} takes no argument {', '.join(map(repr, unknown))} "
                        f"(valid: {', '.join(sorted(valid))})")

@dataclass(frozen=True)
class JSCCState:
    """What the receiver knows from the protocol: latent shape and the frame size."""

    latent_shape: tuple[int, int, int]
    frame_hw: tuple[int, int]


@CODECS.register("deepjscc", help="DeepJSCC (Bourtsoulatze et al. 2019) of the blurry frame, ADJSCC SNR adaptation")
class DeepJSCC(LearnedCodec):
    """DeepJSCC codec of the blurry frame (built untrained; :func:`semcom.zoo.build_codec` loads weights).

    Args:
        cbr: channel bandwidth ratio; exactly ``floor(cbr * 3 * H * W)`` symbols are sent.
        snr_db: the single training/testing SNR of the paper's protocol (implies
            ``adaptive=False``); ``None`` for the SNR-adaptive model.
        adaptive: feed the SNR to encoder and decoder (AF modules; SNR modulation in ``swin``)
            (default: ``True`` unless ``snr_db`` is given).
        width: feature channels of the encoder and decoder (default: the backbone's; 64).
        source: which frame is sent, ``"blurry"`` (default) or ``"sharp"``.
        backbone: the encoder/decoder networks, ``"conv"`` (default), ``"resconv"`` or ``"swin"``
            (:data:`semcom.codecs.backbones.BACKBONES`).
        depth: layers or blocks per stage (default: the backbone's; see
            :class:`semcom.codecs.backbones.Backbone`).
        downsample: the latent grid, 16 (default) or 8 times coarser than the frame.

    Shape:
        encode: frames ``(B, 3, H, W)`` -> symbols ``(B, n)`` complex64, ``n = floor(cbr*3*H*W)``.
        decode: -> ``Reception.image`` ``(B, 3, H, W)`` in [0, 1].
    """


    def __init__(self, *, cbr: float, snr_db: float | None = None, adaptive: bool | None = None,
                 width: int | None = None, source: str = "blurry", backbone: str = "conv",
                 depth: int | None = None, downsample: int = DOWNSAMPLE, checkpoint: None = None,
                 **extra: Any) -> None:
        super().__init__()
        self._refuse_checkpoint(checkpoint)
        if isinstance(cbr, bool) or not isinstance(cbr, (int, float)) or not 0 < cbr <= 1:
            raise ValueError(f"cbr must be a number in (0, 1], got {cbr!r}")
        if snr_db is not None and (isinstance(snr_db, bool) or not isinstance(snr_db, (int, float))):
            raise ValueError(f"snr_db must be a number in dB or None, got {snr_db!r}")
        if snr_db is not None and adaptive:
            raise ValueError("snr_db selects the single-SNR protocol; it cannot be combined with adaptive=True")
        if source not in ("blurry", "sharp"):
            raise ValueError(f"source must be 'blurry' or 'sharp', got {source!r}")
        self.cbr = float(cbr)
        self.source = source
        mode = self.snr_mode_for(snr_db=snr_db, adaptive=adaptive)
        if mode == "single" and snr_db is None:
            raise ValueError("adaptive=False needs snr_db (the SNR the model is trained and tested at)")
        cfg = {"adaptive": mode == "adaptive", "snr_db": None if snr_db is None else float(snr_db),
               "width": width, **extra}
        self.adaptive = bool(cfg["adaptive"])
        self.snr_db = cfg.get("snr_db") if not self.adaptive else None
        if not isinstance(backbone, str):
            raise ValueError(f"backbone must be a name ({', '.join(BACKBONES)}), got {backbone!r}")
        self.backbone = backbone
        width = cfg.get("width")
        self.width, self.depth, self.downsample = backbone_defaults(
            backbone, width=None if width is None else int(width), depth=depth, downsample=downsample)
        self.symbols_per_position = symbols_per_position(self.cbr, self.downsample)
        self.encoder, self.decoder = build_backbone(
            backbone, latent_channels=2 * self.symbols_per_position, width=self.width, depth=self.depth,
            downsample=self.downsample, adaptive=self.adaptive)
        self._build_extra(cfg)

    # -- configuration and checkpoints ---------------------------------------------------------
    def _build_extra(self, cfg: dict[str, Any]) -> None:
        """Hook for subclasses that add modules (called before the checkpoint is loaded)."""
        _refuse_unknown(self.registry_name, cfg, {"adaptive", "snr_db", "width"})

    def backbone_config(self) -> dict[str, Any]:
        """``backbone``, ``depth`` and ``downsample``; empty for the original design (conv, its depth, 16),
        so the configuration of a conv/16 model reads as it did before backbones existed."""
        own = {"backbone": self.backbone, "depth": self.depth, "downsample": self.downsample}
        return {} if own == LEGACY_BACKBONE else own

    def config(self) -> dict[str, Any]:
        """The architecture arguments, stored in checkpoints (with the backbone's unless it is the original)."""
        return {"adaptive": self.adaptive, "snr_db": self.snr_db, "width": self.width, **self.backbone_config()}

    @classmethod
    def from_checkpoint(cls, *, cbr: float, meta: Mapping[str, Any], state: Mapping[str, torch.Tensor],
                        path: str = "", snr_db: float | None = None, adaptive: bool | None = None,
                        **params: Any) -> "DeepJSCC":
        """As :meth:`LearnedCodec.from_checkpoint`; a checkpoint that names no backbone holds the
        original design (conv, depth 1, downsample 16), so asking it for another one is an error."""
        stored = dict(meta.get("config", {}))
        if not set(LEGACY_BACKBONE) & set(stored):
            stored.update(LEGACY_BACKBONE)
        codec = super().from_checkpoint(cbr=cbr, meta={**meta, "config": stored}, state=state, path=path,
                                        snr_db=snr_db, adaptive=adaptive, **params)
        codec.checkpoint_meta = dict(meta)
        return codec

    @property
    def snr_mode(self) -> str:
        return "adaptive" if self.adaptive else "single"

    # -- accounting -------------------------------------------------------------------------------
    def latent_shape(self, h: int, w: int) -> tuple[int, int, int]:
        hp, wp = -(-h // self.downsample), -(-w // self.downsample)
        return 2 * self.symbols_per_position, hp, wp

    def channel_uses(self, h: int, w: int) -> int:
        """Complex symbols sent for an ``h x w`` frame: the whole budget ``floor(cbr * 3 * h * w)``."""
        n = channel_uses_budget(self.cbr, h, w)
        if n < 1:
            raise ValueError(f"CBR {format_cbr(self.cbr)} leaves no channel use for a {h}x{w} frame")
        c, hl, wl = self.latent_shape(h, w)
        return min(n, c // 2 * hl * wl)

    # -- transmitter ------------------------------------------------------------------------------
    def _snr(self, snr_db: torch.Tensor, b: int, device: torch.device) -> torch.Tensor:
        snr = torch.as_tensor(snr_db, dtype=torch.float32, device=device)
        return snr.expand(b) if snr.ndim == 0 else snr.reshape(b)

    def encode(self, batch: Batch, *, snr_db: torch.Tensor) -> Transmission:
        img = batch.blurry if self.source == "blurry" else batch.sharp
        b, c, h, w = img.shape
        if c != 3:
            raise ValueError(f"deepjscc sends RGB frames (B, 3, H, W), got {tuple(img.shape)}")
        n = self.channel_uses(h, w)
        shape = self.latent_shape(h, w)
        ds = self.downsample
        x = F.pad(img, (0, shape[2] * ds - w, 0, shape[1] * ds - h), mode="replicate")
        z = self.encoder(x, self._snr(snr_db, b, img.device))
        symbols = normalize_power(reals_to_symbols(z, n))
        return Transmission(symbols, n, (3, h, w), JSCCState(shape, (h, w)))

    # -- receiver ---------------------------------------------------------------------------------
    def decode_jscc(self, received: ChannelOutput, tx: Transmission, *, snr_db: torch.Tensor) -> torch.Tensor:
        """The JSCC decoder's reconstruction of the transmitted frame ``(B, 3, H, W)``."""
        st: JSCCState = tx.state
        # per-symbol LMMSE scaling of the equalized symbols (unit-power inputs): tames deep fades
        y = received.equalized / (1.0 + received.noise_var.to(received.equalized.real.dtype))
        z = symbols_to_reals(y, st.latent_shape)
        out = self.decoder(z, self._snr(snr_db, z.shape[0], z.device))
        h, w = st.frame_hw
        return out[:, :, :h, :w]

    def decode(self, received: ChannelOutput, tx: Transmission, *, snr_db: torch.Tensor) -> Reception:
        return Reception(self.decode_jscc(received, tx, snr_db=snr_db))

    def transmit_train(self, batch: Batch, channel: Channel, *, snr_db: torch.Tensor,
                       generator: torch.Generator | None = None) -> TrainStep:
        """Differentiable encode -> channel -> decode, with the intermediate outputs (for losses)."""
        tx = self.encode(batch, snr_db=snr_db)
        rx = channel(tx.symbols, snr_db=snr_db, generator=generator)
        image = self.decode_jscc(rx, tx, snr_db=snr_db)
        return TrainStep(tx, Reception(image), {"image": image})


@CODECS.register("deepjscc-deblur",
                 help="DeepJSCC followed by the U-Net deblurring decoder with zero events (EV-JSCC baseline)")
class DeepJSCCDeblur(DeepJSCC):
    """DeepJSCC-Deblur: :class:`DeepJSCC` + the ``unet-xattn`` deblurring decoder fed zero events.

    The EV-JSCC paper's DeepJSCC-Deblur baseline: same transmitter as DeepJSCC, and the
    deblurring module of EV-JSCC at the receiver with a constant event tensor, so it can use no
    event information.  Trained end to end; the U-Net is the submodule ``deblur``.

    Args:
        (those of :class:`DeepJSCC`), plus
        event_channels: channels of the (zero) event tensor the U-Net is built for.
        unet_width: ``width`` of the U-Net.

    Shape:
        as :class:`DeepJSCC`.
    """


    def __init__(self, *, cbr: float, snr_db: float | None = None, adaptive: bool | None = None,
                 width: int | None = None, source: str = "blurry", backbone: str = "conv",
                 depth: int | None = None, downsample: int = DOWNSAMPLE,
                 event_channels: int | None = None, unet_width: int | None = None, checkpoint: None = None) -> None:
        super().__init__(cbr=cbr, snr_db=snr_db, adaptive=adaptive, width=width, checkpoint=checkpoint,
                         source=source, backbone=backbone, depth=depth, downsample=downsample,
                         event_channels=event_channels, unet_width=unet_width)

    def _build_extra(self, cfg: dict[str, Any]) -> None:
        _refuse_unknown(self.registry_name, cfg, {"adaptive", "snr_db", "width", "event_channels", "unet_width"})
        self.event_channels = int(cfg.get("event_channels") or 6)
        self.unet_width = int(cfg.get("unet_width") or 24)
        self.deblur = UNetXAttn(event_channels=self.event_channels, width=self.unet_width)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "event_channels": self.event_channels, "unet_width": self.unet_width}

    def decode(self, received: ChannelOutput, tx: Transmission, *, snr_db: torch.Tensor) -> Reception:
        image = self.decode_jscc(received, tx, snr_db=snr_db)
        return Reception(self.deblur(image, events=None).clamp(0.0, 1.0))

    def transmit_train(self, batch: Batch, channel: Channel, *, snr_db: torch.Tensor,
                       generator: torch.Generator | None = None) -> TrainStep:
        tx = self.encode(batch, snr_db=snr_db)
        rx = channel(tx.symbols, snr_db=snr_db, generator=generator)
        image = self.decode_jscc(rx, tx, snr_db=snr_db)
        return TrainStep(tx, Reception(self.deblur(image, events=None)), {"image": image})
