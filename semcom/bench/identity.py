"""What identifies a sweep and its files: the output names, the sidecar's identity and the resume check,
the weights' fingerprint, and the notes a sweep prints about its inputs."""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from semcom.bench.config import DEFAULT_METRICS, SweepConfig
from semcom.bench.results import config_key, read_rows
from semcom.conventions import format_cbr
from semcom.errors import SemcomError

if TYPE_CHECKING:  # pragma: no cover
    from semcom.link import Component, Link
    from semcom.sources.base import Batch


def weights_digest(module: torch.nn.Module) -> str:
    """Fingerprint of a module's parameters and buffers (names, shapes, dtypes and values)."""
    h = hashlib.blake2b(digest_size=12)
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{tuple(t.shape)}|{t.dtype}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _tag(value: Any) -> str:
    if isinstance(value, dict):  # a table (camera = {preset = ..., ...}): its items, hashed when too long
        text = "-".join(f"{k}-{_tag(v)}" for k, v in sorted(value.items()))
        if len(text) > 40:
            text = text[:31] + "-" + hashlib.sha1(repr(sorted(value.items())).encode()).hexdigest()[:8]
        return _tag(text)
    text = "-".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    return "".join(c if c.isalnum() or c in ".-" else "-" for c in text).strip("-")[:40]


def output_stem(link: str, channel: str, cbr: float, cfg: SweepConfig | None = None) -> str:
    """``<link>_<channel>_cbr<R>``, plus a tag for every option of ``cfg`` that changes the numbers
    and is not at its default (checkpoint, dataset and its parameters, limit, repeats, seed,
    metrics, channel parameters), so runs that differ never collide on one file."""
    name = Path(link).name
    name = name[:-len(".toml")] if name.endswith(".toml") else name   # not .stem: "share0.4" keeps its ".4"
    stem = f"{name}_{channel}_cbr{format_cbr(cbr).replace('/', '-')}"
    if cfg is None:
        return stem
    tags = []
    if cfg.checkpoint:
        tags.append(f"ckpt-{_tag(Path(cfg.checkpoint).stem)}")
    if cfg.dataset:
        tags.append(_tag(cfg.dataset))
    for key, value in sorted(cfg.dataset_params.items()):
        if value is not None:
            tags.append(f"{_tag(key)}-{_tag(Path(value).name if key == 'data_root' else value)}")
    for key, value in sorted(cfg.channel_params.items()):
        tags.append(f"{_tag(key)}-{_tag(value)}")
    if cfg.limit is not None:
        tags.append(f"n{cfg.limit}")
    if cfg.repeats != 1:
        tags.append(f"r{cfg.repeats}")
    if cfg.seed != 0:
        tags.append(f"seed{cfg.seed}")
    if tuple(cfg.metrics) != DEFAULT_METRICS:
        tags.append("m-" + _tag(cfg.metrics))
    return "_".join([stem, *tags])


def trained_range_notice(link: Link, snr_db: tuple[float, ...]) -> str | None:
    """One line when SNR points lie outside the SNRs the link's checkpoint was trained at."""
    meta = getattr(link.codec, "checkpoint_meta", None) or {}
    if meta.get("snr_range"):
        lo, hi = (float(v) for v in meta["snr_range"])
        trained = f"over {lo:g} to {hi:g} dB"
    elif meta.get("snr_db") is not None:
        lo = hi = float(meta["snr_db"])
        trained = f"at {lo:g} dB only"
    else:
        return None
    outside = [float(s) for s in snr_db if not lo - 1e-9 <= float(s) <= hi + 1e-9]
    if not outside:
        return None
    shown = ", ".join(f"{s:g}" for s in outside[:4]) + (", ..." if len(outside) > 4 else "")
    return (f"note: {link.spec.name}'s checkpoint was trained {trained}; {len(outside)} SNR point(s) "
            f"({shown} dB) lie outside it and measure how it generalizes")


def input_reference(batches: list[Batch], metrics: dict[str, Any]) -> dict[str, float]:
    """Mean PSNR / SSIM of the blurry input frame against the sharp one over the evaluation set
    (the other metrics are left out: DISTS would cost a network pass for a reference line); none
    where the input is the target itself (the image task: a source without motion blur)."""
    out: dict[str, float] = {}
    if all(torch.equal(b.blurry, b.sharp) for b in batches):
        return out
    with torch.no_grad():
        for m in ("psnr", "ssim"):
            if m in metrics:
                value = float(torch.cat([metrics[m](b.blurry, b.sharp).double().cpu() for b in batches]).mean())
                if math.isfinite(value):  # a source without motion blur has an infinite PSNR: no line
                    out[m] = round(value, 4)
    return out


