"""Adaptive predictive coding of the quantised values stored at the mask points.

The values are coded row by row (all mask points of a row and channel in one vectorised
``constriction`` call). Each value is predicted from already decoded stored values: for every
column near the point, the most recent stored value above it, combined by inverse squared
distance weights (Shepard interpolation). For channels 1 and 2 the prediction is corrected by
an adaptively fitted multiple of the channel-0 prediction error at the same point.
The residual around the rounded prediction follows a two-sided geometric distribution
p(q) ~ theta^|q - centre| (the discrete Laplacian of LOCO-I / JPEG-LS, Weinberger et al. 2000)
whose mean |residual| is learned adaptively per context (weighted neighbour spread x distance
to the nearest neighbour). Only +, -, *, /, sqrt are used so encoder and decoder agree bit for
bit on every IEEE-754 platform.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from ..errors import BitstreamError, OptionError
from .quantise import check_levels
from ._stream import bytes_to_words, words_to_bytes

SEARCH_RADIUS = 8
_ACT_THRESHOLDS = np.array([0.5, 1.5, 3.0, 6.0, 10.0, 16.0, 25.0, 40.0, 64.0])
_NUM_ACT = len(_ACT_THRESHOLDS) + 1
_NUM_DIST = 3
NUM_CONTEXTS = _NUM_ACT * _NUM_DIST


@numba.njit(cache=True)
def _predict(xs, y, i0, i1, c, L, lastr, lastv, stats, beta, e0, act_thr, predf, centre, cx, table):
    """Probability table rows (in ``table``) for the points i0..i1-1 of row y, channel c."""
    W = lastr.shape[0]
    D = 8
    step = 255.0 / (L - 1)
    nact = act_thr.shape[0] + 1
    for j in range(i1 - i0):
        x = xs[i0 + j]
        sw = 0.0
        sv = 0.0
        dmin = 1e30
        for xx in range(max(0, x - D), min(W, x + D + 1)):
            r = lastr[xx]
            if r >= 0:
                dy = y - r
                dx = xx - x
                d2 = float(dy * dy + dx * dx)
                w = 1.0 / d2
                sw += w
                sv += w * lastv[c, xx]
                if d2 < dmin:
                    dmin = d2
        if sw > 0.0:
            pf = sv / sw
            sa = 0.0
            for xx in range(max(0, x - D), min(W, x + D + 1)):
                r = lastr[xx]
                if r >= 0:
                    dy = y - r
                    dx = xx - x
                    w = 1.0 / float(dy * dy + dx * dx)
                    sa += w * abs(lastv[c, xx] - pf)
            act = sa / sw
        else:
            pf = 0.5 * (L - 1)
            act = 0.25 * (L - 1)
        if c > 0:
            # inter-channel correction with the channel-0 error at the same point
            pf += beta[c, 0] / (beta[c, 1] + 1e-3) * e0[j] / step
        pf = min(max(pf, 0.0), L - 1.0)
        predf[j] = pf
        ci = int(pf + 0.5)
        centre[j] = ci
        ag = act * step
        b = 0
        while b < nact - 1 and ag > act_thr[b]:
            b += 1
        db = 0 if dmin <= 2.0 else (1 if dmin <= 8.0 else 2)
        ctx = (c * nact + b) * 3 + db
        cx[j] = ctx
        m = (stats[ctx, 0] + 2.0 * (act + 0.3)) / (stats[ctx, 1] + 2.0)
        theta = m / (1.0 + np.sqrt(1.0 + m * m))
        theta = min(max(theta, 1e-4), 0.9999)
        row = table[j]
        row[ci] = 1.0
        t = 1.0
        for k in range(ci + 1, L):
            t *= theta
            row[k] = t
        t = 1.0
        for k in range(ci - 1, -1, -1):
            t *= theta
            row[k] = t


@numba.njit(cache=True)
def _update(q, xs, i0, i1, c, L, stats, beta, e0, predf, centre, cx, lastr, lastv, y, last):
    """Adapt statistics to the decoded values of points i0..i1-1 (channel c)."""
    step = 255.0 / (L - 1)
    for j in range(i1 - i0):
        v = q[c, i0 + j]
        ctx = cx[j]
        stats[ctx, 0] += abs(v - centre[j])
        stats[ctx, 1] += 1.0
        if stats[ctx, 1] > 1024.0:
            stats[ctx, 0] *= 0.5
            stats[ctx, 1] *= 0.5
        e = (v - predf[j]) * step
        if c == 0:
            e0[j] = e
        else:
            # error of the prediction before the inter-channel correction
            ec = e + beta[c, 0] / (beta[c, 1] + 1e-3) * e0[j]
            beta[c, 0] += e0[j] * ec
            beta[c, 1] += e0[j] * e0[j]
            if beta[c, 1] > 1e7:
                beta[c, 0] *= 0.5
                beta[c, 1] *= 0.5
    if last:
        for j in range(i1 - i0):
            x = xs[i0 + j]
            lastr[x] = y
    for j in range(i1 - i0):
        lastv[c, xs[i0 + j]] = q[c, i0 + j]


def _check_levels_seq(levels: Sequence[int], channels: int) -> list[int]:
    if len(levels) != channels:
        raise OptionError(f"{len(levels)} quantisation levels given for {channels} channels")
    return [check_levels(v) for v in levels]


class _Coder:
    """Shared row loop of encoder and decoder."""

    def __init__(self, mask: np.ndarray, levels: list[int]) -> None:
        m = np.asarray(mask)
        if m.ndim != 2:
            raise OptionError(f"mask must be 2-D, got shape {m.shape}")
        ys, xs = np.nonzero(m)
        self.xs = xs.astype(np.int64)
        self.height, self.width = m.shape
        self.rowptr = np.searchsorted(ys, np.arange(self.height + 1)).astype(np.int64)
        self.levels = levels
        C = len(levels)
        self.count = len(xs)
        maxrow = int(np.max(np.diff(self.rowptr))) if self.height else 0
        self.lastr = np.full(self.width, -1, np.int64)
        self.lastv = np.zeros((C, self.width))
        self.stats = np.zeros((C * NUM_CONTEXTS, 2))
        self.beta = np.zeros((C, 2))
        self.e0 = np.zeros(maxrow)
        self.predf = np.zeros(maxrow)
        self.centre = np.zeros(maxrow, np.int64)
        self.cx = np.zeros(maxrow, np.int64)
        self.flat = np.zeros(maxrow * max(levels))

    def run(self, q: np.ndarray, code) -> None:
        """For every non-empty row and channel: predict, ``code(c, i0, i1, table)``, update."""
        C = len(self.levels)
        for y in range(self.height):
            i0, i1 = int(self.rowptr[y]), int(self.rowptr[y + 1])
            if i0 == i1:
                continue
            for c in range(C):
                L = self.levels[c]
                table = self.flat[: (i1 - i0) * L].reshape(i1 - i0, L)
                _predict(
                    self.xs, y, i0, i1, c, L, self.lastr, self.lastv, self.stats, self.beta,
                    self.e0, _ACT_THRESHOLDS, self.predf, self.centre, self.cx, table,
                )  # fmt: skip
                code(c, i0, i1, table)
                _update(
                    q, self.xs, i0, i1, c, L, self.stats, self.beta, self.e0, self.predf,
                    self.centre, self.cx, self.lastr, self.lastv, y, c == C - 1,
                )  # fmt: skip


def _family():
    import constriction

    return constriction.stream.model.Categorical(perfect=False)


def encode_values(q: np.ndarray, levels: Sequence[int], mask: np.ndarray) -> bytes:
    """Encode quantised values ``q`` (C, N) of the N mask points (raster order) per channel."""
    import constriction

    q = np.asarray(q)
    if q.ndim != 2:
        raise OptionError(f"values must have shape (channels, points), got {q.shape}")
    lv = _check_levels_seq(levels, q.shape[0])
    coder = _Coder(mask, lv)
    if q.shape[1] != coder.count:
        raise OptionError(f"{q.shape[1]} values given for {coder.count} mask points")
    if coder.count == 0:
        return b""
    if not np.issubdtype(q.dtype, np.integer):
        raise OptionError("quantised values must be integers")
    for c, L in enumerate(lv):
        if q[c].min() < 0 or q[c].max() >= L:
            raise OptionError(f"quantised values of channel {c} outside [0, {L - 1}]")
    q = np.ascontiguousarray(q, dtype=np.int64)
    encoder = constriction.stream.queue.RangeEncoder()
    family = _family()

    def code(c: int, i0: int, i1: int, table: np.ndarray) -> None:
        encoder.encode(q[c, i0:i1].astype(np.int32), family, table)

    coder.run(q, code)
    return words_to_bytes(encoder.get_compressed())


def decode_values(
    data: bytes, levels: Sequence[int], mask: np.ndarray, channels: int
) -> np.ndarray:
    """Decode values written by :func:`encode_values`; returns int64 (channels, N)."""
    import constriction

    lv = _check_levels_seq(levels, channels)
    coder = _Coder(mask, lv)
    q = np.zeros((channels, coder.count), np.int64)
    if coder.count == 0:
        if data:
            raise BitstreamError("corrupt values payload (data for an empty mask)")
        return q
    family = _family()
    try:
        decoder = constriction.stream.queue.RangeDecoder(bytes_to_words(data))

        def code(c: int, i0: int, i1: int, table: np.ndarray) -> None:
            q[c, i0:i1] = decoder.decode(family, table)

        coder.run(q, code)
    except Exception as exc:  # constriction rejects inconsistent data with various errors
        raise BitstreamError(f"corrupt values payload ({type(exc).__name__})") from None
    for c, L in enumerate(lv):
        if q[c].size and (q[c].min() < 0 or q[c].max() >= L):
            raise BitstreamError("corrupt values payload (value out of range)")
    return q
