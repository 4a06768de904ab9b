"""Install the natural-photograph corpus listed in photos.json (beside this module) from Debian packages.

``semcom data photos [--dest DIR] [--debs DIR]`` (or, in a checkout, ``python scripts/install_photos.py``,
``make photos``); default DEST: ``$SEMCOM_PHOTOS`` or ``~/.cache/semcom/photos``.

For each package the manifest names (one at a time, with progress): `apt-get download` it (no
installation, no root needed where apt's lists are current; run `apt-get update` first on a fresh
machine), unpack it with `dpkg-deb -x` into a temporary folder, and copy every listed file whose
SHA-256 matches into DEST under its manifest name.  The manifest's version is asked for first
(`apt-get download PKG=VERSION`), then the archive's current one, then the names in
:data:`RENAMED` (a package renamed since the manifest was written).  A file is looked up at its
listed path, and, where it is absent or differs there, by content anywhere in the package (a
file moved inside a later version of its package).  A file found nowhere with the listed SHA-256
(another version changed it) is reported and skipped.  With ``--debs DIR``, ``.deb`` files already
in DIR (for example from snapshot.debian.org) are used before apt is asked.  Needs only the
standard library, apt-get and dpkg-deb (no torch: it runs before anything else is installed).
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
from typing import Callable

from semcom.errors import SemcomError

MANIFEST = Path(__file__).resolve().parent / "photos.json"

#: other names to try for a manifest package that apt no longer knows under its own name
#: (``{"old-name": ("new-name", ...)}``); none is known to be needed on Debian 12 (bookworm)
RENAMED: dict[str, tuple[str, ...]] = {}


def default_dest() -> Path:
    env = os.environ.get("SEMCOM_PHOTOS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "semcom" / "photos"


def install_photos(dest: str | Path | None = None, *, debs: str | Path | None = None,
                   manifest: str | Path = MANIFEST, echo: Callable[[str], None] = print,
                   warn: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)) -> list[str]:
    """Install every photograph of ``manifest`` into ``dest`` (default :func:`default_dest`); the
    photographs left uninstalled, each with the reason (an empty list: the corpus is complete).

    ``echo`` receives the progress lines, ``warn`` one line per photograph not installed.

    Raises:
        SemcomError: ``apt-get`` or ``dpkg-deb`` is missing (a Debian or Ubuntu machine is needed).
    """
    dest = (Path(dest) if dest is not None else default_dest()).expanduser()
    entries = json.loads(Path(manifest).read_text())["photos"]
    todo = [e for e in entries if not _ok(dest / _name(e), e["sha256"])]
    if not todo:
        echo(f"all {len(entries)} photographs already in {dest}")
        return []
    by_package: dict[str, list[dict]] = {}
    for e in todo:
        by_package.setdefault(e["package"], []).append(e)
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SemcomError(f"{tool} not found: installing the photographs needs a Debian or Ubuntu machine "
                              "(or copy them from one into $SEMCOM_PHOTOS)")
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SemcomError(f"cannot write to {dest}: {exc.strerror or exc}") from None
    echo(f"{len(entries) - len(todo)} of {len(entries)} photographs already in {dest}; "
         f"fetching {len(todo)} from {len(by_package)} package(s)")
    missing: list[str] = []
    for k, (package, group) in enumerate(sorted(by_package.items()), 1):
        head = f"[{k}/{len(by_package)}] {package}"
        with tempfile.TemporaryDirectory(prefix="semcom-photos-") as tmp:
            tmp = Path(tmp)
            deb, tried = _fetch(package, group[0]["version"], tmp, None if debs is None else Path(debs))
            if deb is None:
                echo(f"{head}: not downloaded ({'; '.join(tried)})")
                missing += [f"{e['name']} ({package}: package not available)" for e in group]
                continue
            tree = tmp / "tree"
            unpack = subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], capture_output=True, text=True)
            if unpack.returncode != 0:
                echo(f"{head}: dpkg-deb could not unpack {deb.name}: {unpack.stderr.strip()}")
                missing += [f"{e['name']} ({package}: not unpacked)" for e in group]
                continue
            got = 0
            for e in group:
                src = _locate(tree, e)
                if src is None:
                    listed = tree / e["path"].lstrip("/")
                    missing.append(f"{e['name']} ({package}:{e['path']}: "
                                   f"{'different contents' if _plain_file(listed) else 'absent'} in {deb.name})")
                    continue
                part = dest / (_name(e) + ".part")
                shutil.copyfile(src, part)
                part.replace(dest / _name(e))
                got += 1
            echo(f"{head}: {deb.name}, {got} of {len(group)} photograph(s) installed")
    echo(f"{len(entries) - len(missing)} of {len(entries)} photographs in {dest}")
    for m in missing:
        warn(f"  not installed: {m}")
    return missing


def main(argv: list[str] | None = None) -> int:
    """The command line of ``scripts/install_photos.py``: exit status 0 when every photograph is
    installed, 1 otherwise."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=None, help="where to put the photographs")
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--debs", type=Path, default=None, help="a folder of .deb files to use before apt-get")
    args = ap.parse_args(argv)
    try:
        missing = install_photos(args.dest, debs=args.debs, manifest=args.manifest,
                                 echo=lambda msg: print(msg, flush=True))
    except SemcomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if not missing else 1


def _fetch(package: str, version: str, tmp: Path, debs: Path | None) -> tuple[Path | None, list[str]]:
    """A ``.deb`` of ``package`` in ``tmp``: from ``debs``, else the manifest's version, the current one,
    or a newer name; and what was tried."""
    tried: list[str] = []
    if debs is not None:
        local = sorted(Path(debs).expanduser().glob(f"{package}_*.deb"))
        exact = [p for p in local if _deb_version(p) == version]
        if exact or local:
            return (exact or local)[-1], tried
        tried.append(f"no {package}_*.deb in {debs}")
    for spec in (f"{package}={version}", package, *RENAMED.get(package, ())):
        before = set(tmp.glob("*.deb"))
        run = subprocess.run(["apt-get", "download", spec], cwd=tmp, capture_output=True, text=True)
        new = sorted(set(tmp.glob("*.deb")) - before)
        if run.returncode == 0 and new:
            return new[0], tried
        reason = (run.stderr.strip().splitlines() or ["failed"])[-1]
        tried.append(f"{spec}: {reason}")
    tried.append("run `apt-get update` first?")
    return None, tried


def _deb_version(path: Path) -> str:
    """The version in a ``.deb`` file name (``name_version_arch.deb``; an epoch's ``:`` is ``%3a``)."""
    parts = path.name.split("_")
    return parts[1].replace("%3a", ":") if len(parts) >= 3 else ""


def _locate(tree: Path, entry: dict) -> Path | None:
    """The entry's file in an unpacked package: at its listed path, else any plain file of the same
    size and SHA-256 (symbolic links are never followed: they may point outside the tree)."""
    listed = tree / entry["path"].lstrip("/")
    if _plain_file(listed) and _ok(listed, entry["sha256"]):
        return listed
    size = entry.get("bytes")
    for path in sorted(tree.rglob("*")):
        if _plain_file(path) and (size is None or path.stat().st_size == size) and _ok(path, entry["sha256"]):
            return path
    return None


def _plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _name(entry: dict) -> str:
    return entry["name"] + Path(entry["path"]).suffix.lower()


def _ok(path: Path, sha256: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256

