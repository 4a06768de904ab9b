"""Lazy package attributes (PEP 562): names a package exports but imports only when first read.

The command line starts without torch: ``semcom --help`` reads no model code, and the packages
whose modules need torch (``semcom.sources``, ``semcom.train``) import them on demand.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``exports`` maps a name to the module that defines it.

    A name that is a submodule of the package maps to that submodule itself.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        mod = importlib.import_module(module)
        return mod if module == f"{package}.{name}" else getattr(mod, name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
