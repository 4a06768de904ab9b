"""Plugins: modules of one's own components (codecs, channels, back-ends, sources, metrics, figures).

A plugin is an ordinary Python module whose components register themselves with the same
decorators as the built-in ones (``@CODECS.register("my-codec")``, ``FIGURES.add(...)``, ...), so
they get the same checks (kebab-case names, a name used twice refused, "did you mean" for a
misspelt one) and a link file can name them.  There is one way to load a plugin, in three places:

* ``semcom --plugin my_components.py run ...``: a ``.py`` file (any path) or the name of an
  importable module; repeatable; a global option, given before the command;
* ``SEMCOM_PLUGINS=my_components.py:my_package.components``: the same, separated by
  ``os.pathsep`` (``:`` on Linux and macOS), for every ``semcom`` command and for Python code;
* an installed package's entry point in the group ``semcom.plugins`` (``pyproject.toml``:
  ``[project.entry-points."semcom.plugins"]`` ``mine = "my_package.components"``); an entry point
  that names a function instead of a module is called once, with no arguments.

All of them are imported the first time any registry is read, after the built-in components (a
plugin that registers a built-in name is refused), once per process; the command line imports
them before it runs the command (``--plugin`` ones first).  A plugin that cannot be found or
fails to import is one line naming it (:class:`PluginError`; ``semcom`` exits with status 2).

Example:
    >>> from semcom.plugins import load_plugins
    >>> load_plugins(["my_components.py"])          # doctest: +SKIP
    ['my_components.py']
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Iterable

from semcom.errors import SemcomError

__all__ = ["ENV", "GROUP", "PluginError", "load_plugin", "load_plugins", "env_plugins", "export"]

#: the environment variable that names plugins (``os.pathsep``-separated files or module names)
ENV = "SEMCOM_PLUGINS"
#: the entry-point group of installed packages' plugins
GROUP = "semcom.plugins"

#: what was loaded in this process: key (a file's resolved path, a module's name, an entry point) -> module
_loaded: dict[str, Any] = {}


class PluginError(SemcomError):
    """A plugin that cannot be found or fails to import (one line naming it)."""


def env_plugins() -> list[str]:
    """The plugins named by ``$SEMCOM_PLUGINS``, in order."""
    return [p.strip() for p in os.environ.get(ENV, "").split(os.pathsep) if p.strip()]


def _entry_points() -> list[Any]:
    from importlib.metadata import entry_points

    try:
        return sorted(entry_points(group=GROUP), key=lambda ep: ep.name)
    except Exception:  # a broken installed distribution must not stop the command line
        return []


def _is_file(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or os.sep in spec


def _key(spec: str) -> str:
    return f"file:{Path(spec).expanduser().resolve()}" if _is_file(spec) else f"module:{spec}"


def load_plugins(plugins: Iterable[str] = (), *, entry_points: bool = True) -> list[str]:
    """Import ``plugins`` (files or module names), then those of ``$SEMCOM_PLUGINS`` and, with
    ``entry_points``, the ``semcom.plugins`` entry points; each at most once per process.
    The built-in components are loaded first.  Returns the labels of the plugins imported now.

    Raises:
        PluginError: a plugin not found or failing to import.
    """
    from semcom import registry

    registry.plugins_loaded()  # this call covers what the first registry read would load
    specs = list(dict.fromkeys([*plugins, *env_plugins()]))
    eps = [ep for ep in _entry_points() if f"entry-point:{ep.name}={ep.value}" not in _loaded] \
        if entry_points else []
    todo = [s for s in specs if _key(s) not in _loaded]
    if not todo and not eps:
        return []
    for reg in (registry.SOURCES, registry.CODECS, registry.CHANNELS, registry.RECEIVERS, registry.METRICS):
        len(reg)  # the built-in components first: a plugin that reuses one of their names is refused
    done = []
    for spec in todo:
        load_plugin(spec)
        done.append(spec)
    for ep in eps:
        _load_entry_point(ep)
        done.append(ep.name)
    return done


def load_plugin(spec: str) -> Any:
    """Import one plugin (a ``.py`` file or a module name) once; its module."""
    key = _key(spec)
    if key in _loaded:
        return _loaded[key]
    module = _import_file(spec) if _is_file(spec) else _import_module(spec)
    _loaded[key] = module
    return module


def _import_file(spec: str) -> Any:
    import hashlib
    import importlib.util

    path = Path(spec).expanduser()
    if path.is_dir():
        raise PluginError(f"plugin {spec!r} is a folder; give a .py file or the name of an importable module")
    if not path.is_file():
        raise PluginError(f"plugin {spec!r} not found: no such file")
    path = path.resolve()
    name = "semcom_plugin_" + re.sub(r"\W", "_", path.stem)
    other = sys.modules.get(name)
    if other is not None and getattr(other, "__file__", None) != str(path):
        name += "_" + hashlib.sha1(str(path).encode()).hexdigest()[:8]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise PluginError(f"plugin {spec!r} cannot be imported (not a Python source file)")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # as an import does: dataclasses and pickle look the module up by name
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise _failed(repr(spec), exc, path) from None
    return module


def _import_module(spec: str) -> Any:
    if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*", spec):
        raise PluginError(f"plugin {spec!r} is neither a .py file nor a module name (like my_package.components)")
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (spec == exc.name or spec.startswith(exc.name + ".")):
            hint = f" (the file? give its path: ./{spec}.py)" if Path(spec + ".py").is_file() else ""
            raise PluginError(f"plugin {spec!r} not found: no module named {exc.name!r}{hint}") from None
        raise _failed(repr(spec), exc, None) from None
    except Exception as exc:
        raise _failed(repr(spec), exc, None) from None


def _load_entry_point(ep: Any) -> Any:
    key = f"entry-point:{ep.name}={ep.value}"
    dist = getattr(getattr(ep, "dist", None), "name", None)
    label = f"{ep.name!r} (entry point {ep.value!r}" + (f" of {dist})" if dist else ")")
    try:
        obj = ep.load()
        if callable(obj):  # "package.module:register": a function to call; a module is imported only
            obj()
    except Exception as exc:
        raise _failed(label, exc, None) from None
    _loaded[key] = obj
    return obj


def _failed(label: str, exc: BaseException, path: Path | None) -> PluginError:
    """One line: which plugin, what went wrong, and where (file and line)."""
    if isinstance(exc, SemcomError):
        detail = str(exc)
    else:
        detail = f"{type(exc).__name__}: {exc}"
    where = ""
    if not isinstance(exc, SyntaxError):  # a SyntaxError names its file and line itself
        frames = traceback.extract_tb(exc.__traceback__)
        own = [f for f in frames if path is not None and Path(f.filename) == path]
        frame = (own or frames or [None])[-1]
        if frame is not None and "importlib" not in frame.filename:
            where = f" ({Path(frame.filename).name}, line {frame.lineno})"
    return PluginError(f"plugin {label} failed to load: {detail}{where}")


def export(plugins: Iterable[str]) -> None:
    """Add ``plugins`` to ``$SEMCOM_PLUGINS`` (files by absolute path), so that the processes this one
    starts (``semcom reproduce --jobs``, a local Ray runtime) load them as well."""
    specs = [str(Path(p).expanduser().resolve()) if _is_file(p) else p for p in plugins]
    merged = list(dict.fromkeys([*specs, *env_plugins()]))
    if merged:
        os.environ[ENV] = os.pathsep.join(merged)
