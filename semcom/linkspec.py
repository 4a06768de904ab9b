"""Link files: parsing ``NAME.toml`` into a :class:`LinkSpec` and finding links by name.

Reading a link needs no torch (``semcom links`` lists them at once); :mod:`semcom.link` builds
the runnable :class:`~semcom.link.Link` from a spec.  The file format is described in
:mod:`semcom.link`.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semcom.errors import SemcomError

TARGETS = ("sharp", "blurry")


def links_dirs() -> list[Path]:
    """Folders searched for ``NAME.toml``, earlier ones first: ``$SEMCOM_LINKS`` (colon-separated),
    ``./links`` of the working directory, and the links shipped inside the package
    (``semcom/links/``, package data, so an installed wheel finds them from anywhere)."""
    dirs = [Path(p) for p in os.environ.get("SEMCOM_LINKS", "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "links")
    dirs.append(Path(__file__).resolve().parent / "links")
    seen, out = set(), []
    for d in dirs:
        r = d.resolve()
        if r not in seen and r.is_dir():
            seen.add(r)
            out.append(r)
    return out


@dataclass(frozen=True)
class Component:
    """A registry name plus keyword arguments for its constructor."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, table: Any, *, what: str, default: str | None = None, path: str = "") -> "Component":
        if table is None:
            if default is None:
                raise SemcomError(f"{path}: missing [{what}] table")
            return cls(default)
        if isinstance(table, str):
            return cls(table)
        if not isinstance(table, dict) or "name" not in table:
            raise SemcomError(f"{path}: [{what}] needs a 'name' key")
        params = {k: v for k, v in table.items() if k != "name"}
        return cls(str(table["name"]), params)


@dataclass(frozen=True)
class LinkSpec:
    """A parsed link file."""

    name: str
    description: str
    codec: Component
    channel: Component
    receiver: Component
    source: Component
    target: str = "sharp"
    path: str = ""
    #: a back-end run at the sensor on the raw sensor data; the codec carries its output (optional)
    transmitter: Component | None = None
    #: only checkpoints shipped for this link will do (its codec sees other inputs than the codec's
    #: own links, e.g. sharp photographs); implied by a transmitter stage
    own_weights: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: str = "", validate: bool = True) -> "LinkSpec":
        """The spec of a parsed TOML table; ``validate`` checks the component names against the
        registries (which loads the components)."""
        name = data.get("name") or Path(path).stem
        target = data.get("target", "sharp")
        if target not in TARGETS:
            raise SemcomError(f"{path}: target must be one of {TARGETS}, got {target!r}")
        spec = cls(
            name=str(name),
            description=str(data.get("description", "")).strip(),
            codec=Component.parse(data.get("codec"), what="codec", path=path),
            channel=Component.parse(data.get("channel"), what="channel", default="awgn", path=path),
            receiver=Component.parse(data.get("receiver"), what="receiver", default="identity", path=path),
            source=Component.parse(data.get("source"), what="source", default="synth-blur", path=path),
            target=target,
            path=path,
            transmitter=None if data.get("transmitter") is None else
            Component.parse(data["transmitter"], what="transmitter", path=path),
            own_weights=_flag(data.get("own_weights", False), "own_weights", path),
        )
        if not validate:
            return spec
        from semcom.registry import CHANNELS, CODECS, RECEIVERS, SOURCES

        parts = [(CODECS, spec.codec), (CHANNELS, spec.channel), (RECEIVERS, spec.receiver), (SOURCES, spec.source)]
        if spec.transmitter is not None:  # a sensor-side stage is a back-end too
            parts.append((RECEIVERS, spec.transmitter))
        for registry, comp in parts:
            if comp.name not in registry:
                raise SemcomError(f"{path}: {registry.unknown_message(comp.name)}")
        check = getattr(SOURCES.get(spec.source.name), "check_settings", None)
        if check is not None:  # hybrid-camera sources: their arguments and camera table, before any run
            try:
                check(spec.source.params, what=f"[source] {spec.source.name}")
            except SemcomError as exc:
                raise SemcomError(f"{path}: {exc}") from None
        return spec

    @classmethod
    def load(cls, path: str | Path, *, validate: bool = True) -> "LinkSpec":
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise SemcomError(f"link file not found: {path}") from None
        except IsADirectoryError:
            raise SemcomError(f"{path} is a folder, not a link file (NAME.toml); see `semcom links`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SemcomError(f"cannot read link file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SemcomError(f"{path}: invalid TOML: {exc}") from None
        return cls.from_dict(data, path=str(path), validate=validate)

    def as_dict(self) -> dict[str, Any]:
        comp = lambda c: {"name": c.name, **c.params}  # noqa: E731
        out = {"name": self.name, "description": self.description, "target": self.target,
               "codec": comp(self.codec), "channel": comp(self.channel),
               "receiver": comp(self.receiver), "source": comp(self.source), "path": self.path}
        if self.transmitter is not None:  # only then: the identity of every other link is unchanged
            out["transmitter"] = comp(self.transmitter)
        if self.own_weights:
            out["own_weights"] = True
        return out

    @property
    def needs_own_weights(self) -> bool:
        """Whether only this link's own shipped checkpoints will do."""
        return self.own_weights or self.transmitter is not None


def _flag(value: Any, key: str, path: str) -> bool:
    if not isinstance(value, bool):
        raise SemcomError(f"{path}: {key} must be true or false, got {value!r}")
    return value


def available_links() -> dict[str, Path]:
    """Link name -> TOML path, over :func:`links_dirs` (earlier folders win)."""
    found: dict[str, Path] = {}
    for d in links_dirs():
        for f in sorted(d.glob("*.toml")):
            found.setdefault(f.stem, f)
    return found


def find_link(name_or_path: str) -> LinkSpec:
    """Load a link by name (``softcast``) or by the path of a TOML file."""
    if name_or_path.endswith(".toml") or os.sep in name_or_path:
        return LinkSpec.load(name_or_path)
    links = available_links()
    if name_or_path not in links:
        from semcom.registry import did_you_mean

        raise SemcomError(f"unknown link {name_or_path!r}{did_you_mean(name_or_path, links)} (see `semcom links`)")
    return LinkSpec.load(links[name_or_path])
