"""The embedded default image, so that the codec runs without any data folder."""

from __future__ import annotations

import numpy as np


def default_image() -> np.ndarray:
    """The 512x512 colour 'astronaut' image bundled with scikit-image (no download)."""
    from skimage import data

    return np.asarray(data.astronaut(), dtype=np.uint8)
