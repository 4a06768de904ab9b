"""Name -> component registries.

Every pluggable component (source node, codec, channel, receiver back-end, metric) registers
itself under a kebab-case name with a decorator in its own module; the package ``__init__``
imports the module, and a link TOML file can then refer to it by name.  There is exactly one
map per kind of component, so names cannot drift apart.  A user's own components register the
same way from a plugin module (``semcom --plugin my_components.py ...``, ``$SEMCOM_PLUGINS``, or
the ``semcom.plugins`` entry points of an installed package; see :mod:`semcom.plugins`).

Example:
    >>> from semcom.registry import CHANNELS
    >>> @CHANNELS.register("my-channel", help="a channel that does nothing")
    ... class MyChannel: ...
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from semcom.errors import SemcomError


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    help: str


def did_you_mean(name: str, known) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``known`` names, or ``""`` (the one suggestion helper).

    Case does not count (``EV-JSCC`` -> ``ev-jscc``)."""
    by_key: dict[str, str] = {}
    for k in map(str, known):
        by_key.setdefault(k.lower(), k)
    key = str(name).lower()
    if key in by_key:
        return f"; did you mean {by_key[key]!r}?"
    close = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.5)
    return f"; did you mean {by_key[close[0]]!r}?" if close else ""


def parameters(factory: Any) -> list[Any] | None:
    """The parameters of a component's constructor (``None`` when it has no readable signature)."""
    import inspect

    try:
        return list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None


def keywords(factory: Any) -> list[str]:
    """The keyword arguments a component's constructor takes (the one signature reader)."""
    return [p.name for p in parameters(factory) or () if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.name != "self" and not p.name.startswith("_")]


#: whether the plugins (``$SEMCOM_PLUGINS``, the ``semcom.plugins`` entry points; see :mod:`semcom.plugins`)
#: are still to be loaded: the first read of any registry loads them, after the built-in components
_plugins_pending = True
#: registries importing their built-in modules just now (plugins wait until the outermost one is done)
_loading = 0


def plugins_loaded() -> None:
    """Mark the plugins as loaded (:func:`semcom.plugins.load_plugins` calls it before it imports them)."""
    global _plugins_pending
    _plugins_pending = False


def _load_plugins() -> None:
    global _plugins_pending
    from semcom.plugins import load_plugins

    try:
        load_plugins()
    except BaseException:
        _plugins_pending = True  # the next read raises the same error again
        raise


class Registry:
    """A named collection of factories (classes, functions) or declared objects (figures).

    It rejects a name registered twice, answers an unknown name with the closest known one, and
    gives a registered class its name: ``registry_name``, and ``name`` where the class declares
    such an attribute (so the name is written once, in the decorator).
    """

    def __init__(self, kind: str, modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._modules = modules  # imported on first lookup: they register the built-in components
        self._loaded = not modules
        self._store: dict[str, Entry] = {}

    @property
    def _entries(self) -> dict[str, Entry]:
        """The entries, after importing the modules that register the built-in ones (once), and
        then, on the first read of any registry, the plugins."""
        global _loading
        if not self._loaded:
            import importlib

            self._loaded = True  # before importing: their register() calls come back here
            _loading += 1
            try:
                for module in self._modules:
                    importlib.import_module(module)
            except BaseException:
                self._loaded = False
                raise
            finally:
                _loading -= 1
        if _plugins_pending and not _loading:
            _load_plugins()
        return self._store

    def register(self, name: str, *, help: str = "") -> Callable[[Any], Any]:
        if name != name.lower() or " " in name or "_" in name:
            raise ValueError(f"{self.kind} names are kebab-case, got {name!r}")

        def deco(obj: Any) -> Any:
            if name in self._store and self._store[name].obj is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            if isinstance(obj, type):
                obj.registry_name = name  # the component knows its name: written once, here
                if isinstance(getattr(obj, "name", None), str):
                    obj.name = name
            doc = help or (obj.__doc__ or "").strip().splitlines()[0:1]
            text = doc if isinstance(doc, str) else (doc[0] if doc else "")
            self._store[name] = Entry(name, obj, text)
            return obj

        return deco

    def get(self, name: str) -> Any:
        try:
            return self._entries[name].obj
        except KeyError:
            raise SemcomError(self.unknown_message(name)) from None

    def add(self, name: str, obj: Any, *, help: str = "") -> Any:
        """Register ``obj`` (any object, e.g. a declared figure) under ``name``."""
        return self.register(name, help=help)(obj)

    def unregister(self, name: str) -> None:
        """Remove an entry (for tests and plugins that registered something temporarily)."""
        self._store.pop(name, None)

    def unknown_message(self, name: str) -> str:
        return f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)} (known: {', '.join(sorted(self._entries))})"

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def values(self) -> list[Any]:
        return [self._entries[n].obj for n in self.names()]

    def items(self) -> list[tuple[str, Any]]:
        return [(n, self._entries[n].obj) for n in self.names()]

    def build(self, name: str, **kwargs: Any) -> Any:
        """``get(name)(**kwargs)``; an argument the component does not take is one clear line."""
        factory = self.get(name)
        try:
            return factory(**kwargs)
        except TypeError as exc:
            import re

            found = re.search(r"unexpected keyword argument '([^']+)'", str(exc))
            if parameters(factory) is None:
                raise exc from None
            valid = keywords(factory)
            if found is None or found.group(1) in valid:  # raised deeper down: not about these arguments
                raise
            key = found.group(1)
            raise SemcomError(f"{self.kind} {name!r} takes no argument {key!r}{did_you_mean(key, valid)} "
                              f"(valid: {', '.join(valid) or 'none'})") from None

    def help(self, name: str) -> str:
        return self._entries[name].help

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)


#: each registry imports the modules of its built-in components the first time it is read, so
#: ``import semcom`` (and ``semcom --help``) does not load torch
SOURCES = Registry("source", ("semcom.sources.skimage_set", "semcom.sources.datasets", "semcom.sources.gopro",
                              "semcom.sources.photos", "semcom.sources.video"))
CODECS = Registry("codec", ("semcom.codecs",))
CHANNELS = Registry("channel", ("semcom.channels",))
RECEIVERS = Registry("receiver", ("semcom.receivers",))
METRICS = Registry("metric", ("semcom.metrics",))
