"""Uniformly random masks."""

from __future__ import annotations

import numpy as np

from . import check_options


def random_mask(image: np.ndarray, density: float, *, seed: int = 0, **options) -> np.ndarray:
    """Exactly ``round(density * H * W)`` (at least one) pixels drawn uniformly, seeded.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` image; only its shape is used.
    density : float
        Fraction of pixels in (0, 1].
    seed : int
        Seed of ``numpy.random.default_rng``.

    Returns
    -------
    ndarray
        ``(H, W)`` bool mask.
    """
    check_options("random", options)
    H, W = np.shape(image)[:2]
    n = max(1, int(round(density * H * W)))
    rng = np.random.default_rng(seed)
    mask = np.zeros(H * W, dtype=bool)
    mask[rng.choice(H * W, size=min(n, H * W), replace=False)] = True
    return mask.reshape(H, W)
