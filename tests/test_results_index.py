"""results/ is an index: every folder listed with its command, no unpublished run under a shipped name, no
table naming a file outside the repository."""

import csv
import re
from pathlib import Path

import pytest

from semcom.errors import SemcomError
from semcom.zoo.store import read_manifest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
INDEX = RESULTS / "README.md"
#: what .gitignore keeps out of results/ (a user's own runs, training checkpoints): not part of the index
IGNORED = [line.strip().strip("/")[len("results/"):].rstrip("/")
           for line in (ROOT / ".gitignore").read_text().splitlines() if line.strip().strip("/").startswith("results/")]


def _committed(path: Path) -> bool:
    rel = path.relative_to(RESULTS).as_posix()
    return not path.name.startswith(".") and not any(rel == i or rel.startswith(i + "/") for i in IGNORED)


def _files(pattern: str = "*") -> list[Path]:
    return [p for p in RESULTS.rglob(pattern) if p.is_file() and _committed(p)]


def _listed_folders(text: str) -> list[str]:
    """The folders of the index's table: the first cell of each row, `name/`."""
    return re.findall(r"^\| `([\w./-]+/)` \|", text, flags=re.M)


def test_every_folder_of_results_is_listed_with_a_command_and_a_commit():
    text = INDEX.read_text()
    listed = _listed_folders(text)
    assert len(listed) == len(set(listed)), "a folder is listed twice"
    for folder in listed:
        assert (RESULTS / folder).is_dir(), f"results/README.md lists {folder}, which does not exist"
    top = {p.name + "/" for p in RESULTS.iterdir() if p.is_dir() and _committed(p)}
    covered = {f.split("/")[0] + "/" for f in listed}
    assert top - covered == set(), f"folders under results/ that results/README.md does not list: {top - covered}"
    loose = [p.name for p in RESULTS.iterdir() if p.is_file() and _committed(p) and p.name != "README.md"]
    assert loose == [], f"files directly under results/ (give each experiment a folder): {loose}"
    for row in re.findall(r"^\| `[\w./-]+/` \|.*$", text, flags=re.M):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 4 and cells[2] and re.search(r"[0-9a-f]{7}|sidecar", cells[3]), row


def test_a_folder_missing_from_the_index_is_found(tmp_path):
    """The check above can fail: a folder the index does not list."""
    text = INDEX.read_text()
    listed = {f.split("/")[0] for f in _listed_folders(text)}
    assert "attic" not in listed and "where-events" in listed
    without = text.replace("| `where-events/` |", "| x |")
    assert "where-events" not in {f.split("/")[0] for f in _listed_folders(without)}


def test_no_file_under_results_is_named_like_a_shipped_checkpoint_but_its_curve():
    entries = {e["name"]: e for e in read_manifest()}
    wrong = []
    for path in _files():
        entry = entries.get(path.stem)
        if entry is not None:
            if path.relative_to(ROOT).with_suffix(".csv").as_posix() != entry["curve"]:
                wrong.append(path.relative_to(ROOT).as_posix())
    assert wrong == [], f"named like a shipped checkpoint but not its learning curve: {wrong}"


def test_no_table_under_results_names_a_file_outside_the_repository():
    absolute = re.compile(r"^(/|[A-Za-z]:\\|~)")
    found = []
    for path in _files("*.csv"):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                found += [f"{path.relative_to(ROOT)}: {cell}" for cell in row if absolute.match(cell)]
    assert found == []


@pytest.fixture(scope="module")
def evjscc_events():
    from semcom.experiments import evjscc

    return evjscc


def test_evjscc_events_names_a_checkpoint_by_its_zoo_name_or_a_repository_path(evjscc_events, tmp_path):
    label = evjscc_events.checkpoint_label
    shipped = ROOT / "semcom" / "zoo" / "checkpoints" / "ev-jscc-cbr1-48-adaptive.ckpt"
    assert label(str(shipped), cbr=1 / 48) == (str(shipped), "ev-jscc-cbr1-48-adaptive")
    assert label(None, cbr=1 / 48) == (None, "ev-jscc-cbr1-48-adaptive")
    outside = tmp_path / "old.ckpt"
    outside.write_bytes(b"not the shipped one")
    with pytest.raises(SemcomError, match="outside the repository.*NAME=PATH"):
        label(str(outside), cbr=1 / 48)
    assert label(f"ev-jscc-cbr1-48-adaptive@b178253={outside}", cbr=1 / 48) == (str(outside),
                                                                                "ev-jscc-cbr1-48-adaptive@b178253")
    inside = ROOT / "pyproject.toml"  # any file of the repository that is not a shipped checkpoint
    assert label(str(inside), cbr=1 / 48) == (str(inside), "pyproject.toml")
