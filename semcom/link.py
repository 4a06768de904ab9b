"""A link: source node -> encoder -> channel -> decoder -> receiver back-end, declared in TOML.

A link file (``semcom/links/NAME.toml``, or ``NAME.toml`` in a folder of one's own) names its components from the registries::

    name = "softcast"
    description = "SoftCast: linear analog transmission of the blurry frame"
    target = "sharp"            # what the metrics compare the output with: "sharp" or "blurry"

    [codec]                     # CODECS; the other keys are constructor arguments
    name = "softcast"
    chunk = 16

    [channel]                   # CHANNELS; default channel, `--channel` overrides it
    name = "awgn"

    [receiver]                  # RECEIVERS; default "identity"
    name = "identity"

    [source]                    # SOURCES; the default evaluation data, `--dataset` overrides it
    name = "synth-blur"
"""

from __future__ import annotations

import difflib
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semcom.channels.base import Channel
from semcom.codecs.base import Codec, Reception, Transmission
from semcom.conventions import channel_uses_budget, format_cbr
from semcom.errors import SemcomError
from semcom.registry import CHANNELS, CODECS, RECEIVERS
from semcom.sources.base import Batch
from semcom.zoo.build import build_codec, is_learned

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

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: str = "") -> "LinkSpec":
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
        )
        for registry, comp in ((CODECS, spec.codec), (CHANNELS, spec.channel), (RECEIVERS, spec.receiver)):
            if comp.name not in registry:
                raise SemcomError(f"{path}: {registry.unknown_message(comp.name)}")
        return spec

    @classmethod
    def load(cls, path: str | Path) -> "LinkSpec":
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
        return cls.from_dict(data, path=str(path))

    def as_dict(self) -> dict[str, Any]:
        comp = lambda c: {"name": c.name, **c.params}  # noqa: E731
        return {"name": self.name, "description": self.description, "target": self.target,
                "codec": comp(self.codec), "channel": comp(self.channel),
                "receiver": comp(self.receiver), "source": comp(self.source), "path": self.path}


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
        close = difflib.get_close_matches(name_or_path, list(links), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SemcomError(f"unknown link {name_or_path!r}{hint} (see `semcom links`)")
    return LinkSpec.load(links[name_or_path])


@dataclass(frozen=True)
class LinkOutput:
    """One pass of a batch through a link."""

    output: torch.Tensor
    transmission: Transmission
    reception: Reception


def _build(registry, comp: Component, **extra: Any) -> Any:
    try:
        if registry is CODECS:
            if is_learned(comp.name):  # the zoo finds, verifies and loads its weights
                return build_codec(comp.name, **comp.params, **extra)
            if extra.get("checkpoint") is not None:
                raise SemcomError(f"codec {comp.name!r} has no learned weights; a checkpoint does not apply to it")
        return registry.build(comp.name, **comp.params, **extra)
    except SemcomError:
        raise
    except (TypeError, ValueError) as exc:  # unexpected keyword or bad value in a TOML table
        raise SemcomError(f"cannot build {registry.kind} {comp.name!r}: {exc}") from None


class Link(nn.Module):
    """A built link, ready to carry batches at a given SNR.

    Args:
        spec: the parsed link file.
        cbr: the requested CBR; the codec may use less, never more.
        channel: a channel component overriding the spec's.
        codec_overrides: extra codec constructor arguments (for example ``checkpoint``).

    Example:
        >>> link = Link(find_link("softcast"), cbr=1/48)        # doctest: +SKIP
        >>> out = link(batch, snr_db=10.0, generator=torch.Generator().manual_seed(0))  # doctest: +SKIP
    """

    def __init__(self, spec: LinkSpec, *, cbr: float, channel: Component | None = None,
                 codec_overrides: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.cbr = float(cbr)
        self.channel_spec = channel or spec.channel
        if self.channel_spec.name not in CHANNELS:
            raise SemcomError(CHANNELS.unknown_message(self.channel_spec.name))
        self.codec: Codec = _build(CODECS, spec.codec, cbr=self.cbr, **(codec_overrides or {}))
        self.channel: Channel = _build(CHANNELS, self.channel_spec)
        self.receiver = _build(RECEIVERS, spec.receiver)

    @property
    def name(self) -> str:
        return self.spec.name

    def forward(self, batch: Batch, *, snr_db: float | torch.Tensor,
                generator: torch.Generator | None = None) -> LinkOutput:
        snr = torch.as_tensor(snr_db, dtype=torch.float32)
        if snr.ndim == 0:
            snr = snr.expand(batch.size)
        tx, rx = self.codec.transmit(batch, self.channel, snr_db=snr, generator=generator)
        c, h, w = batch.frame_shape
        budget = channel_uses_budget(self.cbr, h, w, c)
        if tx.channel_uses > budget:
            raise SemcomError(
                f"link {self.name!r}: codec used {tx.channel_uses} channel uses per frame, more than the "
                f"budget of {budget} for CBR {format_cbr(self.cbr)} at {h}x{w}")
        out = self.receiver(rx.image, events=rx.events, batch=batch).clamp(0.0, 1.0)
        return LinkOutput(out, tx, rx)

    def target(self, batch: Batch) -> torch.Tensor:
        return batch.sharp if self.spec.target == "sharp" else batch.blurry
