"""Context-adaptive binary arithmetic coding of inpainting masks.

A JBIG-style coder (ITU-T T.82 uses a causal template of neighbouring pixels as context of an
adaptive binary arithmetic coder), adapted to sparse masks and to fast decoding with
``constriction``'s vectorised Bernoulli model family:

* Pixels of a row are coded in ``PHASES`` interleaved column phases (x = 0, 2, 4, ... then
  x = 1, 3, 5, ...). All pixels of one row-phase are independent given the context, so each
  row-phase is a single vectorised ``constriction`` call. Later phases see both horizontal
  neighbours of the current row.
* The context of a pixel is (phase, the ``TEMPLATE_BITS`` nearest already known neighbours,
  a bucket of the local mask density in the previous ``DENSITY_ROWS`` rows relative to the
  global density). Counts are adaptive (Krichevsky-Trofimov-like estimator with a density
  prior) and updated after every row-phase.

Payload: LEB128 number of mask points N, then the range coder words (little endian). The
global density d = N / (H W) is known to both sides (it scales the density buckets).
"""

from __future__ import annotations

import numba
import numpy as np

from ..errors import BitstreamError, OptionError
from ._stream import bytes_to_words, read_varint, words_to_bytes, write_varint

PHASES = 2
TEMPLATE_BITS = 10
DENSITY_RADIUS = 6
# density buckets: window density / global density compared with these factors (literal
# constants so that encoder and decoder compute bit-identical thresholds on any platform)
_FACTORS = (0.25, 0.5, 0.8, 1.25, 2.0, 4.0)
_PRIOR_FACTORS = (0.15, 0.35, 0.65, 1.0, 1.6, 2.8, 5.0)
# prior strengths of the three nested models, count halving limit, bits of the middle model
CONFIG = (32.0, 32.0, 32.0, 4096.0, 4)
P_MIN = 1.0 / (1 << 20)


