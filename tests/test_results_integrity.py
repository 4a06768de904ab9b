"""The committed results are what the docs show: complete figures, tables equal to the CSVs."""

import hashlib
import json
from pathlib import Path

import pytest

from semcom.bench.reproduce import DEFAULT_OUT, FIGURES, manifest_path
from semcom.bench.tables import ROOT, TABLES, render, stale_tables

CURVES = [name for name, f in FIGURES.items() if f.kind == "curves"]
OUT = ROOT / DEFAULT_OUT


@pytest.mark.parametrize("name", CURVES)
def test_every_committed_figure_draws_all_of_its_links_from_the_committed_sweeps(name):
    path = manifest_path(OUT, name)
    assert path.exists(), f"{name} has no manifest: redraw it with `semcom reproduce {name}`"
    manifest = json.loads(path.read_text())
    fig = FIGURES[name]
    assert len(manifest["panels"]) == len(fig.settings())
    for panel in manifest["panels"]:
        assert panel["links"] == list(fig.links), f"{name} ({panel['title']}) lacks {panel['missing']}"
        for sweep in panel["sweeps"]:
            csv = OUT / sweep["csv"]
            assert csv.exists(), f"{name} names a missing sweep {sweep['csv']}"
            digest = hashlib.sha256(csv.read_bytes()).hexdigest()
            assert digest == sweep["sha256"], f"{sweep['csv']} changed since {name} was drawn: redraw it"
            assert csv.with_name(csv.stem + "_frames.csv").exists(), f"{sweep['csv']} has no per-frame file"


def test_generated_tables_equal_what_the_committed_csvs_give():
    assert stale_tables() == [], "regenerate them with `semcom reproduce --tables`"


def test_every_table_is_used_in_the_docs_and_an_unknown_block_is_refused():
    text = "".join((ROOT / f).read_text() for f in ("README.md", "docs/results.md"))
    unused = [n for n in TABLES if f"<!-- table: {n} -->" not in text]
    assert not unused
    from semcom.errors import SemcomError

    with pytest.raises(SemcomError, match="unknown generated table"):
        render("<!-- table: nope -->\nx\n<!-- /table -->\n", ROOT)


def test_a_changed_number_makes_the_table_stale(tmp_path):
    """The check can fail: a doctored cell in a copy of the docs is found."""
    for f in ("README.md", "docs/results.md"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text((ROOT / f).read_text())
    (tmp_path / "results").symlink_to(ROOT / "results")
    doc = tmp_path / "docs/results.md"
    text = doc.read_text()
    start = text.index("<!-- table: fig4 -->")
    cell = text.index(" / ", start)
    doc.write_text(text[:cell - 1] + ("9" if text[cell - 1] != "9" else "8") + text[cell:])
    assert stale_tables(tmp_path) == ["docs/results.md: fig4"]
