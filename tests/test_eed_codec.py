"""The EED codec end to end: encoder parameter choice, bit-exact decoding, luma preference."""

from __future__ import annotations

import numpy as np
import pytest

import sparsecodec
from sparsecodec.errors import BitstreamError, OptionError


def _image(colour: bool, size=(40, 56)):
    y, x = np.mgrid[0 : size[0], 0 : size[1]]
    g = 110 + 70 * np.tanh((x - 0.7 * y - 12) / 3.0) + 20 * np.sin(y / 5.0)
    if not colour:
        return np.clip(g, 0, 255).astype(np.uint8)
    return np.clip(np.stack([g, 0.6 * g + 40, 255 - g], axis=2), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("colour", [False, True])
@pytest.mark.parametrize("tonal", [False, True])
def test_eed_streams_decode_to_the_predicted_image(colour, tonal):
    img = _image(colour)
    res = sparsecodec.encode_image(img, 0.08, "quadtree", levels=16, decoder="eed", tonal=tonal)
    assert np.array_equal(sparsecodec.decode(res.data), res.reconstruction)
    info = sparsecodec.describe(res.data)
    assert info["decoder"] == "eed" and info["format_version"] == 5
    assert info["decoder_params"] == res.stats["decoder_params"]
    assert info["decoder_params"]["lam"] in (2.0, 4.0)  # chosen from LAM_GRID


def test_given_decoder_options_are_stored():
    img = _image(False)
    opts = {"lam": 3.3, "sigma": 0.5, "diffusivity": "exponential"}
    res = sparsecodec.encode_image(img, 0.08, "quadtree", decoder="eed", decoder_options=opts)
    p = sparsecodec.describe(res.data)["decoder_params"]
    assert p == {"lam": round(3.3 * 256) / 256, "sigma": 0.5, "diffusivity": "exponential",
                 "chroma_step": 1}  # fmt: skip
    assert np.array_equal(sparsecodec.decode(res.data), res.reconstruction)


def test_eed_beats_homogeneous_diffusion_on_an_edge():
    # same mask and values: anisotropic diffusion keeps the edge that diffusion blurs
    img = _image(False, (64, 64))
    kw = {"levels": 64, "tonal": False, "decoder_options": {"lam": 2.0}}
    eed = sparsecodec.encode_image(img, 0.05, "quadtree", decoder="eed", **kw)
    hd = sparsecodec.encode_image(
        img, 0.05, "quadtree", levels=64, tonal=False, decoder="diffusion"
    )
    assert eed.stats["psnr"] > hd.stats["psnr"] + 0.5


@pytest.mark.parametrize("colour", [False, True])
def test_relinearised_tonal_values_decode_better(colour):
    # values optimised for the tensor of the decoder's own reconstruction (issue 26: the
    # linearisation iterated), kept where their decode beats that of the original's tensor
    from sparsecodec.colour import luma
    from sparsecodec.masks.quadtree import quadtree_mask
    from sparsecodec.pipeline.decoding import eed_channels
    from sparsecodec.pipeline.values import dequantised_values, eed_stored_values

    img = _image(colour, (48, 64))
    cs = 1 if colour else 0
    grey = luma(img) if colour else img.astype(float)
    mask = quadtree_mask(grey, 0.06)
    params = {"lam": 2.0, "sigma": 1.0, "diffusivity": "charbonnier", "chroma_step": 1}
    lv = (16, 24, 24) if colour else (16,)
    f = sparsecodec.pipeline.values.to_coding_space(img, cs)
    errs = []
    for r in (0, 1):
        q = eed_stored_values(img, mask, cs, lv, True, params, relinearise=r)
        u = eed_channels(dequantised_values(q, mask, lv), mask, params, cs)
        errs.append(np.mean((u[0] - f[0]) ** 2))
    assert errs[1] <= errs[0]  # the better decode of the two linearisations is kept
    if not colour:
        assert errs[1] < 0.95 * errs[0]  # and here re-linearising pays


def test_luma_preference_keeps_fewer_chroma_values():
    img = _image(True, (64, 64))
    full = sparsecodec.encode_image(
        img, 0.1, "quadtree", decoder="eed", decoder_options={"lam": 2.0, "chroma_step": 1}
    )
    pref = sparsecodec.encode_image(
        img, 0.1, "quadtree", decoder="eed", decoder_options={"lam": 2.0, "chroma_step": 8}
    )
    assert np.array_equal(sparsecodec.decode(pref.data), pref.reconstruction)
    assert sparsecodec.describe(pref.data)["decoder_params"]["chroma_step"] == 8
    assert pref.stats["parts"]["values"] < full.stats["parts"]["values"]


def test_chroma_step_is_for_ycbcr_only():
    # RGB (and grey) streams store every channel at every mask point: step 1, whatever the
    # default; asking for a larger step there is an error, not silently ignored
    img = _image(True, (40, 48))
    rgb = sparsecodec.encode_image(img, 0.1, "quadtree", levels=256, colour="rgb", tonal=False)
    assert rgb.stats["decoder"] == "eed" and rgb.stats["decoder_params"]["chroma_step"] == 1
    assert np.array_equal(sparsecodec.decode(rgb.data), rgb.reconstruction)
    ycc = sparsecodec.encode_image(img, 0.1, "quadtree", levels=16, tonal=False)
    assert ycc.stats["decoder_params"]["chroma_step"] == 16  # the default, luma preference
    other = sparsecodec.encode_image(img, 0.1, "belhachmi", levels=16, tonal=False)
    assert other.stats["decoder_params"]["chroma_step"] == 1  # not a subdivision mask
    with pytest.raises(OptionError, match="only to colour images stored as YCbCr"):
        sparsecodec.encode_image(img, 0.1, colour="rgb", decoder_options={"chroma_step": 4})


def test_default_chroma_step_shrinks_with_density():
    # the lattice of step k keeps at most ~H W / k**2 chroma points: a dense mask gets a finer
    # lattice (here full density, 128x128: k = 16, 8 keep 0.5 %, 1.8 % of the points, k = 4 6.6 %)
    from sparsecodec.decoders import get_decoder
    from sparsecodec.masks.quadtree import quadtree_mask
    from sparsecodec.pipeline.params import CHROMA_MIN_SHARE, choose_params

    img = _image(True, (128, 128))
    eed = get_decoder("eed")
    lv, fixed = (12, 18, 18), {"lam": 2.0}
    full = np.ones((128, 128), bool)
    assert choose_params(eed, img, full, 1, lv, fixed)["chroma_step"] == 4
    sparse = quadtree_mask(img[..., 0].astype(float), 0.01)
    assert choose_params(eed, img, sparse, 1, lv, fixed)["chroma_step"] == 16
    assert choose_params(eed, img, sparse, 1, lv, fixed, subdivision=False)["chroma_step"] == 1
    assert choose_params(eed, img, full, 1, lv, {**fixed, "chroma_step": 16})["chroma_step"] == 16
    assert 0 < CHROMA_MIN_SHARE < 0.066


def test_bad_decoder_options():
    img = _image(False)
    with pytest.raises(OptionError, match="unknown option"):
        sparsecodec.encode_image(img, 0.08, decoder="eed", decoder_options={"beta": 1})
    with pytest.raises(OptionError, match="sigma must lie in"):
        sparsecodec.encode_image(img, 0.08, decoder="eed", decoder_options={"sigma": 9})
    with pytest.raises(OptionError, match="unknown option"):
        sparsecodec.encode_image(img, 0.08, decoder="diffusion", decoder_options={"lam": 1})


def test_forged_eed_parameters_are_refused_by_decode():
    from sparsecodec.coding.header import FIXED_SIZE

    res = sparsecodec.encode_image(_image(False), 0.08, "quadtree", decoder="eed")
    bad = bytearray(res.data)
    at = FIXED_SIZE + 1 + 1  # one channel's levels, the block length, then lam (u16)
    bad[at : at + 2] = b"\x00\x00"  # lam = 0
    with pytest.raises(BitstreamError, match="lam out of range"):
        sparsecodec.decode(bytes(bad))
