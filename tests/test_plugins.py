"""Plugins: a user's module of components loads from the command line (``--plugin``), from
``$SEMCOM_PLUGINS`` and from the ``semcom.plugins`` entry points, into the same registries.

The main test builds the plugin from the examples of docs/architecture.md and runs the commands of
its plugin section as written, so the page and the test cannot drift apart.
"""

import csv
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from semcom.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
PLUGIN_SECTION = "Load your components on the command line (plugins)"
#: the sections whose Python blocks, in this order, make the plugin file (as the plugin section says)
PLUGIN_BLOCKS = ("Add a channel", "Add a codec", "Add a receiver back-end", "Add a figure")


def _sections() -> dict[str, str]:
    parts = re.split(r"^## ", DOC.read_text(), flags=re.M)[1:]
    return {p.splitlines()[0].strip(): p for p in parts}


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)


@pytest.fixture
def clean_registries():
    """Whatever a test's plugins register is gone afterwards (the other tests see the built-in registries)."""
    import semcom.plugins as plugins
    from semcom.bench.reproduce import FIGURES
    from semcom.registry import CHANNELS, CODECS, METRICS, RECEIVERS, SOURCES
    from semcom.train.losses import LOSSES
    from semcom.train.schedules import SCHEDULES

    regs = [CHANNELS, CODECS, METRICS, RECEIVERS, SOURCES, FIGURES, LOSSES, SCHEDULES]
    saved = [dict(r._entries) for r in regs]
    loaded = dict(plugins._loaded)
    modules = set(sys.modules)
    yield
    for reg, store in zip(regs, saved):
        reg._store.clear()
        reg._store.update(store)
    plugins._loaded.clear()
    plugins._loaded.update(loaded)
    for name in set(sys.modules) - modules:
        if name.startswith("semcom_plugin_") or name.startswith("semcom_test_plugin"):
            del sys.modules[name]


def _write_doc_plugin(folder: Path) -> None:
    """``my_components.py`` and ``links/doc-link.toml`` as docs/architecture.md describes them."""
    sections = _sections()
    code = [block for name in PLUGIN_BLOCKS for block in _blocks(sections[name], "python")]
    assert len(code) >= 4
    (folder / "my_components.py").write_text("\n\n".join(code))
    link = [b for b in _blocks(sections[PLUGIN_SECTION], "toml") if b.startswith("# links/doc-link.toml")]
    assert len(link) == 1, "the plugin section shows the link file links/doc-link.toml"
    (folder / "links").mkdir()
    (folder / "links" / "doc-link.toml").write_text(link[0])


