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
MG-preconditioned CG is the ``"multigrid"`` solver. On images of 256x256 pixels and more the
cycle computes in float32 (mixed precision: the CG iteration, its residuals and the stopping
rule stay float64). The fine
level works directly on the mask (no weight arrays), all sweeps are parallel over rows (Numba
``prange``) and all channels of an image are smoothed in the same sweep.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import FunctionType

import numpy as np
from numba import njit, prange
from numba.typed import List

from .operators import _rows, lap_row

# --------------------------------------------------------------------------------------------
# Hierarchy construction
# --------------------------------------------------------------------------------------------


@njit(cache=True)
def _coarse_arrays(H, W, fy, fx):
    """Zeroed east/south weights and leak of the coarse level of ``fy x fx`` aggregates."""
    shape = ((H + fy - 1) // fy, (W + fx - 1) // fx)
    return np.zeros(shape), np.zeros(shape), np.zeros(shape)


@njit(cache=True, parallel=True)
def _coarsen_mask(known, fy, fx):
    """First coarse level ``P^T M P`` straight from the mask (``fy x fx`` aggregates).

    The fine operator has unit weights between unknown neighbours, and each unknown pixel leaks
    one unit to every known 4-neighbour (Dirichlet coupling); known pixels carry nothing. Same
    result as :func:`_coarsen` applied to the fine level's weight arrays, without building them.
    """
    H, W = known.shape
    cwx, cwy, cleak = _coarse_arrays(H, W, fy, fx)
    for I in prange(cwx.shape[0]):
        i0 = I * fy
        i1 = min(i0 + fy, H)
        for J in range(cwx.shape[1]):
            j0 = J * fx
            j1 = min(j0 + fx, W)
            sl = 0
            sx = 0
            for i in range(i0, i1):
                for j in range(j0, j1):
                    if known[i, j] == 0:
                        if j + 1 < W:
                            sl += known[i, j + 1]
                        if j > 0:
                            sl += known[i, j - 1]
                        if i + 1 < H:
                            sl += known[i + 1, j]
                        if i > 0:
                            sl += known[i - 1, j]
                if j1 < W:
                    sx += (known[i, j1 - 1] == 0) & (known[i, j1] == 0)
            cleak[I, J] = sl
            cwx[I, J] = sx
            if i1 < H:
                sy = 0
                for j in range(j0, j1):
                    sy += (known[i1 - 1, j] == 0) & (known[i1, j] == 0)
                cwy[I, J] = sy
    return cwx, cwy, cleak


@njit(cache=True, parallel=True)
def _coarsen(wx, wy, leak, fy, fx):
    """Galerkin coarse level ``P^T M P`` for aggregates of ``fy x fx`` pixels."""
    H, W = wx.shape
    cwx, cwy, cleak = _coarse_arrays(H, W, fy, fx)
    for I in prange(cwx.shape[0]):
        i1 = min(I * fy + fy, H)
        for J in range(cwx.shape[1]):
            j0 = J * fx
            j1 = min(j0 + fx, W)
            sl = 0.0
            sx = 0.0
            for i in range(I * fy, i1):
                for j in range(j0, j1):
                    sl += leak[i, j]
                sx += wx[i, j1 - 1]
            cleak[I, J] = sl
            if j1 < W:
                cwx[I, J] = sx
            if i1 < H:
                sy = 0.0
                for j in range(j0, j1):
                    sy += wy[i1 - 1, j]
                cwy[I, J] = sy
    return cwx, cwy, cleak


def _diagonal(wx, wy, leak):
    d = leak + wx + wy
    d[:, 1:] += wx[:, :-1]
    d[1:] += wy[:-1]
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

    dtype: type = np.float64

    def __post_init__(self) -> None:
        invd = np.where(self.diag > 0, 1.0 / np.where(self.diag > 0, self.diag, 1.0), 0.0)
        t = self.dtype
        self.op = (self.wx.astype(t), self.wy.astype(t), self.diag.astype(t), invd.astype(t))
        self.k = _PAR if self.diag.size >= PARALLEL_MIN_NODES else _SER


def build_hierarchy(known: np.ndarray, min_size: int = 2, dtype: type = np.float64) -> list[Level]:
    """Coarse levels for the mask ``known`` (uint8, 1 = Dirichlet pixel), finest first; the
    Galerkin sums are exact (float64), the operators used by the cycle are stored as ``dtype``."""
    levels: list[Level] = []
    H, W = known.shape
    wx = wy = leak = None
    while max(H, W) > min_size:
        fy = 2 if H > 1 else 1
        fx = 2 if W > 1 else 1
        if wx is None:
            wx, wy, leak = _coarsen_mask(known, fy, fx)
        else:
            wx, wy, leak = _coarsen(wx, wy, leak, fy, fx)
        H, W = wx.shape
        levels.append(Level(wx, wy, _diagonal(wx, wy, leak), fy, fx, dtype))
    return levels


# --------------------------------------------------------------------------------------------
# Fine-level kernels (operator given by the mask)
# --------------------------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _gs_row(cur, up, dn, rr, km, j0, W, has_up, has_dn):
    """Gauss-Seidel update of every second pixel ``j0, j0 + 2, ...`` of one row."""
    nv = has_up + has_dn
    for j in range(j0, W, 2):
        if km[j]:
            continue
        s = rr[j]
        n = nv
        if has_up:
            s += up[j]
        if has_dn:
            s += dn[j]
        if j > 0:
            s += cur[j - 1]
            n += 1
        if j < W - 1:
            s += cur[j + 1]
            n += 1
        cur[j] = s / n


@njit(cache=True, inline="always")
def _gs_row_interior(cur, up, dn, rr, km, j0, W):
    """As :func:`_gs_row` for a row with neighbours above and below (4 neighbours inside)."""
    j = j0
    if j == 0:
        if not km[0]:
            t = rr[0] + up[0] + dn[0]
            cur[0] = (t + cur[1]) / 3.0 if W > 1 else t / 2.0
        j = 2
    while j < W - 1:
        if not km[j]:
            cur[j] = 0.25 * (rr[j] + up[j] + dn[j] + cur[j - 1] + cur[j + 1])
        j += 2
    if j == W - 1 and W > 1 and not km[j]:
        cur[j] = (rr[j] + up[j] + dn[j] + cur[j - 1]) / 3.0


@njit(cache=True, parallel=True)
def _smooth_fine(e, r, known, colour):
    """One Gauss-Seidel half-sweep over pixels with ``(i + j) % 2 == colour``."""
    C, H, W = e.shape
    for i in prange(H):
        j0 = (i + colour) % 2
        km = known[i]
        for c in range(C):
            cur = e[c, i]
            rr = r[c, i]
            if 0 < i < H - 1:
                _gs_row_interior(cur, e[c, i - 1], e[c, i + 1], rr, km, j0, W)
            else:
                up = e[c, i - 1] if i > 0 else cur
                dn = e[c, i + 1] if i < H - 1 else cur
                _gs_row(cur, up, dn, rr, km, j0, W, i > 0, i < H - 1)


@njit(cache=True, inline="always")
def _accumulate(out, r, t, fx, W):
    """``out[j // fx] += r[j] + t[j]`` (restriction by summing aggregates along a row)."""
    if fx == 2:
        for J in range(W // 2):
            out[J] += r[2 * J] + t[2 * J] + r[2 * J + 1] + t[2 * J + 1]
        if W % 2:
            out[W // 2] += r[W - 1] + t[W - 1]
    else:
        for j in range(W):
            out[j] += r[j] + t[j]


@njit(cache=True, parallel=True)
def _first_half_sweep_fine(e, r, known, colour):
    """Half-sweep from a zero iterate: ``e = r / diag`` on one colour, 0 elsewhere."""
    C, H, W = e.shape
    for i in prange(H):
        km = known[i]
        nv = (i > 0) + (i < H - 1)
        par = (i + colour) % 2
        for c in range(C):
            er = e[c, i]
            rr = r[c, i]
            if nv == 2 and W > 2:
                # interior row, one branch-free (vectorised) pass: r / 4 inside, r / 3 at the ends
                for j in range(W):
                    er[j] = 0.25 * rr[j] if (j & 1) == par and not km[j] else 0.0
                for j in (0, W - 1):
                    if (j & 1) == par and not km[j]:
                        er[j] = rr[j] / 3.0
                continue
            er[:] = 0.0
            for j in range(par, W, 2):
                if not km[j]:
                    er[j] = rr[j] / (nv + (j > 0) + (j < W - 1))


@njit(cache=True, parallel=True)
def _residual_restrict_fine(e, r, known, fy, fx, Hc, Wc):
    """Coarse residual ``P^T (r - M e)`` of the fine level."""
    C, H, W = e.shape
    rc = np.zeros((C, Hc, Wc), e.dtype)
    tmp = np.empty((Hc, W), e.dtype)
    for I in prange(Hc):
        t = tmp[I]
        for i in range(I * fy, min(I * fy + fy, H)):
            km = known[i]
            for c in range(C):
                cur, up, dn = _rows(e, c, i, H)
                lap_row(t, cur, up, dn, km, i > 0, i < H - 1)
                rr = r[c, i]
                out = rc[c, I]
                _accumulate(out, rr, t, fx, W)
    return rc


@njit(cache=True, parallel=True)
def _prolong_fine(e, ec, known, fy, fx, omega):
    C, H, W = e.shape
    for i in prange(H):
        I = i // fy
        km = known[i]
        for c in range(C):
            er = e[c, i]
            ecr = ec[c, I]
            # branch-free (vectorised): known pixels get 0 added
            if fx == 2:
                for J in range(W // 2):
                    v = omega * ecr[J]
                    er[2 * J] += v * (1 - km[2 * J])
                    er[2 * J + 1] += v * (1 - km[2 * J + 1])
                if W % 2 and not km[W - 1]:
                    er[W - 1] += omega * ecr[W // 2]
            else:
                for j in range(W):
                    er[j] += omega * ecr[j] * (1 - km[j])


# --------------------------------------------------------------------------------------------
# Coarse-level kernels (weighted 5-point operator); compiled parallel and serial (small levels)
# --------------------------------------------------------------------------------------------


def _smooth_coarse_py(e, r, op, colour):
    """Gauss-Seidel half-sweep; ``op = (wx, wy, diag, 1 / diag)``.

    The north weights of a row are the south weights of the row above; the last row's south
    weights are zero and stand in for the first row's north weights. (Explicit ``if i > 0``:
    prange indices are unsigned, so ``i - 1`` must not wrap.)
    """
    wx, wy, diag, invd = op
    C, H, W = e.shape
    for i in prange(H):
        j0 = (i + colour) % 2
        for c in range(C):
            cur = e[c, i]
            up = e[c, i - 1] if i > 0 else cur
            dn = e[c, i + 1] if i < H - 1 else cur
            rr = r[c, i]
            a = wx[i]
            b = wy[i]
            bu = wy[i - 1] if i > 0 else wy[H - 1]
            iv = invd[i]
            j = j0
            if j == 0:
                t = rr[0] + b[0] * dn[0] + bu[0] * up[0]
                if W > 1:
                    t += a[0] * cur[1]
                cur[0] = t * iv[0]
                j = 2
            while j < W - 1:
                cur[j] = (
                    rr[j] + a[j] * cur[j + 1] + a[j - 1] * cur[j - 1] + b[j] * dn[j] + bu[j] * up[j]
                ) * iv[j]
                j += 2
            if j == W - 1 and W > 1:
                cur[j] = (rr[j] + a[j - 1] * cur[j - 1] + b[j] * dn[j] + bu[j] * up[j]) * iv[j]


def _residual_restrict_coarse_py(e, r, op, fy, fx, Hc, Wc):
    """Coarse residual ``P^T (r - M e)`` of a weighted level."""
    wx, wy, diag, invd = op
    C, H, W = e.shape
    rc = np.zeros((C, Hc, Wc), e.dtype)
    tmp = np.empty((Hc, W), e.dtype)
    for I in prange(Hc):
        for i in range(I * fy, min(I * fy + fy, H)):
            for c in range(C):
                cur = e[c, i]
                up = e[c, i - 1] if i > 0 else cur
                dn = e[c, i + 1] if i < H - 1 else cur
                rr = r[c, i]
                out = rc[c, I]
                a = wx[i]
                d = diag[i]
                b = wy[i]
                bu = wy[i - 1] if i > 0 else wy[H - 1]
                t = tmp[I]
                for j in range(W):
                    t[j] = b[j] * dn[j] + bu[j] * up[j] - d[j] * cur[j]
                for j in range(W - 1):  # east and west couplings (branch-free, vectorised)
                    t[j] += a[j] * cur[j + 1]
                for j in range(1, W):
                    t[j] += a[j - 1] * cur[j - 1]
                _accumulate(out, rr, t, fx, W)
    return rc


def _prolong_coarse_py(e, ec, op, fy, fx, omega):
    invd = op[3]
    C, H, W = e.shape
    for i in prange(H):
        I = i // fy
        for c in range(C):
            er = e[c, i]
            ecr = ec[c, I]
            iv = invd[i]
            # branch-free: nodes without unknowns (1 / diag = 0) get 0 added
            if fx == 2:
                for J in range(W // 2):
                    v = omega * ecr[J]
                    er[2 * J] += v * (iv[2 * J] != 0.0)
                    er[2 * J + 1] += v * (iv[2 * J + 1] != 0.0)
                if W % 2 and iv[W - 1] != 0.0:
                    er[W - 1] += omega * ecr[W // 2]
            else:
                for j in range(W):
                    er[j] += omega * ecr[j] * (iv[j] != 0.0)


_PAR = {}
_SER = {}
for _f in (_smooth_coarse_py, _residual_restrict_coarse_py, _prolong_coarse_py):
    _name = _f.__name__[:-3]
    _PAR[_name] = njit(cache=True, parallel=True)(_f)
    # a copy under its own name: Numba names cache files by qualified name and line, not by
    # the parallel flag, so the two variants otherwise overwrite (and load) each other's code
    _fs = FunctionType(_f.__code__, _f.__globals__, _name + "_serial", _f.__defaults__)
    _fs.__qualname__ = _fs.__name__
    _SER[_name] = njit(cache=True)(_fs)
#: levels with fewer nodes than this run serially (thread start-up costs more than it saves)
PARALLEL_MIN_NODES = 16384


@njit(cache=True)
def _coarsest_solve(e, r, wx, wy, diag, sweeps):
    """Symmetric Gauss-Seidel sweeps on the (tiny) coarsest grid, from a zero iterate."""
    C, H, W = e.shape
    e[:] = 0.0
    for _ in range(sweeps):
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


_smooth_ser = _SER["_smooth_coarse"]
_restrict_ser = _SER["_residual_restrict_coarse"]
_prolong_ser = _SER["_prolong_coarse"]


@njit(cache=True)
def _op_list(flat, shapes):
    """The level operators ``(wx, wy, diag, 1 / diag)`` of levels of sizes ``shapes[k]``,
    concatenated (raveled) in ``flat``, as the typed list :func:`_serial_v_cycle` takes, built
    in compiled (cached) code: a ``numba.typed.List`` built from Python compiles its methods
    anew in every process (0.4 s of each decode)."""
    ops = List()
    o = 0
    for k in range(shapes.shape[0]):
        h, w = shapes[k, 0], shapes[k, 1]
        n = h * w
        wx = flat[o : o + n].copy().reshape((h, w))
        wy = flat[o + n : o + 2 * n].copy().reshape((h, w))
        diag = flat[o + 2 * n : o + 3 * n].copy().reshape((h, w))
        invd = flat[o + 3 * n : o + 4 * n].copy().reshape((h, w))
        ops.append((wx, wy, diag, invd))
        o += 4 * n
    return ops


@njit(cache=True)
def _serial_v_cycle(r, ops, fys, fxs, nu, omega, sweeps):
    """The V-cycle of :meth:`MultigridPreconditioner._cycle` on small (serial) levels, in one
    compiled call: the same operations in the same order as the recursion (so bit-identical
    results), without a Python call per kernel, which costs more than the work on levels of a
    few thousand nodes. ``ops[k]`` = (wx, wy, diag, 1 / diag) of level k; level k + 1
    aggregates ``fys[k + 1] x fxs[k + 1]`` nodes of level k."""
    n = len(ops)
    rs = [r]
    es = [np.zeros_like(r)]
    for k in range(n - 1):
        e, rk, op = es[k], rs[k], ops[k]
        for _ in range(nu):
            _smooth_ser(e, rk, op, 0)
            _smooth_ser(e, rk, op, 1)
        Hc, Wc = ops[k + 1][2].shape
        rs.append(_restrict_ser(e, rk, op, fys[k + 1], fxs[k + 1], Hc, Wc))
        es.append(np.zeros_like(rs[k + 1]))
    last = ops[n - 1]
    _coarsest_solve(es[n - 1], rs[n - 1], last[0], last[1], last[2], sweeps)
    for k in range(n - 2, -1, -1):
        e, rk, op = es[k], rs[k], ops[k]
        _prolong_ser(e, es[k + 1], op, fys[k + 1], fxs[k + 1], omega)
        for _ in range(nu):
            _smooth_ser(e, rk, op, 1)
            _smooth_ser(e, rk, op, 0)
    return es[0]


# --------------------------------------------------------------------------------------------
# V-cycle
# --------------------------------------------------------------------------------------------


#: masks with at least this many pixels run the cycle in float32 by default (see below)
FLOAT32_MIN_PIXELS = 1 << 16


class MultigridPreconditioner:
    """Symmetric V(nu, nu)-cycle for ``M e = r`` as an SPD preconditioner.

    Parameters
    ----------
    known : (H, W) uint8 mask (1 = Dirichlet pixel).
    nu : Gauss-Seidel sweeps before and after each coarse correction (each a red and a black
        half-sweep).
    omega : scaling of the piecewise-constant coarse correction (over-correction as in
        aggregation AMG). With an exact coarse solve any value in (0, 2] keeps the V-cycle SPD;
        with inexact (recursive) coarse solves and W-cycles, large values can overshoot and
        destroy definiteness, so the default 1.2 is moderate (measured on Kodak: 9-12
        iterations to 1e-6 at 2-10 % random and Belhachmi masks).
    gamma : coarse corrections per level (1 = V-cycle, 2 = W-cycle) on levels with at least
        ``w_min_nodes`` nodes; smaller levels use V-cycles, run in one compiled call
        (:func:`_serial_v_cycle`; 10 % off a 768x512 cycle, 16-55 % off cycles of 256x256 and
        smaller images, where the Python call per kernel cost more than the work).
    dtype : arithmetic of the cycle (the CG iteration around it stays float64); default: float32
        for masks of at least ``FLOAT32_MIN_PIXELS`` pixels, else float64. float32 halves the
        memory traffic of the smoothing and coarse corrections: on kodim23 (luma at 2 / 5 %
        random and 5 % Belhachmi, colour at 5 %; A/B in one process, one thread) whole solves to
        1e-6 took 6-20 % less CPU time than with float64, with the same iteration counts and
        final residuals equal to 7 digits, also the same counts at 1e-8; on crops of 64x64 to
        128x128 pixels, whose arrays stay in cache, it was up to 20 % slower (wall time, 1 or 2
        threads), on 256x256 even (0.92-1.02x), on 512x512 0.81-0.96x.
    """

    def __init__(
        self,
        known: np.ndarray,
        nu: int = 1,
        omega: float = 1.2,
        gamma: int = 2,
        w_min_nodes: int = 8192,
        dtype: type | None = None,
    ):
        self.known = known
        if dtype is None:
            dtype = np.float32 if known.size >= FLOAT32_MIN_PIXELS else np.float64
        self.dtype = np.dtype(dtype).type
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype}")
        self.levels = build_hierarchy(known, dtype=self.dtype)
        # from the first level that gets V-cycles and serial kernels on, one compiled call
        small = min(w_min_nodes, PARALLEL_MIN_NODES)
        self._tail = next((k for k, lv in enumerate(self.levels) if lv.diag.size < small), None)
        if self._tail is not None:
            tail = self.levels[self._tail :]
            self._tail_args = (
                _op_list(
                    np.concatenate([a.ravel() for lv in tail for a in lv.op]),
                    np.array([lv.diag.shape for lv in tail], np.int64),
                ),
                np.array([lv.fy for lv in tail], np.int64),
                np.array([lv.fx for lv in tail], np.int64),
            )
        self.nu = nu
        self.omega = omega
        self.gamma = gamma
        self.w_min_nodes = w_min_nodes
        self._work: tuple[np.ndarray, np.ndarray] | None = None

    def __call__(self, r: np.ndarray, e: np.ndarray) -> None:
        """Write the preconditioned residual ``B r`` into ``e`` (both ``(C, H, W)`` float64)."""
        if self.dtype is np.float64:
            self._apply(r, e)
            return
        if self._work is None or self._work[0].shape != r.shape:
            self._work = (np.empty(r.shape, self.dtype), np.empty(r.shape, self.dtype))
        rw, ew = self._work
        np.copyto(rw, r, casting="same_kind")
        self._apply(rw, ew)
        np.copyto(e, ew)

    def _apply(self, r: np.ndarray, e: np.ndarray) -> None:
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
        if k == self._tail:
            ops, fys, fxs = self._tail_args
            return _serial_v_cycle(r, ops, fys, fxs, self.nu, self.omega, 8)
        lv = self.levels[k]
        e = np.zeros_like(r)
        if k == len(self.levels) - 1:
            _coarsest_solve(e, r, lv.op[0], lv.op[1], lv.op[2], 8)
            return e
        nu, omega, kern, op = self.nu, self.omega, lv.k, lv.op
        for _ in range(nu):
            kern["_smooth_coarse"](e, r, op, 0)
            kern["_smooth_coarse"](e, r, op, 1)
        nxt = self.levels[k + 1]
        Hc, Wc = nxt.diag.shape
        for _ in range(self.gamma if lv.diag.size >= self.w_min_nodes else 1):
            rc = kern["_residual_restrict_coarse"](e, r, op, nxt.fy, nxt.fx, Hc, Wc)
            ec = self._cycle(k + 1, rc)
            kern["_prolong_coarse"](e, ec, op, nxt.fy, nxt.fx, omega)
        for _ in range(nu):
            kern["_smooth_coarse"](e, r, op, 1)
            kern["_smooth_coarse"](e, r, op, 0)
        return e
