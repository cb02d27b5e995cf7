"""Adaptive quadtree masks: corner points of an error-driven square subdivision.

The structured masks of subdivision codecs (Galić et al. 2008, B-tree triangular coding;
Schmaltz et al. 2014, R-EED: rectangular subdivision with the corner and midpoint pixels
stored), here for homogeneous diffusion: the image is tiled by squares of side ``root`` (a power
of two), every square stores its four corner pixels, and squares are split into four children
where the diffusion inpainting from the current mask has the largest squared error. Each round
solves the inpainting problem once with the project's solver (``sparsecodec.inpainting.solve``)
and splits the squares with the largest error sums, until the mask holds ``density * H * W``
points.

Such masks are far cheaper to code than unstructured ones: the bitstream stores their split
flags (:mod:`sparsecodec.coding.quadtree_coder`, about 0.6 bits per point on Kodak, against
4.7-7 bits for dithered or random masks with the context coder), so at a given rate they hold
several times more points; the stored values are then tonal-optimised as for any mask.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import OptionError
from ..geometry import (
    corner_mask,
    rect_sums,
    root_blocks,
    split_blocks,
    subdivision_mask,
    summed_area,
)

__all__ = [
    "block_errors",
    "corner_mask",
    "quadtree_mask",
    "rect_sums",
    "root_blocks",
    "root_side",
    "split_blocks",
    "summed_area",
]


#: default of ``centres`` (corner and centre data, measured: docs/results.md)
CENTRES = False


def root_side(height: int, width: int, density: float) -> int:
    """Side of the initial squares: the power of two at least twice the spacing of a regular
    grid of ``density``, so that the first tiling holds at most about a quarter of the points."""
    spacing = math.sqrt(1.0 / max(density, 1.0 / (height * width)))
    return 2 ** max(1, math.ceil(math.log2(max(spacing, 1.0))) + 1)


def block_errors(err: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Sum of ``err`` over each square of ``blocks`` (corners included, clipped to the image)."""
    H, W = err.shape
    y0, x0, s = blocks[:, 0], blocks[:, 1], blocks[:, 2]
    return rect_sums(summed_area(err), y0, np.minimum(y0 + s, H - 1), x0, np.minimum(x0 + s, W - 1))


def quadtree_mask(
    image: np.ndarray,
    density: float,
    *,
    seed: int = 0,
    root: int | None = None,
    min_side: int = 1,
    split_fraction: float = 0.25,
    tol: float = 1e-4,
    reconstruct=None,
    centres: bool = CENTRES,
    **options,
) -> np.ndarray:
    """Corner (and centre) mask of an adaptive quadtree with about ``density * H * W`` points.

    Each round splits the squares with the largest squared inpainting error, at most
    ``split_fraction`` of the splittable ones and no more than about the points still missing
    need. The result can exceed the target by the points of the last round.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` grey image in [0, 255].
    density : float
        Fraction of pixels in (0, 1].
    seed : int
        Unused (the mask is deterministic).
    root : int, optional
        Side of the initial squares, a power of two (default :func:`root_side`).
    min_side : int
        Squares of this side are not split further.
    split_fraction : float
        Largest fraction of the splittable squares split per round.
    tol : float
        Relative residual of the homogeneous diffusion solves that measure the error.
    reconstruct : callable, optional
        ``reconstruct(image, mask, x0) -> u``: the inpainting whose error decides the splits
        (default: homogeneous diffusion); the encoder passes the decoder it writes (EED), as
        R-EED decides its subdivision with its own decoder (Schmaltz et al. 2014, Sec. 3).
    centres : bool
        Store the centre pixel of every final square too (:func:`sparsecodec.geometry.
        centre_mask`), as R-EED stores corner and midpoint data (Schmaltz et al. 2014, Sec. 3).

    Returns
    -------
    ndarray
        ``(H, W)`` bool mask, the corner (and centre) pixels of the final squares.

    References
    ----------
    Schmaltz, Peter, Mainberger, Ebel, Weickert, Bruhn 2014, "Understanding, optimising, and
    extending data compression with anisotropic diffusion", IJCV 108, Sec. 3 (subdivision with
    corner points; here square cells and homogeneous diffusion).
    """
    from ..inpainting import solve
    from . import check_options

    check_options("quadtree", options)
    f = np.asarray(image, dtype=np.float64)
    if f.ndim != 2:
        raise OptionError(f"quadtree masks need a 2-D image, got shape {f.shape}")
    H, W = f.shape
    target = max(1, int(round(float(density) * H * W)))
    side = int(root) if root is not None else root_side(H, W, float(density))
    if side < 1 or side & (side - 1):
        raise OptionError(f"quadtree root must be a power of two, got {root}")
    blocks = root_blocks(H, W, side)
    m = subdivision_mask(blocks, H, W, centres)
    x0 = None
    while m.sum() < target:
        u = solve(f, m, tol=tol, x0=x0).u if reconstruct is None else reconstruct(f, m, x0)
        x0 = u
        err = block_errors((u - f) ** 2, blocks)
        splittable = blocks[:, 2] > min_side
        if not splittable.any():
            break
        need = target - int(m.sum())
        # points per split: up to 5 new corners; with centres up to 8 (5 corners, 4 centres,
        # the old centre now a corner)
        k = max(1, min(need // (8 if centres else 4), int(split_fraction * splittable.sum())))
        # largest error first; squares the inpainting already reproduces exactly are split
        # last, largest first (the density is honoured even where points no longer help)
        order = np.lexsort((-blocks[:, 2], -np.where(splittable, err, -1.0)))
        sel = order[:k]
        sel = sel[splittable[sel]]
        keep = np.ones(len(blocks), dtype=bool)
        keep[sel] = False
        kids, _ = split_blocks(blocks[sel], H, W)
        blocks = np.concatenate([blocks[keep], kids])
        m = subdivision_mask(blocks, H, W, centres)
    return m
