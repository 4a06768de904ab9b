"""Checkpoint files and the manifest of shipped checkpoints.

File format (``.ckpt``), designed so that loading never executes code and any changed byte is
detected before the tensors are read::

    b"SEMCOM-CKPT-1\\n"                      magic line
    <64 hex digits> b"\\n"                  SHA-256 of everything after this line
    <one line of JSON> b"\\n"               metadata (link, codec, cbr, SNR mode, step, config, ...)
    <torch.save bytes>                      {"codec": {name: tensor}, "receiver": {...}, "train": {...}}

The payload is read with ``torch.load(..., weights_only=True)``, which only rebuilds tensors
and plain containers.  The manifest (``semcom/zoo/manifest.json``) lists the shipped
checkpoints with the SHA-256 of the whole file, which is checked again on load.

Metadata keys: ``link``, ``codec`` (registry names), ``cbr`` (float), ``snr_mode``
(``"adaptive"`` or ``"single"``), ``snr_db`` (single) or ``snr_range`` (adaptive), ``step``,
``config`` (the codec's architecture arguments), ``training`` (how it was made).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from semcom.conventions import format_cbr
from semcom.errors import SemcomError
from semcom.files import sha256_of

__all__ = ["Checkpoint", "save_checkpoint", "load_checkpoint", "read_meta", "sha256_of",
           "manifest_path", "read_manifest", "write_manifest", "find_entry", "entry_path", "same_cbr",
           "checkpoint_for"]

MAGIC = b"SEMCOM-CKPT-1\n"
ZOO_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Args:
        meta: the metadata dictionary (see the module docstring).
        codec: state dict of the codec.
        receiver: state dict of the receiver back-end (empty when it has no parameters).
        train: trainer state for resuming (optimizer, step), or ``None`` in published files.
        path: where it was read from.
    """

    meta: dict[str, Any]
    codec: dict[str, torch.Tensor]
    receiver: dict[str, torch.Tensor] = field(default_factory=dict)
    train: dict[str, Any] | None = None
    path: str = ""


