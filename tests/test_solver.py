import numpy as np
import pytest
import scipy.sparse as sp
from reference import neumann_laplacian, spsolve_inpaint

from sparsecodec.errors import SolverError
from sparsecodec.inpainting import Preconditioner, solve
from sparsecodec.inpainting.operators import laplacian

CASES = [
    (17, 23, 0.05),
    (32, 32, 0.02),
    (33, 65, 0.1),
    (64, 48, 0.3),
    (1, 40, 0.1),
    (40, 1, 0.1),
    (2, 9, 0.2),
]


def _mask(rng, H, W, d):
    m = rng.random((H, W)) < d
    if not m.any():
        m[H // 2, W // 2] = True
    return m


def test_numpy_laplacian_matches_sparse_matrix(rng):
    u = rng.random((7, 11))
    ref = (neumann_laplacian(7, 11) @ u.ravel()).reshape(7, 11)
    np.testing.assert_allclose(laplacian(u), ref, atol=1e-12)


@pytest.mark.parametrize("solver", ["cg", "multigrid"])
@pytest.mark.parametrize("H,W,d", CASES)
def test_solver_matches_spsolve(rng, solver, H, W, d):
    f = rng.uniform(0, 255, (H, W))
    m = _mask(rng, H, W, d)
    ref = spsolve_inpaint(f, m)
    res = solve(f, m, solver=solver, tol=1e-8, maxiter=10000)
    assert res.converged
    assert np.abs(res.u - ref).max() < 1e-3
    assert res.residuals[-1] <= 1e-8 and len(res.residuals) == res.iterations + 1
    np.testing.assert_array_equal(res.u[m], f[m])


@pytest.mark.parametrize("solver", ["cg", "multigrid"])
def test_single_known_pixel_gives_constant(solver):
    m = np.zeros((31, 17), bool)
    m[5, 9] = True
    f = np.full(m.shape, 3.0)
    f[5, 9] = 200.0
    res = solve(f, m, solver=solver, tol=1e-10, maxiter=5000)
    np.testing.assert_allclose(res.u, 200.0, atol=1e-5)


@pytest.mark.parametrize("solver", ["cg", "multigrid"])
def test_source_term_matches_spsolve(rng, solver):
    H, W = 24, 30
    f = rng.uniform(0, 255, (H, W))
    g = rng.normal(size=(H, W))
    m = _mask(rng, H, W, 0.1)
    ref = spsolve_inpaint(f, m, g)
    res = solve(f, m, solver=solver, rhs=g, tol=1e-10, maxiter=5000)
    assert np.abs(res.u - ref).max() < 1e-3


def test_channels_solved_together_match_single(rng):
    H, W = 40, 36
    f = rng.uniform(0, 255, (3, H, W))
    m = _mask(rng, H, W, 0.05)
    res = solve(f, m, solver="multigrid", tol=1e-10)
    for c in range(3):
        assert np.abs(res.u[c] - spsolve_inpaint(f[c], m)).max() < 1e-3


def test_warm_start_needs_fewer_iterations(rng):
    H, W = 64, 64
    f = rng.uniform(0, 255, (H, W))
    m = _mask(rng, H, W, 0.05)
    cold = solve(f, m, tol=1e-8)
    m2 = m.copy()
    idx = np.flatnonzero(~m2)[:3]
    m2.flat[idx] = True
    warm = solve(f, m2, tol=1e-8, x0=cold.u)
    again = solve(f, m2, tol=1e-8)
    assert warm.iterations < again.iterations
    assert np.abs(warm.u - spsolve_inpaint(f, m2)).max() < 1e-3


def test_preconditioner_reuse(rng):
    m = _mask(rng, 30, 30, 0.1)
    pre = Preconditioner(m, "multigrid")
    for _ in range(2):
        f = rng.uniform(0, 255, (30, 30))
        res = solve(f, m, preconditioner=pre, tol=1e-9)
        assert np.abs(res.u - spsolve_inpaint(f, m)).max() < 1e-3


def test_errors():
    with pytest.raises(SolverError, match="empty"):
        solve(np.zeros((8, 8)), np.zeros((8, 8), bool))
    with pytest.raises(SolverError, match="shape"):
        solve(np.zeros((8, 8)), np.ones((8, 9), bool))
    with pytest.raises(SolverError, match="unknown solver"):
        solve(np.zeros((8, 8)), np.ones((8, 8), bool), solver="magic")


def test_full_mask_returns_data(rng):
    f = rng.random((9, 9))
    np.testing.assert_array_equal(solve(f, np.ones((9, 9), bool)).u, f)


@pytest.mark.parametrize("d", [0.02, 0.1])
def test_multigrid_large_image_parallel_levels(rng, d):
    """Large enough that the first coarse levels run the parallel kernels."""
    H, W = 300, 340
    f = rng.uniform(0, 255, (H, W))
    m = _mask(rng, H, W, d)
    res = solve(f, m, solver="multigrid", tol=1e-8)
    assert res.converged and res.iterations < 30
    assert np.abs(res.u - spsolve_inpaint(f, m)).max() < 1e-3


def test_float32_cycle_matches_float64(rng):
    """The default float32 cycle (mixed precision) and a float64 cycle reach the same solution
    in the same number of iterations, also at a tight tolerance; other dtypes are refused."""
    from sparsecodec.inpainting.multigrid import MultigridPreconditioner

    f = rng.uniform(0, 255, (3, 150, 170))
    m = _mask(rng, 150, 170, 0.03)
    pre64 = Preconditioner(m, dtype=np.float64)
    pre32 = Preconditioner(m, dtype=np.float32)
    assert pre32.apply.levels[0].op[0].dtype == np.float32
    assert Preconditioner(m).apply.dtype is np.float64  # small: float64 by default
    assert Preconditioner(np.ones((256, 256), bool)).apply.dtype is np.float32
    a = solve(f, m, tol=1e-10, preconditioner=pre64)
    b = solve(f, m, tol=1e-10, preconditioner=pre32)
    assert a.converged and b.converged and abs(a.iterations - b.iterations) <= 1
    assert np.abs(a.u - b.u).max() < 1e-5
    np.testing.assert_allclose(a.residuals[:6], b.residuals[:6], rtol=1e-4)
    with pytest.raises(ValueError):
        MultigridPreconditioner(m.astype(np.uint8), dtype=np.float16)


def _level_matrix(lv) -> np.ndarray:
    """Dense matrix of a coarse level stored as east/south weights and a diagonal."""
    H, W = lv.diag.shape
    idx = np.arange(H * W).reshape(H, W)
    M = np.diag(lv.diag.ravel())
    for w, a, b in ((lv.wx, idx[:, :-1], idx[:, 1:]), (lv.wy, idx[:-1], idx[1:])):
        wv = w[: a.shape[0], : a.shape[1]].ravel()
        M[a.ravel(), b.ravel()] -= wv
        M[b.ravel(), a.ravel()] -= wv
    return M


@pytest.mark.parametrize("H,W,d", CASES)
def test_coarse_levels_are_galerkin_products(rng, H, W, d):
    # every coarse level is P^T M P of the level below (piecewise-constant aggregation P),
    # starting from the masked fine operator M = -A on the unknowns (SciPy reference)
    from sparsecodec.inpainting.multigrid import build_hierarchy

    mask = _mask(rng, H, W, d)
    unk = sp.diags((~mask).ravel().astype(float))
    M = (unk @ -neumann_laplacian(H, W) @ unk).toarray()
    h, w = H, W
    for lv in build_hierarchy(mask.astype(np.uint8))[:3]:
        agg = (np.arange(h)[:, None] // lv.fy) * lv.diag.shape[1] + np.arange(w)[None] // lv.fx
        P = np.zeros((h * w, lv.diag.size))
        P[np.arange(h * w), agg.ravel()] = 1.0
        np.testing.assert_allclose(_level_matrix(lv), P.T @ M @ P, atol=1e-9)
        M, (h, w) = P.T @ M @ P, lv.diag.shape


@pytest.mark.parametrize("shape,channels,dtype", [((200, 300), 1, None), ((97, 61), 3, None),
                                                  ((300, 7), 1, np.float64)])  # fmt: skip
def test_fused_small_level_cycle_matches_the_recursion(rng, shape, channels, dtype):
    """The compiled V-cycle of the small levels (one call) gives bit-identical corrections to
    the level-by-level recursion it replaces."""
    from sparsecodec.inpainting.multigrid import MultigridPreconditioner

    m = (rng.random(shape) < 0.05).astype(np.uint8)
    m[0, 0] = 1
    fused = MultigridPreconditioner(m, dtype=dtype)
    plain = MultigridPreconditioner(m, dtype=dtype)
    assert fused._tail is not None and len(fused.levels) - fused._tail >= 3
    plain._tail = None  # every level through MultigridPreconditioner._cycle
    r = rng.standard_normal((channels, *shape))
    a, b = np.zeros_like(r), np.zeros_like(r)
    fused(r, a)
    plain(r, b)
    assert np.abs(a).max() > 0
    np.testing.assert_array_equal(a, b)
