"""A link's [transmitter] stage: a back-end run at the sensor whose output the codec carries."""

import pytest
import torch

from semcom.errors import SemcomError
from semcom.link import Link, find_link
from semcom.linkspec import LinkSpec
from semcom.registry import CODECS, RECEIVERS, SOURCES
from semcom.sources.base import collate


@pytest.fixture(scope="module")
def batch():
    ds = SOURCES.build("synth-blur", split="test", size=64, limit=2)
    return collate([ds[i] for i in range(2)])


def _lossless(transmitter: dict) -> Link:
    """SoftCast at CBR 1 over the ideal channel delivers exactly what it is given."""
    spec = LinkSpec.from_dict({"name": "tx-test", "codec": {"name": "softcast"}, "channel": {"name": "none"},
                               "transmitter": transmitter}, path="tx-test.toml")
    return Link(spec, cbr=1.0).eval()


def test_an_edi_transmitter_hands_the_codec_exactly_what_the_edi_receiver_outputs(batch):
    link = _lossless({"name": "edi", "source": "raw", "contrast": "source"})
    seen = {}
    transmit = link.codec.transmit

    def spy(b, channel, **kw):
        seen["frame"] = b.blurry.clone()
        return transmit(b, channel, **kw)

    link.codec.transmit = spy
    out = link(batch, snr_db=0.0, generator=torch.Generator().manual_seed(0))
    edi = RECEIVERS.build("edi", source="raw", contrast="source").eval()
    with torch.no_grad():
        expected = edi(batch.blurry, events=batch.events, batch=batch).clamp(0, 1)
    assert torch.equal(seen["frame"], expected)
    assert not torch.equal(expected, batch.blurry)  # EDI did something
    assert torch.allclose(out.output, expected, atol=1e-5)  # and the lossless link delivered it
    cost = link.sensor_cost()
    assert cost["name"] == "edi" and cost["parameters"] == 0 and cost["frames"] == 2 and cost["ms_per_frame"] > 0


def test_the_sensor_output_is_computed_once_per_batch_in_evaluation(batch):
    link = _lossless({"name": "edi", "source": "representation"})
    for snr in (0.0, 10.0):
        link(batch, snr_db=snr, generator=torch.Generator().manual_seed(0))
    assert link.sensor_frames == batch.size  # the second pass reused the first one's output


def test_the_transmitter_stage_adds_no_channel_uses(batch):
    plain = Link(find_link("bpg-ldpc"), cbr=1 / 48).eval()
    at_sensor = Link(find_link("edi-tx-bpg-ldpc"), cbr=1 / 48).eval()
    uses = [link(batch, snr_db=20.0, generator=torch.Generator().manual_seed(0)).transmission.channel_uses
            for link in (plain, at_sensor)]
    assert uses[0] == uses[1] <= 64 * 64 * 3 // 48


def test_a_codec_over_budget_still_fails_with_the_one_line_budget_error(batch):
    from semcom.codecs.softcast import SoftCast

    @CODECS.register("tx-test-greedy", help="test: claims more channel uses than its budget")
    class Greedy(SoftCast):
        def encode(self, b, *, snr_db):
            tx = super().encode(b, snr_db=snr_db)
            return type(tx)(tx.symbols, tx.channel_uses * 2, tx.frame_shape, tx.state)

    try:
        spec = LinkSpec.from_dict({"name": "greedy", "codec": {"name": "tx-test-greedy"},
                                   "transmitter": {"name": "edi", "source": "representation"}}, path="greedy.toml")
        with pytest.raises(SemcomError, match="more than the budget") as info:
            Link(spec, cbr=1 / 48).eval()(batch, snr_db=10.0, generator=torch.Generator().manual_seed(0))
        assert "\n" not in str(info.value)
    finally:
        CODECS.unregister("tx-test-greedy")


def test_a_transmitter_is_checked_when_the_link_file_is_read(tmp_path):
    (tmp_path / "bad.toml").write_text('name = "bad"\n[codec]\nname = "softcast"\n[transmitter]\nname = "edj"\n')
    with pytest.raises(SemcomError, match="unknown receiver 'edj'; did you mean 'edi'"):
        LinkSpec.load(tmp_path / "bad.toml")
    # links without one keep their identity (sweep sidecars written before the stage existed stay valid)
    assert "transmitter" not in find_link("bpg-ldpc").as_dict()
    assert find_link("edi-tx-bpg-ldpc").as_dict()["transmitter"]["name"] == "edi"


def test_training_passes_the_sensor_output_to_the_codec(batch):
    from semcom.train.step import forward_step

    spec = LinkSpec.from_dict({"name": "dj-tx", "codec": {"name": "deepjscc", "width": 8},
                               "transmitter": {"name": "edi", "source": "representation"}}, path="dj-tx.toml")
    link = Link(spec, cbr=1 / 48, codec_overrides={"checkpoint": "none"}).train()
    out = forward_step(link, batch, snr_db=torch.full((2,), 10.0), generator=torch.Generator().manual_seed(0))
    edi = RECEIVERS.build("edi", source="representation").eval()
    with torch.no_grad():
        expected = edi(batch.blurry, events=batch.events, batch=batch).clamp(0, 1)
    assert torch.allclose(out.batch.blurry, expected)   # what the codec was given (and its losses compare with)
    assert torch.equal(out.target, batch.sharp)
    out.output.mean().backward()
    assert all(p.grad is None for p in link.transmitter.parameters())
