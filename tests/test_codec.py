import warnings

import numpy as np
import pytest

import sparsecodec
from sparsecodec.errors import BitstreamError, ImageError, OptionError
from sparsecodec.io import ConversionWarning


@pytest.mark.parametrize("grey", [True, False])
@pytest.mark.parametrize("mask", ["belhachmi", "random"])
def test_encode_decode_matches_prediction(small_colour, grey, mask):
    img = small_colour.mean(axis=2).round().astype(np.uint8) if grey else small_colour
    res = sparsecodec.encode_image(img, 0.1, mask, levels=32, seed=7)
    out = sparsecodec.decode(res.data)
    assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(out, res.reconstruction)
    assert abs(sparsecodec.metrics.psnr(img, out) - res.stats["psnr"]) < 1e-9
    assert res.stats["bytes"] == len(res.data)
    p = res.stats["parts"]
    assert p["header"] + p["mask"] + p["values"] <= len(res.data)


def test_decoded_mask_and_values_are_exact(small_colour):
    from sparsecodec.coding import dequantise, read_stream

    img = small_colour
    res = sparsecodec.encode_image(img, 0.08, "belhachmi", levels=256, colour="rgb", tonal=False)
    header, m, q = read_stream(res.data)
    np.testing.assert_array_equal(m, res.mask)
    for c in range(3):
        np.testing.assert_array_equal(dequantise(q[c], 256), img[..., c][m].astype(float))


def test_full_density_with_256_levels_is_lossless(small_colour):
    img = small_colour[..., 0]
    out = sparsecodec.decode(sparsecodec.encode(img, 1.0, "random", levels=256))
    np.testing.assert_array_equal(out, img)


def test_psnr_improves_with_density(small_colour):
    # 64 levels: with the default DEFAULT_LEVELS = 12 the quantisation noise would cap the
    # PSNR of this smooth crop before the density does
    lo = sparsecodec.encode_image(small_colour, 0.03, levels=64).stats["psnr"]
    hi = sparsecodec.encode_image(small_colour, 0.3, levels=64).stats["psnr"]
    assert hi > lo + 1  # defaults (quadtree + tonal) are already good at 3 % on this crop
    opts = dict(mask="belhachmi", tonal=False, levels=64)
    lo = sparsecodec.encode_image(small_colour, 0.03, **opts).stats["psnr"]
    hi = sparsecodec.encode_image(small_colour, 0.3, **opts).stats["psnr"]
    assert hi > lo + 3


def test_inpaint_api_colour_matches_per_channel(small_colour):
    m = sparsecodec.make_mask(small_colour, 0.1)
    u = sparsecodec.inpaint(small_colour, m, tol=1e-10)
    for c in range(3):
        uc = sparsecodec.inpaint(small_colour[..., c], m, solver="cg", tol=1e-10)
        assert np.abs(u[..., c] - uc).max() < 1e-4


def test_bad_inputs():
    with pytest.raises(ImageError):
        sparsecodec.encode(np.zeros((0, 20), np.uint8))
    with pytest.raises(OptionError):
        sparsecodec.encode(np.zeros((20, 20), np.uint8), density=0)
    with pytest.raises(OptionError):
        sparsecodec.encode(np.zeros((20, 20), np.uint8), levels=1)
    with pytest.raises(BitstreamError):
        sparsecodec.decode(b"")
    with pytest.raises(BitstreamError):
        sparsecodec.decode(b"SPCD" + bytes(100))


@pytest.mark.parametrize(
    "bad",
    [np.array([[1, 2], [3, 4]], dtype=object), np.ones((8, 8), complex), [[1, 2], [3]]],
    ids=["object", "complex", "ragged"],
)
def test_non_numeric_arrays_are_refused(bad):
    with pytest.raises(ImageError):
        sparsecodec.encode(bad, 0.1)
    with pytest.raises(ImageError):
        sparsecodec.make_mask(bad, 0.1)
    with pytest.raises(ImageError):
        sparsecodec.inpaint(bad, np.ones((2, 2), bool))


