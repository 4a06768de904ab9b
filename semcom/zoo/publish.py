"""Turn a training checkpoint into a shipped one: fp16 weights, no optimizer state, listed in the manifest.

Usage::

    python -m semcom.zoo.publish checkpoints/deepjscc-cbr1-48-adaptive.ckpt

writes ``semcom/zoo/checkpoints/<name>.ckpt`` and adds (or replaces) the entry ``<name>`` in
``semcom/zoo/manifest.json`` with the file's SHA-256 and how it was trained.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch

from semcom.conventions import format_cbr
from semcom.errors import SemcomError
from semcom.zoo.store import load_checkpoint, manifest_path, read_manifest, save_checkpoint, sha256_of, write_manifest

__all__ = ["publish", "checkpoint_name", "run_lineage", "MAX_BYTES"]

#: shipped checkpoints must stay small
MAX_BYTES = 4 * 1024 * 1024


def checkpoint_name(meta: dict[str, Any]) -> str:
    """``<link>-cbr1-48-adaptive`` or ``<link>-cbr1-48-snr10`` (the link it was trained for, which for
    the codecs' own links is the codec's name)."""
    cbr = float(meta["cbr"])
    label = format_cbr(cbr).replace("/", "-")
    mode = "adaptive" if meta.get("snr_mode") == "adaptive" else f"snr{float(meta['snr_db']):g}"
    return f"{meta.get('link') or meta['codec']}-cbr{label}-{mode}"


def _half(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}


def _lineage(training: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs a checkpoint started from (``--init``, else ``--warm-start``), newest first, while their files
    exist: one parent per run (``started_from``; :func:`run_lineage` follows both)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        how = "init" if training.get("init") else "warm-start" if training.get("warm_start") else None
        parent = training.get("init") or training.get("warm_start")
        if how is None or parent in seen or not Path(parent).exists():
            return out
        seen.add(parent)
        meta = load_checkpoint(parent).meta
        training = meta.get("training", {}) or {}
        out.append({"how": how, "codec": meta.get("codec"), "steps": meta.get("step"),
                    "seconds": training.get("seconds"), "schedule": training.get("schedule"), "lr": training.get("lr")})


def run_lineage(checkpoint: str | Path, *, name: str | None = None) -> list[dict[str, Any]]:
    """Every run a checkpoint's weights come from, oldest first, ending with the checkpoint's own run.

    Each item: ``run`` (the file's stem; the checkpoint itself is ``name`` when given), ``steps``,
    ``schedule``, and ``init`` / ``warm_start``: the runs it started from (``None``: from scratch).  Both
    parents are followed while their files exist (a parent whose file is gone is named, not followed);
    a parent named like a later run gets its role as a suffix (``-init``, ``-warm-start``).

    Example: a DeepJSCC-Deblur run ``--init`` an earlier DeepJSCC-Deblur run and ``--warm-start`` DeepJSCC gives
    ``[{run: deblur-init, ...}, {run: deepjscc, ...}, {run: deblur, init: deblur-init, warm_start: deepjscc}]``.
    """
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}

    def visit(path: Path, run: str) -> str:
        names[str(path.resolve())] = run
        meta = load_checkpoint(path).meta
        training = meta.get("training", {}) or {}
        parents: dict[str, str | None] = {"init": None, "warm_start": None}
        for how in parents:
            parent = training.get(how)
            if not parent:
                continue
            known = names.get(str(Path(parent).resolve()))
            if known is not None:
                parents[how] = known
                continue
            stem = Path(parent).stem
            if stem in names.values():
                stem = f"{stem}-{how.replace('_', '-')}"
            parents[how] = visit(Path(parent), stem) if Path(parent).is_file() else stem
        out.append({"run": run, "steps": meta.get("step"), "schedule": training.get("schedule"), **parents})
        return run

    checkpoint = Path(checkpoint)
    visit(checkpoint, name or checkpoint.stem)
    return out


def publish(checkpoint: str | Path, *, name: str | None = None, manifest: str | Path | None = None,
            max_bytes: int = MAX_BYTES, curve: str | None = None) -> dict[str, Any]:
    """Convert ``checkpoint`` to fp16, store it next to the manifest and record it there.

    Args:
        checkpoint: a checkpoint written by :func:`semcom.train.train`.
        name: entry name (default :func:`checkpoint_name` of its metadata).
        manifest: the manifest file (default ``semcom/zoo/manifest.json``); the file goes into
            ``checkpoints/`` beside it.
        max_bytes: refuse files larger than this.
        curve: the run's learning-curve CSV, relative to the repository (``results/training/<name>.csv``),
            recorded as the entry's ``curve``.

    Returns:
        the manifest entry.
    """
    ck = load_checkpoint(checkpoint)
    meta = dict(ck.meta)
    for key in ("link", "codec", "cbr", "snr_mode"):
        if key not in meta:
            raise SemcomError(f"{checkpoint} lacks the metadata key {key!r}; is it a training checkpoint?")
    name = name or checkpoint_name(meta)
    man = Path(manifest) if manifest else manifest_path()
    rel = Path("checkpoints") / f"{name}.ckpt"
    dest = man.resolve().parent / rel
    meta["published_from"] = Path(checkpoint).name
    save_checkpoint(dest, meta=meta, codec=_half(ck.codec), receiver=_half(ck.receiver), train=None)
    size = dest.stat().st_size
    if size > max_bytes:
        dest.unlink()
        raise SemcomError(f"{name}: {size / 2**20:.1f} MiB in fp16 is over the {max_bytes / 2**20:.0f} MiB limit")
    training = meta.get("training", {})
    lineage = _lineage(training)
    entry = {
        "name": name, "link": meta["link"], "codec": meta["codec"], "cbr": float(meta["cbr"]),
        "cbr_label": format_cbr(float(meta["cbr"])), "snr_mode": meta["snr_mode"],
        "snr_db": meta.get("snr_db"), "snr_range": meta.get("snr_range"),
        "file": rel.as_posix(), "sha256": sha256_of(dest), "bytes": size,
        "training": {"steps": meta.get("step"), "dataset": training.get("dataset"), "size": training.get("size"),
                     "n_train": training.get("n_train"), "batch_size": training.get("batch_size"),
                     "lr": training.get("lr"), "schedule": training.get("schedule"), "seed": training.get("seed"),
                     "device": training.get("device"), "seconds": training.get("seconds")},
    }
    entry["lineage"] = run_lineage(checkpoint, name=name)
    if curve:
        entry["curve"] = Path(curve).as_posix()
    if lineage:
        entry["training"]["started_from"] = lineage
        entry["training"]["total_steps"] = meta.get("step", 0) + sum(x["steps"] or 0 for x in lineage)
        entry["training"]["total_seconds"] = round(
            (training.get("seconds") or 0) + sum(x["seconds"] or 0 for x in lineage), 1)
    entries = [e for e in read_manifest(man) if e.get("name") != name]
    write_manifest(entries + [entry], man)
    return entry


def manifest_table(manifest: str | Path | None = None) -> str:
    """The shipped checkpoints as a Markdown table (steps and CPU time include the runs they started from)."""
    lines = ["| checkpoint | SNR | steps | training time | schedule | size |", "| --- | --- | --- | --- | --- | --- |"]
    for e in sorted(read_manifest(manifest), key=lambda e: (e["codec"], -e["cbr"], e["snr_mode"])):
        t = e.get("training", {})
        steps = t.get("total_steps") or t.get("steps")
        secs = t.get("total_seconds") or t.get("seconds") or 0
        if e.get("lineage"):
            chain = " + ".join(f"{x['steps']} ({x['run']})" for x in e["lineage"][:-1])
        else:
            chain = " + ".join(f"{x['steps']} ({x['how']} {x['codec']})" for x in reversed(t.get("started_from", [])))
        steps_txt = f"{chain} + {t.get('steps')}" if chain else f"{steps}"
        snr = "0-20 dB (adaptive)" if e["snr_mode"] == "adaptive" else f"{e['snr_db']:g} dB"
        lines.append(f"| `{e['name']}` | {snr} | {steps_txt} | {secs / 60:.0f} min | {t.get('schedule')} | "
                     f"{e['bytes'] / 2**10:.0f} KiB |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m semcom.zoo.publish", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", nargs="?")
    parser.add_argument("--name", default=None)
    parser.add_argument("--manifest", default=None)
    parser.add_argument("--curve", default=None, help="the run's learning-curve CSV (results/training/NAME.csv)")
    parser.add_argument("--table", action="store_true", help="print the manifest as a Markdown table and exit")
    args = parser.parse_args(argv)
    if args.table:
        print(manifest_table(args.manifest))
        return 0
    if not args.checkpoint:
        parser.error("give a checkpoint to publish (or --table)")
    try:
        entry = publish(args.checkpoint, name=args.name, manifest=args.manifest, curve=args.curve)
    except SemcomError as exc:
        print(f"semcom: error: {exc}", file=sys.stderr)
        return 2
    print(f"{entry['name']}: {entry['file']} ({entry['bytes'] / 1024:.0f} KiB, sha256 {entry['sha256'][:16]}...)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
