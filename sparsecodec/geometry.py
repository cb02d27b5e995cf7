"""Geometry of quadtree square tilings, shared by the quadtree masks and their coder.

A square is a row ``(y0, x0, side)`` of an int64 array; a tiling stores the four corner pixels
of each square (clipped to the image), and optionally its centre pixel.
:mod:`sparsecodec.masks.quadtree` builds such masks by error-driven splitting,
:mod:`sparsecodec.coding.quadtree_coder` codes them by their split flags; both use these
helpers, so neither depends on the other.
"""

from __future__ import annotations

import numpy as np


def corner_mask(blocks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bool mask of the corner pixels of squares ``blocks`` (rows ``y0, x0, side``), clipped to
    the image (a square reaching past the border stores the border pixel)."""
    m = np.zeros((height, width), dtype=bool)
    y0, x0, s = blocks[:, 0], blocks[:, 1], blocks[:, 2]
    y1 = np.minimum(y0 + s, height - 1)
    x1 = np.minimum(x0 + s, width - 1)
    for yy in (y0, y1):
        for xx in (x0, x1):
            m[yy, xx] = True
    return m


def centre_points(
    blocks: np.ndarray, height: int, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre pixels ``(y0 + side/2, x0 + side/2)`` of the squares ``blocks`` and whether each
    square has one: side >= 2 and the centre strictly inside the image (R-EED's midpoint data,
    Schmaltz et al. 2014, Sec. 3; off the image border, so that it never sits on a square's
    edge). Returns ``(cy, cx, ok)``."""
    half = blocks[:, 2] // 2
    cy, cx = blocks[:, 0] + half, blocks[:, 1] + half
    return cy, cx, (half >= 1) & (cy < height - 1) & (cx < width - 1)


def centre_mask(blocks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bool mask of the centre pixels of the squares ``blocks`` that have one
    (:func:`centre_points`)."""
    m = np.zeros((height, width), dtype=bool)
    cy, cx, ok = centre_points(blocks, height, width)
    m[cy[ok], cx[ok]] = True
    return m


def subdivision_mask(
    blocks: np.ndarray, height: int, width: int, centres: bool = False
) -> np.ndarray:
    """The points a tiling stores: the corners of its squares, with ``centres`` also their
    centres (:func:`centre_mask`)."""
    m = corner_mask(blocks, height, width)
    if centres:
        m |= centre_mask(blocks, height, width)
    return m


def root_blocks(height: int, width: int, side: int) -> np.ndarray:
    """The initial tiling: squares ``(y0, x0, side)`` in raster order."""
    ys, xs = np.meshgrid(
        np.arange(0, max(height - 1, 1), side),
        np.arange(0, max(width - 1, 1), side),
        indexing="ij",
    )
    return np.stack([ys.ravel(), xs.ravel(), np.full(ys.size, side)], axis=1).astype(np.int64)


def split_blocks(parents: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Children of the squares ``parents`` (sides >= 2): for each parent in order its four
    quadrants (top-left, top-right, bottom-left, bottom-right) that start inside the image.
    Returns the children and the index of each child's parent."""
    half = parents[:, 2] // 2
    kids = np.stack(
        [
            np.stack([parents[:, 0] + dy * half, parents[:, 1] + dx * half, half], axis=1)
            for dy in (0, 1)
            for dx in (0, 1)
        ],
        axis=1,
    )  # (P, 4, 3)
    owner = np.repeat(np.arange(len(parents)), 4)
    kids = kids.reshape(-1, 3)
    inside = (kids[:, 0] < max(height - 1, 1)) & (kids[:, 1] < max(width - 1, 1))
    return kids[inside], owner[inside]


def summed_area(a: np.ndarray) -> np.ndarray:
    """Summed-area table ``S`` of ``a`` with a zero first row and column (``(H+1, W+1)``)."""
    S = np.zeros((a.shape[0] + 1, a.shape[1] + 1), dtype=np.result_type(a.dtype, np.int64))
    S[1:, 1:] = a.cumsum(0).cumsum(1)
    return S


def rect_sums(S: np.ndarray, ya, yb, xa, xb) -> np.ndarray:
    """Sums over the rectangles rows ``ya..yb`` x columns ``xa..xb`` (inclusive, arrays) from
    the summed-area table ``S``; empty (reversed) ranges sum to 0."""
    ok = (yb >= ya) & (xb >= xa)
    ya, yb, xa, xb = (np.where(ok, v, 0) for v in (ya, yb, xa, xb))
    return np.where(ok, S[yb + 1, xb + 1] - S[ya, xb + 1] - S[yb + 1, xa] + S[ya, xa], 0)


def lattice_mask(mask: np.ndarray, step: int) -> np.ndarray:
    """The points of ``mask`` on the lattice of step ``step`` (rows and columns that are
    multiples of ``step``, or the last row / column).

    On a quadtree corner mask this is the corner mask of the tree cut at squares of side
    ``step`` (a corner of a split square of side >= ``step`` lies on the lattice), so it is the
    sparser chroma mask of luma-preference colour coding (Peter, Kaufhold, Weickert 2017) at no
    mask cost. ``step=1`` returns a copy of ``mask``.
    """
    m = np.asarray(mask, dtype=bool)
    H, W = m.shape
    rows = np.arange(H)
    cols = np.arange(W)
    on_r = (rows % step == 0) | (rows == H - 1)
    on_c = (cols % step == 0) | (cols == W - 1)
    return m & on_r[:, None] & on_c[None, :]
