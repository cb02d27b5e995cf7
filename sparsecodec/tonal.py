"""Tonal optimisation: least-squares optimal grey/colour values at the mask pixels.

For a fixed mask ``K`` homogeneous diffusion inpainting is linear in the stored values ``g``:
``u = B g`` with ``(B g)_K = g`` and ``(B g)_U = M^{-1} N g`` on the unknowns ``U``, where
``M = -A_UU`` is the reduced Laplacian and ``N = A_UK`` couples unknowns to their mask neighbours
(Alt et al. 2021, Sec. 2, Eq. 3). Tonal optimisation (Mainberger et al. 2011, "Optimising spatial
and tonal data for homogeneous diffusion inpainting", Sec. 4) solves the linear least-squares
problem ``min_g ||B g - f||^2``, whose minimiser is unique because ``B`` is injective.

It is solved by CG on the normal equations ``B^T B g = B^T f`` (CGLS). Every step needs one
forward inpainting ``B p`` and one adjoint ``B^T r = r_K + N^T M^{-1} r_U``; the adjoint is a
diffusion solve with zero boundary data and source term ``r_U`` (``solve(..., rhs=r)``). All
channels of a colour image are optimised together (one solve handles every channel) and the
multigrid hierarchy is built once for the mask.

Quantisation awareness: the decoder rebuilds from dequantised values, so with ``levels`` the
result lies on the grid of :func:`sparsecodec.quantise.quantise`. Values are fixed to the
grid progressively (those closest to a grid point first) and the still free values are
re-optimised by CGLS after each round, so later values compensate the rounding of earlier ones;
the better of this and naive rounding of the optimum is returned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ImageError, OptionError
from .inpainting import Preconditioner, solve
from .quantise import check_levels, dequantise, quantise
from .validate import check_count, check_positive

FIX_SCHEDULE = (0.5, 0.8, 0.95, 1.0)


class _Inpainter:
    """Forward operator ``B`` and adjoint ``B^T`` for one mask (values as ``(C, H, W)``).

    Homogeneous diffusion, or with ``tensor`` the linear anisotropic diffusion of that frozen
    diffusion tensor (:func:`sparsecodec.inpainting.anisotropic.eed_solve`); both operators are
    symmetric, so ``B^T r = r_K + (A y)_K`` with ``-A_UU y_U = r_U``, ``y_K = 0``.
    """

    def __init__(self, mask: np.ndarray, solver: str, tol: float, tensor=None):
        self.mask = mask
        self.tensor = tensor
        self.pre = Preconditioner(mask, solver) if tensor is None else None
        self.solver = solver
        self.tol = tol

    def _solve(self, g, x0=None, rhs=None) -> np.ndarray:
        if self.tensor is not None:
            from .inpainting.anisotropic import eed_solve

            return eed_solve(g, self.mask, self.tensor, rhs=rhs, x0=x0, tol=self.tol).u
        return solve(
            g,
            self.mask,
            solver=self.solver,
            tol=self.tol,
            maxiter=5000,
            x0=x0,
            rhs=rhs,
            preconditioner=self.pre,
        ).u

    def forward(self, g: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
        """``B g``; ``g`` is a full ``(C, H, W)`` array of which only the mask pixels are used."""
        return self._solve(g, x0=x0)

    def adjoint(self, r: np.ndarray) -> np.ndarray:
        """``B^T r`` as a ``(C, H, W)`` array that is zero off the mask."""
        y = self._solve(np.zeros_like(r), rhs=r)
        if self.tensor is not None:
            from .inpainting.anisotropic import eed_apply

            s = r + eed_apply(y, self.tensor)  # (A y)_K = A_KU y_U since y_K = 0
        else:
            # N^T y: sum of y over the grid neighbours (y is zero on the mask itself).
            s = r.copy()
            s[:, 1:, :] += y[:, :-1, :]
            s[:, :-1, :] += y[:, 1:, :]
            s[:, :, 1:] += y[:, :, :-1]
            s[:, :, :-1] += y[:, :, 1:]
        s[:, ~self.mask] = 0.0
        return s


def _cgls(
    op: _Inpainter,
    f: np.ndarray,
    g: np.ndarray,
    free: np.ndarray,
    maxiter: int,
    tol: float,
    u: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """CGLS for ``min ||B g - f||`` over the ``free`` mask pixels (others stay fixed).

    Stops when the gradient ``||B^T r||`` has dropped to ``tol`` times its initial value in
    every channel, or after ``maxiter`` iterations. Returns ``(g, B g)``.
    """
    C = f.shape[0]
    g = g.copy()
    u = op.forward(g) if u is None else u
    r = f - u
    s = op.adjoint(r)
    s[~free] = 0.0
    gamma = np.sum(s * s, axis=(1, 2))
    ref = np.sqrt(gamma)
    p = s.copy()
    for _ in range(maxiter):
        if np.all(np.sqrt(gamma) <= tol * ref):
            break
        q = op.forward(p)
        qq = np.sum(q * q, axis=(1, 2))
        alpha = np.where(qq > 0, gamma / np.where(qq > 0, qq, 1.0), 0.0).reshape(C, 1, 1)
        g += alpha * p
        u += alpha * q
        r -= alpha * q
        s = op.adjoint(r)
        s[~free] = 0.0
        gamma_new = np.sum(s * s, axis=(1, 2))
        beta = np.where(gamma > 0, gamma_new / np.where(gamma > 0, gamma, 1.0), 0.0)
        p = s + beta.reshape(C, 1, 1) * p
        gamma = gamma_new
    return g, u


def _levels_per_channel(levels: int | Sequence[int], C: int) -> list[int]:
    if isinstance(levels, (int, np.integer)):
        return [check_levels(levels)] * C
    seq = list(levels)
    if len(seq) != C:
        raise OptionError(f"got {len(seq)} quantisation levels for an image with {C} channels")
    return [check_levels(v) for v in seq]


def _on_grid(g: np.ndarray, levels: list[int]) -> np.ndarray:
    out = np.empty_like(g)
    for c, lv in enumerate(levels):
        out[c] = dequantise(quantise(g[c], lv), lv)
    return out


def optimise_tonal(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    levels: int | Sequence[int] | None = None,
    tol: float = 1e-4,
    maxiter: int = 25,
    solver: str = "multigrid",
    solver_tol: float = 1e-4,
    progressive: bool = True,
    tensor: np.ndarray | None = None,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Least-squares optimal values at the mask pixels (Mainberger et al. 2011, Sec. 4).

    Parameters
    ----------
    image : (H, W) or (H, W, C) original image in [0, 255].
    mask : (H, W) bool inpainting mask (non-empty).
    levels : None for the unconstrained optimum (values may leave [0, 255]); an int or one int
        per channel to return values on the grid ``dequantise(quantise(v, levels), levels)``
        that the decoder reconstructs from, chosen to keep the reconstruction error small
        (never worse than rounding the optimum, nor than quantising the original values).
    tol : CGLS stops when the normal-equation residual ``||B^T (f - B g)||`` has dropped to
        ``tol`` times its value for the original data (per channel).
    maxiter : CGLS iteration cap (each iteration is two diffusion solves). On trui at 4 % (PS
        mask) 20 iterations come within 0.2 % of the optimal MSE; for the exact optimum use
        e.g. ``tol=1e-10, maxiter=1000, solver_tol=1e-12``.
    solver, solver_tol : diffusion solver and its relative tolerance for the inner solves.
    tensor : optional frozen EED diffusion tensor ``(3, H, W)``
        (:func:`sparsecodec.inpainting.anisotropic.eed_tensor`): optimise for the linear anisotropic
        diffusion with this tensor instead of homogeneous diffusion (the EED decoder linearised
        at a reconstruction; Schmaltz et al. 2014, Sec. 4.3).
    start : optional values, the shape of ``image``, whose mask pixels start CGLS (default the
        image's own; e.g. the result of an optimisation for a nearby tensor).
    progressive : with ``levels``, fix values to the grid progressively and re-optimise the
        free ones (see the module docstring); ``False`` rounds the optimum to the grid, which
        halves the run time. Measured on Kodak (Belhachmi 2 %, 32/64 levels, kodim01 and
        kodim15, grey and YCbCr): rounding loses 0.00-0.07 dB against the progressive scheme.

    Returns
    -------
    float64 array of the shape of ``image``: the optimised values on the mask, the original
    values elsewhere. ``sparsecodec.inpaint(result, mask)`` is the optimised reconstruction.
    """
    tol = check_positive(tol, "tol")
    solver_tol = check_positive(solver_tol, "solver_tol")
    maxiter = check_count(maxiter, "maxiter")
    img = np.asarray(image, dtype=np.float64)
    if img.ndim not in (2, 3):
        raise ImageError(f"image must be (H, W) or (H, W, C), got shape {img.shape}")
    m = np.asarray(mask, dtype=bool)
    if m.shape != img.shape[:2]:
        raise ImageError(f"mask shape {m.shape} does not match image shape {img.shape[:2]}")
    if not m.any():
        raise ImageError("the mask is empty: tonal optimisation needs at least one mask pixel")
    if not np.all(np.isfinite(img)):
        raise ImageError("image contains NaN or infinite values")
    f = img[None] if img.ndim == 2 else np.moveaxis(img, -1, 0)
    f = np.ascontiguousarray(f)
    C = f.shape[0]
    lv = None if levels is None else _levels_per_channel(levels, C)

    op = _Inpainter(m, solver, solver_tol, tensor)
    every = np.broadcast_to(m, f.shape)
    g0 = f.copy()
    if start is not None:
        s0 = np.asarray(start, dtype=np.float64)
        if s0.shape != img.shape or not np.all(np.isfinite(s0)):
            raise ImageError(f"start must be finite values of shape {img.shape}")
        g0[:, m] = (s0[None] if s0.ndim == 2 else np.moveaxis(s0, -1, 0))[:, m]
    g, u = _cgls(op, f, g0, every, maxiter, tol)

    if lv is not None:
        g = _quantised(op, f, g, m, lv, maxiter, tol) if progressive else _on_grid(g, lv)
        # never worse than storing the quantised original values (per channel)
        plain = _on_grid(f, lv)
        err_g = np.sum((op.forward(g) - f) ** 2, axis=(1, 2))
        err_p = np.sum((op.forward(plain) - f) ** 2, axis=(1, 2))
        g = np.where((err_p < err_g).reshape(C, 1, 1), plain, g)

    out = f.copy()
    out[:, m] = g[:, m]
    return out[0] if img.ndim == 2 else np.moveaxis(out, 0, -1).copy()


