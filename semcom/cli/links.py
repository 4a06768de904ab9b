"""``semcom links``: the links a run can name, with their one-line descriptions."""

from __future__ import annotations

from pathlib import Path

import click

from semcom.errors import SemcomError

__all__ = ["links_cmd"]


@click.command("links")
def links_cmd() -> None:
    """List the links (name and one-line description); a link that cannot load says why.

    Links are read from $SEMCOM_LINKS (folders separated by ':'), ./links and the package; a link
    file of one's own is checked against the registries, plugins included."""
    import semcom.linkspec as linkspec

    shipped = Path(linkspec.__file__).resolve().parent / "links"
    links = linkspec.available_links()
    width = max((len(n) for n in links), default=0)
    for name, path in links.items():
        try:  # the shipped links are tested to load; reading them needs no torch
            spec = linkspec.LinkSpec.load(path, validate=path.parent != shipped)
            desc = (spec.description.splitlines() or [""])[0]
        except SemcomError as exc:
            desc = f"(cannot load: {_link_failure(exc, path)})"
        click.echo(f"{name.ljust(width)}  {desc}")


def _link_failure(exc: SemcomError, path: Path) -> str:
    """Why a link file cannot load, without its path (the listing names the link) or the list of known names."""
    import re

    msg = " ".join(str(exc).split())
    if msg.startswith(f"{path}: "):
        msg = msg[len(f"{path}: "):]
    msg = re.sub(r" \(known: [^)]*\)$", "", msg)
    if msg.startswith("unknown "):
        msg += "; if a plugin registers it, load that: semcom --plugin FILE.py ... or $SEMCOM_PLUGINS"
    return msg
