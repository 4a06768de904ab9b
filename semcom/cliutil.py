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
