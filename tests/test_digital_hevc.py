"""Source coders: HEVC intra (BPG style) container handling, rate control, robustness to bit errors."""

import time
import warnings

import numpy as np
import pytest

from semcom.codecs.digital.hevc import HevcIntraCoder, parse_heif_layout
from semcom.codecs.digital.sourcecoders import (ENCODING_CACHE, SOURCE_CODERS, SourceCoder,
                                                build_source_coder)
from semcom.sources.skimage_set import load_skimage_picture


def psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a.astype(np.float64) - b) ** 2))


@pytest.fixture(scope="module")
def picture():
    return np.ascontiguousarray(load_skimage_picture("astronaut")[100:228, 150:278])


@pytest.mark.parametrize("chroma", [420, 444])
def test_container_is_rebuilt_exactly_from_protocol_parameters(picture, chroma):
    import pillow_heif

    coder = HevcIntraCoder(chroma=chroma)
    tpl = coder.template(128, 128)
    for q in (0, 40, 90):
        data = coder.heif_file(picture, q)
        layout = parse_heif_layout(data)
        payload = coder.encode_at(picture, q)
        assert payload == layout.payload and tpl.wrap(payload) == data
        assert len(data) - len(payload) == coder.container_overhead(128, 128)
    # the decoder output equals pillow-heif's own decode of the complete file
    ref = np.asarray(pillow_heif.open_heif(coder.heif_file(picture, 40)))
    assert np.array_equal(coder.decode(coder.encode_at(picture, 40), height=128, width=128), ref)
    assert pillow_heif.open_heif(data).info.get("chroma") == chroma


def test_charge_container_sends_the_whole_file(picture):
    lean, full = HevcIntraCoder(), HevcIntraCoder(charge_container=True)
    assert len(full.encode_at(picture, 20)) == len(lean.encode_at(picture, 20)) + lean.container_overhead(128, 128)
    out = full.decode(full.encode_at(picture, 20), height=128, width=128)
    assert np.array_equal(out, lean.decode(lean.encode_at(picture, 20), height=128, width=128))


def test_rate_control_picks_largest_fitting_quality(picture):
    coder = HevcIntraCoder()
    sizes = {q: len(coder.encode_at(picture, q)) for q in range(0, 101, 5)}
    assert sizes[0] < sizes[50] < sizes[100]
    prev = -1.0
    for budget_bits in (8 * sizes[0] - 1, 8 * sizes[0], 4000, 12000, 40000):
        code = coder.fit(picture, budget_bits)
        if budget_bits < 8 * sizes[0]:
            assert code is None
            continue
        assert code.bits <= budget_bits
        nxt = [q for q in coder.qualities if q > code.quality]
        assert not nxt or len(coder.encode_at(picture, nxt[0])) * 8 > budget_bits
        quality = psnr(picture, coder.decode(code.payload, height=128, width=128))
        assert quality >= prev - 1e-9
        prev = quality
    assert prev > 30.0


def test_encodings_are_cached(picture):
    coder = HevcIntraCoder(chroma=444, preset="medium")
    coder.fit(picture, 6000)
    misses = ENCODING_CACHE.misses
    t = time.perf_counter()
    for _ in range(5):
        coder.fit(picture, 6000)
    assert ENCODING_CACHE.misses == misses
    assert time.perf_counter() - t < 0.5


def test_corrupted_hevc_payloads_never_raise_or_hang(picture):
    """200 payloads with random bit flips (BER 1e-4 .. 1e-1) through the HEVC decoder."""
    coder = HevcIntraCoder()
    payload = np.frombuffer(coder.encode_at(picture, 60), np.uint8)
    rng = np.random.default_rng(0)
    outcomes = {"decoded": 0, "rejected": 0}
    worst = 0.0
    for _ in range(200):
        ber = 10 ** rng.uniform(-4, -1)
        bits = np.unpackbits(payload)
        bits ^= (rng.random(bits.size) < ber).astype(np.uint8)
        if rng.random() < 0.2:                    # also truncated streams
            bits = bits[: int(rng.integers(8, bits.size))]
        t = time.perf_counter()
        out = coder.decode(np.packbits(bits).tobytes(), height=128, width=128)
        worst = max(worst, time.perf_counter() - t)
        if out is None:
            outcomes["rejected"] += 1
        else:
            assert out.shape == (128, 128, 3) and out.dtype == np.uint8
            outcomes["decoded"] += 1
    assert worst < coder.decode_timeout_s
    assert outcomes["decoded"] > 0 and outcomes["rejected"] > 0     # both paths exercised
    assert coder.decode(b"", height=128, width=128) is None
    assert coder.decode(b"\xff" * 300, height=128, width=128) is None


class _SlowCoder(SourceCoder):
    name = "slow-test"

    def _decode(self, payload, height, width):
        time.sleep(2.0)
        return np.zeros((height, width, 3), np.uint8)


def test_decode_guard_abandons_a_hung_decoder():
    coder = _SlowCoder(decode_timeout_s=0.2)
    t = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert coder.decode(b"x", height=4, width=4) is None
    assert time.perf_counter() - t < 1.5
    assert any("longer than" in str(w.message) for w in caught)


