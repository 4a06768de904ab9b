"""Every name -> thing map is a Registry: duplicates refused, names set by the decorator, one suggestion helper."""

import pytest

from semcom.errors import SemcomError
from semcom.registry import CHANNELS, CODECS, METRICS, RECEIVERS, SOURCES, Registry, did_you_mean


def _all_registries():
    from semcom.bench.reproduce import FIGURES
    from semcom.train.losses import LOSSES
    from semcom.train.schedules import SCHEDULES

    return [CHANNELS, CODECS, METRICS, RECEIVERS, SOURCES, LOSSES, SCHEDULES, FIGURES]


def test_every_map_is_a_registry_with_the_same_unknown_name_answer():
    for reg in _all_registries():
        assert isinstance(reg, Registry) and len(reg) > 0, reg.kind
        first = reg.names()[0]
        with pytest.raises(SemcomError, match=rf"unknown {reg.kind} '{first}x'; did you mean '{first}'\?"):
            reg.get(first + "x")


def test_a_name_registered_twice_is_refused():
    reg = Registry("thing")
    reg.add("a", object())
    with pytest.raises(ValueError, match="registered twice"):
        reg.add("a", object())
    with pytest.raises(ValueError, match="kebab-case"):
        reg.add("Not_Kebab", object())


def test_the_decorator_names_the_component():
    for reg in (METRICS, SOURCES, CODECS, CHANNELS, RECEIVERS):
        for name in reg.names():
            obj = reg.get(name)
            if isinstance(obj, type):
                assert obj.registry_name == name
                if isinstance(getattr(obj, "name", None), str):
                    assert obj.name == name, (reg.kind, name, obj.name)


def test_did_you_mean_is_shared():
    from semcom.bench.reproduce import get_figure
    from semcom.linkspec import find_link

    assert did_you_mean("sofcast", ["softcast", "ev-jscc"]) == "; did you mean 'softcast'?"
    assert did_you_mean("zzz", ["softcast"]) == ""
    with pytest.raises(SemcomError, match="did you mean 'evjscc-fig4'"):
        get_figure("evjscc-fig44")
    with pytest.raises(SemcomError, match="did you mean 'softcast'"):
        find_link("sofcast")


def test_registries_load_their_components_on_first_use():
    import subprocess
    import sys

    code = ("import sys; from semcom.registry import CODECS; assert 'torch' not in sys.modules; "
            "assert 'ev-jscc' in CODECS; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_did_you_mean_ignores_case():
    from semcom.bench.reproduce import get_figure
    from semcom.linkspec import find_link

    assert did_you_mean("EV-JSCC", ["ev-jscc", "softcast"]) == "; did you mean 'ev-jscc'?"
    assert did_you_mean("SofCast", ["ev-jscc", "softcast"]) == "; did you mean 'softcast'?"
    with pytest.raises(SemcomError, match="did you mean 'ev-jscc'"):
        find_link("EV-JSCC")
    with pytest.raises(SemcomError, match="did you mean 'awgn'"):
        CHANNELS.get("AWGN")
    with pytest.raises(SemcomError, match="did you mean 'evjscc-fig4'"):
        get_figure("EVJSCC-Fig4")
