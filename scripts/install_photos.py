#!/usr/bin/env python3
"""Install the natural-photograph corpus (semcom/sources/photos.json) from Debian packages.

    python scripts/install_photos.py [--dest DIR] [--debs DIR]
        # default DEST: $SEMCOM_PHOTOS or ~/.cache/semcom/photos

A thin wrapper of :mod:`semcom.sources.install`, which an installed semcom runs as
``semcom data photos``; this script runs from a checkout with the standard library alone (no
install of semcom needed).  Exit status: 0 when every photograph is installed, 1 otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's semcom, installed or not

from semcom.sources.install import install_photos, main  # noqa: E402

__all__ = ["install_photos", "main"]

if __name__ == "__main__":
    sys.exit(main())
