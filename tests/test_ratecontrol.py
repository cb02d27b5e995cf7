import numpy as np
import pytest

import sparsecodec
from sparsecodec.errors import OptionError
from sparsecodec.ratecontrol import encode_to_quality, encode_to_rate


@pytest.fixture(scope="module")
def image():
    from sparsecodec.data import default_image

    return default_image()[100:196, 150:278].mean(axis=2).round().astype(np.uint8)


@pytest.mark.parametrize("bpp", [0.4, 1.0])
def test_rate_lands_within_three_percent(image, bpp):
    res = encode_to_rate(image, bpp, levels_grid=(16, 64))
    assert abs(res.stats["bpp"] - bpp) <= 0.03 * bpp
    assert res.stats["bpp"] == 8 * len(res.data) / image.size
    np.testing.assert_array_equal(sparsecodec.decode(res.data), res.reconstruction)


def test_rate_picks_best_psnr_among_levels(image):
    both = encode_to_rate(image, 0.6, levels_grid=(16, 64))
    for L in (16, 64):
        one = encode_to_rate(image, 0.6, levels_grid=(L,))
        assert both.stats["psnr"] >= one.stats["psnr"] - 1e-12


def test_quality_target_reached_and_smallest(image):
    res = encode_to_quality(image, 24.0, levels_grid=(32,))
    assert res.stats["psnr"] >= 24.0
    # a clearly smaller density at the same levels misses the target
    smaller = sparsecodec.encode_image(image, 0.8 * res.stats["target_density"], levels=32)
    assert smaller.stats["psnr"] < 24.0 or smaller.stats["bytes"] >= res.stats["bytes"]


def test_unreachable_targets(image):
    with pytest.raises(OptionError, match="cannot reach"):
        encode_to_quality(image, 200.0, levels_grid=(16,))
    with pytest.raises(OptionError):
        encode_to_rate(image, -1.0)


def test_api_encode_with_bpp(image):
    data = sparsecodec.encode(image, bpp=0.8, levels=32)
    assert abs(8 * len(data) / image.size - 0.8) <= 0.03 * 0.8


def test_encode_result_gives_the_rate_controlled_encode_whole(image):
    # the API the CLI calls: the same encode as rate control, with mask, reconstruction, stats
    res = sparsecodec.encode_result(image, mask="belhachmi", bpp=0.6, levels=16, tonal=False)
    ref = encode_to_rate(image, 0.6, "belhachmi", levels_grid=(16,), tonal=False)
    assert res.data == ref.data and res.stats["target_bpp"] == 0.6
    np.testing.assert_array_equal(res.mask, ref.mask)
    np.testing.assert_array_equal(sparsecodec.decode(res.data), res.reconstruction)
    q = sparsecodec.encode_result(image, mask="belhachmi", psnr=24.0, levels=16, tonal=False)
    assert q.stats["psnr"] >= 24.0 and q.stats["target_psnr"] == 24.0
    assert sparsecodec.encode(image, 0.5, "belhachmi", psnr=24.0, levels=16, tonal=False) == q.data
    plain = sparsecodec.encode_result(image, mask="belhachmi", levels=16)
    assert plain.stats["target_density"] == sparsecodec.codec.DEFAULT_DENSITY
    with pytest.raises(OptionError, match="at most one of bpp and psnr"):
        sparsecodec.encode_result(image, bpp=0.5, psnr=30.0)


def test_rate_and_quality_with_tonal_optimisation(image):
    res = encode_to_rate(image, 0.5, levels_grid=(32, 64), tonal=True)
    assert res.stats["tonal"] and abs(res.stats["bpp"] - 0.5) <= 0.03 * 0.5
    plain = encode_to_rate(image, 0.5, levels_grid=(32, 64), tonal=False)
    assert res.stats["psnr"] > plain.stats["psnr"]
    q = encode_to_quality(image, 24.0, levels_grid=(32,), tonal=True)
    assert q.stats["tonal"] and q.stats["psnr"] >= 24.0
    np.testing.assert_array_equal(sparsecodec.decode(q.data), q.reconstruction)


