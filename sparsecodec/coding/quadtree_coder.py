"""Split-flag code of quadtree masks (the masks of :mod:`sparsecodec.masks.quadtree`).

A corner mask is fully described by its subdivision tree: the side of the initial squares and
one split flag per square of side >= 2, level by level (breadth first; within a level in the
order of the parents, each parent's quadrants top-left, top-right, bottom-left, bottom-right).
This costs well under one bit per mask point, against one to two and a half bits for the
generic context coder on the same masks (as in the subdivision codecs of Galić et al. 2008 and
Schmaltz et al. 2014, where the tree is stored by one bit per node).

The flag of a square is coded with a static probability per (level, number of already split
earlier siblings); the probabilities are stored as bytes, the flags of one level and sibling
position are one vectorised ``constriction`` call.

A mask of corner *and centre* points (every final square also stores its centre pixel, as
R-EED stores corner and midpoint data; :func:`sparsecodec.geometry.subdivision_mask`) has the
same code with bit 7 of the first byte set.

Payload: log2(root side) u8 (bit 7: centres) | number of coded levels u8 | 4 probability bytes
per level | range-coder words. :func:`tree_from_mask` recovers the tree of a mask (or reports
that the mask is not a subdivision mask of that kind); the bitstream uses this code whenever it
applies.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from ..errors import BitstreamError
from ..geometry import (
    centre_points,
    corner_mask,
    rect_sums,
    root_blocks,
    split_blocks,
    subdivision_mask,
    summed_area,
)
from ._stream import bytes_to_words, words_to_bytes

MAX_LOG2_ROOT = 15
NUM_CTX = 4
#: the encoder codes the mask with the smallest root sides whose trees reproduce it (at most
#: this many; larger ones only add levels of split flags) and keeps the shortest. On the 72
#: quadtree masks of Kodak at 2 / 5 / 10 % a third root side never gave a shorter code (a
#: second one saves 3.5 % of the mask bytes), so two are tried.
SEARCH_ROOTS = 2
#: bit of the payload's first byte: the mask stores the squares' centres too
CENTRES_BIT = 0x80


def _interior_or_border_points(S: np.ndarray, blocks: np.ndarray, H: int, W: int) -> np.ndarray:
    """Per square: mask points that only its own subdivision can have put there - strictly
    inside, or on one of its edges lying on the image border, corners excluded (``S`` is the
    summed-area table of the mask)."""
    y0, x0, s = blocks[:, 0], blocks[:, 1], blocks[:, 2]
    y1 = np.minimum(y0 + s, H - 1)
    x1 = np.minimum(x0 + s, W - 1)

    count = partial(rect_sums, S)  # points in rows ya..yb, columns xa..xb (0 if reversed)
    n = count(y0 + 1, y1 - 1, x0 + 1, x1 - 1)
    top = (y0 == 0) | (y0 == H - 1)
    bottom = ((y1 == H - 1) | (y1 == 0)) & (y1 != y0)
    left = (x0 == 0) | (x0 == W - 1)
    right = ((x1 == W - 1) | (x1 == 0)) & (x1 != x0)
    edges = (
        (top, y0, y0, x0 + 1, x1 - 1),
        (bottom, y1, y1, x0 + 1, x1 - 1),
        (left, y0 + 1, y1 - 1, x0, x0),
        (right, y0 + 1, y1 - 1, x1, x1),
    )
    for on_border, ya, yb, xa, xb in edges:  # few squares touch the border: sum only theirs
        i = np.flatnonzero(on_border)
        n[i] += count(ya[i], yb[i], xa[i], xb[i])
    return n


def _sibling_context(flags: np.ndarray, owner: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(position among its parent's children, number of split earlier siblings) per square."""
    n = len(flags)
    if owner is None or n == 0:
        return np.zeros(n, np.int64), np.zeros(n, np.int64)
    first = np.r_[True, owner[1:] != owner[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    pos = np.arange(n) - start
    csum = np.cumsum(flags) - flags
    ctx = csum - csum[start]
    return pos, ctx


def _tiling_fits(m: np.ndarray, blocks: np.ndarray) -> bool:
    """Whether every corner of the initial tiling ``blocks`` is a point of the mask ``m``."""
    return bool(m.any()) and not (corner_mask(blocks, *m.shape) & ~m).any()


def _own_centre(m: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Per square: whether the mask holds its centre (:func:`~sparsecodec.geometry.centre_mask`)."""
    cy, cx, ok = centre_points(blocks, *m.shape)
    out = np.zeros(len(blocks), dtype=bool)
    out[ok] = m[cy[ok], cx[ok]]
    return out


def _edge_midpoints(m: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """Per square of side 2 inside the image: whether the mask holds all four edge midpoints."""
    y, x = blocks[:, 0], blocks[:, 1]
    return m[y, x + 1] & m[y + 1, x] & m[y + 1, x + 2] & m[y + 2, x + 1]


def tree_from_mask(
    mask: np.ndarray, log2_root: int, S: np.ndarray | None = None, centres: bool = False
) -> list[np.ndarray] | None:
    """Split flags per level of the quadtree with root side ``2**log2_root`` whose corner mask
    (with ``centres``: corner and centre mask) is ``mask``, or None if there is none. ``S``: the
    mask's summed-area table, if known.

    A square is split when the mask has points that only its subdivision can have put there
    (inside it or on an edge of it that lies on the image border; with centres: other than its
    own centre). With centres, a square of side 2 holding its centre and its four edge
    midpoints is split too (whether split or not, the mask is the same)."""
    m = np.asarray(mask, dtype=bool)
    H, W = m.shape
    blocks = root_blocks(H, W, 1 << log2_root)
    if not _tiling_fits(m, blocks):
        return None
    if S is None:
        S = summed_area(m)
    leaves, levels = [], []
    while len(blocks):
        inner = _interior_or_border_points(S, blocks, H, W)
        if centres:
            own = _own_centre(m, blocks)
            split = inner - own > 0
            two = np.flatnonzero(own & (blocks[:, 2] == 2))
            split[two] |= _edge_midpoints(m, blocks[two])
        else:
            split = inner > 0
        split &= blocks[:, 2] >= 2
        levels.append(split)
        leaves.append(blocks[~split])
        blocks, _ = split_blocks(blocks[split], H, W)
    if not np.array_equal(subdivision_mask(np.concatenate(leaves), H, W, centres), m):
        return None
    while levels and not levels[-1].any():
        levels.pop()
    return levels


def _quantise_p(n1: int, n: int) -> int:
    """Probability byte b (p = (b + 0.5) / 256) for n1 ones among n flags."""
    if n == 0:
        return 0
    return int(np.clip(round(256.0 * n1 / n - 0.5), 0, 255))


def _model():
    import constriction

    return constriction.stream.model.Bernoulli(perfect=False)


def _tree_code(levels: list[np.ndarray], lr: int, centres: bool, H: int, W: int) -> bytes:
    """The payload of the tree with root side ``2**lr`` and split flags ``levels``."""
    import constriction

    head = bytearray([lr | (CENTRES_BIT if centres else 0), len(levels)])
    enc = constriction.stream.queue.RangeEncoder()
    blocks, owner = root_blocks(H, W, 1 << lr), None
    for flags in levels:
        pos, ctx = _sibling_context(flags.astype(np.int64), owner)
        can = blocks[:, 2] >= 2
        probs = [
            _quantise_p(int(flags[can & (ctx == c)].sum()), int((can & (ctx == c)).sum()))
            for c in range(NUM_CTX)
        ]
        head += bytes(probs)
        p1 = (np.asarray(probs, np.float64) + 0.5) / 256.0
        for k in range(NUM_CTX):
            sel = can & (pos == k)
            if sel.any():
                enc.encode(flags[sel].astype(np.int32), _model(), p1[ctx[sel]])
        blocks, owner = split_blocks(blocks[flags], H, W)
    return bytes(head) + words_to_bytes(enc.get_compressed())


def encode_quadtree(mask: np.ndarray) -> bytes | None:
    """Payload of ``mask`` as a quadtree split-flag code (the shortest over the
    :data:`SEARCH_ROOTS` smallest root sides whose corner tree reproduces the mask, or if there
    is none, whose corner-and-centre tree does), or None if ``mask`` is no quadtree mask of
    either kind."""
    m = np.asarray(mask, dtype=bool)
    H, W = m.shape
    top = min(MAX_LOG2_ROOT, max(1, int(np.ceil(np.log2(max(H, W, 2))))))
    if not (m[0, 0] and m[0, -1] and m[-1, 0] and m[-1, -1]):
        return None  # every tiling has the image corners among its square corners
    S = summed_area(m)  # shared by the trees of every root side
    fits = [lr for lr in range(1, top + 1) if _tiling_fits(m, root_blocks(H, W, 1 << lr))]
    for centres in (False, True):  # a corner mask keeps the code of earlier versions
        codes = []
        for lr in fits:  # the smallest root that fits is the tree's own
            levels = tree_from_mask(m, lr, S, centres)
            if levels is not None:
                codes.append(_tree_code(levels, lr, centres, H, W))
                if len(codes) == SEARCH_ROOTS:
                    break
        if codes:
            return min(codes, key=len)
    return None


def has_centres(payload: bytes) -> bool:
    """Whether a split-flag payload codes a corner-and-centre mask."""
    return bool(payload) and bool(payload[0] & CENTRES_BIT)


def decode_quadtree(data: bytes, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`encode_quadtree`; raises :class:`BitstreamError` on bad data."""
    import constriction

    H, W = height, width
    if len(data) < 2:
        raise BitstreamError("truncated quadtree mask payload")
    lr, nlev = data[0] & ~CENTRES_BIT, data[1]
    centres = has_centres(data)
    if not 1 <= lr <= MAX_LOG2_ROOT or nlev > lr:
        raise BitstreamError("corrupt quadtree mask payload (bad tree size)")
    if len(data) < 2 + NUM_CTX * nlev:
        raise BitstreamError("truncated quadtree mask payload")
    p1 = np.frombuffer(data[2 : 2 + NUM_CTX * nlev], np.uint8).reshape(nlev, NUM_CTX) + 0.5
    p1 = p1.astype(np.float64) / 256.0
    try:
        dec = constriction.stream.queue.RangeDecoder(bytes_to_words(data[2 + NUM_CTX * nlev :]))
        blocks, owner = root_blocks(H, W, 1 << lr), None
        leaves = []
        for lev in range(nlev):
            n = len(blocks)
            flags = np.zeros(n, np.int64)
            pos, _ = _sibling_context(flags, owner)
            can = blocks[:, 2] >= 2
            for k in range(NUM_CTX):
                sel = np.flatnonzero(can & (pos == k))
                if len(sel) == 0:
                    continue
                _, ctx = _sibling_context(flags, owner)
                flags[sel] = dec.decode(_model(), p1[lev][ctx[sel]])
            split = flags.astype(bool)
            leaves.append(blocks[~split])
            blocks, owner = split_blocks(blocks[split], H, W)
        leaves.append(blocks)
    except BitstreamError:
        raise
    except Exception as exc:  # constriction rejects inconsistent data with various errors
        raise BitstreamError(f"corrupt quadtree mask payload ({type(exc).__name__})") from None
    return subdivision_mask(np.concatenate(leaves), H, W, centres)
