"""Where and from what a training run starts: the device, bf16 support, and warm starts from
another checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from semcom.conventions import format_cbr
from semcom.errors import SemcomError
from semcom.train import distributed as dist_util
from semcom.zoo.store import load_checkpoint, same_cbr

__all__ = ["copy_matching", "bf16_supported", "resolve_device"]


def copy_matching(codec: torch.nn.Module, path: str | Path, *, cbr: float,
                  prefix_map: dict[str, str] | None = None) -> list[str]:
    """Copy the tensors of checkpoint ``path`` whose name and shape match into ``codec``.

    Returns the copied names (the codec's).  The checkpoint may be another codec (DeepJSCC into
    DeepJSCC-Deblur) or the same codec at another CBR: there only the layers whose size
    follows the latent (the encoder's last and the decoder's first) differ and keep their
    initialization.  A checkpoint that shares no tensor with the codec is an error, as is one of
    another codec *and* another CBR (nothing of its JSCC part would fit) unless ``prefix_map`` says
    which of its networks go where.

    ``prefix_map`` maps a prefix of the codec's tensor names to a prefix of the checkpoint's: with
    ``{"encoder.image.": "encoder.", "decoder.image.": "decoder."}`` EV-JSCC's image stream starts
    from an image-task DeepJSCC's encoder and decoder (several codec prefixes may name one source).
    Every tensor under a mapped prefix takes the source tensor of the mapped name where the shapes
    agree; the other tensors match by their own names.
    """
    ck = load_checkpoint(path)
    own = codec.state_dict()
    prefix_map = {str(k): str(v) for k, v in (prefix_map or {}).items()}
    other_cbr = not same_cbr(float(ck.meta.get("cbr", -1)), cbr)
    if other_cbr and not prefix_map and ck.meta.get("codec") != getattr(codec, "registry_name", None):
        raise SemcomError(f"--warm-start {path} is codec {ck.meta.get('codec')!r} at CBR "
                          f"{ck.meta.get('cbr_label', ck.meta.get('cbr'))}: another codec must be at CBR "
                          f"{format_cbr(cbr)} (or say what goes where with --warm-start-map)")
    for dst, src in prefix_map.items():
        if not any(k.startswith(dst) for k in own):
            raise SemcomError(f"--warm-start-map {dst}={src}: codec {type(codec).__name__} has no tensor "
                              f"named {dst}...")
        if not any(k.startswith(src) for k in ck.codec):
            raise SemcomError(f"--warm-start-map {dst}={src}: {path} has no tensor named {src}...")

    def source_name(name: str) -> str:
        for dst in sorted(prefix_map, key=len, reverse=True):  # the longest mapped prefix wins
            if name.startswith(dst):
                return prefix_map[dst] + name[len(dst):]
        return name

    matched = {}
    for k, v in own.items():
        src = ck.codec.get(source_name(k))
        if src is not None and tuple(src.shape) == tuple(v.shape):
            matched[k] = src.to(v.dtype)
    if not matched:
        raise SemcomError(f"--warm-start {path} shares no tensor with codec {type(codec).__name__}")
    codec.load_state_dict(matched, strict=False)
    return sorted(matched)


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast runs natively: CUDA, or a CPU with bf16 instructions (AMX, AVX512-BF16)."""
    if device.type == "cuda":
        try:
            return bool(torch.cuda.is_bf16_supported(including_emulation=False))
        except TypeError:  # an older torch without the keyword
            return bool(torch.cuda.is_bf16_supported())
    if device.type != "cpu":
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_device(device: str) -> torch.device:
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SemcomError(f"--device {device} asked for, but torch sees no CUDA device")
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convolutions once
        if dist_util.world_size() > 1:  # one GPU per process under torchrun
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    try:
        return torch.device(device)
    except RuntimeError:
        raise SemcomError(f"unknown --device {device!r} (cpu, cuda or cuda:N)") from None
