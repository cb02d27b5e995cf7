"""The values stage (sparsecodec.pipeline.values): levels per channel, colour modes, stored
values and their inverse."""

from __future__ import annotations

import numpy as np
import pytest

from sparsecodec.colour import COLOUR_MODES, rgb_to_ycbcr
from sparsecodec.errors import OptionError
from sparsecodec.pipeline.values import (
    CHROMA_FACTOR,
    channel_levels,
    dequantised_values,
    from_coding_space,
    image_space,
    stored_values,
    to_coding_space,
)


def test_channel_levels():
    c = int(round(CHROMA_FACTOR * 12))
    assert channel_levels(12, 1) == (12,)
    assert channel_levels(12, 3, colour=1) == (12, c, c)
    assert channel_levels(12, 3, colour=0) == (12, 12, 12)  # RGB: no chroma channels
    assert channel_levels(12, 3, colour=1, chroma_levels=5) == (12, 5, 5)
    assert channel_levels(200, 3, colour=1) == (200, 256, 256)
    assert channel_levels((7, 9, 11), 3, colour=1) == (7, 9, 11)
    with pytest.raises(OptionError):
        channel_levels((7, 9, 11), 3, colour=1, chroma_levels=5)
    with pytest.raises(OptionError):
        channel_levels(12, 3, colour=1, chroma_levels=300)
    with pytest.raises(OptionError):
        channel_levels((12, 12), 3)
    for bad in ((12.7,), ("12",), (True,), (12, 12.5, 12)):  # never silently truncated
        with pytest.raises(OptionError, match="integer"):
            channel_levels(bad, len(bad))
    for channels, colour in ((1, 0), (3, 0)):  # grey / RGB have no chroma channels
        with pytest.raises(OptionError, match="YCbCr"):
            channel_levels(12, channels, colour=colour, chroma_levels=18)


def test_colour_modes_round_trip_and_store_the_right_channels():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    for mode in COLOUR_MODES.values():
        chw = to_coding_space(rgb, mode.id)
        assert chw.shape == (3, 5, 7) and chw.dtype == np.float64
        np.testing.assert_array_equal(from_coding_space(chw, mode.id), rgb)
        np.testing.assert_allclose(image_space(chw, mode.id), rgb, atol=1e-9)
    np.testing.assert_array_equal(to_coding_space(rgb, COLOUR_MODES["rgb"].id)[1], rgb[..., 1])
    ycc = to_coding_space(rgb, COLOUR_MODES["ycbcr"].id)
    np.testing.assert_allclose(np.moveaxis(ycc, 0, 2), rgb_to_ycbcr(rgb))
    # JPEG's full-range YCbCr: white is (255, 128, 128)
    white = to_coding_space(np.full((1, 1, 3), 255, np.uint8), COLOUR_MODES["ycbcr"].id)
    np.testing.assert_allclose(white[:, 0, 0], [255, 128, 128], atol=1e-9)
    grey = rgb[..., 0]
    np.testing.assert_array_equal(to_coding_space(grey, 1)[0], grey)  # grey: no transform


def test_stored_values_are_the_quantised_pixels_and_dequantise_back():
    img = np.random.default_rng(1).integers(0, 256, (6, 9)).astype(np.uint8)
    mask = np.zeros((6, 9), bool)
    mask[::2, ::3] = True
    q = stored_values(img, mask, 0, (256,), tonal=False)
    np.testing.assert_array_equal(q[0], img[mask])  # 256 levels: the pixels themselves
    v = dequantised_values(q, mask, (256,))
    np.testing.assert_array_equal(v[0][mask], img[mask])
    assert not v[0][~mask].any()
    q4 = stored_values(img, mask, 0, (4,), tonal=False)
    np.testing.assert_array_equal(q4[0], np.rint(img[mask].astype(float) * 3 / 255))
    np.testing.assert_allclose(dequantised_values(q4, mask, (4,))[0][mask], q4[0] * 85.0)
