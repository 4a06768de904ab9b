"""The experiment harness: a registry of experiments, their configurations, and the one results writer.

An experiment is a function ``run(cfg, results)`` registered with :func:`experiment` under a kebab-case
name, together with a frozen dataclass type whose defaults are the full-scale run (the one whose files
are committed under ``results/``) and a ``tiny`` instance of it that runs in seconds on a CPU (what the
tests run).  Every table it produces goes through :class:`Results`, which writes the CSV and a JSON
sidecar beside it (``<stem>.json``: the experiment, its configuration and its key, the git commit and
package versions).

Example:
    >>> from semcom.experiments import EXPERIMENTS
    >>> "ldpc-bler" in EXPERIMENTS
    True
    >>> EXPERIMENTS["ldpc-bler"].out
    'results/ldpc-bler'
"""

from __future__ import annotations

import dataclasses
import sys
import time
import types
import typing
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from semcom.bench.results import (CsvWriter, config_key, git_commit, package_versions, read_json, read_rows,
                                  write_json, write_table)
from semcom.errors import SemcomError
from semcom.registry import Registry, did_you_mean

#: every experiment, by name; the modules below register theirs when the registry is first read
EXPERIMENTS = Registry("experiment", (
    "semcom.experiments.backends",
    "semcom.experiments.blurry_target",
    "semcom.experiments.diffevent",
    "semcom.experiments.evjscc",
    "semcom.experiments.ldpc_bler",
    "semcom.experiments.sensor_noise",
    "semcom.experiments.snr_modes",
    "semcom.experiments.ssdm",
    "semcom.experiments.stra",
    "semcom.experiments.width_sweep",
))


@dataclass(frozen=True)
class Experiment:
    """One registered experiment.

    Args:
        name: its registry name (kebab-case), also the command's ``NAME``.
        run: ``run(cfg, results)``: computes and writes its tables through ``results``.
        config: a frozen dataclass type; its defaults are the full-scale configuration.
        tiny: an instance of ``config`` small enough for a test (seconds on a CPU).
        out: the folder it writes to by default (under ``results/``).
        summary: one line saying what it measures.
    """

    name: str
    run: Callable[[Any, "Results"], None]
    config: type
    tiny: Any
    out: str
    summary: str

    def __post_init__(self) -> None:
        if not dataclasses.is_dataclass(self.config):
            raise ValueError(f"experiment {self.name!r}: config must be a dataclass type")
        if not isinstance(self.tiny, self.config):
            raise ValueError(f"experiment {self.name!r}: tiny must be an instance of {self.config.__name__}")

    def full(self) -> Any:
        """The full-scale configuration (the dataclass's defaults)."""
        return self.config()


def experiment(name: str, *, config: type, tiny: Any, out: str) -> Callable[[Callable], Callable]:
    """Register the decorated ``run(cfg, results)`` as experiment ``name`` (its docstring's first line is
    the summary ``--list`` prints)."""

    def deco(fn: Callable) -> Callable:
        summary = ((fn.__doc__ or "").strip().splitlines() or [""])[0]
        EXPERIMENTS.add(name, Experiment(name, fn, config, tiny, out, summary), help=summary)
        return fn

    return deco


# -- configuration overrides -------------------------------------------------------------------------

