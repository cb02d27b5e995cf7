"""Context-adaptive binary arithmetic coding of inpainting masks.

A JBIG-style coder (ITU-T T.82: adaptive binary arithmetic coding with a causal template of
neighbouring pixels as context), adapted to sparse masks and to fast decoding with
``constriction``'s vectorised Bernoulli model family:

* Wavefront order: pixel (y, x) is coded at step t = x + S y (S = ``SLOPE``). Every causal
  neighbour used by the model, (y, x - k) or (y - j, x + k) with k < S j, belongs to an
  earlier step, so all pixels of one step are coded by a single vectorised ``constriction``
  call while the contexts are exactly as causal as in raster-order JBIG.
* Three nested adaptive context models: (bucket of the local mask density in a causal window
  of radius R = round(1.25 / sqrt(d)) in [3, 11], relative to the global density d), the same
  plus the 6 nearest causal neighbours, and the same plus all 10 neighbours of a JBIG-like
  template. Each model's count estimate (n1 + a p) / (n + a) takes the coarser model's
  probability p as prior (a Dirichlet back-off in the spirit of PPM/context-tree estimators),
  so rare fine contexts cost little. Counts are updated after every step and halved when they
  exceed ``COUNT_LIMIT`` (adaptivity).

Payload: LEB128 number of mask points N, then the range coder words (little endian). The
global density d = N / (H W) is known to both sides. Only +, -, *, / and sqrt (IEEE-754,
correctly rounded) enter the probabilities, so encoder and decoder agree on every platform.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..errors import BitstreamError, OptionError
from ._stream import bytes_to_words, read_varint, words_to_bytes, write_varint

SLOPE = 3
TEMPLATE_BITS = 10
# density buckets: window density / global density compared with these factors; priors of the
# buckets as multiples of d (literal constants: bit-identical on every platform)
_FACTORS = (0.25, 0.5, 0.8, 1.25, 2.0, 4.0)
_PRIOR_FACTORS = (0.15, 0.35, 0.65, 1.0, 1.6, 2.8, 5.0)
# prior strengths a of the three nested models
_ALPHAS = (32.0, 32.0, 32.0)
COUNT_LIMIT = 1024.0
P_MIN = 1.0 / (1 << 20)  # probabilities are clipped to [P_MIN, 1 - P_MIN]
NUM_BUCKETS = len(_FACTORS) + 1


# Template (JBIG-like, 10 causal neighbours): row y: x-2, x-1; row y-1: x-2 .. x+2; row y-2:
# x-1 .. x+1. The middle model uses the 6 nearest: (y, x-2), (y, x-1), (y-1, x-1 .. x+1),
# (y-2, x). Bits are read from 5-pixel window codes per row (bit k+2 = pixel x+k), kept up to
# date as pixels are decoded; rows and columns are padded by 2.
_PAD = 2


@numba.njit(cache=True)
def _step(t, bits, nprev, M, WC, Q, I, ipar, thr, prior, alpha, counts, ctx, p):
    """Store the ``nprev`` decoded ``bits`` of step t-1 and adapt the counts to them, then
    compute contexts and P(pixel = 1) (into ``p``) of the pixels of step t; returns their number.

    ``M`` is the (H, W) mask, ``WC`` the padded window codes, ``Q`` row prefix sums and ``I`` the
    summed-area table of the coded pixels (entries are filled as soon as they are complete).
    ``ipar`` = (H, W, S, R).
    """
    H = ipar[0]
    W = ipar[1]
    S = ipar[2]
    R = ipar[3]
    nb = prior.shape[0]
    limit = COUNT_LIMIT
    pmin = P_MIN
    # 1. the pixels of step t-1 are now known: store them and adapt the counts
    if nprev > 0:
        y = max(0, (t - 1 - (W - 1) + S - 1) // S)
        for j in range(nprev):
            x = t - 1 - S * y
            b = bits[j]
            Q[y, x + 1] = Q[y, x] + b
            I[y + 1, x + 1] = I[y, x + 1] + Q[y, x + 1]
            if b:
                M[y, x] = 1
                for k in range(5):
                    WC[y + 2, x + 4 - k] |= 1 << k
            for lev in range(3):
                c = ctx[lev, j]
                counts[lev, c, b] += 1.0
                if counts[lev, c, 0] + counts[lev, c, 1] > limit:
                    counts[lev, c, 0] *= 0.5
                    counts[lev, c, 1] *= 0.5
            y += 1
    # 2. contexts of step t
    b_default = 0  # no density information yet: the bucket of the global density
    while b_default < nb - 1 and 1.0 > thr[b_default]:
        b_default += 1
    y0 = max(0, (t - (W - 1) + S - 1) // S)
    y1 = min(H - 1, t // S)
    n = 0
    for y in range(y0, y1 + 1):
        x = t - S * y
        w1 = WC[y + 1, x + 2]
        w2 = WC[y, x + 2]
        w0 = WC[y + 2, x + 2] & 3
        pat = (w1 << 5) | (((w2 >> 1) & 7) << 2) | w0
        mid = (((w1 >> 1) & 7) << 3) | (((w2 >> 2) & 1) << 2) | w0
        # local density in a causal window of radius R: a rectangle of rows <= y - 4 from the
        # summed-area table, the staircase of rows y - 3 .. y from the row prefix sums
        c0 = max(0, x - R)
        c1 = min(W, x + R + 1)
        r0 = max(0, y - R)
        r1 = max(r0, y - 3)
        s = I[r1, c1] - I[r0, c1] - I[r1, c0] + I[r0, c0]
        cnt = (r1 - r0) * (c1 - c0)
        for r in range(r1, y + 1):
            hi = min(W - 1, x + R, x + S * (y - r) - 1)
            if hi >= c0:
                s += Q[r, hi + 1] - Q[r, c0]
                cnt += hi + 1 - c0
        bkt = b_default
        if cnt > 0:
            bkt = 0
            while bkt < nb - 1 and s > thr[bkt] * cnt:
                bkt += 1
        k0 = bkt
        k1 = mid * nb + bkt
        k2 = pat * nb + bkt
        ctx[0, n] = k0
        ctx[1, n] = k1
        ctx[2, n] = k2
        q = prior[bkt]
        q = (counts[0, k0, 1] + alpha[0] * q) / (counts[0, k0, 0] + counts[0, k0, 1] + alpha[0])
        q = (counts[1, k1, 1] + alpha[1] * q) / (counts[1, k1, 0] + counts[1, k1, 1] + alpha[1])
        q = (counts[2, k2, 1] + alpha[2] * q) / (counts[2, k2, 0] + counts[2, k2, 1] + alpha[2])
        p[n] = min(max(q, pmin), 1.0 - pmin)
        n += 1
    return n


@numba.njit(cache=True)
def _encode_all(mask, M, WC, Q, I, ipar, thr, prior, alpha, counts, ctx, p, bits, out_b, out_p):
    """Run the model over the whole mask in coding order (encoder side)."""
    H = ipar[0]
    W = ipar[1]
    S = ipar[2]
    T = (W - 1) + S * (H - 1) + 1
    n = 0
    k = 0
    for t in range(T + 1):
        n = _step(t, bits, n, M, WC, Q, I, ipar, thr, prior, alpha, counts, ctx, p)
        y = max(0, (t - (W - 1) + S - 1) // S)
        for j in range(n):
            b = mask[y + j, t - S * (y + j)]
            bits[j] = b
            out_b[k] = b
            out_p[k] = p[j]
            k += 1
    return k


class _Model:
    """Model state shared by encoder and decoder."""

    def __init__(self, height: int, width: int, count: int) -> None:
        d = count / (height * width)
        radius = min(11, max(3, int(1.25 / math.sqrt(d) + 0.5)))
        self.steps = (width - 1) + SLOPE * (height - 1) + 1
        self.M = np.zeros((height, width), np.uint8)
        self.WC = np.zeros((height + _PAD, width + 2 * _PAD), np.int64)
        self.Q = np.zeros((height, width + 1), np.int32)
        self.I = np.zeros((height + 1, width + 1), np.int32)
        self.ipar = np.array([height, width, SLOPE, radius], np.int64)
        self.thr = np.array(_FACTORS, dtype=np.float64) * d
        self.prior = np.array([min(d * f, 0.95) for f in _PRIOR_FACTORS], dtype=np.float64)
        self.alpha = np.array(_ALPHAS, dtype=np.float64)
        self.counts = np.zeros((3, (1 << TEMPLATE_BITS) * NUM_BUCKETS, 2))
        n = min(height, (width + SLOPE - 1) // SLOPE + 1)
        self.ctx = np.zeros((3, n), np.int64)
        self.p = np.zeros(n, np.float64)
        self.bits = np.zeros(n, np.int32)

    def args(self) -> tuple:
        return (
            self.M, self.WC, self.Q, self.I, self.ipar, self.thr, self.prior, self.alpha,
            self.counts, self.ctx, self.p,
        )  # fmt: skip

    def mask(self) -> np.ndarray:
        return self.M.view(bool)


def _family():
    import constriction

    return constriction.stream.model.Bernoulli(perfect=False)


def _check_mask(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
        raise OptionError(f"mask must be a non-empty 2-D array, got shape {m.shape}")
    if m.dtype != np.bool_:
        if not np.isin(m, (0, 1)).all():
            raise OptionError("mask must be boolean (or contain only 0 and 1)")
        m = m.astype(bool)
    return m


def encode_mask(mask: np.ndarray) -> bytes:
    """Encode a boolean (H, W) mask; the decoder needs H and W (see :func:`decode_mask`)."""
    import constriction

    m = _check_mask(mask)
    height, width = m.shape
    count = int(m.sum())
    out = write_varint(count)
    if count in (0, m.size):
        return out
    model = _Model(height, width, count)
    bits = np.zeros(m.size, np.int32)
    probs = np.zeros(m.size, np.float64)
    src = np.ascontiguousarray(m, dtype=np.uint8)
    _encode_all(src, *model.args(), model.bits, bits, probs)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(bits, _family(), probs)
    return out + words_to_bytes(encoder.get_compressed())


def decode_mask(data: bytes, height: int, width: int) -> np.ndarray:
    """Decode a mask written by :func:`encode_mask`; raises :class:`BitstreamError` if corrupt."""
    import constriction

    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise BitstreamError(f"invalid mask size {height}x{width}")
    data = bytes(data)
    count, pos = read_varint(data, 0, limit=height * width)
    if count == 0:
        return np.zeros((height, width), bool)
    if count == height * width:
        return np.ones((height, width), bool)
    model = _Model(height, width, count)
    args = model.args()
    p = model.p
    family = _family()
    try:
        decoder = constriction.stream.queue.RangeDecoder(bytes_to_words(data[pos:]))
        bits = model.bits
        n = 0
        for t in range(model.steps + 1):
            n = _step(t, bits, n, *args)
            if n:
                bits = decoder.decode(family, p[:n])
    except Exception as exc:  # constriction rejects inconsistent data with various errors
        raise BitstreamError(f"corrupt mask payload ({type(exc).__name__})") from None
    mask = model.mask()
    if int(np.count_nonzero(mask)) != count:
        raise BitstreamError("corrupt mask payload (point count mismatch)")
    return mask
