"""The per-phase CPU timer the pipeline calls (:func:`phase`), and :func:`profiling`, which turns it on.

Below every package that marks its stages (codecs, the link, the sweep runner); the profiler that runs
sweeps under it and writes the tables is :mod:`semcom.bench.profile`.  Standard library only.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["PhaseTimer", "phase", "profiling"]


class _Null:
    """The context manager :func:`phase` returns outside a profile."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


_NULL = _Null()


class PhaseTimer:
    """Exclusive process CPU seconds per phase (the innermost open phase is charged).

    Only the thread that opened the profile marks phases; a phase opened on another thread is
    ignored (its CPU time still lands in whichever phase the profiling thread has open).
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._stack: list[str] = []
        self._mark = time.process_time()
        self._start = self._mark
        self._thread = threading.get_ident()

    def _charge(self) -> None:
        now = time.process_time()
        self.seconds[self._stack[-1] if self._stack else "other"] += now - self._mark
        self._mark = now

    @contextmanager
    def span(self, name: str) -> Iterator[None]:
        if threading.get_ident() != self._thread:
            yield
            return
        self._charge()
        self._stack.append(name)
        self.calls[name] += 1
        try:
            yield
        finally:
            self._charge()
            self._stack.pop()

    def total(self) -> float:
        """CPU seconds since the timer started (every phase and ``other``)."""
        self._charge()
        return self._mark - self._start

    def snapshot(self) -> dict[str, float]:
        self._charge()
        return dict(self.seconds)


#: the timer of the profile in progress (``None``: not profiling, :func:`phase` costs nothing)
_ACTIVE: PhaseTimer | None = None


def phase(name: str):
    """Mark a stage of the pipeline (a context manager; a no-op unless :func:`profiling`)."""
    timer = _ACTIVE
    return _NULL if timer is None else timer.span(name)


@contextmanager
def profiling() -> Iterator[PhaseTimer]:
    """Time the phases of everything run inside (in this process)."""
    global _ACTIVE
    if _ACTIVE is not None:
        raise RuntimeError("a profile is already running in this process")
    timer = PhaseTimer()
    _ACTIVE = timer
    try:
        yield timer
    finally:
        timer.total()
        _ACTIVE = None


