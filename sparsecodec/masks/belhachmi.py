"""Belhachmi et al. (2009) masks: dithered Laplacian magnitude.

Belhachmi, Bucur, Burgeth, Weickert, "How to choose interpolation data in images", SIAM J. Appl.
Math. 70 (2009): for homogeneous diffusion inpainting the optimal point density is proportional
to the Laplacian magnitude ``|Delta (K_sigma * f)|`` of the presmoothed image. As in Alt et al.
(2021, Sec. 4) it is rescaled to the target density and binarised by Floyd-Steinberg error
diffusion.
"""

from __future__ import annotations

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


def belhachmi_mask(
    image: np.ndarray, density: float, *, seed: int = 0, sigma: float = 1.0, **options
) -> np.ndarray:
    """Belhachmi mask: ``|Delta (K_sigma * f)|`` rescaled to ``density``, Floyd-Steinberg dithered.

    The dithering target is corrected (a few bisection steps on the rescaling) so that the
    achieved density is within 1 % of ``density``. Deterministic; ``seed`` is unused.
    """
    check_options("belhachmi", options)
    f = np.asarray(image, dtype=np.float64)
    lap = np.abs(laplacian(ndimage.gaussian_filter(f, sigma, mode="nearest")))
    n_target = density * f.size
    d = density
    best = None
    for _ in range(8):
        mask = floyd_steinberg(rescale_to_density(lap, min(d, 1.0)))
        n = int(mask.sum())
        if best is None or abs(n - n_target) < abs(int(best.sum()) - n_target):
            best = mask
        if abs(n - n_target) <= 0.005 * n_target or n == 0:
            break
        d *= n_target / n
    if not best.any():
        best = best.copy()
        best.flat[int(np.argmax(lap))] = True
    return best