def _quantised(
    op: _Inpainter,
    f: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    levels: list[int],
    maxiter: int,
    tol: float,
) -> np.ndarray:
    """Grid values for the optimum ``g``: progressive fixing with re-optimisation of the rest."""
    naive = _on_grid(g, levels)
    naive_err = np.sum((op.forward(naive) - f) ** 2, axis=(1, 2))

    C = f.shape[0]
    idx = np.flatnonzero(m)
    n = idx.size
    cur = g.copy()
    fixed = np.zeros((C, n), dtype=bool)
    u = None
    for frac in FIX_SCHEDULE:
        target = int(round(frac * n))
        q = _on_grid(cur, levels)
        for c in range(C):
            dist = np.abs(q[c].flat[idx] - cur[c].flat[idx])
            dist[fixed[c]] = -1.0  # already fixed: keep them first in the order
            order = np.argsort(dist, kind="stable")[:target]
            fixed[c, order] = True
            flat = cur[c].reshape(-1)
            flat[idx[fixed[c]]] = q[c].reshape(-1)[idx[fixed[c]]]
        if target >= n:
            break
        free = np.zeros(f.shape, dtype=bool)
        for c in range(C):
            free[c].flat[idx[~fixed[c]]] = True
        cur, u = _cgls(op, f, cur, free, max(4, maxiter // 4), tol)
    prog = _on_grid(cur, levels)
    prog_err = np.sum((op.forward(prog) - f) ** 2, axis=(1, 2))
    best = np.where((prog_err <= naive_err).reshape(C, 1, 1), prog, naive)
    return best
