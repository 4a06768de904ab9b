"""Build learned components from checkpoints: codecs and receiver back-ends, with their weights.

Neither codecs nor back-ends read files: this module finds and verifies the checkpoint
(:func:`semcom.zoo.store.checkpoint_for`, :func:`semcom.zoo.store.receiver_weights`) and hands its
contents to the component.  A learned codec gets them through
:meth:`~semcom.codecs.base.LearnedCodec.from_checkpoint`; a learned back-end (a
:class:`~semcom.receivers.base.Receiver` that names a ``shipped_link``) is built untrained and then
loads the receiver weights of that checkpoint.

Example:
    >>> codec = build_codec("deepjscc", cbr=1/48, checkpoint="none")   # untrained
    >>> codec.checkpoint_meta is None
    True
    >>> build_receiver("identity")
    Identity()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semcom.codecs.base import LearnedCodec
from semcom.errors import SemcomError
from semcom.receivers.base import Receiver
from semcom.registry import CODECS, RECEIVERS
from semcom.zoo.store import checkpoint_for, receiver_weights

__all__ = ["build_codec", "is_learned", "build_receiver", "load_receiver_weights", "receiver_is_learned"]


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


def receiver_is_learned(name: str) -> bool:
    """Whether the registered back-end ``name`` has learned weights (it names the link that ships them)."""
    cls = RECEIVERS.get(name)
    return isinstance(cls, type) and issubclass(cls, Receiver) and cls.shipped_link is not None


def load_receiver_weights(receiver: Receiver, weights: str | Path) -> Receiver:
    """Load into a built back-end the weights ``weights`` names and return it.

    Args:
        receiver: a learned back-end (its ``shipped_link`` is not ``None``).
        weights: ``"shipped"`` (the checkpoint shipped for the back-end's ``shipped_link``), ``"shipped:LINK"``
            (the one shipped for link ``LINK``, a variant of the back-end) or the path of a checkpoint
            that holds receiver weights.

    Raises:
        SemcomError: a back-end without learned weights, nothing shipped, a bad file, or weights made for
            another architecture (the message names the back-end's :attr:`~Receiver.architecture`).
    """
    name = getattr(receiver, "registry_name", type(receiver).__name__)
    if receiver.shipped_link is None:
        raise SemcomError(f"receiver {name!r} has no learned weights, so 'weights' does not apply to it")
    state = receiver_weights(weights, link=receiver.shipped_link, receiver=name,
                             train_command=receiver.train_command)
    try:
        receiver.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError:
        what = receiver.architecture or type(receiver).__name__
        raise SemcomError(f"{weights}: its weights are not those of this {what}") from None
    return receiver


def build_receiver(name: str, *, weights: str | Path | None = None, **params: Any) -> Any:
    """The registered back-end ``name`` built with ``params``, holding the weights ``weights`` names.

    ``weights``: ``None`` (untrained, or a back-end without learned weights), ``"shipped"``,
    ``"shipped:LINK"`` or a checkpoint path (:func:`load_receiver_weights`).

    Raises:
        SemcomError: an unknown back-end or argument, ``weights`` for a back-end without learned weights,
            or weights that cannot be loaded.
    """
    if weights is not None and not receiver_is_learned(name):
        raise SemcomError(f"receiver {name!r} has no learned weights, so 'weights' does not apply to it")
    receiver = RECEIVERS.build(name, **params)
    if weights is not None:
        load_receiver_weights(receiver, weights)
    return receiver