def save_checkpoint(path: str | Path, *, meta: dict[str, Any], codec: dict[str, torch.Tensor],
                    receiver: dict[str, torch.Tensor] | None = None, train: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (a temporary file renamed into place) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    cpu = lambda sd: {k: v.detach().cpu().contiguous() for k, v in sd.items()}  # noqa: E731
    payload: dict[str, Any] = {"codec": cpu(codec), "receiver": cpu(receiver or {})}
    if train is not None:
        payload["train"] = train
    torch.save(payload, buf)
    header = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    if b"\n" in header:  # pragma: no cover - json.dumps never emits raw newlines
        raise ValueError("metadata must serialize to one line")
    body = header + b"\n" + buf.getvalue()
    digest = hashlib.sha256(body).hexdigest().encode()
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(MAGIC + digest + b"\n" + body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def _split(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SemcomError(f"checkpoint not found: {path}") from None
    if not data.startswith(MAGIC):
        raise SemcomError(f"{path} is not a semcom checkpoint (bad magic line)")
    rest = data[len(MAGIC):]
    digest, sep, body = rest.partition(b"\n")
    if not sep or hashlib.sha256(body).hexdigest().encode() != digest:
        raise SemcomError(f"checkpoint {path} is corrupted or was modified: its SHA-256 does not match "
                          "the digest it was written with")
    header, sep, payload = body.partition(b"\n")
    try:
        meta = json.loads(header)
    except ValueError:
        raise SemcomError(f"checkpoint {path} has unreadable metadata") from None
    return meta, payload


def read_meta(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint (after checking its digest), without building tensors."""
    return _split(Path(path))[0]


def load_checkpoint(path: str | Path, *, sha256: str | None = None) -> Checkpoint:
    """Read and verify a checkpoint.

    Args:
        path: the ``.ckpt`` file.
        sha256: expected hex SHA-256 of the whole file (from the manifest), or ``None``.

    Raises:
        SemcomError: missing file, not a checkpoint, or a digest mismatch.
    """
    path = Path(path)
    if sha256 is not None and path.is_file():
        actual = sha256_of(path)
        if actual != sha256:
            raise SemcomError(f"checkpoint {path} fails its SHA-256 check: manifest says {sha256[:16]}..., "
                              f"file has {actual[:16]}...; re-install semcom or re-publish the checkpoint")
    meta, payload = _split(path)
    try:
        data = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise SemcomError(f"checkpoint {path} cannot be read safely: {exc}") from None
    if not isinstance(data, dict) or "codec" not in data:
        raise SemcomError(f"checkpoint {path} holds no codec weights")
    return Checkpoint(meta=meta, codec=data["codec"], receiver=data.get("receiver", {}) or {},
                      train=data.get("train"), path=str(path))


# -- manifest -----------------------------------------------------------------------------------

def manifest_path() -> Path:
    """``$SEMCOM_ZOO_MANIFEST`` if set, else ``semcom/zoo/manifest.json``."""
    env = os.environ.get("SEMCOM_ZOO_MANIFEST")
    return Path(env) if env else ZOO_DIR / "manifest.json"


def read_manifest(path: str | Path | None = None) -> list[dict[str, Any]]:
    """The manifest entries (an empty list when the file does not exist)."""
    path = Path(path) if path else manifest_path()
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise SemcomError(f"{path}: invalid JSON: {exc}") from None
    return list(data.get("checkpoints", []))


def write_manifest(entries: list[dict[str, Any]], path: str | Path | None = None) -> Path:
    path = Path(path) if path else manifest_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = sorted(entries, key=lambda e: e["name"])
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"version": 1, "checkpoints": entries}, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def entry_path(entry: dict[str, Any], manifest: str | Path | None = None) -> Path:
    """The file an entry names, relative to its manifest's folder."""
    base = (Path(manifest) if manifest else manifest_path()).resolve().parent
    return base / entry["file"]


def same_cbr(a: float, b: float) -> bool:
    return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))


def find_entry(*, codec: str, cbr: float, snr_mode: str, snr_db: float | None = None,
               link: str | None = None, own_only: bool = False) -> dict[str, Any]:
    """The manifest entry for a codec, CBR and SNR mode.

    An entry records the link it was trained for.  With ``link``, that link's own entry wins;
    without one, the codec's generic weights (trained by the link named like the codec) serve,
    unless ``own_only`` (a link whose codec sees another input, e.g. behind a transmitter stage).

    Raises:
        SemcomError: none matches; the message lists the CBRs that have one and the command
            that trains one.
    """
    entries = [e for e in read_manifest() if e.get("codec") == codec and e.get("snr_mode") == snr_mode]
    if snr_mode == "single":
        entries = [e for e in entries if snr_db is not None and abs(float(e.get("snr_db", 1e9)) - snr_db) < 1e-6]
    own = [e for e in entries if link is not None and e.get("link", codec) == link]
    generic = [] if own_only else [e for e in entries if e.get("link", codec) == codec]
    entries = own + [e for e in generic if e not in own]
    for e in entries:
        if same_cbr(e["cbr"], cbr):
            return e
    what = "SNR-adaptive" if snr_mode == "adaptive" else f"single-SNR ({snr_db:g} dB)"
    have = sorted({float(e["cbr"]) for e in entries}, reverse=True)
    have_txt = ", ".join(format_cbr(c) for c in have) if have else "none"
    whose = f"checkpoint of link {link} (codec {codec})" if own_only else f"{codec} checkpoint"
    link = link or codec
    snr_opt = "--snr-range 0:20" if snr_mode == "adaptive" else f"--snr {snr_db:g}"
    raise SemcomError(
        f"no shipped {what} {whose} for CBR {format_cbr(cbr)} (CBRs with one: {have_txt}); "
        f"make one with `semcom train --link {link} --cbr {format_cbr(cbr)} {snr_opt} --out my.ckpt` "
        f"and pass `--checkpoint my.ckpt`")


def checkpoint_for(*, codec: str, cbr: float, checkpoint: str | Path | None, snr_mode: str = "adaptive",
                   snr_db: float | None = None, link: str | None = None, own_only: bool = False) -> Checkpoint | None:
    """Resolve the ``checkpoint`` argument of a learned codec.

    Args:
        codec: the codec's registry name.
        cbr: the CBR the link asks for.
        checkpoint: ``None`` for the shipped checkpoint (looked up in the manifest by codec,
            CBR and SNR mode), ``"none"`` for an untrained model, or the path of a file.
        snr_mode, snr_db: which shipped checkpoint to pick when ``checkpoint`` is ``None``.
        link, own_only: the link asking, and whether only its own shipped weights will do
            (:func:`find_entry`).

    Returns:
        the verified :class:`Checkpoint`, or ``None`` for ``"none"``.

    Raises:
        SemcomError: no shipped checkpoint, a bad file, or a file made for another codec or CBR
            (the message names both).
    """
    if checkpoint is None:
        entry = find_entry(codec=codec, cbr=cbr, snr_mode=snr_mode, snr_db=snr_db, link=link, own_only=own_only)
        return load_checkpoint(entry_path(entry), sha256=entry["sha256"])
    if str(checkpoint).lower() == "none":
        return None
    ck = load_checkpoint(checkpoint)
    meta = ck.meta
    got_codec, got_cbr = meta.get("codec"), meta.get("cbr")
    if got_codec != codec or got_cbr is None or not same_cbr(got_cbr, cbr):
        got = f"link {meta.get('link')!r} (codec {got_codec!r}) at CBR " + (
            format_cbr(float(got_cbr)) if got_cbr is not None else "?")
        raise SemcomError(f"checkpoint {checkpoint} was trained for {got}, but this link uses codec "
                          f"{codec!r} at CBR {format_cbr(cbr)}; train one for it with "
                          f"`semcom train --cbr {format_cbr(cbr)} ...`")
    return ck


def receiver_weights(weights: str | Path, *, link: str, receiver: str,
                     train_command: str | None = None) -> dict[str, torch.Tensor]:
    """The receiver state dict a learned back-end loads: ``"shipped"`` for the shipped checkpoint of the link
    that trains it (the manifest entry of ``link``), ``"shipped:NAME"`` for the one of link ``NAME`` (a variant
    of the back-end), or the path of a training checkpoint of such a link.

    ``train_command``: how that back-end is trained, for the messages (default ``semcom train --link LINK``).

    Raises:
        SemcomError: nothing shipped, a bad file, or a checkpoint without weights for ``receiver``.
    """
    if str(weights).startswith("shipped:"):
        link, weights = str(weights)[len("shipped:"):], "shipped"
    train_command = train_command or f"semcom train --link {link} --cbr 1 --snr 0 --out my.ckpt"
    if str(weights) == "shipped":
        entries = [e for e in read_manifest() if e.get("link") == link]
        if not entries:
            raise SemcomError(f"no shipped weights for the {receiver} back-end (link {link!r}); train them with "
                              f"`{train_command}` and pass --checkpoint with the checkpoint it writes")
        ck = load_checkpoint(entry_path(entries[0]), sha256=entries[0]["sha256"])
    else:
        ck = load_checkpoint(weights)
    if not ck.receiver:
        raise SemcomError(f"{weights} holds no receiver weights (made by link {ck.meta.get('link')!r}); the "
                          f"{receiver} back-end is trained by `{train_command}`")
    return ck.receiver