def test_reused_masks_are_the_strategy_masks(image):
    # rate control caches one mask per density; the result must carry the strategy's own mask
    res = encode_to_rate(image, 0.4, mask="random", levels_grid=(16, 64), seed=3)
    d = res.stats["target_density"]
    np.testing.assert_array_equal(res.mask, sparsecodec.make_mask(image, d, "random", seed=3))
    assert res.stats["mask"] == "random"


def test_candidate_levels_per_channel():
    from sparsecodec.ratecontrol import CHROMA_FACTORS, candidate_levels

    grey = np.zeros((8, 8), np.uint8)
    rgb = np.zeros((8, 8, 3), np.uint8)
    assert candidate_levels(grey, (8, 16), {}) == [8, 16]
    got = candidate_levels(rgb, (8, 200), {})
    want = [
        (L, min(256, round(f * L)), min(256, round(f * L)))
        for L in (8, 200)
        for f in CHROMA_FACTORS
    ]
    assert got == list(dict.fromkeys(want))
    assert candidate_levels(rgb, (8,), {"colour": "rgb"}) == [8]
    assert candidate_levels(rgb, (8,), {"chroma_levels": 30}) == [8]
    assert candidate_levels(rgb, ((4, 5, 6),), {}) == [(4, 5, 6)]


def test_rate_control_chooses_chroma_levels():
    from sparsecodec.data import default_image
    from sparsecodec.ratecontrol import CHROMA_FACTORS

    rgb = default_image()[100:164, 150:246]
    res = encode_to_rate(rgb, 1.0, levels_grid=(12,), tonal=False)
    assert abs(res.stats["bpp"] - 1.0) <= 0.03
    for f in CHROMA_FACTORS:  # every candidate alone: the chosen one is at least as good
        one = encode_to_rate(rgb, 1.0, levels_grid=(12,), chroma_levels=round(12 * f), tonal=False)
        assert res.stats["psnr"] >= one.stats["psnr"] - 1e-12
    np.testing.assert_array_equal(sparsecodec.decode(res.data), res.reconstruction)
    t = encode_to_rate(rgb, 1.0, levels_grid=(12,), tonal=True)
    assert t.stats["tonal"] and abs(t.stats["bpp"] - 1.0) <= 0.03
    assert t.stats["levels"][0] == 12
    np.testing.assert_array_equal(sparsecodec.decode(t.data), t.reconstruction)


def test_quality_target_with_fixed_chroma_levels():
    """--psnr with --chroma-quant on a colour image: every candidate keeps the fixed chroma
    levels, also in the tonal refinement."""
    from sparsecodec.data import default_image

    rgb = default_image()[100:164, 150:246]
    res = encode_to_quality(rgb, 26.0, levels_grid=(12,), chroma_levels=20, tonal=True)
    assert res.stats["psnr"] >= 26.0 and res.stats["levels"] == [12, 20, 20]
    np.testing.assert_array_equal(sparsecodec.decode(res.data), res.reconstruction)


@pytest.mark.parametrize("first", [None, 1e-3, 0.02, 0.5])
@pytest.mark.parametrize("d_star", [0.004, 0.05, 0.3])
def test_smallest_density_search_on_a_known_curve(first, d_star):
    """PSNR rising like 8 log10(d) with small wiggles (a real curve is not exactly linear): the
    search returns an encode that reaches the target, at a density within 2 % of the true
    smallest one, and gives up (None) when even the largest density misses."""
    from types import SimpleNamespace

    from sparsecodec.ratecontrol import _smallest_density

    calls = []

    def f(d):
        calls.append(d)
        psnr = 30.0 + 8.0 * np.log10(d / d_star) + 0.05 * np.sin(40 * np.log(d))
        return SimpleNamespace(stats={"psnr": psnr, "d": d})

    target = f(d_star).stats["psnr"]
    calls.clear()
    grid = np.exp(np.linspace(np.log(1e-4), 0.0, 200001))  # the true smallest density
    true_d = grid[np.argmax(f(grid).stats["psnr"] >= target)]
    calls.clear()
    r = _smallest_density(f, target, 1e-4, 1.0, 20, first)
    assert r is not None and r.stats["psnr"] >= target
    assert true_d <= r.stats["d"] <= 1.02 * true_d
    assert len(calls) <= 14
    assert _smallest_density(f, f(1.0).stats["psnr"] + 0.1, 1e-4, 1.0, 20, first) is None