@pytest.mark.parametrize("name", ["jpeg", "jpeg2000", "jpegxl", "avif"])
def test_alternative_coders_fit_and_decode(picture, name):
    if name not in SOURCE_CODERS:
        pytest.skip(f"{name} not registered")
    try:
        coder = build_source_coder(name)
    except ValueError as exc:
        pytest.skip(str(exc))
    code = coder.fit(picture, 16000)
    assert code is not None and code.bits <= 16000
    out = coder.decode(code.payload, height=128, width=128)
    assert out.shape == (128, 128, 3) and psnr(picture, out) > 22.0
    assert coder.fit(picture, 100) is None
    cut = coder.decode(code.payload[: len(code.payload) // 3], height=128, width=128)
    assert cut is None or cut.shape == (128, 128, 3)


def test_hevc_beats_jpeg_at_low_rate(picture):
    """HEVC intra needs fewer bits than baseline JPEG for the same picture (sanity of the coder)."""
    hevc, jpeg = HevcIntraCoder(), build_source_coder("jpeg")
    code_j = jpeg.fit(picture, 20000)
    p_j = psnr(picture, jpeg.decode(code_j.payload, height=128, width=128))
    code_h = hevc.fit(picture, code_j.bits)
    p_h = psnr(picture, hevc.decode(code_h.payload, height=128, width=128))
    assert p_h > p_j


def test_a_shared_tier_answers_what_another_process_encoded(monkeypatch):
    """The Ray executor's store: an encoding made elsewhere is fetched, not made again."""

    class Tier(dict):
        def get(self, key):
            return dict.get(self, key)

        def put(self, key, value):
            self[key] = value

    coder = SOURCE_CODERS.build("jpeg")
    image = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)
    tier = Tier()
    monkeypatch.setattr(ENCODING_CACHE, "shared", tier)
    ENCODING_CACHE.clear()
    first = coder.encode_at(image, 50)
    assert list(tier.values()) == [first]  # what this process made is shared
    ENCODING_CACHE.clear()  # another process: nothing cached locally
    calls = []
    monkeypatch.setattr(coder, "_encode", lambda *a: calls.append(a) or b"never")
    assert coder.encode_at(image, 50) == first and not calls and ENCODING_CACHE.shared_hits == 1


def test_a_disk_tier_is_shared_by_everything_that_opens_its_folder(tmp_path):
    from semcom.codecs.digital.sourcecoders import DiskTier

    a, b = DiskTier(tmp_path / "enc"), DiskTier(tmp_path / "enc")
    key = ("digest", "bpg", (), 30)
    assert a.get(key) is None
    a.put(key, b"payload")
    assert b.get(key) == b"payload" and DiskTier(tmp_path / "other").get(key) is None
    b.put(key, b"other")  # the first writer's file stays
    assert a.get(key) == b"payload"


def test_a_coder_uses_the_cache_it_is_handed_and_the_disk_copy_outlives_it(tmp_path):
    """Content-addressed on-disk encodings: a later run (a new cache over the same folder) encodes nothing."""
    from semcom.codecs.digital.sourcecoders import DiskTier, EncodingCache

    image = (np.arange(32 * 32 * 3) % 251).astype(np.uint8).reshape(32, 32, 3)
    coder = SOURCE_CODERS.build("jpeg", cache=EncodingCache(shared=DiskTier(tmp_path / "enc")))
    first = coder.encode_at(image, 50)
    assert coder.cache.misses == 1 and ENCODING_CACHE.get(("never",)) is None
    files = [p for p in (tmp_path / "enc").rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].read_bytes() == first
    later = SOURCE_CODERS.build("jpeg", cache=EncodingCache(shared=DiskTier(tmp_path / "enc")))
    later._encode = lambda *a: pytest.fail("encoded again")
    assert later.encode_at(image, 50) == first and later.cache.shared_hits == 1
    other = image.copy()
    other[0, 0, 0] ^= 1                       # other content, other key
    assert SOURCE_CODERS.build("jpeg", cache=later.cache).encode_at(other, 50) != b""
    assert len([p for p in (tmp_path / "enc").rglob("*") if p.is_file()]) == 2


def test_the_cache_key_names_the_library_version(monkeypatch):
    from semcom.codecs.digital import sourcecoders

    coder = SOURCE_CODERS.build("jpeg", cache=sourcecoders.EncodingCache())
    image = np.zeros((16, 16, 3), np.uint8)
    coder.encode_at(image, 40)
    monkeypatch.setitem(sourcecoders._VERSIONS, "jpeg", "imagecodecs 0.0-other")
    coder.encode_at(image, 40)                 # an upgraded library does not reuse the old bytes
    assert coder.cache.misses == 2


def test_concurrent_writers_leave_one_whole_file(tmp_path):
    import threading

    from semcom.codecs.digital.sourcecoders import DiskTier

    key = ("digest", "bpg", (420, None, False), 30, "v")
    payloads = [bytes([i]) * 5000 for i in range(8)]
    threads = [threading.Thread(target=DiskTier(tmp_path).put, args=(key, p)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert DiskTier(tmp_path).get(key) in payloads
    assert [p.name for p in tmp_path.rglob(".*")] == []          # no temporary file left behind