def _template() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-phase column start and offsets (dy, dx) of the nearest already known neighbours."""
    starts = np.arange(PHASES, dtype=np.int64)
    offsets = sorted(
        (dy * dy + dx * dx, abs(dx), dy, dx)
        for dy in range(-4, 1)
        for dx in range(-5, 6)
        if dy < 0 or dx != 0
    )
    tdy = np.zeros((PHASES, TEMPLATE_BITS), np.int64)
    tdx = np.zeros((PHASES, TEMPLATE_BITS), np.int64)
    for ph in range(PHASES):
        k = 0
        for _, _, dy, dx in offsets:
            known = dy < 0 or (dx % PHASES) < ph  # same row: columns of earlier phases
            if dy == 0:
                known = (starts[ph] + dx) % PHASES < ph
            if known and k < TEMPLATE_BITS:
                tdy[ph, k], tdx[ph, k] = dy, dx
                k += 1
    return starts, tdy, tdx


_STARTS, _TDY, _TDX = _template()
NUM_BUCKETS = len(_FACTORS) + 1
NUM_CONTEXTS = PHASES * (1 << TEMPLATE_BITS) * NUM_BUCKETS


@numba.njit(cache=True)
def _step(M, y, ph, starts, tdy, tdx, thr, prior, cfg, counts, colsum, winsum, prev, ctx, p):
    """Update counts with the previous row-phase, then contexts/probabilities of (y, ph).

    Three nested context models (density bucket; + nearest ``cfg[4]`` neighbours; + all
    template neighbours); each one's estimate is the prior of the next finer one:
    p_k = (n1_k + a_k p_{k-1}) / (n_k + a_k). Returns the number of pixels of the row-phase;
    ``p[:n]`` holds P(pixel = 1).
    """
    H, W = M.shape
    P = starts.shape[0]
    K = tdy.shape[1]
    R = 6
    nb = prior.shape[0]
    limit = cfg[3]
    K1 = int(cfg[4])
    pmin = 1.0 / (1 << 20)
    # 1. adapt the counts to the pixels of the previous row-phase (now known)
    py = prev[0]
    pn = prev[2]
    if pn > 0:
        x = starts[prev[1]]
        for j in range(pn):
            b = M[py, x]
            for lev in range(3):
                c = ctx[lev, j]
                counts[lev, c, b] += 1.0
                if counts[lev, c, 0] + counts[lev, c, 1] > limit:
                    counts[lev, c, 0] *= 0.5
                    counts[lev, c, 1] *= 0.5
            x += P
    # 2. new row: sliding column sums over the previous R rows and their prefix sums
    if ph == 0 and y > 0:
        for x in range(W):
            colsum[x] += M[y - 1, x]
            if y - 1 - R >= 0:
                colsum[x] -= M[y - 1 - R, x]
        winsum[0] = 0
        for x in range(W):
            winsum[x + 1] = winsum[x] + colsum[x]
    rows = min(y, R)
    # bucket used when no density information exists yet (first row): the global density
    b_default = 0
    while b_default < nb - 1 and 1.0 > thr[b_default]:
        b_default += 1
    # 3. contexts
    n = 0
    for x in range(starts[ph], W, P):
        pat = 0
        for k in range(K):
            yy = y + tdy[ph, k]
            xx = x + tdx[ph, k]
            b = 0
            if yy >= 0 and xx >= 0 and xx < W:
                b = M[yy, xx]
            pat = 2 * pat + b
        bkt = b_default
        if rows > 0:
            x0 = max(0, x - R)
            x1 = min(W, x + R + 1)
            area = rows * (x1 - x0)
            dens = (winsum[x1] - winsum[x0]) / area
            bkt = 0
            while bkt < nb - 1 and dens > thr[bkt]:
                bkt += 1
        c0 = ph * nb + bkt
        c1 = ((ph << K1) + (pat >> (K - K1))) * nb + bkt
        c2 = ((ph << K) + pat) * nb + bkt
        ctx[0, n] = c0
        ctx[1, n] = c1
        ctx[2, n] = c2
        q = prior[bkt]
        q = (counts[0, c0, 1] + cfg[0] * q) / (counts[0, c0, 0] + counts[0, c0, 1] + cfg[0])
        q = (counts[1, c1, 1] + cfg[1] * q) / (counts[1, c1, 0] + counts[1, c1, 1] + cfg[1])
        q = (counts[2, c2, 1] + cfg[2] * q) / (counts[2, c2, 0] + counts[2, c2, 1] + cfg[2])
        p[n] = min(max(q, pmin), 1.0 - pmin)
        n += 1
    prev[0] = y
    prev[1] = ph
    prev[2] = n
    return n


@numba.njit(cache=True)
def _encode_all(M, starts, tdy, tdx, thr, prior, cfg, counts, colsum, winsum, prev, ctx, p, bits, probs):
    """Run the model over the whole mask in coding order (encoder side)."""
    H, W = M.shape
    P = starts.shape[0]
    k = 0
    for y in range(H):
        for ph in range(P):
            n = _step(
                M, y, ph, starts, tdy, tdx, thr, prior, cfg, counts, colsum, winsum, prev, ctx, p
            )
            x = starts[ph]
            for j in range(n):
                bits[k] = M[y, x]
                probs[k] = p[j]
                k += 1
                x += P
    return k


class _Model:
    """Model state shared by encoder and decoder."""

    def __init__(self, height: int, width: int, count: int) -> None:
        d = count / (height * width)
        self.thr = np.array([f for f in _FACTORS], dtype=np.float64) * 1.0
        self.thr_abs = self.thr  # thresholds are relative: window density / d
        self.prior = np.array([min(d * f, 0.95) for f in _PRIOR_FACTORS], dtype=np.float64)
        self.d = d
        self.cfg = np.array(CONFIG, dtype=np.float64)
        self.counts = np.zeros((3, NUM_CONTEXTS, 2))
        self.colsum = np.zeros(width, np.int64)
        self.winsum = np.zeros(width + 1, np.int64)
        self.prev = np.zeros(3, np.int64)
        n = (width + PHASES - 1) // PHASES
        self.ctx = np.zeros((3, n), np.int64)
        self.p = np.zeros(n, np.float64)

    def args(self) -> tuple:
        return (
            _STARTS,
            _TDY,
            _TDX,
            self.thr * self.d,
            self.prior,
            self.cfg,
            self.counts,
            self.colsum,
            self.winsum,
            self.prev,
            self.ctx,
            self.p,
        )


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
    M = np.ascontiguousarray(m, dtype=np.uint8)
    model = _Model(height, width, count)
    bits = np.zeros(m.size, np.int32)
    probs = np.zeros(m.size, np.float64)
    _encode_all(M, *model.args(), bits, probs)
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
    M = np.zeros((height, width), np.uint8)
    model = _Model(height, width, count)
    args = model.args()
    family = _family()
    try:
        decoder = constriction.stream.queue.RangeDecoder(bytes_to_words(data[pos:]))
        p = model.p
        for y in range(height):
            row = M[y]
            for ph in range(PHASES):
                n = _step(M, y, ph, *args)
                row[ph::PHASES] = decoder.decode(family, p[:n])
    except BitstreamError:
        raise
    except Exception as exc:  # constriction rejects inconsistent data with various errors
        raise BitstreamError(f"corrupt mask payload ({type(exc).__name__})") from None
    mask = M.view(bool)
    if int(M.sum()) != count:
        raise BitstreamError("corrupt mask payload (point count mismatch)")
    return mask
