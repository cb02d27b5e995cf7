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


@njit(cache=True, parallel=True)
def residual(u, known, g, has_g, out):
    """``out = g + A u`` on unknown pixels, 0 on known ones; returns per-channel squared norms."""
    C, H, W = u.shape
    part = np.zeros((C, H))
    for i in prange(H):
        for j in range(W):
            if known[i, j]:
                for c in range(C):
                    out[c, i, j] = 0.0
                continue
            for c in range(C):
                s = 0.0
                n = 0
                if i > 0:
                    s += u[c, i - 1, j]
                    n += 1
                if i < H - 1:
                    s += u[c, i + 1, j]
                    n += 1
                if j > 0:
                    s += u[c, i, j - 1]
                    n += 1
                if j < W - 1:
                    s += u[c, i, j + 1]
                    n += 1
                v = s - n * u[c, i, j]
                if has_g:
                    v += g[c, i, j]
                out[c, i, j] = v
                part[c, i] += v * v
    return part.sum(axis=1)


@njit(cache=True, parallel=True)
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


@njit(cache=True, parallel=True)
def matvec_dot(p, known, q):
    """``q = M p = -(A p)`` on unknown pixels (``p`` is zero on known ones); returns ``p . q``."""
    C, H, W = p.shape
    part = np.zeros((C, H))
    for i in prange(H):
        for j in range(W):
            if known[i, j]:
                for c in range(C):
                    q[c, i, j] = 0.0
                continue
            for c in range(C):
                s = 0.0
                n = 0
                if i > 0:
                    s += p[c, i - 1, j]
                    n += 1
                if i < H - 1:
                    s += p[c, i + 1, j]
                    n += 1
                if j > 0:
                    s += p[c, i, j - 1]
                    n += 1
                if j < W - 1:
                    s += p[c, i, j + 1]
                    n += 1
                v = n * p[c, i, j] - s
                q[c, i, j] = v
                part[c, i] += p[c, i, j] * v
    return part.sum(axis=1)


@njit(cache=True, parallel=True)
def cg_update(x, r, p, q, alpha):
    """``x += alpha p``, ``r -= alpha q`` (per channel); returns per-channel ``r . r``."""
    C, H, W = x.shape
    part = np.zeros((C, H))
    for i in prange(H):
        for c in range(C):
            a = alpha[c]
            for j in range(W):
                x[c, i, j] += a * p[c, i, j]
                rv = r[c, i, j] - a * q[c, i, j]
                r[c, i, j] = rv
                part[c, i] += rv * rv
    return part.sum(axis=1)


@njit(cache=True, parallel=True)
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
    """5-point Laplacian with reflecting boundaries of a ``(..., H, W)`` array (NumPy reference)."""
    p = np.pad(u, [(0, 0)] * (u.ndim - 2) + [(1, 1), (1, 1)], mode="edge")
    return (
        p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]
        - 4.0 * p[..., 1:-1, 1:-1]
    )
