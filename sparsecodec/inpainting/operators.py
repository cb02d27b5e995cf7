"""Matrix-free kernels of the homogeneous diffusion inpainting system.

The discrete model (Alt et al. 2021, Sec. 2, Eq. 1 and 3): for a mask ``c`` and data ``f``,
``u = f`` where ``c = 1`` and ``-(A u) = g`` elsewhere, where ``A`` is the 5-point Laplacian with
reflecting (homogeneous Neumann) boundaries, ``(A u)_i = sum_{j ~ i} (u_j - u_i)`` over the grid
neighbours of ``i``, and ``g`` an optional source term (zero for inpainting, a guidance-field
divergence for Poisson editing). Restricted to the unknown pixels this is ``M x = b`` with the
symmetric positive definite ``M = -A_uu`` (whenever the mask is non-empty) and
``b = g_u + A_uk f_k``.

All arrays are ``(C, H, W)`` float64 (every channel shares one mask) and ``known`` is an
``(H, W)`` uint8 array (1 = mask pixel). Known pixels of the iterate hold the data ``f``; known
pixels of residuals, search directions and corrections are zero, so ``A`` applied on the full
grid equals ``M`` on the unknowns. Per-channel reductions are returned as length-``C`` arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: reductions may be reassociated (so LLVM vectorises them); every other IEEE rule is kept
_REDUCE = {"reassoc"}


@njit(cache=True, inline="always")
def lap_row(out, cur, up, dn, km, has_up, has_dn):
    """``out[j] = (A u)_j`` of one row for unknown pixels (``km[j] == 0``), 0 for known ones.

    ``up``/``dn`` are the rows above/below (ignored where ``has_up``/``has_dn`` is False).
    """
    W = cur.shape[0]
    if has_up and has_dn and W > 2:
        for j in range(1, W - 1):
            out[j] = up[j] + dn[j] + cur[j - 1] + cur[j + 1] - 4.0 * cur[j]
        out[0] = up[0] + dn[0] + cur[1] - 3.0 * cur[0]
        out[W - 1] = up[W - 1] + dn[W - 1] + cur[W - 2] - 3.0 * cur[W - 1]
    else:
        for j in range(W):
            s = 0.0
            n = 0
            if has_up:
                s += up[j]
                n += 1
            if has_dn:
                s += dn[j]
                n += 1
            if j > 0:
                s += cur[j - 1]
                n += 1
            if j < W - 1:
                s += cur[j + 1]
                n += 1
            out[j] = s - n * cur[j]
    for j in range(W):
        if km[j]:
            out[j] = 0.0


@njit(cache=True, inline="always")
def _rows(a, c, i, H):
    """Row ``i`` of channel ``c`` and its neighbours (the row itself stands in at borders)."""
    cur = a[c, i]
    up = a[c, i - 1] if i > 0 else cur
    dn = a[c, i + 1] if i < H - 1 else cur
    return cur, up, dn


@njit(cache=True, parallel=True, fastmath=_REDUCE)
def residual(u, known, g, has_g, out):
    """``out = g + A u`` on unknown pixels, 0 on known ones; returns per-channel squared norms."""
    C, H, W = u.shape
    part = np.zeros((C, H))
    for i in prange(H):
        km = known[i]
        for c in range(C):
            cur, up, dn = _rows(u, c, i, H)
            o = out[c, i]
            lap_row(o, cur, up, dn, km, i > 0, i < H - 1)
            s = 0.0
            for j in range(W):
                if has_g and not km[j]:
                    o[j] += g[c, i, j]
                s += o[j] * o[j]
            part[c, i] = s
    return part.sum(axis=1)


@njit(cache=True, parallel=True, fastmath=_REDUCE)
def rhs_norm(f, known, g, has_g):
    """Per-channel 2-norm of ``b = g_u + A_uk f_k``, the right-hand side of the reduced system."""
    C, H, W = f.shape
    part = np.zeros((C, H))
    for i in prange(H):
        for j in range(W):
            if known[i, j]:
                continue
            for c in range(C):
                s = 0.0
                if i > 0 and known[i - 1, j]:
                    s += f[c, i - 1, j]
                if i < H - 1 and known[i + 1, j]:
                    s += f[c, i + 1, j]
                if j > 0 and known[i, j - 1]:
                    s += f[c, i, j - 1]
                if j < W - 1 and known[i, j + 1]:
                    s += f[c, i, j + 1]
                if has_g:
                    s += g[c, i, j]
                part[c, i] += s * s
    return np.sqrt(part.sum(axis=1))


@njit(cache=True, parallel=True, fastmath=_REDUCE)
def matvec_dot(p, known, q):
    """``q = M p = -(A p)`` on unknown pixels (``p`` is zero on known ones); returns ``p . q``."""
    C, H, W = p.shape
    part = np.zeros((C, H))
    for i in prange(H):
        km = known[i]
        for c in range(C):
            cur, up, dn = _rows(p, c, i, H)
            o = q[c, i]
            lap_row(o, cur, up, dn, km, i > 0, i < H - 1)
            s = 0.0
            for j in range(W):
                o[j] = -o[j]
                s += cur[j] * o[j]
            part[c, i] = s
    return part.sum(axis=1)


@njit(cache=True, parallel=True, fastmath=_REDUCE)
def cg_update(x, r, p, q, alpha):
    """``x += alpha p``, ``r -= alpha q`` (per channel); returns per-channel ``r . r``."""
    C, H, W = x.shape
    part = np.zeros((C, H))
    for i in prange(H):
        for c in range(C):
            a = alpha[c]
            s = 0.0
            for j in range(W):
                x[c, i, j] += a * p[c, i, j]
                rv = r[c, i, j] - a * q[c, i, j]
                r[c, i, j] = rv
                s += rv * rv
            part[c, i] = s
    return part.sum(axis=1)


@njit(cache=True, parallel=True, fastmath=_REDUCE)
def dot(a, b):
    """Per-channel dot products of two ``(C, H, W)`` arrays."""
    C, H, W = a.shape
    part = np.zeros((C, H))
    for i in prange(H):
        for c in range(C):
            s = 0.0
            for j in range(W):
                s += a[c, i, j] * b[c, i, j]
            part[c, i] = s
    return part.sum(axis=1)


@njit(cache=True, parallel=True)
def xpby(z, p, beta):
    """``p = z + beta p`` per channel."""
    C, H, W = p.shape
    for i in prange(H):
        for c in range(C):
            b = beta[c]
            for j in range(W):
                p[c, i, j] = z[c, i, j] + b * p[c, i, j]


def laplacian(u: np.ndarray) -> np.ndarray:
    """5-point Laplacian with reflecting boundaries of a ``(..., H, W)`` array (NumPy reference).

    The one definition of the stencil: ``(A u)_i = sum_{j ~ i} (u_j - u_i)`` over the grid
    neighbours, i.e. edge padding (the mirrored neighbour outside the image equals the border
    pixel). The Numba kernels above, :func:`laplacian_matrix` and the torch mirror
    ``sparsecodec.training.diffusion_masks.laplacian`` compute the same (tests/test_stencil.py).
    """
    p = np.pad(u, [(0, 0)] * (u.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    return (
        p[..., :-2, 1:-1]
        + p[..., 2:, 1:-1]
        + p[..., 1:-1, :-2]
        + p[..., 1:-1, 2:]
        - 4.0 * p[..., 1:-1, 1:-1]
    )


def laplacian_matrix(H: int, W: int):
    """The same 5-point Laplacian with reflecting boundaries as a SciPy CSR ``(HW, HW)`` matrix
    (row-major pixels), for direct solves and adjoints (e.g. the training scripts' exact
    diffusion layer). ``laplacian_matrix(H, W) @ u.ravel() == laplacian(u).ravel()``."""
    import scipy.sparse as sp

    def lap1(n: int):
        main = -2.0 * np.ones(n)
        main[[0, -1]] += 1.0
        if n == 1:
            main[:] = 0.0
        return sp.diags([np.ones(n - 1), main, np.ones(n - 1)], [-1, 0, 1])

    return (sp.kron(sp.eye(H), lap1(W)) + sp.kron(lap1(H), sp.eye(W))).tocsr()
