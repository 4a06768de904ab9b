"""Build learned codecs from checkpoints: the shipped one, a file, or none (untrained).

Codecs never read files; this module finds and verifies the checkpoint
(:func:`semcom.zoo.store.checkpoint_for`) and hands its metadata and weights to the codec
class's :meth:`~semcom.codecs.base.LearnedCodec.from_checkpoint`.

Example:
    >>> codec = build_codec("deepjscc", cbr=1/48, checkpoint="none")   # untrained
    >>> codec.checkpoint_meta is None
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semcom.codecs.base import LearnedCodec
from semcom.errors import SemcomError
from semcom.registry import CODECS
from semcom.zoo.store import checkpoint_for

__all__ = ["build_codec", "is_learned"]


def is_learned(name: str) -> bool:
    """Whether the registered codec ``name`` has learned weights (follows the LearnedCodec contract)."""
    cls = CODECS.get(name)
    return isinstance(cls, type) and issubclass(cls, LearnedCodec)


def build_codec(name: str, *, cbr: float, checkpoint: str | Path | None = None, snr_db: float | None = None,
                adaptive: bool | None = None, link: str | None = None, own_weights: bool = False,
                **params: Any) -> LearnedCodec:
    """A learned codec with the weights ``checkpoint`` names.

    Args:
        name: a registered learned codec (``deepjscc``, ``ev-jscc``, ...).
        cbr: the CBR the link asks for.
        checkpoint: ``None`` for the shipped checkpoint of this codec, CBR and SNR mode (from
            the manifest), ``"none"`` for an untrained model, or a checkpoint file.
        snr_db, adaptive: the SNR mode (``snr_db``: single-SNR at that SNR; default adaptive).
        link, own_weights: the link asking for shipped weights; its own entry wins, and with
            ``own_weights`` (a link with a transmitter stage) no other will do.
        params: architecture arguments; with a checkpoint each must agree with its own.

    Raises:
        SemcomError: not a learned codec, no shipped checkpoint, a bad file, or a checkpoint
            made for another codec, CBR or architecture.
    """
    if not is_learned(name):
        raise SemcomError(f"codec {name!r} has no learned weights, so a checkpoint does not apply to it")
    cls: type[LearnedCodec] = CODECS.get(name)
    mode = cls.snr_mode_for(snr_db=snr_db, adaptive=adaptive)
    if mode == "single" and snr_db is None and checkpoint is None:
        raise SemcomError("adaptive=False needs snr_db (the SNR the model is trained and tested at)")
    ck = checkpoint_for(codec=name, cbr=float(cbr), checkpoint=checkpoint, snr_mode=mode,
                        snr_db=None if snr_db is None else float(snr_db), link=link, own_only=own_weights)
    if ck is None:
        return cls(cbr=cbr, snr_db=snr_db, adaptive=adaptive, **params)
    return cls.from_checkpoint(cbr=float(cbr), meta=ck.meta, state=ck.codec, path=ck.path, snr_db=snr_db,
                               adaptive=adaptive, **params)