def test_the_docs_plugin_runs_through_the_command_line(tmp_path, monkeypatch, capsys, clean_registries):
    from semcom.registry import CODECS

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEMCOM_PLUGINS", raising=False)
    _write_doc_plugin(tmp_path)

    # without the plugin the link is listed as one that cannot load, with the reason
    assert "doc-pooled" not in CODECS
    assert main(["links"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("doc-link "))
    assert "(cannot load: unknown codec 'doc-pooled'" in line and "--plugin" in line
    assert main(["run", "--link", "doc-link", "--snr", "0", "--cbr", "1/48"]) == 2
    assert "unknown codec 'doc-pooled'" in capsys.readouterr().err

    # the commands of the plugin section, as written
    commands = [c for c in _blocks(_sections()[PLUGIN_SECTION], "bash")[0].splitlines() if c.strip()]
    assert any(" run " in c for c in commands) and any(" reproduce " in c for c in commands)
    for command in commands:
        words = shlex.split(command)
        env = {}
        while "=" in words[0]:
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        assert words[0] == "semcom", command
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            rc = main(words[1:])
        out, err = capsys.readouterr()
        assert rc == 0, (command, err[-2000:])
        if words[-1] == "links":
            line = next(x for x in out.splitlines() if x.startswith("doc-link "))
            assert "pooled frame over an erasure channel" in line and "cannot load" not in line

    (run_csv,) = [p for p in (tmp_path / "runs").glob("doc-link_*.csv") if not p.stem.endswith("_frames")]
    rows = list(csv.DictReader(open(run_csv)))
    assert [(r["link"], r["channel"], float(r["snr_db"])) for r in rows] == [
        ("doc-link", "doc-erasure", 0.0), ("doc-link", "doc-erasure", 10.0)]
    assert float(rows[1]["psnr"]) > float(rows[0]["psnr"]) > 5 and float(rows[0]["cbr_used"]) <= 1 / 48
    assert run_csv.with_suffix(".png").exists()
    figure = tmp_path / "figures" / "doc-figure.png"
    assert figure.exists() and figure.stat().st_size > 0
    manifest = json.loads((tmp_path / "figures" / "doc-figure.manifest.json").read_text())
    assert "doc-link" in json.dumps(manifest)

    # the plugin's names get the registries' answers: a misspelt one a "did you mean"
    assert main(["--plugin", "my_components.py", "run", "--link", "doc-link", "--snr", "0", "--cbr", "1/48",
                 "--channel", "doc-erasur"]) == 2
    assert "did you mean 'doc-erasure'" in capsys.readouterr().err


PLUGIN = """
from semcom.channels.base import Channel
from semcom.registry import CHANNELS


@CHANNELS.register("{name}", help="a noiseless channel from a plugin")
class Noiseless(Channel):
    fades = False

    def forward(self, x, *, snr_db, generator=None):
        from semcom.channels.base import ChannelOutput
        import torch

        ones = torch.ones_like(x.real)
        return ChannelOutput(y=x, h=ones, equalized=x, noise_var=ones * 1e-12)
"""


def test_semcom_plugins_names_plugins_for_the_command_line_and_for_python(tmp_path, monkeypatch, capsys,
                                                                          clean_registries):
    plugin = tmp_path / "noiseless.py"
    plugin.write_text(PLUGIN.format(name="test-noiseless"))
    monkeypatch.setenv("SEMCOM_PLUGINS", str(plugin))
    argv = ["run", "--link", "softcast", "--snr", "10", "--cbr", "1/12", "--dataset", "skimage", "--size", "32",
            "--limit", "1", "--metrics", "psnr", "--channel", "test-noiseless", "--out", str(tmp_path / "o"), "-q",
            "--no-plot"]
    assert main(argv) == 0, capsys.readouterr().err
    (out,) = [p for p in (tmp_path / "o").glob("*.csv") if not p.stem.endswith("_frames")]
    assert next(csv.DictReader(open(out)))["channel"] == "test-noiseless"
    # Python code (and the processes a command starts) get them on the first read of a registry
    code = "from semcom.registry import CHANNELS; assert 'test-noiseless' in CHANNELS, CHANNELS.names()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SEMCOM_PLUGINS": str(plugin)})
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_an_entry_point_plugin_loads_and_a_broken_one_is_one_line(tmp_path, monkeypatch, capsys, clean_registries):
    site = tmp_path / "site"
    (site / "semcom_test_plugin_pkg-0.1.dist-info").mkdir(parents=True)
    (site / "semcom_test_plugin_pkg-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: semcom-test-plugin-pkg\nVersion: 0.1\n")
    (site / "semcom_test_plugin_pkg-0.1.dist-info" / "entry_points.txt").write_text(
        "[semcom.plugins]\nnoiseless = semcom_test_plugin_mod\n")
    (site / "semcom_test_plugin_mod.py").write_text(PLUGIN.format(name="test-ep-noiseless"))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("SEMCOM_PLUGINS", raising=False)
    from semcom.registry import CHANNELS

    assert main(["links"]) == 0
    assert "test-ep-noiseless" in CHANNELS and CHANNELS.help("test-ep-noiseless") == "a noiseless channel from a plugin"
    capsys.readouterr()
    (site / "semcom_test_plugin_pkg-0.1.dist-info" / "entry_points.txt").write_text(
        "[semcom.plugins]\nbroken = semcom_test_plugin_broken\n")
    (site / "semcom_test_plugin_broken.py").write_text("import semcom\nraise RuntimeError('no licence file')\n")
    assert main(["links"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "plugin 'broken' (entry point 'semcom_test_plugin_broken' of semcom-test-plugin-pkg) failed to load: " \
           "RuntimeError: no licence file (semcom_test_plugin_broken.py, line 2)" in err


def test_a_plugin_loads_once_and_reusing_a_built_in_name_is_refused(tmp_path, clean_registries):
    from semcom.errors import SemcomError
    from semcom.plugins import PluginError, load_plugins
    from semcom.registry import CHANNELS

    plugin = tmp_path / "once.py"
    plugin.write_text(PLUGIN.format(name="test-once"))
    assert load_plugins([str(plugin)], entry_points=False) == [str(plugin)]
    assert load_plugins([str(plugin), f"{tmp_path}/../{tmp_path.name}/once.py"], entry_points=False) == []
    assert "test-once" in CHANNELS
    clash = tmp_path / "clash.py"
    clash.write_text(PLUGIN.format(name="awgn"))
    with pytest.raises(PluginError, match=r"plugin '.*clash.py' failed to load: ValueError: channel 'awgn' is "
                                          r"registered twice \(clash.py, line 6\)"):
        load_plugins([str(clash)], entry_points=False)
    assert issubclass(PluginError, SemcomError)
    assert CHANNELS.get("awgn").__module__.startswith("semcom.channels")


def test_the_plugin_option_goes_before_the_command(capsys):
    assert main(["run", "--plugin", "x.py", "--link", "softcast"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == textwrap.dedent("""\
        semcom: error: --plugin is an option of semcom itself: give it before the command, semcom --plugin FILE.py \
run ... (try `semcom run --help`)""")


def test_plugins_given_on_the_command_line_reach_the_processes_it_starts(tmp_path, monkeypatch):
    """``--plugin`` files go into $SEMCOM_PLUGINS by absolute path (reproduce --jobs starts processes that
    read their registries anew); main() restores the variable when the command ends."""
    from semcom.plugins import ENV, env_plugins, export

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV, "other_module")
    export(["mine.py", "my_package.components"])
    assert env_plugins() == [str(tmp_path / "mine.py"), "my_package.components", "other_module"]
    monkeypatch.setenv(ENV, "other_module")
    assert main(["--plugin", "nosuch.py", "links"]) == 2
    assert env_plugins() == ["other_module"]
