import csv

import pytest

from semcom.bench.sweep import SweepConfig, run_sweep
from semcom.codecs.digital.separate import BpgLdpc


def test_candidates_are_the_configurations_below_capacity():
    codec = BpgLdpc(cbr=1 / 48)
    assert codec.candidate_variants(0.0, fading=False) == ["qpsk-1/2", "qpsk-1/3"]  # log2(2) = 1 bit
    awgn = codec.candidate_variants(20.0, fading=False)
    assert len(awgn) == 4 and awgn[0] == "256qam-3/4"  # 6 bits < log2(101) = 6.66 < 6.67 (256qam-5/6)
    fading = codec.candidate_variants(20.0, fading=True)
    assert set(awgn) < set(fading) and "256qam-5/6" not in fading and len(fading) == 19
    assert codec.candidate_variants(-10.0, fading=False) == ["qpsk-1/3"]  # nothing fits: the most robust


@pytest.mark.slow
def test_the_pruned_envelope_picks_what_the_full_table_picks(tmp_path):
    common = dict(link="bpg-ldpc", cbr=1 / 48, snr_db=(0.0, 6.0, 14.0), limit=1, metrics=("psnr", "ssim"))
    full = run_sweep(SweepConfig(**common, all_configs=True), out_dir=tmp_path / "full", progress=False,
                     notice=lambda m: None)
    pruned = run_sweep(SweepConfig(**common), out_dir=tmp_path / "pruned", progress=False, notice=lambda m: None)
    every = list(csv.DictReader(open(full.with_name(full.stem + "_configs.csv"))))
    for row in csv.DictReader(open(pruned)):
        at = [r for r in every if float(r["snr_db"]) == float(row["snr_db"])]
        assert len(at) == 20
        best = max(at, key=lambda r: float(r["psnr"]))
        assert float(row["psnr"]) == pytest.approx(float(best["psnr"]), abs=1e-9), row["snr_db"]
        # SSIM is computed afterwards, for the chosen configuration only: the same value
        chosen = next(r for r in at if r["config"] == row["config"])
        assert float(row["ssim"]) == pytest.approx(float(chosen["ssim"]), abs=1e-9), row["snr_db"]


def test_channels_say_whether_they_fade():
    from semcom.registry import CHANNELS

    assert not CHANNELS.build("awgn").fades and not CHANNELS.build("none").fades
    assert CHANNELS.build("rayleigh").fades and CHANNELS.build("rayleigh", fading="fast").fades


def test_scoring_every_configuration_in_full_gives_the_same_rows(tmp_path, monkeypatch):
    # above the memory cap on kept outputs the sweep scores every configuration with every metric
    import semcom.bench.sweep as sweep

    cfg = SweepConfig(link="bpg-ldpc", cbr=1 / 48, snr_db=(8.0,), limit=2, metrics=("psnr", "ssim"))
    lazy = list(csv.DictReader(open(run_sweep(cfg, out_dir=tmp_path / "lazy", progress=False,
                                              notice=lambda m: None))))
    monkeypatch.setattr(sweep, "MAX_KEPT_BYTES", 0)

    def no_lazy_scoring(*args, **kwargs):
        raise AssertionError("outputs were kept above the cap")

    monkeypatch.setattr(sweep, "add_metrics", no_lazy_scoring)
    full = list(csv.DictReader(open(run_sweep(cfg, out_dir=tmp_path / "full", progress=False,
                                              notice=lambda m: None))))
    for a, b in zip(lazy, full):
        assert a["config"] == b["config"]
        assert float(a["psnr"]) == pytest.approx(float(b["psnr"]), abs=1e-9)
        assert float(a["ssim"]) == pytest.approx(float(b["ssim"]), abs=1e-9)
