"""Tests for PS, NLPE and tonal optimisation (small images, fast)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from sparsecodec.errors import ImageError, OptionError
from sparsecodec.inpainting import solve
from sparsecodec.masks.nlpe import nlpe_mask, nlpe_refine
from sparsecodec.masks.ps import ps_mask
from sparsecodec.quantise import dequantise, quantise
from sparsecodec.tonal import optimise_tonal


def smooth_image(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A test image with edges, gradients and a little texture in [0, 255]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 100 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + 0.8 * x
    img[(x - w / 2) ** 2 + (y - h / 2) ** 2 < (min(h, w) / 4) ** 2] += 50
    img += rng.normal(0, 3, size=(h, w))
    return np.clip(img, 0, 255)


def dense_inpainting_matrix(mask: np.ndarray) -> np.ndarray:
    """``B`` with ``u = B g`` (g = values at the mask pixels, row-major order), built
    independently of the solver: ``u_K = g``, ``-A_UU u_U = A_UK g`` with the 5-point
    Laplacian ``A`` with reflecting boundaries."""
    H, W = mask.shape
    n = H * W
    idx = np.arange(n).reshape(H, W)
    pairs = [(idx[:-1, :], idx[1:, :]), (idx[:, :-1], idx[:, 1:])]
    rows = np.concatenate([a.ravel() for a, b in pairs] + [b.ravel() for a, b in pairs])
    cols = np.concatenate([b.ravel() for a, b in pairs] + [a.ravel() for a, b in pairs])
    adj = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    A = (adj - sp.diags(np.asarray(adj.sum(axis=1)).ravel())).toarray()
    K = np.flatnonzero(mask.ravel())
    U = np.flatnonzero(~mask.ravel())
    B = np.zeros((n, K.size))
    B[K, np.arange(K.size)] = 1.0
    B[U] = np.linalg.solve(-A[np.ix_(U, U)], A[np.ix_(U, K)])
    return B


def mse_of(image: np.ndarray, mask: np.ndarray) -> float:
    u = solve(image, mask, tol=1e-10, maxiter=500).u
    return float(np.mean((u - image) ** 2))


# ------------------------------------------------------------------------------------ PS


@pytest.mark.parametrize("density", [0.02, 0.05, 0.1, 0.3])
def test_ps_exact_density(density):
    f = smooth_image(32, 28)
    mask = ps_mask(f, density, seed=3)
    assert mask.dtype == bool and mask.shape == f.shape
    assert mask.sum() == round(density * f.size)


def test_ps_deterministic_and_better_than_random():
    f = smooth_image(32, 32, seed=1)
    a = ps_mask(f, 0.08, seed=5)
    b = ps_mask(f, 0.08, seed=5)
    assert np.array_equal(a, b)
    rng = np.random.default_rng(0)
    rand = np.zeros(f.size, dtype=bool)
    rand[rng.choice(f.size, int(a.sum()), replace=False)] = True
    assert mse_of(f, a) < mse_of(f, rand.reshape(f.shape))


def test_ps_best_of_runs_not_worse():
    f = smooth_image(24, 24, seed=2)
    single = ps_mask(f, 0.1, seed=7, runs=1)
    best = ps_mask(f, 0.1, seed=7, runs=3)
    # The first run of runs=3 is the same run as runs=1.
    assert mse_of(f, best) <= mse_of(f, single) + 1e-9
    assert best.sum() == single.sum()


def test_ps_bad_input():
    f = smooth_image(16, 16)
    with pytest.raises(OptionError):
        ps_mask(f, 0.0)
    with pytest.raises(OptionError):
        ps_mask(f, 1.5)
    with pytest.raises(OptionError):
        ps_mask(f, 0.1, p=0.0)
    with pytest.raises(ImageError):
        ps_mask(np.zeros((4, 4, 3)), 0.1)
    with pytest.raises(ImageError):
        ps_mask(np.full((8, 8), np.nan), 0.1)


# ---------------------------------------------------------------------------------- NLPE


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nlpe_never_increases_error(seed):
    f = smooth_image(32, 32, seed=seed)
    rng = np.random.default_rng(seed)
    start = np.zeros(f.size, dtype=bool)
    start[rng.choice(f.size, 50, replace=False)] = True
    start = start.reshape(f.shape)
    out = nlpe_refine(f, start, cycles=2, seed=seed)
    assert out.sum() == start.sum()
    e0, e1 = mse_of(f, start), mse_of(f, out)
    assert e1 <= e0 + 1e-9
    assert e1 < e0  # from a random mask there is a lot to gain


def test_nlpe_after_ps_improves_and_keeps_density():
    f = smooth_image(32, 32, seed=4)
    ps = ps_mask(f, 0.05, seed=1)
    both = nlpe_mask(f, 0.05, seed=1, cycles=2)
    assert both.sum() == ps.sum() == round(0.05 * f.size)
    assert mse_of(f, both) <= mse_of(f, ps) + 1e-9


def test_tonal_nlpe_never_increases_tonal_error():
    f = smooth_image(32, 32, seed=8)
    start = ps_mask(f, 0.06, seed=2)
    out = nlpe_refine(f, start, cycles=2, seed=3, tonal=True)
    assert out.sum() == start.sum()

    def tonal_error(m):
        g = optimise_tonal(f, m, tol=1e-9, maxiter=300, solver_tol=1e-10)
        return mse_of_values(f, g, m)

    assert tonal_error(out) <= tonal_error(start) + 1e-9


def mse_of_values(f: np.ndarray, values: np.ndarray, mask: np.ndarray) -> float:
    u = solve(values, mask, tol=1e-10, maxiter=500).u
    return float(np.mean((u - f) ** 2))


def test_nlpe_zero_cycles_is_identity():
    f = smooth_image(16, 16)
    m = ps_mask(f, 0.1)
    assert np.array_equal(nlpe_refine(f, m, cycles=0), m)


def test_nlpe_bad_input():
    f = smooth_image(16, 16)
    with pytest.raises(OptionError):
        nlpe_refine(f, np.zeros((16, 16), dtype=bool))
    with pytest.raises(ImageError):
        nlpe_refine(f, np.ones((8, 8), dtype=bool))
    with pytest.raises(OptionError):
        nlpe_refine(f, ps_mask(f, 0.1), exchanges=40, candidates=30)


# --------------------------------------------------------------------------------- tonal


@pytest.mark.parametrize("shape", [(12, 10), (9, 13)])
def test_tonal_reaches_least_squares_optimum(shape):
    f = smooth_image(*shape, seed=5)
    rng = np.random.default_rng(1)
    mask = rng.random(shape) < 0.12
    mask[0, 0] = True
    B = dense_inpainting_matrix(mask)
    g_ref, *_ = np.linalg.lstsq(B, f.ravel(), rcond=None)
    out = optimise_tonal(f, mask, tol=1e-11, solver_tol=1e-12, maxiter=500)
    assert out.shape == f.shape
    np.testing.assert_allclose(out[mask], g_ref, atol=1e-5 * 255)
    assert np.array_equal(out[~mask], f[~mask])
    err_opt = np.sum((B @ out[mask] - f.ravel()) ** 2)
    err_orig = np.sum((B @ f[mask] - f.ravel()) ** 2)
    assert err_opt < err_orig


def test_tonal_warm_start_reaches_the_same_optimum():
    f = smooth_image(12, 10, seed=5)
    mask = np.random.default_rng(1).random(f.shape) < 0.12
    mask[0, 0] = True
    B = dense_inpainting_matrix(mask)
    g_ref, *_ = np.linalg.lstsq(B, f.ravel(), rcond=None)
    start = f.copy()
    start[mask] = g_ref + 0.5  # near the optimum: few iterations get there
    out = optimise_tonal(f, mask, start=start, tol=1e-11, solver_tol=1e-12, maxiter=500)
    np.testing.assert_allclose(out[mask], g_ref, atol=1e-5 * 255)
    one = optimise_tonal(f, mask, start=start, solver_tol=1e-12, maxiter=1)
    cold = optimise_tonal(f, mask, solver_tol=1e-12, maxiter=1)
    err = lambda g: np.sum((B @ g[mask] - f.ravel()) ** 2)  # noqa: E731
    assert err(one) < err(cold)  # the start is used
    with pytest.raises(ImageError, match="start must be"):
        optimise_tonal(f, mask, start=np.zeros((3, 3)))


def test_tonal_colour_channels_independent():
    f = np.stack([smooth_image(12, 12, seed=s) for s in range(3)], axis=-1)
    mask = np.random.default_rng(2).random((12, 12)) < 0.15
    mask[5, 5] = True
    out = optimise_tonal(f, mask, tol=1e-10, solver_tol=1e-12, maxiter=500)
    assert out.shape == f.shape
    for c in range(3):
        single = optimise_tonal(f[..., c], mask, tol=1e-10, solver_tol=1e-12, maxiter=500)
        np.testing.assert_allclose(out[..., c], single, atol=1e-6)


@pytest.mark.parametrize("levels", [8, 32, 256])
def test_tonal_quantised_on_grid_and_not_worse_than_rounding(levels):
    f = smooth_image(14, 14, seed=6)
    mask = np.random.default_rng(3).random(f.shape) < 0.15
    mask[0, 0] = True
    B = dense_inpainting_matrix(mask)
    opt = optimise_tonal(f, mask, tol=1e-10, solver_tol=1e-12, maxiter=500)[mask]
    out = optimise_tonal(f, mask, levels=levels)
    v = out[mask]
    np.testing.assert_array_equal(dequantise(quantise(v, levels), levels), v)
    naive = dequantise(quantise(opt, levels), levels)
    err = np.sum((B @ v - f.ravel()) ** 2)
    err_naive = np.sum((B @ naive - f.ravel()) ** 2)
    assert err <= err_naive * (1 + 1e-9)


def test_tonal_per_channel_levels_and_errors():
    f = np.stack([smooth_image(10, 10, seed=s) for s in range(3)], axis=-1)
    mask = np.zeros((10, 10), dtype=bool)
    mask[::3, ::3] = True
    out = optimise_tonal(f, mask, levels=[16, 32, 64])
    for c, lv in enumerate([16, 32, 64]):
        v = out[..., c][mask]
        np.testing.assert_array_equal(dequantise(quantise(v, lv), lv), v)
    with pytest.raises(OptionError):
        optimise_tonal(f, mask, levels=[16, 32])
    with pytest.raises(OptionError):
        optimise_tonal(f, mask, levels=1)
    with pytest.raises(ImageError):
        optimise_tonal(f, np.zeros((10, 10), dtype=bool))
    with pytest.raises(ImageError):
        optimise_tonal(f, np.ones((5, 5), dtype=bool))


def test_tonal_without_progressive_fixing_rounds_the_optimum():
    f = smooth_image(14, 14, seed=7)
    mask = np.random.default_rng(4).random(f.shape) < 0.15
    mask[0, 0] = True
    kw = {"tol": 1e-10, "solver_tol": 1e-12, "maxiter": 500}
    opt = optimise_tonal(f, mask, **kw)[mask]
    out = optimise_tonal(f, mask, levels=16, progressive=False, **kw)[mask]
    np.testing.assert_allclose(out, dequantise(quantise(opt, 16), 16), atol=1e-9)
    # the progressive scheme is never worse than this rounding
    B = dense_inpainting_matrix(mask)
    prog = optimise_tonal(f, mask, levels=16, **kw)[mask]
    assert np.sum((B @ prog - f.ravel()) ** 2) <= np.sum((B @ out - f.ravel()) ** 2) * (1 + 1e-9)


def test_quantised_tonal_never_worse_than_quantised_originals():
    f = smooth_image(16, 12, seed=8)
    mask = np.random.default_rng(5).random(f.shape) < 0.1
    mask[3, 3] = True
    B = dense_inpainting_matrix(mask)
    for levels in (4, 32):
        plain = dequantise(quantise(f[mask], levels), levels)
        for progressive in (True, False):
            v = optimise_tonal(f, mask, levels=levels, maxiter=3, progressive=progressive)[mask]
            err = np.sum((B @ v - f.ravel()) ** 2)
            assert err <= np.sum((B @ plain - f.ravel()) ** 2) * (1 + 1e-9)
