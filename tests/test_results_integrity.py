"""The committed results are what the docs show: complete figures, tables equal to the CSVs."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from semcom.bench.reproduce import DEFAULT_OUT, FIGURES, manifest_path
from semcom.bench.tables import DOC_FILES, NO_CI, ROOT, TABLES, render, stale_tables
from semcom.errors import SemcomError
from semcom.zoo.store import read_manifest

CURVES = [name for name, f in FIGURES.items() if f.kind == "curves"]
OUT = ROOT / DEFAULT_OUT


def _own_weights(link: str) -> bool:
    """Whether a link runs only from checkpoints trained for it (nothing else stands in where none is shipped)."""
    from semcom.linkspec import find_link

    return bool(getattr(find_link(link), "own_weights", False))


@pytest.mark.parametrize("name", CURVES)
def test_every_committed_figure_draws_all_of_its_links_from_the_committed_sweeps(name):
    path = manifest_path(OUT, name)
    assert path.exists(), f"{name} has no manifest: redraw it with `semcom reproduce {name}`"
    manifest = json.loads(path.read_text())
    fig = FIGURES[name]
    assert len(manifest["panels"]) == len(fig.settings())
    shipped = {(e["link"], round(1 / float(e["cbr"]))) for e in read_manifest() if e.get("link")}
    for setting, panel in zip(fig.settings(), manifest["panels"]):
        # a link may be missing only where the zoo has no checkpoint of it for the panel's CBR
        drawn = [lk for lk in fig.links if lk in panel["links"] or (lk, round(1 / setting.cbr)) in shipped]
        assert panel["links"] == drawn, f"{name} ({panel['title']}) lacks {panel['missing']}"
        assert set(panel["links"]) | set(panel["missing"]) == set(fig.links)
        assert [lk for lk in panel["missing"] if _own_weights(lk)] == panel["missing"], panel["missing"]
        for sweep in panel["sweeps"]:
            csv = OUT / sweep["csv"]
            assert csv.exists(), f"{name} names a missing sweep {sweep['csv']}"
            digest = hashlib.sha256(csv.read_bytes()).hexdigest()
            assert digest == sweep["sha256"], f"{sweep['csv']} changed since {name} was drawn: redraw it"
            assert csv.with_name(csv.stem + "_frames.csv").exists(), f"{sweep['csv']} has no per-frame file"


def test_generated_tables_equal_what_the_committed_csvs_give():
    assert stale_tables() == [], "regenerate them with `semcom reproduce --tables`"


def test_every_table_is_used_in_the_docs_and_an_unknown_block_is_refused():
    text = "".join((ROOT / f).read_text() for f in ("README.md", "docs/results.md", "docs/training.md"))
    unused = [n for n in TABLES if f"<!-- table: {n} -->" not in text]
    assert not unused
    from semcom.errors import SemcomError

    with pytest.raises(SemcomError, match="unknown generated table"):
        render("<!-- table: nope -->\nx\n<!-- /table -->\n", ROOT)


def test_a_changed_number_makes_the_table_stale(tmp_path):
    """The check can fail: a doctored cell in a copy of the docs is found."""
    for f in ("README.md", "docs/results.md", "docs/training.md"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text((ROOT / f).read_text())
    (tmp_path / "results").symlink_to(ROOT / "results")
    doc = tmp_path / "docs/results.md"
    text = doc.read_text()
    start = text.index("<!-- table: fig4 -->")
    cell = text.index(" / ", start)
    doc.write_text(text[:cell - 1] + ("9" if text[cell - 1] != "9" else "8") + text[cell:])
    assert stale_tables(tmp_path) == ["docs/results.md: fig4"]


def _shadow(tmp_path: Path, rel: str) -> Path:
    """A checkout under ``tmp_path``: the docs copied, ``results/`` linked to the committed files except
    ``rel``, which is a copy to doctor."""
    for f in DOC_FILES:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / f, tmp_path / f)
    parts = Path(rel).parts
    src, dst = ROOT, tmp_path
    for i, part in enumerate(parts[:-1]):
        src, dst = src / part, dst / part
        dst.mkdir(exist_ok=True)
        for child in src.iterdir():
            if child.name != parts[i + 1]:
                (dst / child.name).symlink_to(child)
    shutil.copy(ROOT / rel, tmp_path / rel)
    return tmp_path / rel


# (table, source, text in the source, what it becomes): one source of each kind the experiment tables read
DOCTORED = [
    ("stra-targets", "results/stra/targets.csv", "-4.728", "-3.728"),                    # a benchmark's table
    ("ssdm-links", "results/ssdm/links/links.csv", "23.916", "22.916"),                  # differences between rows
    ("diffevent-targets", "results/diffevent/per_frame.csv", "31.059", "32.059"),         # paired over frames here
    ("event-share", "results/ablation/event-share/given.csv", "23.0650", "23.1650"),     # a learning curve
    ("training-budget", "results/training/ev-jscc-cbr1-48-adaptive.csv", "4969.27", "5969.27"),
    ("sensor-compute", "results/reproduce/evjscc-fig4/edi-tx-deepjscc_awgn_cbr1-48.json",  # a sweep's sidecar
     '"ms_per_frame": 9.538', '"ms_per_frame": 19.538'),
]


@pytest.mark.parametrize("name,rel,old,new", DOCTORED, ids=[d[0] for d in DOCTORED])
def test_an_experiment_table_follows_its_source(tmp_path, name, rel, old, new):
    """A changed number in a committed source makes its block stale, whatever kind of file it is."""
    copy = _shadow(tmp_path, rel)
    text = copy.read_text()
    assert text.count(old) == 1, f"{rel} no longer holds {old!r}: pick another number for this test"
    copy.write_text(text.replace(old, new))
    assert f"docs/results.md: {name}" in stale_tables(tmp_path)


def test_a_missing_source_is_an_error_not_an_empty_table(tmp_path):
    _shadow(tmp_path, "results/stra/targets.csv").unlink()
    with pytest.raises(SemcomError, match="results/stra/targets.csv"):
        stale_tables(tmp_path)


@pytest.mark.parametrize("name", ["event-share", "blurry-target", "evjscc-ablation", "stra-links", "ssdm-cascade",
                                  "ssdm-nobsn", "ssdm-unet", "ssdm-noise", "ssdm-links", "ssdm-decoded",
                                  "diffevent-link", "spjscc", "sdm-tx"])
def test_a_margin_without_per_frame_data_says_it_has_no_interval(name):
    assert NO_CI in TABLES[name](ROOT)
