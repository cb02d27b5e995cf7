"""Cross-validated blend of a learned inpainting with diffusion (the semantic fallback rule)."""

from __future__ import annotations

import numpy as np
import pytest

from sparsecodec.inpainting import blend


def _image(h: int = 40, w: int = 48, c: int | None = None) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    g = 120 + 50 * np.sin(x / 4.0) + 30 * np.cos(y / 6.0)
    return g if c is None else np.stack([g, 255 - g, 0.5 * g][:c], axis=-1)


def _known(h: int = 40, w: int = 48) -> np.ndarray:
    k = np.ones((h, w), bool)
    k[8:18, 8:20] = False  # hole 1
    k[25:35, 28:42] = False  # hole 2
    return k


def test_probe_band_and_labels():
    k = _known()
    probe, band = blend.probe_band(k, 3)
    assert not (band & ~k).any() and not (probe & band).any()
    assert np.array_equal(probe | band, k)
    # every band pixel is within chessboard distance 3 of a hole, and all such pixels are in it
    yy, xx = np.nonzero(~k)
    for y, x in zip(*np.nonzero(k), strict=True):
        d = np.min(np.maximum(abs(yy - y), abs(xx - x)))
        assert band[y, x] == (d <= 3), (y, x)
    lab, n = blend.hole_labels(k)
    assert n == 2 and set(np.unique(lab)) == {0, 1, 2}
    owner = blend.nearest_hole(lab)
    assert owner[10, 4] == lab[10, 10] and owner[30, 45] == lab[30, 30]
    # a band covering everything known leaves no probe: the band is emptied
    tiny = np.zeros((5, 5), bool)
    tiny[0, 0] = True
    assert not blend.probe_band(tiny, 3)[1].any()


def test_weights_are_the_least_squares_blend():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(10, 10))
    d = rng.normal(size=(10, 10))
    s = d + 3.0 * (f - d) + 0.01 * rng.normal(size=(10, 10))  # best weight about 1/3
    band = np.zeros((10, 10), bool)
    band[:4] = True
    owner = np.ones((10, 10), int)
    w = blend.blend_weights(f, s, d, band, owner, 1, min_gain=0.0)
    grid = np.linspace(0, 1, 2001)
    err = [np.sum((f[band] - (d[band] + g * (s[band] - d[band]))) ** 2) for g in grid]
    assert w[0] == pytest.approx(grid[int(np.argmin(err))], abs=1e-3)
    assert 0.2 < w[0] < 0.4
    # the confidence gate: a gain below min_gain gives w = 0
    noisy = d + 3.0 * (f - d) + 5.0 * rng.normal(size=(10, 10))
    assert blend.blend_weights(f, noisy, d, band, owner, 1, min_gain=0.0)[0] > 0.0
    assert blend.blend_weights(f, noisy, d, band, owner, 1, min_gain=0.9)[0] == 0.0
    # an anti-correlated candidate is clipped to 0
    assert blend.blend_weights(f, 2 * d - s, d, band, owner, 1, min_gain=0.0)[0] == 0.0


@pytest.mark.parametrize("channels", [None, 3])
def test_oracle_is_kept_and_noise_falls_back_to_diffusion(channels):
    img = _image(c=channels)
    k = _known()
    rng = np.random.default_rng(1)

    def oracle(a, known):  # the truth in every hole
        return img.copy()

    def noise(a, known):
        return np.where(known if a.ndim == 2 else known[..., None], a, rng.uniform(0, 255, a.shape))

    r = blend.cross_validated_blend(img, k, oracle, width=3)
    assert np.allclose(r.weights, 1.0) and np.allclose(r.image, img)
    r = blend.cross_validated_blend(img, k, noise, width=3)
    assert np.all(r.weights == 0.0)
    assert np.allclose(r.image, blend.diffusion_fill(img, k))
    # known pixels are never changed, whatever the candidate does to them
    r = blend.cross_validated_blend(img, k, lambda a, kn: a + 50.0, width=3)
    kk = k if channels is None else k[..., None].repeat(3, -1)
    assert np.array_equal(r.image[kk], img[kk])


def test_per_hole_decisions():
    """A candidate right in hole 1 and wrong in hole 2 is kept in hole 1 only."""
    img = _image()
    k = _known()
    lab, _ = blend.hole_labels(k)
    h1 = lab == lab[10, 10]

    def half(a, known):
        out = np.where(known, a, 0.0)
        miss = ~known
        grown = np.zeros_like(miss)
        grown[:22, :24] = True  # the truth around and in hole 1, zeros elsewhere
        return np.where(miss & grown, img, out)

    r = blend.cross_validated_blend(img, k, half, width=3)
    assert r.weights[lab[10, 10] - 1] == pytest.approx(1.0)
    assert r.weights[lab[30, 30] - 1] == 0.0
    assert np.allclose(r.image[h1], img[h1])
