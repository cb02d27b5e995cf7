"""Colour transforms: full-range YCbCr (ITU-T T.871, the JPEG convention)."""

from __future__ import annotations

import numpy as np

_M = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
#: luma weights of R, G, B (ITU-R BT.601, the first row of the YCbCr matrix)
LUMA_WEIGHTS: tuple[float, float, float] = tuple(float(w) for w in _M[0])
_OFFSET = np.array([0.0, 128.0, 128.0])
_MINV = np.linalg.inv(_M)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3)`` RGB in [0, 255] to YCbCr in [0, 255] (float64)."""
    return np.asarray(rgb, dtype=np.float64) @ _M.T + _OFFSET


def ycbcr_to_rgb(ycc: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (float64, not clipped)."""
    return (np.asarray(ycc, dtype=np.float64) - _OFFSET) @ _MINV.T


def luma(image: np.ndarray) -> np.ndarray:
    """Grey value of an image: itself if grey, else the Y of YCbCr (float64)."""
    a = np.asarray(image, dtype=np.float64)
    return a if a.ndim == 2 else a @ _M[0]