def portable_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """What determines a sweep's numbers, without where files lie: the link file's path, its
    description and the checkpoint's path are left out (the link's contents stay; the weights have their own
    fingerprint), so a clone elsewhere or a moved results folder resumes."""
    # the description is prose: it changes no number
    link = {k: v for k, v in dict(identity.get("link") or {}).items() if k not in ("path", "description")}
    out = {k: v for k, v in identity.items() if k not in ("link", "checkpoint")}
    return {**out, "link": link, "checkpoint_given": identity.get("checkpoint") is not None}


def display_path(path: str) -> str:
    """A file's path as a sidecar records it, never a machine's absolute path where it can be helped:
    relative to the package for the package's own files (``semcom/links/NAME.toml``,
    ``semcom/zoo/checkpoints/NAME.ckpt``, the same in every clone and installation), relative to the
    repository for a file inside the source checkout the package is run from (``ckpt/run/x.ckpt``,
    ``results/exp/link.toml``), as given for any other file."""
    if not path:
        return path
    package = Path(__file__).resolve().parents[1]
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError):
        return path
    try:
        return (Path("semcom") / resolved.relative_to(package)).as_posix()
    except ValueError:
        pass
    root = package.parent
    if (root / "pyproject.toml").is_file():  # a source checkout, not site-packages
        try:
            return resolved.relative_to(root).as_posix()
        except ValueError:
            pass
    return path


def display_checkpoint(checkpoint: str | None) -> str | None:
    """The ``checkpoint`` a sweep was given as its sidecar records it: ``None`` (the shipped one) and
    ``"none"`` (untrained) as they are, a file as :func:`display_path` writes it (a shipped zoo file as
    ``semcom/zoo/checkpoints/NAME.ckpt``, one inside the repository relative to it)."""
    if checkpoint is None or str(checkpoint).lower() == "none":
        return checkpoint
    return display_path(str(checkpoint))


def display_config(cfg: SweepConfig) -> dict[str, Any]:
    """The sidecar's ``config``: the sweep's options as given, with the link (when a file) and the
    checkpoint written as :func:`display_path` writes files."""
    out = {**asdict(cfg), "snr_db": list(cfg.snr_db), "checkpoint": display_checkpoint(cfg.checkpoint)}
    del out["skip_hopeless"]  # how the envelope is searched, not what it finds
    if cfg.link.endswith(".toml") or "/" in cfg.link or "\\" in cfg.link:  # a link file, not a link's name
        out["link"] = display_path(cfg.link)
    return out


def sweep_identity(cfg: SweepConfig, spec: Any, channel: Component, dataset: Any) -> dict[str, Any]:
    """What the sweep's numbers depend on (stored as ``resolved`` in the sidecar)."""
    return {"link": {**spec.as_dict(), "path": display_path(spec.path)}, "cbr": cfg.cbr,
            "channel": {"name": channel.name, **channel.params},
            "dataset": dataset.describe() or str(cfg.dataset), "limit": cfg.limit, "repeats": cfg.repeats,
            "seed": cfg.seed, "metrics": list(cfg.metrics), "checkpoint": display_checkpoint(cfg.checkpoint)}


def resumed_points(csv_path: Path, old: dict[str, Any], *, key: str, weights: str) -> set[float]:
    """SNR points already in ``csv_path``, whose sidecar holds ``old``; refuses results of another
    configuration or other weights."""
    if not csv_path.exists():
        return set()
    old_key, old_weights, old_identity = old.get("config_key"), old.get("weights"), old.get("resolved")
    # sidecars written before keys were path-free: compare what they resolved, paths left out
    same = old_key == key or (isinstance(old_identity, dict) and config_key(portable_identity(old_identity)) == key)
    if not same:
        raise SemcomError(f"{csv_path} holds results of a different configuration; "
                          "pass --overwrite to replace it or choose another --out")
    if old_weights is not None and old_weights != weights:
        raise SemcomError(f"{csv_path} holds results of other model weights (the checkpoint changed since, "
                          "or the model has no trained weights and starts at random); "
                          "pass --overwrite to replace them or choose another --out")
    return {round(float(r["snr_db"]), 6) for r in read_rows(csv_path)}
