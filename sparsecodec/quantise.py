"""Uniform scalar quantisation of grey values in [0, 255].

``levels`` equidistant reconstruction points ``k * 255 / (levels - 1)``, k = 0..levels-1, as used
for the stored pixel values of sparse-inpainting codecs (before optional tonal optimisation).
"""

from __future__ import annotations

import numpy as np

from .validate import MAX_LEVELS, MIN_LEVELS, check_levels  # noqa: F401 (re-exported)


def quantise(values: np.ndarray, levels: int) -> np.ndarray:
    """Map values in [0, 255] to indices ``round(v * (levels-1) / 255)`` clipped to [0, levels-1].

    Returns an int64 array of the shape of ``values``.
    """
    levels = check_levels(levels)
    v = np.asarray(values, dtype=np.float64)
    q = np.rint(v * ((levels - 1) / 255.0))
    q = np.nan_to_num(q, nan=0.0)
    return np.clip(q, 0, levels - 1).astype(np.int64)


def dequantise(q: np.ndarray, levels: int) -> np.ndarray:
    """Reconstruction values ``q * 255 / (levels - 1)`` as float64."""
    levels = check_levels(levels)
    return np.asarray(q, dtype=np.float64) * (255.0 / (levels - 1))