def _convert(text: str, kind: Any, what: str) -> Any:
    """``text`` as a value of the annotated type ``kind`` (None, bool, int, float, str, tuples of them)."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if text.lower() in ("none", "") and len(options) < len(typing.get_args(kind)):
            return None
        errors = []
        for option in options:
            try:
                return _convert(text, option, what)
            except SemcomError as exc:
                errors.append(str(exc))
        raise SemcomError(errors[0] if errors else f"{what}: cannot read {text!r}")
    if origin is tuple:
        inner = typing.get_args(kind)[0] if typing.get_args(kind) else str
        return tuple(_convert(part.strip(), inner, what) for part in text.split(",") if part.strip())
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind in (int, float, str):
            return kind(text)
    except ValueError:
        raise SemcomError(f"{what}: {text!r} is not a {kind.__name__}") from None
    raise SemcomError(f"{what}: values of type {kind} cannot be set from the command line")


def with_overrides(cfg: Any, overrides: Iterable[str]) -> Any:
    """``cfg`` with each ``KEY=VALUE`` of ``overrides`` applied (tuples: comma-separated values)."""
    hints = typing.get_type_hints(type(cfg))
    names = [f.name for f in fields(cfg)]
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise SemcomError(f"--set {item!r}: expected KEY=VALUE")
        if key not in names:
            raise SemcomError(f"--set: {type(cfg).__name__} has no option {key!r}{did_you_mean(key, names)} "
                              f"(options: {', '.join(names)})")
        changes[key] = _convert(value.strip(), hints[key], f"--set {key}")
    return replace(cfg, **changes)


# -- the results writer --------------------------------------------------------------------------------

def _portable(value: Any) -> Any:
    """A configuration value as a sidecar records it: paths as strings."""
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, (list, tuple)):
        return [_portable(v) for v in value]
    if isinstance(value, dict):
        return {k: _portable(v) for k, v in value.items()}
    return value


class Results:
    """Where an experiment writes: CSV tables, each with a JSON sidecar, under one output folder.

    Args:
        experiment: the registered experiment.
        config: the configuration it runs with.
        out: the output folder (created when the first file is written).
        tiny: whether ``config`` is the tiny one (recorded in the sidecars).
        say: where progress lines go (default: standard error).
    """

    def __init__(self, experiment: Experiment, config: Any, out: Path | str, *, tiny: bool = False,
                 say: Callable[[str], None] | None = None) -> None:
        self.experiment = experiment
        self.config = config
        self.out = Path(out)
        self.tiny = tiny
        self._say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.written: list[Path] = []

    def say(self, message: str) -> None:
        self._say(message)

    @property
    def config_dict(self) -> dict[str, Any]:
        return {k: _portable(v) for k, v in asdict(self.config).items()}

    def path(self, name: str) -> Path:
        """``<out>/<name>``, its folder created."""
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def folder(self, name: str) -> Path:
        """``<out>/<name>/``, created (for files other code writes: sweeps, learning curves)."""
        path = self.out / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def scratch(self, ckpt_dir: str | None) -> Path:
        """The folder for checkpoints: ``ckpt_dir`` when given, else ``<out>/ckpt``."""
        path = Path(ckpt_dir) if ckpt_dir else self.out / "ckpt"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def sidecar(self, csv_path: Path) -> Path:
        """Write ``<stem>.json`` beside ``csv_path``: what made it and from which commit."""
        config = self.config_dict
        command = f"semcom experiment {self.experiment.name}" + (" --tiny" if self.tiny else "")
        side = csv_path.with_suffix(".json")
        write_json(side, {"experiment": self.experiment.name, "command": command, "tiny": self.tiny,
                          "config": config, "config_key": config_key(config), "csv": csv_path.name,
                          "git_commit": git_commit(), "versions": package_versions(), "started": self.started,
                          "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        return side

    def _record(self, path: Path) -> None:
        if path not in self.written:
            self.written.append(path)

    def table(self, name: str, rows: list[Mapping[str, Any]]) -> Path:
        """Write ``rows`` (the first row's keys are the columns) as ``<out>/<name>``, replacing it."""
        if not rows:
            raise SemcomError(f"{self.experiment.name}: no rows for {name}")
        keys = list(dict.fromkeys(k for r in rows for k in r))
        path = write_table(self.path(name), [{k: r.get(k) for k in keys} for r in rows])
        self.sidecar(path)
        self._record(path)
        return path

    def append(self, name: str, row: Mapping[str, Any], *, columns: Iterable[str]) -> Path:
        """Add one row to ``<out>/<name>`` (created with ``columns`` as its header), for tables that
        grow as an experiment goes and resume where it stopped."""
        path = self.path(name)
        if path not in self.written and path.exists():
            old = self.sidecar_of(name).get("config_key")
            if old is not None and old != config_key(self.config_dict):
                raise SemcomError(f"{path} holds rows of another configuration of {self.experiment.name}; "
                                  "move it away or write to another --out")
        CsvWriter(path, columns=list(columns)).write(row)
        self.sidecar(path)
        self._record(path)
        return path

    def rows(self, name: str) -> list[dict[str, str]]:
        """The rows already in ``<out>/<name>`` (none when it does not exist)."""
        return read_rows(self.out / name)

    def sidecar_of(self, name: str) -> dict[str, Any]:
        return read_json((self.out / name).with_suffix(".json"))


def run_experiment(name: str, *, tiny: bool = False, out: Path | str | None = None,
                   overrides: Iterable[str] = (), say: Callable[[str], None] | None = None) -> Results:
    """Run experiment ``name`` (its full-scale configuration, or the tiny one) into ``out`` (default: the
    experiment's own folder), with ``KEY=VALUE`` ``overrides`` of its configuration; returns its
    :class:`Results` (``written`` lists the tables)."""
    exp: Experiment = EXPERIMENTS.get(name)
    cfg = with_overrides(exp.tiny if tiny else exp.full(), overrides)
    results = Results(exp, cfg, Path(out) if out is not None else Path(exp.out), tiny=tiny, say=say)
    exp.run(cfg, results)
    return results
