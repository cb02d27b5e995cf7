"""Belhachmi et al. (2009) masks: dithered Laplacian magnitude.

Belhachmi, Bucur, Burgeth, Weickert, "How to choose interpolation data in images", SIAM J. Appl.
Math. 70 (2009): for homogeneous diffusion inpainting the optimal point density is proportional
to the Laplacian magnitude ``|Delta (K_sigma * f)|`` of the presmoothed image. As in Alt et al.
(2021, Sec. 4) it is rescaled to the target density and binarised by Floyd-Steinberg error
diffusion.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit
from scipy import ndimage

from ..inpainting.operators import laplacian
from . import check_options


@njit(cache=True)
def floyd_steinberg(p: np.ndarray) -> np.ndarray:
    """Binary Floyd-Steinberg error diffusion (serpentine scan) of ``p`` in [0, 1]."""
    H, W = p.shape
    a = p.copy()
    out = np.zeros((H, W), dtype=np.bool_)
    for i in range(H):
        rev = i % 2 == 1
        for jj in range(W):
            j = W - 1 - jj if rev else jj
            old = a[i, j]
            new = 1.0 if old >= 0.5 else 0.0
            out[i, j] = new > 0.5
            err = old - new
            s = -1 if rev else 1
            if 0 <= j + s < W:
                a[i, j + s] += err * 7.0 / 16.0
            if i + 1 < H:
                if 0 <= j - s < W:
                    a[i + 1, j - s] += err * 3.0 / 16.0
                a[i + 1, j] += err * 5.0 / 16.0
                if 0 <= j + s < W:
                    a[i + 1, j + s] += err * 1.0 / 16.0
    return out


def rescale_to_density(weights: np.ndarray, density: float, iterations: int = 60) -> np.ndarray:
    """Probabilities ``min(1, s * weights)`` with mean ``density`` (bisection on ``s``).

    Where fewer than ``density * size`` weights are positive (flat regions have a zero
    Laplacian), those get probability 1 and the rest of the points are spread uniformly over
    the zero-weight pixels, so that the mean is still ``density``."""
    w = np.maximum(np.asarray(weights, dtype=np.float64), 0.0)
    target = density * w.size
    support = int(np.count_nonzero(w))
    if support <= target:
        return np.where(w > 0, 1.0, (target - support) / max(w.size - support, 1))
    lo, hi = 0.0, 1.0 / w[w > 0].min()
    for _ in range(iterations):
        s = 0.5 * (lo + hi)
        if np.minimum(1.0, s * w).sum() < target:
            lo = s
        else:
            hi = s
    return np.minimum(1.0, hi * w)


def corrected_dither(
    probabilities: Callable[[float], np.ndarray],
    density: float,
    tol: float,
    binarise: Callable[[np.ndarray], np.ndarray] = floyd_steinberg,
    steps: int = 12,
) -> np.ndarray:
    """Binarise ``probabilities(d)`` at a density ``d`` corrected so that the mask keeps
    ``density`` of the pixels within relative ``tol`` where it can (the closest mask otherwise).

    Error diffusion loses part of its error at the image border, most on flat, sparse
    probabilities (a constant 64x64 image at 0.5 % keeps 6 of 20 points). ``d`` starts at
    ``density`` and takes secant steps ``d * target / count``, kept inside the bracket of the
    densities tried so far (the count grows with ``d``) and bisected when a step leaves it.
    """
    lo, hi, d = 0.0, 1.0, density
    best, best_miss = None, np.inf
    for _ in range(steps):
        m = binarise(probabilities(d))
        n = int(m.sum())
        target = density * m.size
        if abs(n - target) < best_miss:
            best, best_miss = m, abs(n - target)
        if best_miss <= tol * target:
            break
        if n < target:
            lo = d
        else:
            hi = d
        step = 2.0 * d if n == 0 else d * target / n
        d = step if lo < step < hi else 0.5 * (lo + hi)
    return best


def belhachmi_mask(
    image: np.ndarray, density: float, *, seed: int = 0, sigma: float = 1.0, **options
) -> np.ndarray:
    """Belhachmi mask: ``|Delta (K_sigma * f)|`` rescaled to ``density``, Floyd-Steinberg dithered.

    The dithering target is corrected (:func:`corrected_dither`) so that the
    achieved density is within 0.5 % of ``density`` where the image allows it (a mask of a few
    points can only approach it).

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` grey image in [0, 255].
    density : float
        Fraction of pixels in (0, 1].
    seed : int
        Unused (the mask is deterministic).
    sigma : float
        Standard deviation of the Gaussian presmoothing ``K_sigma``.

    Returns
    -------
    ndarray
        ``(H, W)`` bool mask.

    References
    ----------
    Belhachmi, Bucur, Burgeth, Weickert 2009, "How to choose interpolation data in images",
    SIAM J. Appl. Math. 70, Eq. (3.9): point density proportional to ``|Delta f|``.
    """
    check_options("belhachmi", options)
    f = np.asarray(image, dtype=np.float64)
    lap = np.abs(laplacian(ndimage.gaussian_filter(f, sigma, mode="nearest")))
    best = corrected_dither(lambda d: rescale_to_density(lap, d), density, tol=0.005)
    if not best.any():
        best = best.copy()
        best.flat[int(np.argmax(lap))] = True
    return best
