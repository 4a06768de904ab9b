"""The per-phase CPU timer (semcom.bench.profile): free outside a profile, exclusive inside, hooked into the pipeline."""

import time

import numpy as np
import pytest

from semcom import profiling as _timer
from semcom.bench import profile
from semcom.bench.profile import PHASES, phase, profiling


def _spin(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_phase_is_a_shared_no_op_outside_a_profile():
    assert _timer._ACTIVE is None
    assert phase("ldpc_decode") is phase("metrics")  # one object, nothing recorded
    with phase("ldpc_decode"):
        pass
    assert _timer._ACTIVE is None


def test_nested_phases_are_charged_exclusively():
    with profiling() as timer:
        with phase("receiver"):
            _spin(0.05)
            with phase("metrics"):
                _spin(0.1)
            _spin(0.05)
        _spin(0.02)
    total = timer.total()
    sec = dict(timer.seconds)
    assert sec["metrics"] == pytest.approx(0.1, abs=0.03)
    assert sec["receiver"] == pytest.approx(0.1, abs=0.03)   # its own time only, not the nested metrics
    assert sec["other"] >= 0.02 - 1e-3
    assert sum(sec.values()) == pytest.approx(total, rel=1e-9)
    assert timer.calls == {"receiver": 1, "metrics": 1}
    assert _timer._ACTIVE is None


def test_profiles_do_not_nest():
    with profiling():
        with pytest.raises(RuntimeError, match="already running"):
            with profiling():
                pass


def test_the_digital_pipeline_reports_its_phases(tmp_path, monkeypatch):
    """An encode that misses the cache and a decode land in hevc_encode / hevc_decode."""
    from semcom.codecs.digital.sourcecoders import DiskTier, EncodingCache, build_source_coder

    coder = build_source_coder("bpg")
    coder.cache = EncodingCache(shared=DiskTier(tmp_path / "enc"))
    image = (np.arange(64 * 64 * 3) % 251).astype(np.uint8).reshape(64, 64, 3)
    with profiling() as timer:
        payload = coder.encode_at(image, 40)
        coder.encode_at(image, 40)            # a hit: not encoded again
        assert coder.decode(payload, height=64, width=64) is not None
    assert timer.calls["hevc_encode"] == 1 and timer.calls["hevc_decode"] == 1
    assert timer.snapshot()["hevc_encode"] > 0
    assert set(timer.calls) <= set(PHASES)


def test_rows_and_extrapolation_cover_every_phase(tmp_path):
    rec = {"link": "bpg-ldpc", "channel": "awgn", "cbr": 1 / 48, "limit": 2, "snr_points": 2,
           "seconds": {"ldpc_decode": 3.0, "hevc_encode": 1.0, "sensor": 5.0}, "calls": {"ldpc_decode": 4},
           "cpu_total": 9.0, "wall": 20.0}
    rows = profile._rows(rec)
    assert [r["phase"] for r in rows] == [*PHASES, "other", "total"]
    assert rows[-1]["cpu_s"] == 9.0
    sweep = tmp_path / "fig" / "bpg-ldpc_awgn_cbr1-48.csv"
    sweep.parent.mkdir()
    sweep.write_text("link,snr_db,seconds\nbpg-ldpc,0,30\nbpg-ldpc,10,10\n")
    (tmp_path / "fig" / "deepjscc_awgn_cbr1-48.csv").write_text("link,snr_db,seconds\ndeepjscc,0,5\n")
    est = {r["phase"]: r["estimated_s"] for r in profile.extrapolate([rec], tmp_path)}
    # the recorded 40 s spread 3:1 (sensor excluded: the samples are made once, outside the points)
    assert est["ldpc_decode"] == pytest.approx(30.0) and est["hevc_encode"] == pytest.approx(10.0)
    assert est["unprofiled"] == pytest.approx(5.0) and est["link:bpg-ldpc"] == pytest.approx(40.0)
