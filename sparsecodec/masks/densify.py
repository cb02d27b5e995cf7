"""Error-driven densification of an inpainting mask for homogeneous diffusion.

Densification (category 4 of Alt, Peter & Weickert 2021, Sec. 1; e.g. Chen, Ranftl & Pock 2014,
Daropoulos, Augustin & Weickert 2021) starts from a sparse mask and adds pixels where the
inpainting error is largest. Here it completes a learned mask: the mask network places a share
of the points (:mod:`sparsecodec.masks.learned`), then each of ``rounds`` rounds solves the
inpainting once (the one solver core, :func:`sparsecodec.inpainting.solve`, multigrid at a loose
tolerance), smooths the squared error with a Gaussian of width ``sigma`` and adds an equal share
of the missing points at the largest local maxima of that error (non-maximum suppression in a
``(2 spacing + 1)^2`` window, so that one round does not pile points into one spot).
"""

from __future__ import annotations

import numpy as np

from ..errors import OptionError

ROUNDS = 5  # rounds after a learned mask's network (masks.learned, masks.wgan)
START = 0.6  # share of the points the network places before densification
SIGMA = 1.0
SPACING = 2
TOL = 1e-2  # relative residual of the solves that rank the error (the ranking, not the values)


def _add_points(err: np.ndarray, mask: np.ndarray, k: int, spacing: int) -> np.ndarray:
    """``mask`` plus the ``k`` non-mask pixels of largest ``err`` among its local maxima (then,
    if there are fewer maxima than ``k``, the largest of the remaining pixels)."""
    from scipy.ndimage import maximum_filter

    e = np.where(mask, -np.inf, err)
    peaks = (e >= maximum_filter(e, size=2 * spacing + 1, mode="nearest")) & ~mask
    idx = np.flatnonzero(peaks)
    order = idx[np.argsort(-e.flat[idx], kind="stable")][:k]
    out = mask.copy()
    out.flat[order] = True
    short = k - len(order)
    if short > 0:
        rest = np.flatnonzero(~out)
        out.flat[rest[np.argsort(-e.flat[rest], kind="stable")][:short]] = True
    return out


def densify(
    image: np.ndarray,
    mask: np.ndarray,
    count: int,
    *,
    rounds: int = ROUNDS,
    sigma: float = SIGMA,
    spacing: int = SPACING,
    tol: float = TOL,
) -> np.ndarray:
    """Add points to ``mask`` until it holds ``count`` pixels (module docstring).

    Parameters
    ----------
    image : (H, W) float array, the grey image (luma) the mask is for.
    mask : (H, W) bool, the starting mask (kept; at most ``count`` pixels).
    count : number of mask pixels of the result.
    rounds : inpainting solves; each adds ``1 / rounds`` of the missing points (at least 1).
    sigma : width of the Gaussian that smooths the squared error (0: none).
    spacing : radius of the non-maximum suppression.
    tol : relative residual of the multigrid solves.

    Returns
    -------
    (H, W) bool mask with ``count`` pixels that contains ``mask``.

    References
    ----------
    Alt, Peter, Weickert 2021, "Learning sparse masks for diffusion-based image inpainting",
    Sec. 1 (densification); Mainberger et al. 2011 (selection by the local inpainting error).
    """
    from scipy.ndimage import gaussian_filter

    from ..inpainting import solve

    f = np.asarray(image, dtype=np.float64)
    m = np.asarray(mask, dtype=bool).copy()
    if f.ndim != 2 or m.shape != f.shape:
        raise OptionError(f"densify needs a 2-D image and a mask of its shape, got {f.shape}")
    count = int(count)
    if not m.sum() <= count <= m.size:
        raise OptionError(f"densify: count {count} must be in [{int(m.sum())}, {m.size}]")
    rounds = max(1, int(rounds))
    if not m.any():  # a diffusion inpainting needs one known pixel: start at the centre
        m[f.shape[0] // 2, f.shape[1] // 2] = True
    u = None
    for r in range(rounds):
        missing = count - int(m.sum())
        if missing <= 0:
            break
        k = int(np.ceil(missing / (rounds - r)))
        u = solve(f, m, solver="multigrid", tol=tol, x0=u).u
        err = (u - f) ** 2
        if sigma > 0:
            err = gaussian_filter(err, sigma, mode="nearest")
        m = _add_points(err, m, k, int(spacing))
    return m