def test_inpaint_mask_and_value_checks(small_colour):
    grey = small_colour[..., 1]
    rng = np.random.default_rng(3)
    m = rng.random(grey.shape) < 0.1
    with pytest.raises(OptionError, match="boolean"):
        sparsecodec.inpaint(grey, np.where(m, 0.5, 0.0))
    with pytest.raises(OptionError, match="boolean"):
        sparsecodec.optimise_tonal(grey, np.where(m, 0.5, 0.0))
    bad = grey.astype(float)
    bad[np.argwhere(m)[0][0], np.argwhere(m)[0][1]] = np.nan
    with pytest.raises(ImageError, match="mask pixels"):
        sparsecodec.inpaint(bad, m)
    with pytest.raises(ImageError):
        sparsecodec.make_mask(bad, 0.1)
    # values off the mask are ignored, NaN included; a 0/1 integer mask is a mask
    holes = np.where(m, grey.astype(float), np.nan)
    ref = sparsecodec.inpaint(grey, m, tol=1e-10)
    assert np.array_equal(sparsecodec.inpaint(holes, m.astype(np.uint8), tol=1e-10), ref)


def test_decode_and_describe_take_a_path(tmp_path, small_colour):
    describe = sparsecodec.describe
    data = sparsecodec.encode(small_colour, 0.1)
    path = tmp_path / "s.bin"
    path.write_bytes(data)
    assert np.array_equal(sparsecodec.decode(str(path)), sparsecodec.decode(data))
    assert np.array_equal(sparsecodec.decode(path), sparsecodec.decode(bytearray(data)))
    assert describe(path) == describe(data)
    for bad in (tmp_path / "missing.bin", tmp_path, 5, None):
        with pytest.raises(BitstreamError):
            sparsecodec.decode(bad)


