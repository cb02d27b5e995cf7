"""Context-mixing binary arithmetic coding of inpainting masks (format versions 2-4).

A JBIG-style coder (ITU-T T.82: adaptive binary arithmetic coding of the pixels in raster order
with causal contexts), extended by logistic mixing of several context models as in PAQ-family
bilevel coders, for sparse masks:

* Features of the causal neighbourhood: the local mask density in windows of radius
  R = round(1.25 / sqrt(d)) in [3, 11], R // 2 and 2 R over the rows above and the current row,
  relative to the global density d; the 6-, 10- and 20-pixel templates; the squared distances
  to the nearest mask point above (within ``NEAR`` columns) and to the last point of the current
  row, scaled by the local density.
* Nine adaptive count models over combinations of them, arranged in back-off trees: a model's
  estimate (n1 + a p) / (n + a) takes its parent's probability p as prior (Dirichlet back-off);
  counts are halved above ``COUNT_LIMIT``. Their predictions and the bucket prior are mixed in
  the logistic domain by an online-trained linear mixer (learning rate decaying with the number
  of coded pixels), then refined by two adaptive probability maps (APMs).
* A carry-propagating binary range coder (32-bit range, 16-bit probabilities) inside the same
  Numba loop: a whole mask is one compiled call. (Raster order adapts to the local image region;
  the earlier wavefront order of format version 1, vectorised over ``constriction`` calls, lost
  2-3 % of the rate with the same models.)

Payload: LEB128 number of mask points N, then the range coder bytes (the always-zero first byte
is dropped, up to 4 trailing zero bytes are implied). The global density d = N / (H W) is known
to both sides. Decoding stops with an error as soon as it would read more than 4 bytes past the
end or finds more than N points; otherwise its work is H W pixel steps.

Determinism: the count models use only +, -, *, / (IEEE-754, correctly rounded); the mixer, the
APMs and the range coder are integer arithmetic; the logistic tables are built at import from
+, -, *, / only (no libm exp/log), so encoder and decoder agree bit for bit on every platform.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..errors import BitstreamError, OptionError
from ._stream import read_varint, write_varint

# density buckets of the radius-R window: window density / d compared with these factors; priors
# of the buckets as multiples of d (literal constants: bit-identical on every platform)
_FACTORS = (0.25, 0.5, 0.8, 1.25, 2.0, 4.0)
_PRIOR_FACTORS = (0.15, 0.35, 0.65, 1.0, 1.6, 2.8, 5.0)
# coarser buckets of the radius R // 2 and 2 R windows
_FACTORS2 = (0.35, 0.7, 1.4, 2.8)
# bins of (squared distance) * (local density)
_DIST_BINS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.3, 1.75, 2.5)
ALPHA = 16.0  # prior strength of every count model
COUNT_LIMIT = 1024.0
NB = len(_FACTORS) + 1
NB2 = len(_FACTORS2) + 1
ND = len(_DIST_BINS) + 1
HASH_BITS = 14  # the 20-pixel template model is hashed into 2**HASH_BITS contexts
NEAR = 6  # half width of the search for the nearest point in the row above
_VCAP = 1000
# logistic domain: stretch(p) = ln(p / (1 - p)) in units of 1/256, clamped to +-_DMAX;
# probabilities of the mixer and the APM are integers in units of 2**-24
_DMAX = 3071
_PBITS = 24
_APM_SHIFT = 7
_APM_STEP = 1 << _APM_SHIFT
_APM_KNOTS = 2 * (_DMAX + 1) // _APM_STEP + 1
_APM_RATE = 8
_G_END = 28672  # the mixer's learning rate is constant from here on
# count models: sizes and parents (-1: the bucket prior); contexts in _run
_SIZES = (
    NB,  # 0: bucket
    64 * NB,  # 1: 6-pixel template, bucket
    1024 * NB,  # 2: 10-pixel template, bucket
    1 << HASH_BITS,  # 3: 20-pixel template, bucket (hashed)
    NB * NB2,  # 4: buckets of radii R, R // 2
    64 * NB * NB2,  # 5: 6-pixel template, buckets R, R // 2
    NB2 * NB * NB2,  # 6: buckets R, R // 2, 2 R
    ND * ND * NB,  # 7: distances, bucket
    ND * ND * 64 * NB,  # 8: distances, 6-pixel template, bucket
)
_PARENTS = (-1, 0, 1, 2, 0, 4, 4, 0, 7)
NUM_MODELS = len(_SIZES)
NUM_INPUTS = NUM_MODELS + 2  # + the bucket prior + a bias
_BIAS = 77  # 0.3 in the stretch domain
_W_INIT = 3  # the mixer starts as the 10-pixel-template model alone (input 3 = model 2)
_TOP = 1 << 24  # range coder normalisation threshold
_SLACK = 4  # at most this many trailing zero bytes are dropped by the encoder


def _exp(x: float) -> float:
    """exp(x) from +, -, *, / only (Taylor series of exp(x / 64), squared six times)."""
    y = x / 64.0
    term = 1.0
    total = 1.0
    for k in range(1, 16):
        term = term * y / k
        total = total + term
    for _ in range(6):
        total = total * total
    return total


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """squash table (stretch value + _DMAX -> probability * 2**24) and stretch table (16-bit
    probability -> stretch value), inverse of each other; deterministic on every platform."""
    one = float(1 << _PBITS)
    sq = np.empty(2 * _DMAX + 1, np.int64)
    for i in range(2 * _DMAX + 1):
        v = one / (1.0 + _exp(-(i - _DMAX) / 256.0))
        sq[i] = min(max(int(v + 0.5), 1), (1 << _PBITS) - 1)
    p16 = np.arange(1 << 16, dtype=np.int64) << (_PBITS - 16)
    st = np.searchsorted(sq, p16, side="left").astype(np.int64) - _DMAX
    return sq, np.clip(st, -_DMAX, _DMAX).astype(np.int16)


_SQUASH, _STRETCH = _tables()


@numba.njit(cache=True, inline="always")
def _bucket(s, cnt, thr, default):
    if cnt == 0:
        return default
    b = 0
    for k in range(thr.shape[0]):  # thresholds ascend: branch-free count
        b += s > thr[k] * cnt
    return b


@numba.njit(cache=True, inline="always")
def _bin(v, bins):
    k = 0
    for j in range(bins.shape[0]):  # bins ascend: branch-free count
        k += v > bins[j]
    return k


@numba.njit(cache=True)
def _run(decode, M, data, out, ipar, d, thr, thr2, dbins, prior, offs, par, sq, stt):
    """Code the (H, W) mask ``M`` in raster order: encode (``decode`` = 0; bytes into ``out``,
    returns their number) or decode (``decode`` = 1; from ``data`` into ``M``, returns the
    number of mask points, or -1 for a corrupt or truncated payload). ``ipar`` = (R, R2, R3,
    N); the other arguments are model constants.
    """
    H, W = M.shape
    R = ipar[0]
    R2 = ipar[1]
    R3 = ipar[2]
    nm = offs.shape[0] - 1
    ni = nm + 2
    one = 1 << _PBITS
    limit = COUNT_LIMIT
    counts = np.zeros((offs[nm], 2))
    w = np.zeros(ni, np.int64)
    w[_W_INIT] = 1 << 16
    apm = np.empty((64 + ND * ND) * NB * _APM_KNOTS, np.int64)
    for a in range((64 + ND * ND) * NB):
        for k in range(_APM_KNOTS):
            apm[a * _APM_KNOTS + k] = sq[min(max(k * _APM_STEP - 1, 0), 2 * _DMAX)]
    ctx = np.zeros(nm, np.int64)
    qs = np.zeros(nm)
    st = np.zeros(ni, np.int64)
    st[ni - 1] = _BIAS
    # padded mask, column sums of the last R / R2 / R3 rows, distance to the point above
    P = np.zeros((H + 3, W + 8), np.uint8)
    O = R3 + 1  # column c of the column sums is at index c + O
    C1 = np.zeros(W + 2 * O, np.int64)
    C2 = np.zeros(W + 2 * O, np.int64)
    C3 = np.zeros(W + 2 * O, np.int64)
    V = np.full(W, _VCAP, np.int64)
    bd = 0  # buckets of the global density (while a window is empty)
    while bd < thr.shape[0] and d > thr[bd]:
        bd += 1
    bd2 = 0
    while bd2 < thr2.shape[0] and d > thr2[bd2]:
        bd2 += 1
    # range coder state
    low = 0
    rng = 0xFFFFFFFF
    cache = 0
    csize = 1
    nout = 0
    code = 0
    pos = 0
    if decode:
        for _ in range(4):
            code = (code << 8) | (data[pos] if pos < data.shape[0] else 0)
            pos += 1
    n_done = 0
    g = 1 << 10
    points = 0
    for y in range(H):
        # column sums: add row y - 1, drop rows y - 1 - R*
        if y >= 1:
            for x in range(W):
                v = P[y + 2, x + 4]
                C1[x + O] += v
                C2[x + O] += v
                C3[x + O] += v
                if y - 1 - R >= 0:
                    C1[x + O] -= P[y + 2 - R, x + 4]
                if y - 1 - R2 >= 0:
                    C2[x + O] -= P[y + 2 - R2, x + 4]
                if y - 1 - R3 >= 0:
                    C3[x + O] -= P[y + 2 - R3, x + 4]
        rows1 = min(y, R)
        rows2 = min(y, R2)
        rows3 = min(y, R3)
        # window sums over columns x - R* .. x + R* (column sums), started at x = -1
        s1 = 0
        s2 = 0
        s3 = 0
        for c in range(0, R):
            s1 += C1[c + O]
        for c in range(0, R2):
            s2 += C2[c + O]
        for c in range(0, R3):
            s3 += C3[c + O]
        r1 = 0  # points of row y in x - R .. x - 1, and R2, R3
        r2 = 0
        r3 = 0
        w1 = 0
        w2 = 0
        w3 = 0
        for k in range(8):
            w1 = (w1 >> 1) | (np.int64(P[y + 2, k]) << 8)
            w2 = (w2 >> 1) | (np.int64(P[y + 1, k]) << 8)
            w3 = (w3 >> 1) | (np.int64(P[y, k]) << 8)
        w0 = 0
        last = -1
        for x in range(W):
            s1 += C1[x + R + O] - C1[x - R - 1 + O]
            s2 += C2[x + R2 + O] - C2[x - R2 - 1 + O]
            s3 += C3[x + R3 + O] - C3[x - R3 - 1 + O]
            w1 = (w1 >> 1) | (np.int64(P[y + 2, x + 8]) << 8)
            w2 = (w2 >> 1) | (np.int64(P[y + 1, x + 8]) << 8)
            w3 = (w3 >> 1) | (np.int64(P[y, x + 8]) << 8)
            # window codes: bit k + 4 = pixel x + k of rows y - 1, y - 2, y - 3; row y: k < 0
            c2 = (w0 >> 2) & 3
            pat = (((w1 >> 2) & 31) << 5) | (((w2 >> 3) & 7) << 2) | c2
            mid = (((w1 >> 3) & 7) << 3) | (((w2 >> 4) & 1) << 2) | c2
            big = ((w0 & 15) << 16) | (((w1 >> 1) & 63) << 10) | (((w2 >> 1) & 127) << 3)
            big |= (w3 >> 3) & 7
            # local densities
            cw = min(W - 1, x + R) - max(0, x - R) + 1
            cnt = rows1 * cw + min(x, R)
            bk = _bucket(s1 + r1, cnt, thr, bd)
            rr = (s1 + r1) / cnt if cnt > 0 else d
            cw = min(W - 1, x + R2) - max(0, x - R2) + 1
            bk2 = _bucket(s2 + r2, rows2 * cw + min(x, R2), thr2, bd2)
            cw = min(W - 1, x + R3) - max(0, x - R3) + 1
            bk3 = _bucket(s3 + r3, rows3 * cw + min(x, R3), thr2, bd2)
            # squared distances to the nearest point above / to the last point of the row
            dx2 = _VCAP * _VCAP
            if last >= 0:
                dx2 = (x - last) * (x - last)
            best = dx2
            if y >= 1:
                for off in range(NEAR + 1):
                    if off * off >= best:
                        break
                    if x - off >= 0:
                        dd = V[x - off] * V[x - off] + off * off
                        if dd < best:
                            best = dd
                    if x + off < W:
                        dd = V[x + off] * V[x + off] + off * off
                        if dd < best:
                            best = dd
            rr = max(rr, 0.25 * d)
            tx = _bin(best * rr, dbins) * ND + _bin(dx2 * rr, dbins)
            bb = bk * NB2 + bk2
            ctx[0] = bk
            ctx[1] = mid * NB + bk
            ctx[2] = pat * NB + bk
            ctx[3] = (((big * NB + bk) * 2654435761) & 0xFFFFFFFF) >> (32 - HASH_BITS)
            ctx[4] = bb
            ctx[5] = mid * (NB * NB2) + bb
            ctx[6] = bk3 * (NB * NB2) + bb
            ctx[7] = tx * NB + bk
            ctx[8] = (tx * 64 + mid) * NB + bk
            # count models (back-off trees), stretched, mixed
            q0 = prior[bk]
            st[0] = np.int64(stt[int(q0 * 65536.0)])
            dot = w[0] * st[0] + w[ni - 1] * _BIAS
            for lev in range(nm):
                c = offs[lev] + ctx[lev]
                ctx[lev] = c
                pq = q0 if par[lev] < 0 else qs[par[lev]]
                q = (counts[c, 1] + ALPHA * pq) / (counts[c, 0] + counts[c, 1] + ALPHA)
                qs[lev] = q
                st[lev + 1] = np.int64(stt[min(max(int(q * 65536.0), 1), 65535)])
                dot += w[lev + 1] * st[lev + 1]
            dm = min(max(dot >> 16, -_DMAX), _DMAX)
            pm = sq[dm + _DMAX]
            # APM on (6-pixel template, bucket), interpolated between knots
            apos = dm + _DMAX + 1
            kj = apos >> _APM_SHIFT
            fr = apos - kj * _APM_STEP
            base = (mid * NB + bk) * _APM_KNOTS
            pa = (apm[base + kj] * (_APM_STEP - fr) + apm[base + kj + 1] * fr) >> _APM_SHIFT
            base2 = ((64 + tx) * NB + bk) * _APM_KNOTS
            pa2 = (apm[base2 + kj] * (_APM_STEP - fr) + apm[base2 + kj + 1] * fr) >> _APM_SHIFT
            pf = min(max((2 * pm + pa + pa2 + 2) >> 2, 1 << 8), one - (1 << 8))
            p1 = pf >> 8  # P(bit = 1) in units of 2**-16
            # binary range coder (carry-propagating, bytes out)
            bound = (rng >> 16) * p1
            if decode:
                if code < bound:
                    rng = bound
                    b = 1
                else:
                    code -= bound
                    rng -= bound
                    b = 0
                while rng < _TOP:
                    rng <<= 8
                    code = ((code << 8) | (data[pos] if pos < data.shape[0] else 0)) & 0xFFFFFFFF
                    pos += 1
                if pos > data.shape[0] + _SLACK:
                    return -1  # read beyond the implied zero bytes: truncated or corrupt
            else:
                b = np.int64(M[y, x])
                if b:
                    rng = bound
                else:
                    low += bound
                    rng -= bound
                while rng < _TOP:
                    rng <<= 8
                    if low < 0xFF000000 or low > 0xFFFFFFFF:
                        carry = low >> 32
                        t = cache
                        while csize > 0:
                            out[nout] = (t + carry) & 0xFF
                            nout += 1
                            t = 0xFF
                            csize -= 1
                        cache = (low >> 24) & 0xFF
                    csize += 1
                    low = (low & 0x00FFFFFF) << 8
            # adapt: counts, mixer (learning rate decaying to 2**-10), APM
            for lev in range(nm):
                c = ctx[lev]
                counts[c, b] += 1.0
                if counts[c, 0] + counts[c, 1] > limit:
                    counts[c, 0] *= 0.5
                    counts[c, 1] *= 0.5
            if n_done < _G_END:
                g = max(1 << 10, (1 << 25) // (n_done + 4096))
            err = (b << _PBITS) - pm
            for k in range(ni):
                w[k] += (err * st[k] * g + (1 << 35)) >> 36
            n_done += 1
            a = base + kj + (1 if 2 * fr >= _APM_STEP else 0)
            apm[a] += ((b << _PBITS) - apm[a]) >> _APM_RATE
            a = base2 + kj + (1 if 2 * fr >= _APM_STEP else 0)
            apm[a] += ((b << _PBITS) - apm[a]) >> _APM_RATE
            # store the bit
            w0 = (w0 >> 1) | (b << 3)
            if b:
                P[y + 3, x + 4] = 1
                M[y, x] = 1
                last = x
                points += 1
                if points > ipar[3]:
                    return -1  # more points than announced: corrupt
            r1 += b
            r2 += b
            r3 += b
            if x - R >= 0:
                r1 -= P[y + 3, x - R + 4]
            if x - R2 >= 0:
                r2 -= P[y + 3, x - R2 + 4]
            if x - R3 >= 0:
                r3 -= P[y + 3, x - R3 + 4]
        for x in range(W):
            V[x] = 1 if P[y + 3, x + 4] else min(V[x] + 1, _VCAP)
    if decode:
        return points
    # flush
    for _ in range(5):
        if low < 0xFF000000 or low > 0xFFFFFFFF:
            carry = low >> 32
            t = cache
            while csize > 0:
                out[nout] = (t + carry) & 0xFF
                nout += 1
                t = 0xFF
                csize -= 1
            cache = (low >> 24) & 0xFF
        csize += 1
        low = (low & 0x00FFFFFF) << 8
    return nout


class _Params:
    """Model constants derived from the mask size and point count (shared by both sides)."""

    def __init__(self, height: int, width: int, count: int) -> None:
        d = count / (height * width)
        radius = min(11, max(3, int(1.25 / math.sqrt(d) + 0.5)))
        offs = np.zeros(NUM_MODELS + 1, np.int64)
        offs[1:] = np.cumsum(_SIZES)
        self.args = (
            np.array([radius, max(2, radius // 2), 2 * radius, count], np.int64),
            d,
            np.array(_FACTORS, dtype=np.float64) * d,
            np.array(_FACTORS2, dtype=np.float64) * d,
            np.array(_DIST_BINS, dtype=np.float64),
            np.array([min(d * f, 0.95) for f in _PRIOR_FACTORS], dtype=np.float64),
            offs,
            np.array(_PARENTS, np.int64),
            _SQUASH,
            _STRETCH,
        )


def _check_mask(mask: np.ndarray) -> np.ndarray:
    from ..io import check_mask

    m = np.asarray(mask)
    if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
        raise OptionError(f"mask must be a non-empty 2-D array, got shape {m.shape}")
    return check_mask(m)


def encode_mask(mask: np.ndarray) -> bytes:
    """Encode a boolean (H, W) mask; the decoder needs H and W (see :func:`decode_mask`)."""
    m = _check_mask(mask)
    height, width = m.shape
    count = int(m.sum())
    head = write_varint(count)
    if count in (0, m.size):
        return head
    src = np.ascontiguousarray(m, dtype=np.uint8).copy()
    out = np.zeros(2 * m.size + 16, np.uint8)
    nout = _run(0, src, out[:0], out, *_Params(height, width, count).args)
    # the first byte of the range coder is always 0; up to _SLACK trailing zeros are implied
    assert out[0] == 0
    body = out[1:nout].tobytes()
    trimmed = body.rstrip(b"\0")
    return head + body[: max(len(trimmed), len(body) - _SLACK)]


def decode_mask(data: bytes, height: int, width: int) -> np.ndarray:
    """Decode a mask written by :func:`encode_mask`; raises :class:`BitstreamError` if corrupt."""
    height, width = int(height), int(width)
    if height < 1 or width < 1:
        raise BitstreamError(f"invalid mask size {height}x{width}")
    data = bytes(data)
    count, pos = read_varint(data, 0, limit=height * width)
    if count == 0:
        return np.zeros((height, width), bool)
    if count == height * width:
        return np.ones((height, width), bool)
    mask = np.zeros((height, width), np.uint8)
    payload = np.frombuffer(data, np.uint8)[pos:].copy()
    points = _run(1, mask, payload, np.zeros(1, np.uint8), *_Params(height, width, count).args)
    if points < 0:
        raise BitstreamError("corrupt or truncated mask payload")
    if points != count:
        raise BitstreamError("corrupt mask payload (point count mismatch)")
    return mask.view(bool)
