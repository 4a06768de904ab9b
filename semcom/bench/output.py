"""Where results are written: :class:`OutputFolder`, a folder created for a run and removed again when the
run is refused before it wrote anything."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from semcom.errors import SemcomError


class OutputFolder:
    """A folder to write results into, created on entry and removed again on an error if this
    call created it and nothing was written into it (no empty ``results/runs`` left by a refused run).

    Args:
        path: the folder.
        what: how messages name it (the command-line option that gave it).

    Example:
        >>> with OutputFolder("results/runs") as out:   # doctest: +SKIP
        ...     (out / "x.csv").write_text("...")
    """

    def __init__(self, path: str | Path, what: str = "--out") -> None:
        self.path = Path(path)
        self.what = what
        self.created: list[Path] = []

    def __enter__(self) -> Path:
        p = self.path.absolute()
        while not p.exists() and p != p.parent:
            self.created.append(p)
            p = p.parent
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            # a unique probe name: parallel processes share folders
            fd, probe = tempfile.mkstemp(prefix=".semcom-write-test-", dir=self.path)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            self._remove_empty()
            raise SemcomError(f"cannot write to {self.what} {str(self.path)!r}: {exc.strerror or exc}") from None
        return self.path

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None:
            self._remove_empty()
        return False

    def _remove_empty(self) -> None:
        for d in self.created:  # deepest first; stops at the first folder that holds something
            try:
                d.rmdir()
            except OSError:
                break
