"""Uniform scalar quantisation of grey values in [0, 255].

``levels`` equidistant reconstruction points ``k * 255 / (levels - 1)``, k = 0..levels-1, as used
for the stored pixel values of sparse-inpainting codecs (before optional tonal optimisation).
"""

from __future__ import annotations

import numpy as np

from ..errors import OptionError

MIN_LEVELS = 2
MAX_LEVELS = 256


def check_levels(levels: int) -> int:
    """Return ``levels`` as an int, or raise :class:`OptionError` if not in [2, 256]."""
    try:
        value = int(levels)
    except (TypeError, ValueError):
        raise OptionError(f"quantisation levels must be an integer, got {levels!r}") from None
    if value != levels or not MIN_LEVELS <= value <= MAX_LEVELS:
        raise OptionError(
            f"quantisation levels must be an integer in [{MIN_LEVELS}, {MAX_LEVELS}],"
            f" got {levels!r}"
        )
    return value


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
