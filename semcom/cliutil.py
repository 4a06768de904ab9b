"""Small parsing helpers shared by the CLI commands."""

from __future__ import annotations

from typing import Any

from semcom.errors import SemcomError


def parse_kv(items: tuple[str, ...], what: str) -> dict[str, Any]:
    """``("fading=fast", "coherence=64")`` -> ``{"fading": "fast", "coherence": 64}`` (values read as TOML)."""
    import tomllib

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SemcomError(f"{what} must look like KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


class OutputFolder:
    """A folder to write results into, created on entry and removed again on an error if this
    call created it and nothing was written into it (no empty ``results/runs`` left by a refused run).

    Example:
        >>> with OutputFolder("results/runs") as out:   # doctest: +SKIP
        ...     (out / "x.csv").write_text("...")
    """

    def __init__(self, path, what: str = "--out") -> None:
        from pathlib import Path

        self.path = Path(path)
        self.what = what
        self.created: list = []

    def __enter__(self):
        p = self.path.absolute()
        while not p.exists() and p != p.parent:
            self.created.append(p)
            p = p.parent
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            import os
            import tempfile

            fd, probe = tempfile.mkstemp(prefix=".semcom-write-test-", dir=self.path)  # unique: parallel
            os.close(fd)                                                          # processes share folders
            os.unlink(probe)
        except OSError as exc:
            self._remove_empty()
            raise SemcomError(f"cannot write to {self.what} {str(self.path)!r}: {exc.strerror or exc}") from None
        return self.path

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self._remove_empty()
        return False

    def _remove_empty(self) -> None:
        for d in self.created:  # deepest first; stops at the first folder that holds something
            try:
                d.rmdir()
            except OSError:
                break


def executor_options(command):
    """``--executor`` and ``--address`` (where sweeps run), shared by ``semcom run`` and ``semcom reproduce``;
    ``--address`` without ``--executor ray`` is refused (exit 2)."""
    import click

    def check(ctx, param, value):
        if value is not None and ctx.params.get("executor", "local") != "ray":
            raise click.UsageError("--address applies to --executor ray")
        return value

    command = click.option("--address", default=None, callback=check, expose_value=True,
                           help="Ray cluster to run on (e.g. 127.0.0.1:6379 or auto); default: a local "
                                "Ray runtime.")(command)
    return click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                        is_eager=True, help="Where sweep points run: here, or as Ray tasks (pip install "
                                            "'semcom[ray]').")(command)


#: the most frame transmissions (frames x channel realizations x SNR points) one sweep may ask for:
#: a bound far above any figure's (32 frames x 21 points), below what would run for days
MAX_TRANSMISSIONS = 1_000_000


def check_sweep_size(*, available: int, limit: int | None, repeats: int, points: int, dataset: str = "",
                     unit: str = "frames", frames_per_unit: int = 1) -> int:
    """Refuse a ``--limit`` above what the evaluation set holds (``available`` ``unit``: frames, or
    sequences of ``frames_per_unit`` frames) and a sweep of more than :data:`MAX_TRANSMISSIONS` frame
    transmissions; the number of frames that will be scored.

    >>> check_sweep_size(available=32, limit=None, repeats=2, points=3)
    32
    """
    what = f" ({dataset})" if dataset else ""
    if limit is not None and limit > available:
        raise SemcomError(f"--limit {limit} is more than the {available} {unit} the evaluation set{what} holds")
    frames = (available if limit is None else limit) * frames_per_unit
    total = frames * repeats * points
    if total > MAX_TRANSMISSIONS:
        raise SemcomError(f"{frames} frames x {points} SNR point{'s' if points != 1 else ''} x --repeats {repeats} "
                          f"= {total:,} frame transmissions; one sweep runs at most {MAX_TRANSMISSIONS:,} "
                          "(lower --repeats, --limit or the SNR points)")
    return frames


def check_sweep(cfg, source) -> int:
    """:func:`check_sweep_size` for a :class:`~semcom.bench.sweep.SweepConfig` whose link reads ``source``
    (a :class:`~semcom.linkspec.Component`) by default: builds the evaluation set without ``--limit``
    (that reads no frame) to learn its size; the number of frames the sweep scores."""
    from dataclasses import replace

    from semcom.bench.sweep import load_dataset
    from semcom.sources.video import SequenceFrames

    full = load_dataset(replace(cfg, limit=None), source)
    sequences = isinstance(full, SequenceFrames)
    units = len(full.sequences) if sequences else len(full)
    return check_sweep_size(available=units, limit=cfg.limit, repeats=cfg.repeats, points=len(cfg.snr_db),
                            dataset=f"{cfg.dataset or source.name}, test split",
                            unit="sequences" if sequences else "frames",
                            frames_per_unit=max(1, len(full) // max(1, units)))
