"""Windowed (local) solves of the diffusion inpainting system, part of the one solver core.

The system is the one of :mod:`.operators` (Alt et al. 2021, Eq. 1): ``u = f`` on the mask and
``(A u)_i = 0`` elsewhere, ``A`` the 5-point Laplacian with reflecting boundaries. A *window
solve* re-solves it on the unknown pixels of a box ``[y0, y1) x [x0, x1)`` only, with everything
outside the box held fixed as Dirichlet data. With ``u`` the current iterate this is the
correction equation ``M_w du = r_w``, ``r_w = (A u)`` on the window's unknowns and ``du = 0``
outside the box, solved by plain CG. Mask changes are screened by the surrounding mask pixels,
so the change of a reconstruction after adding or removing a few pixels decays quickly away from
them and a window around them gives it at a fraction of a global solve's cost (NLPE swaps;
Mainberger et al. 2011). With the box equal to the image, :func:`resolve_window` is warm-started
plain CG on the whole system in one fused serial kernel (PS uses it for its global solves).

The kernels are serial (no thread-dependent reductions) and work on caller-provided
work arrays, so loops of many small solves allocate nothing. ``work`` has shape
``(7, h + 2, w + 2)`` or larger, see :func:`workspace`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..errors import SolverError

#: reductions may be reassociated (vectorised); serial, so independent of the thread count
_REDUCE = {"reassoc"}


def workspace(h: int, w: int) -> np.ndarray:
    """Work arrays for windows of up to ``h x w`` pixels."""
    return np.zeros((7, h + 2, w + 2))


@njit(cache=True)
def _setup(known, y0, y1, x0, x1, work):
    """Window masks: ``work[3]`` 1.0 on unknown pixels, ``work[4]`` their image-neighbour counts
    (the diagonal of ``M``: reflecting boundaries drop neighbours outside the image)."""
    H, W = known.shape
    m = work[3]
    nb = work[4]
    for y in range(y1 - y0):
        gy = y0 + y
        nv = (gy > 0) + (gy < H - 1)
        for x in range(x1 - x0):
            gx = x0 + x
            unk = known[gy, gx] == 0
            m[y, x] = 1.0 if unk else 0.0
            nb[y, x] = (nv + (gx > 0) + (gx < W - 1)) if unk else 0.0


@njit(cache=True, fastmath=_REDUCE)
def window_cg(known, y0, y1, x0, x1, b, du, work, atol, rtol, maxiter):
    """CG for ``M_w du = b`` on the unknown pixels of the window ``[y0, y1) x [x0, x1)``.

    ``b`` and ``du`` are ``(y1 - y0, x1 - x0)`` arrays; ``b`` must be zero on mask pixels; ``du``
    is overwritten (zero start, zero outside the window and on the mask). Stops when
    ``||r|| <= max(atol, rtol ||b||)`` or after ``maxiter`` iterations. Returns the number of
    iterations.
    """
    h = y1 - y0
    w = x1 - x0
    _setup(known, y0, y1, x0, x1, work)
    P = work[0]  # padded: P[y + 1, x + 1] is p at window pixel (y, x); the halo stays zero
    Q = work[1]
    R = work[2]
    m = work[3]
    nb = work[4]
    for y in range(h + 2):
        P[y, 0] = 0.0
        P[y, w + 1] = 0.0
    for x in range(w + 2):
        P[0, x] = 0.0
        P[h + 1, x] = 0.0
    rr = 0.0
    for y in range(h):
        for x in range(w):
            du[y, x] = 0.0
            v = b[y, x]
            R[y, x] = v
            P[y + 1, x + 1] = v
            rr += v * v
    stop = max(atol * atol, rtol * rtol * rr)
    if rr <= stop:
        return 0
    beta = 0.0
    for it in range(1, maxiter + 1):
        # p = r + beta p (row y + 1, one row ahead) fused with q = M p and p . q (row y).
        pq = 0.0
        for y in range(-1, h):
            if it > 1 and y + 1 < h:
                for x in range(w):
                    P[y + 2, x + 1] = R[y + 1, x] + beta * P[y + 2, x + 1]
            if y < 0:
                continue
            for x in range(w):
                s = P[y, x + 1] + P[y + 2, x + 1] + P[y + 1, x] + P[y + 1, x + 2]
                pv = P[y + 1, x + 1]
                v = nb[y, x] * pv - m[y, x] * s
                Q[y, x] = v
                pq += pv * v
        if pq <= 0.0:
            return it
        alpha = rr / pq
        rr_new = 0.0
        for y in range(h):
            for x in range(w):
                du[y, x] += alpha * P[y + 1, x + 1]
                rv = R[y, x] - alpha * Q[y, x]
                R[y, x] = rv
                rr_new += rv * rv
        if rr_new <= stop:
            return it
        beta = rr_new / rr
        rr = rr_new
    return maxiter


@njit(cache=True, fastmath=_REDUCE)
def window_residual(u, known, y0, y1, x0, x1, out):
    """``out = A u`` on the unknown pixels of the window (``u`` outside it included), 0 on mask
    pixels; returns ``||out||^2``."""
    H, W = u.shape
    rr = 0.0
    for y in range(y1 - y0):
        gy = y0 + y
        for x in range(x1 - x0):
            gx = x0 + x
            if known[gy, gx]:
                out[y, x] = 0.0
                continue
            c = u[gy, gx]
            s = 0.0
            if gy > 0:
                s += u[gy - 1, gx] - c
            if gy < H - 1:
                s += u[gy + 1, gx] - c
            if gx > 0:
                s += u[gy, gx - 1] - c
            if gx < W - 1:
                s += u[gy, gx + 1] - c
            out[y, x] = s
            rr += s * s
    return rr


@njit(cache=True)
def resolve_window(u, known, y0, y1, x0, x1, work, atol, rtol, maxiter):
    """Re-solve ``u`` in place on the unknowns of the window, everything else fixed.

    ``u`` must hold the data on the mask pixels. The right-hand side of :func:`window_cg` (same
    ``atol``, ``rtol``, ``maxiter``) is the residual of ``u``. Returns ``(iterations, ring,
    top)``: the largest ``|du|`` on the window's boundary ring (sides not on the image border)
    and overall, so a caller can grow the window while the change reaches its edge.
    """
    H, W = u.shape
    h = y1 - y0
    w = x1 - x0
    b = work[5]
    du = work[6]
    window_residual(u, known, y0, y1, x0, x1, b)
    its = window_cg(known, y0, y1, x0, x1, b, du, work, atol, rtol, maxiter)
    ring = 0.0
    top = 0.0
    for y in range(h):
        for x in range(w):
            d = du[y, x]
            u[y0 + y, x0 + x] += d
            a = abs(d)
            top = max(top, a)
            if (y == 0 and y0 > 0) or (y == h - 1 and y1 < H):
                ring = max(ring, a)
            elif (x == 0 and x0 > 0) or (x == w - 1 and x1 < W):
                ring = max(ring, a)
    return its, ring, top


def solve_window(
    values: np.ndarray,
    mask: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    x0: np.ndarray | None = None,
    tol: float = 1e-6,
    maxiter: int | None = None,
) -> np.ndarray:
    """Homogeneous diffusion inpainting (Alt et al. 2021, Eq. 1) restricted to a window.

    Parameters
    ----------
    values : (H, W) data; its values on the mask are the Dirichlet data.
    mask : (H, W) bool, True where the value is known.
    box : ``(y0, y1, x0, x1)``, the window ``[y0, y1) x [x0, x1)``.
    x0 : current image (default ``values``); outside the window it is held fixed.
    tol : stop when the residual of the window system is at most ``tol`` times its initial one.
    maxiter : CG iteration cap (default ``4 (h + w) + 100``).

    Returns
    -------
    (H, W) float64: ``x0`` with the window's unknown pixels solved.
    """
    f = np.asarray(values, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if f.ndim != 2 or mask.shape != f.shape:
        raise SolverError(f"solve_window needs (H, W) values and mask, got {f.shape}, {mask.shape}")
    H, W = f.shape
    y0, y1, x0_, x1 = (int(v) for v in box)
    if not (0 <= y0 < y1 <= H and 0 <= x0_ < x1 <= W):
        raise SolverError(f"window {box} is not inside the {H}x{W} image")
    u = np.array(f if x0 is None else x0, dtype=np.float64)
    if u.shape != f.shape:
        raise SolverError(f"x0 shape {u.shape} does not match values shape {f.shape}")
    u[mask] = f[mask]
    h, w = y1 - y0, x1 - x0_
    its = 4 * (h + w) + 100 if maxiter is None else int(maxiter)
    known = np.ascontiguousarray(mask, dtype=np.uint8)
    resolve_window(u, known, y0, y1, x0_, x1, workspace(h, w), 0.0, float(tol), its)
    return u
