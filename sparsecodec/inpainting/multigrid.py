"""Multigrid preconditioner for the diffusion inpainting system.

Aggregation multigrid on the pixel grid: level ``l + 1`` aggregates 2x2 blocks of level ``l``
(1x2 or 2x1 on thin strips) with piecewise-constant prolongation ``P`` and the Galerkin coarse
operator ``P^T M P`` (Braess 1995; Notay 2010). For the masked 5-point Laplacian the Galerkin
operator is again a weighted 5-point graph Laplacian plus a diagonal "leak" term that collects
the couplings to Dirichlet (mask) pixels, so each coarse level is stored as east/south edge
weights and a diagonal. This treats the mask exactly on every level: at 1-2 % densities the
coarse grids still see every known pixel, which keeps the convergence independent of the
density.

One symmetric V-cycle (red-black Gauss-Seidel, forward before and backward after the coarse
correction, coarse correction scaled by ``omega``) is an SPD preconditioner for CG; the resulting
MG-preconditioned CG is the ``"multigrid"`` solver. The fine level works directly on the mask
(no weight arrays), all sweeps are parallel over rows (Numba ``prange``) and all channels of an
image are smoothed in the same sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

# --------------------------------------------------------------------------------------------
# Hierarchy construction
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _fine_weights(known):
    """Edge weights and Dirichlet leak of the fine level (unit weights between unknowns)."""
    H, W = known.shape
    wx = np.zeros((H, W))
    wy = np.zeros((H, W))
    leak = np.zeros((H, W))
    for i in range(H):
        for j in range(W):
            if known[i, j]:
                continue
            if j < W - 1:
                if known[i, j + 1]:
                    leak[i, j] += 1.0
                else:
                    wx[i, j] = 1.0
            if j > 0 and known[i, j - 1]:
                leak[i, j] += 1.0
            if i < H - 1:
                if known[i + 1, j]:
                    leak[i, j] += 1.0
                else:
                    wy[i, j] = 1.0
            if i > 0 and known[i - 1, j]:
                leak[i, j] += 1.0
    return wx, wy, leak


@njit(cache=True)
def _coarsen(wx, wy, leak, fy, fx):
    """Galerkin coarse level ``P^T M P`` for aggregates of ``fy x fx`` pixels."""
    H, W = wx.shape
    Hc = (H + fy - 1) // fy
    Wc = (W + fx - 1) // fx
    cwx = np.zeros((Hc, Wc))
    cwy = np.zeros((Hc, Wc))
    cleak = np.zeros((Hc, Wc))
    for i in range(H):
        I = i // fy
        for j in range(W):
            J = j // fx
            cleak[I, J] += leak[i, j]
            if j < W - 1 and (j + 1) // fx != J:
                cwx[I, J] += wx[i, j]
            if i < H - 1 and (i + 1) // fy != I:
                cwy[I, J] += wy[i, j]
    return cwx, cwy, cleak


@njit(cache=True)
def _diagonal(wx, wy, leak):
    H, W = wx.shape
    d = leak.copy()
    for i in range(H):
        for j in range(W):
            d[i, j] += wx[i, j] + wy[i, j]
            if j > 0:
                d[i, j] += wx[i, j - 1]
            if i > 0:
                d[i, j] += wy[i - 1, j]
    return d


@dataclass
class Level:
    """One coarse level: east/south edge weights, diagonal, and the aggregation factors that
    map the next finer level onto it."""

    wx: np.ndarray
    wy: np.ndarray
    diag: np.ndarray
    fy: int
    fx: int


def build_hierarchy(known: np.ndarray, min_size: int = 2) -> list[Level]:
    """Coarse levels for the mask ``known`` (uint8, 1 = Dirichlet pixel), finest first."""
    wx, wy, leak = _fine_weights(known)
    levels: list[Level] = []
    H, W = known.shape
    while max(H, W) > min_size:
        fy = 2 if H > 1 else 1
        fx = 2 if W > 1 else 1
        wx, wy, leak = _coarsen(wx, wy, leak, fy, fx)
        H, W = wx.shape
        levels.append(Level(wx, wy, _diagonal(wx, wy, leak), fy, fx))
    return levels


# --------------------------------------------------------------------------------------------
# Fine-level kernels (operator given by the mask)
# --------------------------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def _smooth_fine(e, r, known, colour):
    """One Gauss-Seidel half-sweep over pixels with ``(i + j) % 2 == colour``."""
    C, H, W = e.shape
    for i in prange(H):
        for j in range((i + colour) % 2, W, 2):
            if known[i, j]:
                continue
            n = 0
            for c in range(C):
                s = r[c, i, j]
                n = 0
                if i > 0:
                    s += e[c, i - 1, j]
                    n += 1
                if i < H - 1:
                    s += e[c, i + 1, j]
                    n += 1
                if j > 0:
                    s += e[c, i, j - 1]
                    n += 1
                if j < W - 1:
                    s += e[c, i, j + 1]
                    n += 1
                e[c, i, j] = s / n


@njit(cache=True, parallel=True)
def _first_half_sweep_fine(e, r, known, colour):
    """Half-sweep from a zero iterate: ``e = r / diag`` on one colour, 0 elsewhere."""
    C, H, W = e.shape
    for i in prange(H):
        for j in range(W):
            if known[i, j] or (i + j) % 2 != colour:
                for c in range(C):
                    e[c, i, j] = 0.0
                continue
            n = (i > 0) + (i < H - 1) + (j > 0) + (j < W - 1)
            for c in range(C):
                e[c, i, j] = r[c, i, j] / n


@njit(cache=True, parallel=True)
def _residual_restrict_fine(e, r, known, fy, fx, Hc, Wc):
    """Coarse residual ``P^T (r - M e)`` of the fine level."""
    C, H, W = e.shape
    rc = np.zeros((C, Hc, Wc))
    for I in prange(Hc):
        for i in range(I * fy, min(I * fy + fy, H)):
            for j in range(W):
                if known[i, j]:
                    continue
                J = j // fx
                for c in range(C):
                    s = 0.0
                    n = 0
                    if i > 0:
                        s += e[c, i - 1, j]
                        n += 1
                    if i < H - 1:
                        s += e[c, i + 1, j]
                        n += 1
                    if j > 0:
                        s += e[c, i, j - 1]
                        n += 1
                    if j < W - 1:
                        s += e[c, i, j + 1]
                        n += 1
                    rc[c, I, J] += r[c, i, j] - n * e[c, i, j] + s
    return rc


@njit(cache=True, parallel=True)
def _prolong_fine(e, ec, known, fy, fx, omega):
    C, H, W = e.shape
    for i in prange(H):
        I = i // fy
        for j in range(W):
            if known[i, j]:
                continue
            J = j // fx
            for c in range(C):
                e[c, i, j] += omega * ec[c, I, J]


# --------------------------------------------------------------------------------------------
# Coarse-level kernels (weighted 5-point operator)
# --------------------------------------------------------------------------------------------


@njit(cache=True, parallel=True)
def _smooth_coarse(e, r, wx, wy, diag, colour):
    C, H, W = e.shape
    for i in prange(H):
        for j in range((i + colour) % 2, W, 2):
            d = diag[i, j]
            if d == 0.0:
                continue
            for c in range(C):
                s = r[c, i, j]
                if j < W - 1:
                    s += wx[i, j] * e[c, i, j + 1]
                if j > 0:
                    s += wx[i, j - 1] * e[c, i, j - 1]
                if i < H - 1:
                    s += wy[i, j] * e[c, i + 1, j]
                if i > 0:
                    s += wy[i - 1, j] * e[c, i - 1, j]
                e[c, i, j] = s / d


@njit(cache=True, parallel=True)
def _residual_restrict_coarse(e, r, wx, wy, diag, fy, fx, Hc, Wc):
    C, H, W = e.shape
    rc = np.zeros((C, Hc, Wc))
    for I in prange(Hc):
        for i in range(I * fy, min(I * fy + fy, H)):
            for j in range(W):
                d = diag[i, j]
                if d == 0.0:
                    continue
                J = j // fx
                for c in range(C):
                    s = r[c, i, j] - d * e[c, i, j]
                    if j < W - 1:
                        s += wx[i, j] * e[c, i, j + 1]
                    if j > 0:
                        s += wx[i, j - 1] * e[c, i, j - 1]
                    if i < H - 1:
                        s += wy[i, j] * e[c, i + 1, j]
                    if i > 0:
                        s += wy[i - 1, j] * e[c, i - 1, j]
                    rc[c, I, J] += s
    return rc


@njit(cache=True, parallel=True)
def _prolong_coarse(e, ec, diag, fy, fx, omega):
    C, H, W = e.shape
    for i in prange(H):
        I = i // fy
        for j in range(W):
            if diag[i, j] == 0.0:
                continue
            J = j // fx
            for c in range(C):
                e[c, i, j] += omega * ec[c, I, J]


@njit(cache=True)
def _coarsest_solve(e, r, wx, wy, diag, sweeps):
    """Symmetric Gauss-Seidel sweeps on the (tiny) coarsest grid, from a zero iterate."""
    C, H, W = e.shape
    e[:] = 0.0
    for s in range(sweeps):
        for k in range(2):
            for ii in range(H):
                i = ii if k == 0 else H - 1 - ii
                for jj in range(W):
                    j = jj if k == 0 else W - 1 - jj
                    d = diag[i, j]
                    if d == 0.0:
                        continue
                    for c in range(C):
                        t = r[c, i, j]
                        if j < W - 1:
                            t += wx[i, j] * e[c, i, j + 1]
                        if j > 0:
                            t += wx[i, j - 1] * e[c, i, j - 1]
                        if i < H - 1:
                            t += wy[i, j] * e[c, i + 1, j]
                        if i > 0:
                            t += wy[i - 1, j] * e[c, i - 1, j]
                        e[c, i, j] = t / d


# --------------------------------------------------------------------------------------------
# V-cycle
# --------------------------------------------------------------------------------------------


class MultigridPreconditioner:
    """Symmetric V(nu, nu)-cycle for ``M e = r`` as an SPD preconditioner.

    Parameters
    ----------
    known : (H, W) uint8 mask (1 = Dirichlet pixel).
    nu : Gauss-Seidel sweeps before and after each coarse correction (each a red and a black
        half-sweep).
    omega : scaling of the piecewise-constant coarse correction (over-correction as in
        aggregation AMG; any value in (0, 2] keeps the preconditioner SPD).
    """

    def __init__(self, known: np.ndarray, nu: int = 1, omega: float = 1.8):
        self.known = known
        self.levels = build_hierarchy(known)
        self.nu = nu
        self.omega = omega

    def __call__(self, r: np.ndarray, e: np.ndarray) -> None:
        """Write the preconditioned residual ``B r`` into ``e`` (both ``(C, H, W)``)."""
        nu, omega, known = self.nu, self.omega, self.known
        if not self.levels:
            _first_half_sweep_fine(e, r, known, 0)
            _smooth_fine(e, r, known, 1)
            for _ in range(4 * nu):
                _smooth_fine(e, r, known, 0)
                _smooth_fine(e, r, known, 1)
            return
        _first_half_sweep_fine(e, r, known, 0)
        _smooth_fine(e, r, known, 1)
        for _ in range(nu - 1):
            _smooth_fine(e, r, known, 0)
            _smooth_fine(e, r, known, 1)
        first = self.levels[0]
        Hc, Wc = first.diag.shape
        rc = _residual_restrict_fine(e, r, known, first.fy, first.fx, Hc, Wc)
        ec = self._cycle(0, rc)
        _prolong_fine(e, ec, known, first.fy, first.fx, omega)
        for _ in range(nu):
            _smooth_fine(e, r, known, 1)
            _smooth_fine(e, r, known, 0)

    def _cycle(self, k: int, r: np.ndarray) -> np.ndarray:
        lv = self.levels[k]
        e = np.zeros_like(r)
        if k == len(self.levels) - 1:
            _coarsest_solve(e, r, lv.wx, lv.wy, lv.diag, 8)
            return e
        nu, omega = self.nu, self.omega
        for _ in range(nu):
            _smooth_coarse(e, r, lv.wx, lv.wy, lv.diag, 0)
            _smooth_coarse(e, r, lv.wx, lv.wy, lv.diag, 1)
        nxt = self.levels[k + 1]
        Hc, Wc = nxt.diag.shape
        rc = _residual_restrict_coarse(e, r, lv.wx, lv.wy, lv.diag, nxt.fy, nxt.fx, Hc, Wc)
        ec = self._cycle(k + 1, rc)
        _prolong_coarse(e, ec, lv.diag, nxt.fy, nxt.fx, omega)
        for _ in range(nu):
            _smooth_coarse(e, r, lv.wx, lv.wy, lv.diag, 1)
            _smooth_coarse(e, r, lv.wx, lv.wy, lv.diag, 0)
        return e