def test_non_uint8_images_are_grey_levels(small_colour):
    """Other dtypes are read as grey levels 0..255 (rounded, clipped); a [0, 1] float image or
    out-of-range values warn, because they would otherwise be coded silently as near black or
    clipped."""
    g = small_colour.mean(axis=2)
    exact = sparsecodec.decode(sparsecodec.encode(np.round(g).astype(np.uint8), 0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 0..255 floats and an all-black float image: no warning
        assert np.array_equal(sparsecodec.decode(sparsecodec.encode(g, 0.1)), exact)
        sparsecodec.make_mask(np.zeros((8, 8)), 0.1)
    with pytest.warns(ConversionWarning, match=r"\[0, 1\]"):
        sparsecodec.encode(g / 255.0, 0.1)
    with pytest.warns(ConversionWarning, match=r"\[0, 1\]"):
        sparsecodec.make_mask(g / 255.0, 0.1)
    with pytest.warns(ConversionWarning, match="clipped"):
        data = sparsecodec.encode(np.full((12, 12), 300, np.int16), 0.1)
    assert (sparsecodec.decode(data) == 255).all()


def test_tonal_encoding_roundtrip_and_gain(small_colour):
    from sparsecodec.coding import dequantise, read_stream

    img = small_colour[..., 0]
    kw = {"levels": 64, "decoder": "diffusion"}  # optimise_tonal's decoder
    plain = sparsecodec.encode_image(img, 0.08, "belhachmi", tonal=False, **kw)
    tonal = sparsecodec.encode_image(img, 0.08, "belhachmi", tonal=True, **kw)
    assert tonal.stats["psnr"] > plain.stats["psnr"]
    out = sparsecodec.decode(tonal.data)
    np.testing.assert_array_equal(out, tonal.reconstruction)
    header, m, q = read_stream(tonal.data)
    assert header.flags & 1
    # the stored values are the quantised optimised values (the codec's tonal settings); a
    # value within rounding noise of a decision boundary may land on the neighbouring level
    from sparsecodec.codec import TONAL_OPTIONS

    opt = sparsecodec.optimise_tonal(img.astype(float), m, levels=64, **TONAL_OPTIONS)[m]
    diff = np.abs(dequantise(q[0], 64) - opt)
    step = 255 / 63
    assert np.all(diff <= step + 1e-9) and np.mean(diff < 1e-9) >= 0.98


def test_nlpe_post_processing_never_worse(small_colour):
    img = small_colour[..., 1]
    base = sparsecodec.encode_image(img, 0.06, "belhachmi", levels=256)
    ref = sparsecodec.encode_image(img, 0.06, "belhachmi", levels=256, nlpe_cycles=1)
    assert ref.mask.sum() == base.mask.sum()
    assert ref.stats["mse"] <= base.stats["mse"] + 0.5


def test_per_channel_levels_round_trip(small_colour):
    from sparsecodec.coding import read_stream

    res = sparsecodec.encode_image(small_colour, 0.08, "belhachmi", levels=6, chroma_levels=40)
    header, _, q = read_stream(res.data)
    assert header.levels == (6, 40, 40) and res.stats["levels"] == [6, 40, 40]
    assert q[0].max() <= 5 and q[1:].max() <= 39
    np.testing.assert_array_equal(sparsecodec.decode(res.data), res.reconstruction)
    # the default gives chroma CHROMA_FACTOR x the luma levels
    default = sparsecodec.encode_image(small_colour, 0.08, "belhachmi", levels=6)
    assert default.stats["levels"][1] == default.stats["levels"][2] > 6


@pytest.mark.parametrize("shape", [(1, 1), (1, 6), (5, 1), (3, 3), (2, 9)])
@pytest.mark.parametrize("mask", ["belhachmi", "random", "quadtree"])
def test_tiny_images_round_trip(shape, mask):
    """Images down to 1x1 code and decode (the network strategies' tiny sizes are covered in
    test_learned / test_wgan): the decoder reproduces the encoder's prediction; at full density
    with 256 levels, exactly."""
    rng = np.random.default_rng(sum(shape))
    for img in (rng.integers(0, 256, shape), rng.integers(0, 256, (*shape, 3))):
        img = img.astype(np.uint8)
        res = sparsecodec.encode_image(img, 0.3, mask, levels=16)
        out = sparsecodec.decode(res.data)
        assert out.shape == img.shape and res.mask.shape == shape and res.mask.any()
        np.testing.assert_array_equal(out, res.reconstruction)
        full = sparsecodec.encode_image(img, 1.0, "random", levels=256, colour="rgb", tonal=False)
        np.testing.assert_array_equal(sparsecodec.decode(full.data), img)


def test_wrong_options_are_option_errors(small_colour):
    grey = small_colour[..., 1].astype(float)
    m = np.random.default_rng(2).random(grey.shape) < 0.1
    calls = [
        lambda: sparsecodec.encode(grey, 0.1, bogus=1),
        lambda: sparsecodec.encode(grey, bpp=1.0, bogus=1),
        lambda: sparsecodec.encode(grey, "0.1"),
        lambda: sparsecodec.encode(grey, 0.1, seed=-3),
        lambda: sparsecodec.encode(grey, 0.1, mask=np.where(m, 0.5, 0.0)),
        lambda: sparsecodec.inpaint(grey, m, tol=0),
        lambda: sparsecodec.inpaint(grey, m, tol=float("nan")),
        lambda: sparsecodec.inpaint(grey, m, bogus=1),
        lambda: sparsecodec.optimise_tonal(grey, m, bogus=1),
        lambda: sparsecodec.optimise_tonal(grey, m, tol=-1.0),
        lambda: sparsecodec.optimise_tonal(grey, m, maxiter=0),
        lambda: sparsecodec.encode(grey, psnr=25, rel_tol=0.1),  # rel_tol is for bpp only
        lambda: sparsecodec.encode(grey, bpp=2.0, reconstruct=False),  # set by rate control
        lambda: sparsecodec.encode(grey, bpp=2.0, mask_array=m),
        lambda: sparsecodec.encode(grey, bpp="1"),
        lambda: sparsecodec.encode(grey, psnr="30"),
        lambda: sparsecodec.encode(grey, 0.1, levels=None),
        lambda: sparsecodec.inpaint(grey, m, values=grey),  # filled by inpaint itself
        lambda: sparsecodec.make_mask(grey, 0.1, "nlpe", mask=m, cycles=0.1),
    ]
    for i, call in enumerate(calls):
        with pytest.raises(OptionError):
            call()
            pytest.fail(f"call {i} accepted a wrong option")


def test_numeric_option_forms_are_accepted(small_colour):
    grey = small_colour[..., 1]
    ref = sparsecodec.encode(grey, 0.1, seed=1, levels=12, tonal=False)
    for kw in (
        {"density": np.array(0.1)},  # 0-d array
        {"density": np.float32(0.1), "seed": np.uint32(1)},
        {"seed": 1.0},  # an integer-valued float
        {"levels": np.float64(12.0)},
        {"levels": (np.int64(12),)},
    ):
        args = {"density": 0.1, "seed": 1, "levels": 12, "tonal": False, **kw}
        density = args.pop("density")
        assert sparsecodec.encode(grey, density, **args) == ref, kw


def test_natural_image_round_trip_matches_prediction(data_dir):
    # a Kodak crop (needs the data folder; counted in the summary when it is missing)
    from sparsecodec.io import read_image

    files = sorted((data_dir / "kodak").glob("*.png"))
    if not files:
        pytest.skip(f"no Kodak images in {data_dir}")
    img = read_image(files[0])[200:328, 300:428]
    res = sparsecodec.encode_image(img)
    np.testing.assert_array_equal(sparsecodec.decode(res.data), res.reconstruction)
    assert res.stats["psnr"] > 20 and 0.02 < res.stats["bpp"] < 2
