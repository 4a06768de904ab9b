#!/usr/bin/env python3
"""Install the natural-photograph training corpus (semcom/sources/photos.json) from Debian packages.

    python scripts/install_photos.py [--dest DIR]      # default: $SEMCOM_PHOTOS or ~/.cache/semcom/photos

Steps: `apt-get download` the packages the manifest names (no installation, no root needed where
apt's lists are current; run `apt-get update` first on a fresh machine), unpack each with
`dpkg-deb -x` into a temporary folder, and copy every listed file whose SHA-256 matches into DEST
under its manifest name.  A file whose SHA-256 differs (another package version) is reported and
skipped.  Exit status: 0 when every photograph is installed, 1 otherwise.  Needs only the standard
library, apt-get and dpkg-deb.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MANIFEST = Path(__file__).resolve().parent.parent / "semcom" / "sources" / "photos.json"


def default_dest() -> Path:
    env = os.environ.get("SEMCOM_PHOTOS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "semcom" / "photos"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=None, help="where to put the photographs")
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    args = ap.parse_args(argv)
    dest = (args.dest or default_dest()).expanduser()
    entries = json.loads(args.manifest.read_text())["photos"]
    todo = [e for e in entries if not _ok(dest / _name(e), e["sha256"])]
    if not todo:
        print(f"all {len(entries)} photographs already in {dest}")
        return 0
    packages = sorted({e["package"] for e in todo})
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found (a Debian or Ubuntu machine is needed)", file=sys.stderr)
            return 1
    dest.mkdir(parents=True, exist_ok=True)
    missing = []
    with tempfile.TemporaryDirectory(prefix="semcom-photos-") as tmp:
        tmp = Path(tmp)
        print(f"downloading {', '.join(packages)} ...")
        run = subprocess.run(["apt-get", "download", *packages], cwd=tmp, capture_output=True, text=True)
        if run.returncode != 0:
            print(f"error: apt-get download failed:\n{run.stderr.strip()}\n(run `apt-get update` first?)",
                  file=sys.stderr)
            return 1
        for deb in sorted(tmp.glob("*.deb")):
            pkg = deb.name.split("_")[0]
            unpack = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp / pkg)], capture_output=True, text=True)
            if unpack.returncode != 0:
                print(f"error: dpkg-deb could not unpack {deb.name}: {unpack.stderr.strip()}", file=sys.stderr)
                return 1
        for e in todo:
            src = tmp / e["package"] / e["path"].lstrip("/")
            if not _ok(src, e["sha256"]):
                missing.append(f"{e['name']} ({e['package']}:{e['path']}: "
                               f"{'absent' if not src.is_file() else 'different contents'})")
                continue
            part = dest / (_name(e) + ".part")
            shutil.copyfile(src, part)
            part.replace(dest / _name(e))
    have = len(entries) - len(missing)
    print(f"{have} of {len(entries)} photographs in {dest}")
    for m in missing:
        print(f"  not installed: {m}", file=sys.stderr)
    return 0 if not missing else 1


def _name(entry: dict) -> str:
    return entry["name"] + Path(entry["path"]).suffix.lower()


def _ok(path: Path, sha256: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256


if __name__ == "__main__":
    sys.exit(main())
