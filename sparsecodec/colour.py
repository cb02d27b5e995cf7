"""Colour transforms (full-range YCbCr, ITU-T T.871, the JPEG convention) and the registry of
colour modes: the colour spaces a colour image's values can be stored in (header ids)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .registry import Registry

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


@dataclass(frozen=True)
class ColourMode:
    """A colour space the values of colour images can be stored in (an id of the header).

    ``forward`` maps ``(..., 3)`` RGB in [0, 255] to the stored channels, ``inverse`` back
    (float64, not clipped).
    """

    name: str
    id: int
    forward: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    description: str


#: the colour modes by name; ids are in every colour bitstream, so they must stay stable
COLOUR_MODES: Registry[ColourMode] = Registry("colour space")


def register_colour_mode(
    name: str,
    id: int,
    forward: Callable[[np.ndarray], np.ndarray],
    inverse: Callable[[np.ndarray], np.ndarray],
    description: str,
) -> ColourMode:
    """Add a colour mode to :data:`COLOUR_MODES` (names and ids unique)."""
    return COLOUR_MODES.add(ColourMode(name, id, forward, inverse, description))


def colour_mode(name: str) -> ColourMode:
    """The registered colour mode ``name``, or an :class:`~sparsecodec.errors.OptionError`."""
    return COLOUR_MODES.entry(name)


def colour_mode_by_id(id: int) -> ColourMode | None:
    """The colour mode with header id ``id``, or None."""
    return COLOUR_MODES.by_id(id)


def _identity(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


register_colour_mode("rgb", 0, _identity, _identity, "R, G, B stored as they are")
register_colour_mode(
    "ycbcr", 1, rgb_to_ycbcr, ycbcr_to_rgb, "full-range YCbCr (ITU-T T.871, as JPEG)"
)


def has_chroma(channels: int, colour: int) -> bool:
    """Whether ``channels`` stored values in colour mode id ``colour`` are luma and two chroma
    channels (a colour image in YCbCr): what chroma levels, luma-preference EED and the chroma
    lattice step (``chroma_step``) apply to."""
    return channels == 3 and colour == COLOUR_MODES["ycbcr"].id
