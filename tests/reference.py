"""SciPy reference implementations used by the tests (independent of the Numba solver)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl


def neumann_laplacian(H: int, W: int) -> sp.csr_matrix:
    """5-point Laplacian with reflecting boundaries as a sparse (HW x HW) matrix."""

    def lap1(n: int) -> sp.spmatrix:
        if n == 1:
            return sp.csr_matrix((1, 1))
        main = -2.0 * np.ones(n)
        main[[0, -1]] = -1.0
        off = np.ones(n - 1)
        return sp.diags([off, main, off], [-1, 0, 1])

    return (sp.kron(sp.eye(H), lap1(W)) + sp.kron(lap1(H), sp.eye(W))).tocsr()


def spsolve_inpaint(f: np.ndarray, mask: np.ndarray, g: np.ndarray | None = None) -> np.ndarray:
    """Exact homogeneous diffusion inpainting by a sparse direct solve (u = f on the mask,
    -(A u) = g elsewhere)."""
    H, W = mask.shape
    A = neumann_laplacian(H, W)
    k = mask.ravel()
    unk = ~k
    M = -A[unk][:, unk]
    b = A[unk][:, k] @ f.ravel()[k]
    if g is not None:
        b = b + g.ravel()[unk]
    out = f.astype(np.float64).ravel().copy()
    out[unk] = spl.spsolve(M.tocsc(), b)
    return out.reshape(H, W)
