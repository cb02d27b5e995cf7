"""EED inpainting (sparsecodec.inpainting.anisotropic) against independent SciPy references."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from sparsecodec.errors import OptionError
from sparsecodec.inpainting.anisotropic import (
    ALPHA,
    diffusivity_value,
    eed_apply,
    eed_inpaint,
    eed_solve,
    eed_tensor,
)
from sparsecodec.inpainting.solve import Preconditioner


def _assemble(tensor: np.ndarray, alpha: float = ALPHA) -> sp.csr_matrix:
    """Sparse A from the cell energies, cell by cell (written independently of the kernels):
    each 2x2 cell with mean tensor (a, b, c) and s = alpha (a + c) + (1 - 2 alpha) |b| adds
    the pair weights (a - s)/2, (c - s)/2, (s + b)/2, (s - b)/2 of its horizontal, vertical,
    main- and anti-diagonal pixel pairs."""
    _, H, W = tensor.shape
    idx = np.arange(H * W).reshape(H, W)
    rows, cols, vals = [], [], []

    def pair(p, q, w):
        rows.extend([p, q, p, q])
        cols.extend([q, p, p, q])
        vals.extend([w, w, -w, -w])

    for i in range(H - 1):
        for j in range(W - 1):
            a, b, c = tensor[:, i : i + 2, j : j + 2].mean(axis=(1, 2))
            s = alpha * (a + c) + (1 - 2 * alpha) * abs(b)
            p00, p01, p10, p11 = idx[i, j], idx[i, j + 1], idx[i + 1, j], idx[i + 1, j + 1]
            pair(p00, p01, (a - s) / 2)
            pair(p10, p11, (a - s) / 2)
            pair(p00, p10, (c - s) / 2)
            pair(p01, p11, (c - s) / 2)
            pair(p00, p11, (s + b) / 2)
            pair(p01, p10, (s - b) / 2)
    return sp.csr_matrix((vals, (rows, cols)), shape=(H * W, H * W))


def _image(H=13, W=17, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0:W]
    return 120 + 90 * np.tanh((x - 0.6 * y - 4) / 2.0) + rng.normal(0, 5, (H, W))


@pytest.mark.parametrize("diffusivity", ["charbonnier", "exponential"])
def test_operator_matches_sparse_assembly(diffusivity):
    f = _image()
    t = eed_tensor(f, lam=3.0, sigma=0.8, diffusivity=diffusivity)
    A = _assemble(t)
    u = np.random.default_rng(1).normal(size=f.shape)
    assert np.allclose(eed_apply(u, t).ravel(), A @ u.ravel(), atol=1e-12)
    assert abs(A - A.T).max() < 1e-14  # symmetric
    assert np.allclose(A.sum(axis=1), 0, atol=1e-12)  # constants are in the null space
    # negative semi-definite, and the checkerboard mode is not in the null space
    assert np.linalg.eigvalsh(A.toarray()).max() < 1e-10
    cb = (-1.0) ** np.add.outer(np.arange(f.shape[0]), np.arange(f.shape[1]))
    assert cb.ravel() @ (A @ cb.ravel()) < -1.0


def test_tensor_eigenstructure():
    f = _image()
    lam, sigma = 2.0, 1.0
    t = eed_tensor(f, lam=lam, sigma=sigma)
    a, b, c = t
    # eigenvalues of D: 1 (along the edge) and g(mu1) in (0, 1] (across)
    tr, det = a + c, a * c - b * b
    lo = 0.5 * (tr - np.sqrt(np.maximum(tr * tr - 4 * det, 0)))
    hi = 0.5 * (tr + np.sqrt(np.maximum(tr * tr - 4 * det, 0)))
    assert np.allclose(hi, 1.0) and np.all(lo > 0) and np.all(lo <= 1 + 1e-12)
    # a flat image gives the identity tensor
    flat = eed_tensor(np.full((6, 7), 9.0), lam=lam, sigma=sigma)
    assert np.allclose(flat[0], 1) and np.allclose(flat[1], 0) and np.allclose(flat[2], 1)
    assert diffusivity_value(np.array([0.0]), 1.0, "exponential")[0] == 1.0
    assert np.isclose(diffusivity_value(np.array([4.0]), 2.0)[0], 1 / np.sqrt(2))


@pytest.mark.parametrize("with_rhs", [False, True])
def test_frozen_tensor_solve_matches_spsolve(with_rhs):
    f = _image(seed=2)
    rng = np.random.default_rng(3)
    mask = rng.random(f.shape) < 0.15
    mask[0, 0] = True
    t = eed_tensor(f, lam=2.0, sigma=0.7)
    g = rng.normal(size=f.shape) if with_rhs else None
    res = eed_solve(f, mask, t, rhs=g, tol=1e-12, maxiter=2000)
    A = _assemble(t)
    U, K = ~mask.ravel(), mask.ravel()
    b = A[U][:, K] @ f.ravel()[K] + (g.ravel()[U] if with_rhs else 0)
    ref = spl.spsolve(-A[U][:, U].tocsc(), b)
    assert res.converged and np.abs(res.u.ravel()[U] - ref).max() < 1e-7
    assert np.array_equal(res.u[mask], f[mask])
    # plain CG (a "cg" preconditioner) solves the same system, in more iterations
    plain = eed_solve(
        f, mask, t, rhs=g, tol=1e-12, maxiter=2000, preconditioner=Preconditioner(mask, "cg")
    )
    assert plain.converged and np.abs(plain.u.ravel()[U] - ref).max() < 1e-7
    assert plain.iterations > res.iterations


def test_rotation_and_transposition_symmetry():
    f = _image(16, 16, seed=4)
    mask = np.random.default_rng(5).random(f.shape) < 0.2
    kw = {"lam": 2.0, "sigma": 0.8, "tol": 1e-10}
    u = eed_inpaint(f, mask, **kw).u
    ut = eed_inpaint(f.T.copy(), mask.T.copy(), **kw).u
    ur = eed_inpaint(np.rot90(f).copy(), np.rot90(mask).copy(), **kw).u
    assert np.abs(ut - u.T).max() < 1e-6
    assert np.abs(ur - np.rot90(u)).max() < 1e-6


def test_grey_value_range_is_nearly_preserved():
    # the stencil has negative pair weights where the tensor is strongly anisotropic, so there
    # is no discrete maximum principle; the overshoot stays a small fraction of the range
    f = _image(32, 32, seed=6)
    mask = np.random.default_rng(7).random(f.shape) < 0.08
    u = eed_inpaint(f, mask, lam=1.0, sigma=1.0).u
    lo, hi = f[mask].min(), f[mask].max()
    assert u.min() >= lo - 0.05 * (hi - lo) and u.max() <= hi + 0.05 * (hi - lo)


def test_joint_channels_and_guide():
    f = _image(seed=8)
    mask = np.random.default_rng(9).random(f.shape) < 0.2
    three = np.stack([f, 255 - f, 0.5 * f])
    u = eed_inpaint(three, mask, lam=2.0, sigma=1.0, tol=1e-10).u
    # affine copies of one channel share its joint tensor up to scale: the solution is affine
    # in the data, so channel 1 = 255 - channel 0 wherever the tensors agree (exactly here,
    # since the summed structure tensor is a multiple of each channel's)
    assert np.abs(u[1] - (255 - u[0])).max() < 1e-5
    # a guide fixes the tensor: one linear solve with the guide's tensor
    g = eed_inpaint(f, mask, lam=2.0, sigma=1.0, guide=f, tol=1e-10).u
    t = eed_tensor(f, lam=2.0, sigma=1.0)
    assert np.abs(g - eed_solve(f, mask, t, tol=1e-10).u).max() < 1e-6


def test_results_do_not_depend_on_the_thread_count(tmp_path):
    code = (
        "import numpy as np, sys\n"
        "from sparsecodec.inpainting.anisotropic import eed_inpaint\n"
        "rng = np.random.default_rng(0)\n"
        "f = rng.uniform(0, 255, (67, 83)); m = rng.random(f.shape) < 0.05\n"
        "np.save(sys.argv[1], eed_inpaint(f, m, lam=2.0, sigma=1.0).u)\n"
    )
    outs = []
    for n in (1, 2):
        p = tmp_path / f"u{n}.npy"
        env = {**os.environ, "NUMBA_NUM_THREADS": str(n)}
        subprocess.run([sys.executable, "-c", code, str(p)], check=True, env=env)
        outs.append(np.load(p))
    assert np.array_equal(outs[0], outs[1])


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"lam": 0.0, "sigma": 1.0}, "lam"),
        ({"lam": -1.0, "sigma": 1.0}, "lam"),
        ({"lam": float("inf"), "sigma": 1.0}, "lam"),
        ({"lam": 1.0, "sigma": -0.5}, "sigma"),
        ({"lam": 1.0, "sigma": "x"}, "sigma"),
        ({"lam": 1.0, "sigma": 1.0, "diffusivity": "perona"}, "diffusivity"),
        ({"lam": 1.0, "sigma": 1.0, "outer": 0}, "outer"),
        ({"lam": 1.0, "sigma": 1.0, "alpha": 0.5}, "alpha"),
    ],
)
def test_bad_parameters(kw, message):
    f = _image()
    with pytest.raises(OptionError, match=message):
        eed_inpaint(f, f > 150, **kw)


def test_public_inpaint_method_eed():
    import sparsecodec

    f = _image(seed=10)
    mask = np.random.default_rng(11).random(f.shape) < 0.2
    u = sparsecodec.inpaint(f, mask, method="eed", lam=2.0, sigma=1.0, tol=1e-10)
    assert np.abs(u - eed_inpaint(f, mask, lam=2.0, sigma=1.0, tol=1e-10).u).max() < 1e-9
    rgb = np.stack([f, f, f], axis=2)
    ur = sparsecodec.inpaint(rgb, mask, method="eed", lam=2.0, sigma=1.0, tol=1e-10)
    assert ur.shape == rgb.shape and np.abs(ur[..., 1] - ur[..., 0]).max() < 1e-9
    assert np.array_equal(
        sparsecodec.inpaint(f, mask, method="eed"),
        sparsecodec.inpaint(f, mask, method="eed", lam=2.0, sigma=1.0),
    )
    with pytest.raises(OptionError):
        sparsecodec.inpaint(f, mask, method="eed", lam=1.0, sigma=1.0, bogus=3)
