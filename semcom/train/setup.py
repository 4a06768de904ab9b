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


def copy_matching(codec: torch.nn.Module, path: str | Path, *, cbr: float) -> list[str]:
    """Copy the tensors of checkpoint ``path`` whose name and shape match into ``codec``.

    Returns the copied names.  The checkpoint may be another codec (DeepJSCC into
    DeepJSCC-Deblur) or the same codec at another CBR: there only the layers whose size
    follows the latent (the encoder's last and the decoder's first) differ and keep their
    initialization.  A checkpoint that shares no tensor with the codec is an error, as is one of
    another codec *and* another CBR (nothing of its JSCC part would fit).
    """
    ck = load_checkpoint(path)
    own = codec.state_dict()
    other_cbr = not same_cbr(float(ck.meta.get("cbr", -1)), cbr)
    if other_cbr and ck.meta.get("codec") != getattr(codec, "registry_name", None):
        raise SemcomError(f"--warm-start {path} is codec {ck.meta.get('codec')!r} at CBR "
                          f"{ck.meta.get('cbr_label', ck.meta.get('cbr'))}: another codec must be at CBR "
                          f"{format_cbr(cbr)}")
    matched = {k: v for k, v in ck.codec.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    if not matched:
        raise SemcomError(f"--warm-start {path} shares no tensor with codec {type(codec).__name__}")
    codec.load_state_dict({k: v.to(own[k].dtype) for k, v in matched.items()}, strict=False)
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
