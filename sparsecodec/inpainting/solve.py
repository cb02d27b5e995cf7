"""The diffusion inpainting solver: (preconditioned) conjugate gradients on the unknown pixels.

One solver core serves the decoder, PS/NLPE, tonal optimisation and Poisson editing. It solves

    u = f on the mask,    -(A u) = g elsewhere,

with ``A`` the 5-point Laplacian with reflecting boundaries (see :mod:`.operators`), by CG on
the reduced SPD system ``M x = b``. ``solver="cg"`` is plain CG, ``solver="multigrid"`` CG
preconditioned by one symmetric aggregation-multigrid V-cycle (:mod:`.multigrid`). Both stop
when the relative residual ``||b - M x|| / ||b||`` of every channel is at most ``tol`` and return
the residual history (like PyAMG's ``residuals=`` list).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import SolverError
from ..validate import check_positive
from . import operators as ops

SOLVERS = ("multigrid", "cg")


@dataclass
class SolveResult:
    """Result of :func:`solve`.

    Attributes
    ----------
    u : the inpainted image, same shape as the input values.
    residuals : relative residual (max over channels) before each iteration and at the end.
    iterations : number of CG iterations done.
    converged : whether ``residuals[-1] <= tol``.
    """

    u: np.ndarray
    residuals: list[float] = field(default_factory=list)
    iterations: int = 0
    converged: bool = True


def _as_chw(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise SolverError(f"{name} must be (H, W) or (C, H, W), got shape {a.shape}")
    return np.ascontiguousarray(a)


def checked_problem(values, mask, x0=None, rhs=None):
    """The checked arrays of a Dirichlet problem, shared by every solver of the core.

    Returns ``(mask, squeeze, f, x, g, has_g)``: the bool mask, whether ``values`` was 2-D,
    the ``(C, H, W)`` data, the start ``x`` (``x0`` or zeros, with the data on the mask), the
    source term ``g`` (a dummy when ``rhs`` is None) and whether there is one.
    """
    mask = np.asarray(mask, dtype=bool)
    squeeze = np.ndim(values) == 2
    f = _as_chw(values, "values")
    if mask.shape != f.shape[1:]:
        raise SolverError(f"mask shape {mask.shape} does not match image shape {f.shape[1:]}")
    if not mask.any():
        raise SolverError("the inpainting mask is empty: at least one known pixel is needed")
    has_g = rhs is not None
    g = _as_chw(rhs, "rhs") if has_g else np.zeros((1, 1, 1))
    if has_g and g.shape != f.shape:
        raise SolverError(f"rhs shape {g.shape} does not match values shape {f.shape}")
    x = _as_chw(x0, "x0").copy() if x0 is not None else np.zeros_like(f)
    if x.shape != f.shape:
        raise SolverError(f"x0 shape {x.shape} does not match values shape {f.shape}")
    x[:, mask] = f[:, mask]
    return mask, squeeze, f, x, g, has_g


class Preconditioner:
    """Reusable solver state for one mask (multigrid hierarchy), for repeated solves."""

    def __init__(self, mask: np.ndarray, solver: str = "multigrid", **params):
        if solver not in SOLVERS:
            raise SolverError(f"unknown solver {solver!r} (choose from {', '.join(SOLVERS)})")
        self.known = np.ascontiguousarray(mask, dtype=np.uint8)
        self.solver = solver
        self.apply = None
        if solver == "multigrid":
            from .multigrid import MultigridPreconditioner

            self.apply = MultigridPreconditioner(self.known, **params)


def solve(
    values: np.ndarray,
    mask: np.ndarray,
    *,
    solver: str = "multigrid",
    tol: float = 1e-6,
    maxiter: int | None = None,
    x0: np.ndarray | None = None,
    rhs: np.ndarray | None = None,
    preconditioner: Preconditioner | None = None,
) -> SolveResult:
    """Homogeneous diffusion inpainting (Alt et al. 2021, Eq. 1) by (MG-preconditioned) CG.

    Parameters
    ----------
    values : (H, W) or (C, H, W) data; only the values on the mask are used.
    mask : (H, W) bool, True where the value is known (Dirichlet data). Must be non-empty.
    solver : ``"multigrid"`` (MG-preconditioned CG) or ``"cg"`` (plain CG).
    tol : stop when the relative residual ``||b - M x|| / ||b||`` of every channel is <= tol.
    maxiter : iteration cap (default: 20 for multigrid at tol 1e-6 scaled, ``4 * (H + W) + 100``
        for CG; set a larger value for very tight tolerances).
    x0 : initial guess (warm start), same shape as ``values``; its known pixels are ignored.
    rhs : optional source term ``g`` of ``-(A u) = g`` on the unknowns (Poisson editing).
    preconditioner : a :class:`Preconditioner` built for this mask, reused across solves.

    Returns
    -------
    SolveResult with ``u`` of the shape of ``values``.
    """
    mask, squeeze, f, x, g, has_g = checked_problem(values, mask, x0, rhs)
    C, H, W = f.shape
    tol = check_positive(tol, "tol")
    pre = preconditioner if preconditioner is not None else Preconditioner(mask, solver)
    known = pre.known
    if known.shape != (H, W):
        raise SolverError("preconditioner was built for another mask shape")

    def finish(res: list[float], it: int, ok: bool) -> SolveResult:
        return SolveResult(x[0] if squeeze else x, res, it, ok)

    if mask.all():
        return finish([0.0], 0, True)
    bnorm = ops.rhs_norm(f, known, g, has_g)
    bnorm = np.where(bnorm > 0, bnorm, 1.0)
    if maxiter is None:
        maxiter = 200 if pre.apply is not None else 4 * (H + W) + 100

    r = np.empty_like(f)
    rr = ops.residual(x, known, g, has_g, r)
    history = [float(np.max(np.sqrt(rr) / bnorm))]
    if history[-1] <= tol:
        return finish(history, 0, True)
    if pre.apply is not None:
        z = np.empty_like(f)
        pre.apply(r, z)
    else:
        z = r
    p = z.copy()
    rz = ops.dot(r, z)
    q = np.empty_like(f)
    for it in range(1, maxiter + 1):
        pq = ops.matvec_dot(p, known, q)
        alpha = np.where(pq > 0, rz / np.where(pq > 0, pq, 1.0), 0.0)
        rr = ops.cg_update(x, r, p, q, alpha)
        history.append(float(np.max(np.sqrt(rr) / bnorm)))
        if history[-1] <= tol:
            return finish(history, it, True)
        if pre.apply is not None:
            pre.apply(r, z)
            rz_new = ops.dot(r, z)
        else:
            rz_new = rr
        beta = np.where(rz > 0, rz_new / np.where(rz > 0, rz, 1.0), 0.0)
        ops.xpby(z, p, beta)
        rz = rz_new
    return finish(history, maxiter, False)
