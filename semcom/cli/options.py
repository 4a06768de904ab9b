"""Option helpers shared by the command modules: ``KEY=VALUE`` arguments and where sweeps run."""

from __future__ import annotations

from typing import Any

import click

from semcom.errors import SemcomError

__all__ = ["parse_kv", "executor_options", "camera_value"]


def parse_kv(items: tuple[str, ...], what: str) -> dict[str, Any]:
    """``("fading=fast", "coherence=64")`` -> ``{"fading": "fast", "coherence": 64}`` (values read as TOML).

    >>> parse_kv(("fading=fast", "coherence=64"), "--channel-param")
    {'fading': 'fast', 'coherence': 64}
    """
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


def camera_value(preset: str | None, params: tuple[str, ...]) -> str | dict[str, Any] | None:
    """The ``camera`` argument of a source from ``--camera PRESET`` and ``--camera-param KEY=VALUE``:
    the preset's name alone, a table with the preset and the settings, or None when neither is given
    (the link's own camera).  The names are checked where the source is built.

    >>> camera_value("noisy", ())
    'noisy'
    >>> camera_value(None, ("leak_hz=0.05",))
    {'preset': 'default', 'leak_hz': 0.05}
    """
    settings = parse_kv(params, "--camera-param")
    if "preset" in settings:
        raise SemcomError("--camera-param preset=...: give the preset with --camera")
    if not settings:
        return preset
    return {"preset": preset or "default", **settings}


def executor_options(command):
    """``--executor`` and ``--address`` (where sweeps run), shared by ``semcom run`` and ``semcom reproduce``;
    ``--address`` without ``--executor ray`` is refused (exit 2)."""

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
