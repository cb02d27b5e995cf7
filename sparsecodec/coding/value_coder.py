"""Adaptive predictive coding of the quantised values stored at the mask points.

The values are coded row by row; the points of a row are split into three interleaved phases
(index j = 0 mod 4, j = 2 mod 4, odd j), and each (row, channel, phase) batch is one
vectorised ``constriction`` call with a per-point categorical distribution. Later phases see
their already decoded row neighbours, which matters for masks that follow edges (Belhachmi).
The encoder, which knows every value, computes the tables of many batches in one compiled call
and hands runs of batches with equal levels to one ``constriction`` call (the same bytes).

Per point, the neighbours are the most recent stored value of every column within D pixels
(rows above) and the known row neighbours, weighted by 1 / distance^2; D = round(2.1 / sqrt(d))
clipped to [8, 16] for mask density d (8 in format version 3; on 12 Kodak Belhachmi masks at 2 %
the wider search saves 1.3 % of the luma and 3.1 % of the YCbCr value bits). The distribution is a
mixture ``lam * A + (1 - lam) * B`` (``lam`` learned per context by gradient steps on the log
likelihood):

* A: two-sided geometric p(q) ~ theta^|q - centre| (the discrete Laplacian of LOCO-I / JPEG-LS,
  Weinberger et al. 2000) around a prediction that blends Shepard interpolation and a weighted
  least-squares plane by their recent errors; theta follows the adaptive mean |residual| of
  the context (neighbour spread x distance to the nearest neighbour x phase).
* B: kernel density estimate - the neighbour values convolved with a two-sided geometric kernel
  of adaptive width. It is multimodal where the neighbours lie on both sides of an edge.

Channels 1 and 2 use channel 0 of the same point in one of two modes, chosen by their recent
errors: (0) add an adaptively fitted multiple of the channel-0 prediction error (suits RGB),
(1) weight neighbours by the similarity of their channel-0 value (suits YCbCr).
Only +, -, *, / and sqrt enter the probabilities, so encoder and decoder agree bit for bit on
every IEEE-754 platform.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np

from ..errors import BitstreamError, OptionError
from ..quantise import check_levels
from ._stream import bytes_to_words, words_to_bytes

#: neighbour search half width D = max(RADIUS_MIN, min(SEARCH_RADIUS, round(RADIUS_SCALE /
#: sqrt(d)))) for mask density d (sparse masks need a wider search)
SEARCH_RADIUS = 16
RADIUS_MIN = 8
RADIUS_SCALE = 2.1
_ACT_THRESHOLDS = np.array([0.5, 1.5, 3.0, 6.0, 10.0, 16.0, 25.0, 40.0, 64.0])
_NUM_ACT = len(_ACT_THRESHOLDS) + 1
_NUM_DIST = 3
NUM_CONTEXTS = _NUM_ACT * _NUM_DIST * 3
MAX_NEIGHBOURS = 2 * SEARCH_RADIUS + 7
# points of a row are coded in three interleaved phases: j = 0 mod 4, j = 2 mod 4, odd j
_PHASE_START = (0, 2, 1)
GUIDE = 1.0 / 8.0
_PHASE_STRIDE = (4, 4, 2)
# learning rate of the mixture weight, its initial value and bounds
_LAMBDA = (0.02, 0.3, 0.02, 0.98)


@numba.njit(cache=True)
def _interpolate(k, vals, w, ndx, ndy, L):
    """Shepard value, weighted least-squares plane value at the point, weighted spread."""
    sw = 0.0
    sv = 0.0
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    sxy = 0.0
    syy = 0.0
    svx = 0.0
    svy = 0.0
    for i in range(k):
        wi = w[i]
        v = vals[i]
        sw += wi
        sv += wi * v
        sx += wi * ndx[i]
        sy += wi * ndy[i]
        sxx += wi * ndx[i] * ndx[i]
        sxy += wi * ndx[i] * ndy[i]
        syy += wi * ndy[i] * ndy[i]
        svx += wi * v * ndx[i]
        svy += wi * v * ndy[i]
    p1 = sv / sw
    sa = 0.0
    for i in range(k):
        sa += w[i] * abs(vals[i] - p1)
    act = sa / sw
    # plane v = a + bx dx + by dy (ridge on the slopes), solved by Cramer's rule
    lam_r = 0.05 * sw
    a12 = sx
    a13 = sy
    a22 = sxx + lam_r
    a23 = sxy
    a33 = syy + lam_r
    det = (
        sw * (a22 * a33 - a23 * a23) - a12 * (a12 * a33 - a23 * a13) + a13 * (a12 * a23 - a22 * a13)
    )
    p2 = p1
    if det > 1e-9 * sw * sw * sw:
        num = (
            sv * (a22 * a33 - a23 * a23)
            - a12 * (svx * a33 - a23 * svy)
            + a13 * (svx * a23 - a22 * svy)
        )
        p2 = min(max(num / det, -0.5), L - 0.5)
    return p1, p2, act


@numba.njit(cache=True)
def _predict(
    D, q, xs, y, i0, i1, ph, c, L, L0, lastr, lastv, stats, kst, lam, beta, perr, merr, e0,
    act_thr, pv, centre, cx, nbv, nbn, table, ktab,
):  # fmt: skip
    """Probability tables of the points of phase ``ph`` of row y (points i0..i1-1), channel c;
    D is the neighbour search half width.

    Rows of ``table`` get the mixture lam * A + (1 - lam) * B (see the module docstring), rows
    of ``ktab`` the normalised B; ``pv``, ``centre``, ``cx``, ``nbv``, ``nbn`` keep what
    :func:`_update` needs.
    """
    W = lastr.shape[0]
    step = 255.0 / (L - 1)
    nact = act_thr.shape[0] + 1
    vals = np.empty(MAX_NEIGHBOURS)
    wts = np.empty(MAX_NEIGHBOURS)
    ndx = np.empty(MAX_NEIGHBOURS)
    ndy = np.empty(MAX_NEIGHBOURS)
    v0 = np.empty(MAX_NEIGHBOURS)
    gw = np.empty(MAX_NEIGHBOURS)
    step0 = 255.0 / (L0 - 1)
    fw = np.empty(L)
    start = (0, 2, 1)[ph]
    stride = (4, 4, 2)[ph]
    nrow = i1 - i0
    for t in range((nrow - start + stride - 1) // stride):
        j = start + stride * t
        x = xs[i0 + j]
        # neighbours: the last stored value of each nearby column, and row neighbours
        k = 0
        for xx in range(max(0, x - D), min(W, x + D + 1)):
            r = lastr[xx]
            if r >= 0:
                ndy[k] = float(r - y)
                ndx[k] = float(xx - x)
                vals[k] = lastv[c, xx]
                v0[k] = lastv[0, xx]
                k += 1
        for jj in range(max(0, j - 3), min(nrow, j + 4)):
            # row neighbours coded in an earlier phase
            pj = 2 if jj % 2 == 1 else (jj % 4) // 2
            if pj < ph:
                dx = xs[i0 + jj] - x
                if dx * dx <= D * D:
                    ndy[k] = 0.0
                    ndx[k] = float(dx)
                    vals[k] = float(q[c, i0 + jj])
                    v0[k] = float(q[0, i0 + jj])
                    k += 1
        dmin = 1e30
        for i in range(k):
            d2 = ndx[i] * ndx[i] + ndy[i] * ndy[i]
            wts[i] = 1.0 / d2
            if d2 < dmin:
                dmin = d2
        mode = 0
        shift = 0.0
        if c > 0:
            # inter-channel correction with the channel-0 error at the same point (mode 0)
            shift = beta[c, 0] / (beta[c, 1] + 1e-3) * e0[j] / step
            # channel-0 guided weights: neighbours of similar channel-0 value count more (mode 1)
            own0 = float(q[0, i0 + j])
            for i in range(k):
                dd = (v0[i] - own0) * step0 * GUIDE
                gw[i] = wts[i] / (1.0 + dd * dd)
            if merr[c, 1] < merr[c, 0]:
                mode = 1
        b = nact - 1
        if k > 0:
            p1, p2, act = _interpolate(k, vals, wts, ndx, ndy, L)
            if c > 0:
                g1, g2, gact = _interpolate(k, vals, gw, ndx, ndy, L)
            else:
                g1, g2, gact = p1, p2, act
            if mode == 1:
                p1, g1 = g1, p1
                p2, g2 = g2, p2
                act = gact
            ag = act * step
            b = 0
            while b < nact - 1 and ag > act_thr[b]:
                b += 1
            kk = c * nact + b
            w1 = 1.0 / (perr[kk, 0] * perr[kk, 0] + 1e-6)
            w2 = 1.0 / (perr[kk, 1] * perr[kk, 1] + 1e-6)
            pf = (w1 * p1 + w2 * p2) / (w1 + w2)
            po = (w1 * g1 + w2 * g2) / (w1 + w2)  # prediction of the other mode
        else:
            pf = 0.5 * (L - 1)
            p1 = pf
            p2 = pf
            po = pf
            act = 0.25 * (L - 1)
        if mode == 0:
            pv[j, 5] = pf + shift
            pv[j, 6] = po
            pf = pf + shift
        else:
            pv[j, 5] = po + shift
            pv[j, 6] = pf
            shift = 0.0
            for i in range(k):
                wts[i] = gw[i]
        pf = min(max(pf, 0.0), L - 1.0)
        pv[j, 0] = pf
        pv[j, 1] = p1
        pv[j, 2] = p2
        ci = int(pf + 0.5)
        centre[j] = ci
        db = 0 if dmin <= 2.0 else (1 if dmin <= 8.0 else 2)
        ctx = ((c * nact + b) * 3 + db) * 3 + ph
        cx[j] = ctx
        # component A: two-sided geometric around the prediction
        m = (stats[ctx, 0] + 2.0 * (act + 0.3)) / (stats[ctx, 1] + 2.0)
        th = min(max(m / (1.0 + np.sqrt(1.0 + m * m)), 1e-4), 0.9999)
        row = table[t]
        row[ci] = 1.0
        sa = 1.0
        g = 1.0
        for v in range(ci + 1, L):
            g *= th
            row[v] = g
            sa += g
        g = 1.0
        for v in range(ci - 1, -1, -1):
            g *= th
            row[v] = g
            sa += g
        pv[j, 3] = th
        pv[j, 4] = sa
        # component B: kernel density estimate of the neighbour values
        kr = ktab[t]
        nbn[j] = k
        if k == 0:
            inv = 1.0 / sa
            for v in range(L):
                row[v] *= inv
                kr[v] = row[v]
            continue
        for v in range(L):
            kr[v] = 0.0
        for i in range(k):
            vi = min(max(int(vals[i] + shift + 0.5), 0), L - 1)
            nbv[j, i] = vi
            kr[vi] += wts[i]
        m2 = (kst[ctx, 0] + 2.0) / (kst[ctx, 1] + 2.0)
        th2 = min(max(m2 / (1.0 + np.sqrt(1.0 + m2 * m2)), 1e-4), 0.9999)
        # convolution with th2^|d| by a forward and a backward first-order recursion
        f = 0.0
        for v in range(L):
            f = kr[v] + th2 * f
            fw[v] = f
        f = 0.0
        sb = 0.0
        for v in range(L - 1, -1, -1):
            a = kr[v]
            f = a + th2 * f
            kr[v] = fw[v] + f - a
            sb += kr[v]
        lm = lam[ctx]
        ca = lm / sa
        inv = 1.0 / sb
        cb = (1.0 - lm) * inv
        for v in range(L):
            row[v] = ca * row[v] + cb * kr[v]
            kr[v] *= inv


@numba.njit(cache=True)
def _update(
    q, i0, i1, ph, c, L, stats, kst, lam, beta, perr, merr, e0, pv, centre, cx, nbv, nbn, ktab
):
    """Adapt statistics to the decoded values of the points of phase ``ph`` (channel c)."""
    step = 255.0 / (L - 1)
    start = (0, 2, 1)[ph]
    stride = (4, 4, 2)[ph]
    for t in range((i1 - i0 - start + stride - 1) // stride):
        j = start + stride * t
        v = q[c, i0 + j]
        ctx = cx[j]
        r = abs(v - centre[j])
        stats[ctx, 0] += r
        stats[ctx, 1] += 1.0
        if stats[ctx, 1] > 1024.0:
            stats[ctx, 0] *= 0.5
            stats[ctx, 1] *= 0.5
        k = nbn[j]
        if k > 0:
            # mixture weight: gradient step on log p(v)
            pa = 1.0
            for _ in range(r):
                pa *= pv[j, 3]
            pa /= pv[j, 4]
            pb = ktab[t, v]
            lm = lam[ctx]
            pm = lm * pa + (1.0 - lm) * pb
            lm += 0.02 * (pa - pb) / pm
            lam[ctx] = min(max(lm, 0.02), 0.98)
            dm = L
            for i in range(k):
                dm = min(dm, abs(v - nbv[j, i]))
            kst[ctx, 0] += dm
            kst[ctx, 1] += 1.0
            if kst[ctx, 1] > 1024.0:
                kst[ctx, 0] *= 0.5
                kst[ctx, 1] *= 0.5
        kk = ctx // 9
        perr[kk, 0] = 0.95 * perr[kk, 0] + 0.05 * abs(v - pv[j, 1])
        perr[kk, 1] = 0.95 * perr[kk, 1] + 0.05 * abs(v - pv[j, 2])
        if c > 0:
            # running mean |error| of the two inter-channel modes
            merr[c, 0] = 0.98 * merr[c, 0] + 0.02 * abs(v - pv[j, 5])
            merr[c, 1] = 0.98 * merr[c, 1] + 0.02 * abs(v - pv[j, 6])
        e = (v - pv[j, 5]) * step
        if c == 0:
            e0[j] = e
        else:
            # error of the prediction before the inter-channel correction
            ec = e + beta[c, 0] / (beta[c, 1] + 1e-3) * e0[j]  # error without the shift
            beta[c, 0] += e0[j] * ec
            beta[c, 1] += e0[j] * e0[j]
            if beta[c, 1] > 1e7:
                beta[c, 0] *= 0.5
                beta[c, 1] *= 0.5


@numba.njit(cache=True)
def _finish_row(q, xs, i0, i1, y, lastr, lastv):
    """Make the values of row y the most recent ones of their columns."""
    for j in range(i1 - i0):
        x = xs[i0 + j]
        lastr[x] = y
        for c in range(q.shape[0]):
            lastv[c, x] = q[c, i0 + j]


@numba.njit(cache=True)
def _advance(
    D, state, dec, q, xs, rowptr, levels, lastr, lastv, stats, kst, lam, beta, perr, merr, e0,
    act_thr, pv, centre, cx, nbv, nbn, flat, kflat, sym,
):  # fmt: skip
    """One step of the shared encoder/decoder loop over (row, channel, phase) batches.

    ``state`` = (y, c, ph, pending). If a batch is pending, its coded values ``dec`` are stored
    in ``q`` and the statistics adapt to them. Then the next non-empty batch is located, its
    probability tables are written to ``flat`` (as (n, L)) and its true values (encoder side)
    to ``sym``. Returns (n, L), or (0, 0) when all values are coded.
    """
    H = rowptr.shape[0] - 1
    C = q.shape[0]
    y = state[0]
    c = state[1]
    ph = state[2]
    if state[3]:
        i0 = rowptr[y]
        i1 = rowptr[y + 1]
        L = levels[c]
        start = (0, 2, 1)[ph]
        stride = (4, 4, 2)[ph]
        n = (i1 - i0 - start + stride - 1) // stride
        for t in range(n):
            q[c, i0 + start + stride * t] = dec[t]
        ktab = kflat[: n * L].reshape((n, L))
        _update(q, i0, i1, ph, c, L, stats, kst, lam, beta, perr, merr, e0, pv, centre, cx, nbv,
                nbn, ktab)  # fmt: skip
        ph += 1
        if ph == 3:
            ph = 0
            c += 1
            if c == C:
                c = 0
                _finish_row(q, xs, i0, i1, y, lastr, lastv)
                y += 1
    n = 0
    while True:
        if y >= H:
            state[0] = y
            state[3] = 0
            return 0, 0
        i0 = rowptr[y]
        i1 = rowptr[y + 1]
        if i1 > i0:
            start = (0, 2, 1)[ph]
            stride = (4, 4, 2)[ph]
            n = (i1 - i0 - start + stride - 1) // stride
            if n > 0:
                break
            ph += 1
            if ph == 3:
                ph = 0
                c += 1
                if c == C:
                    c = 0
                    _finish_row(q, xs, i0, i1, y, lastr, lastv)
                    y += 1
        else:
            y += 1
            c = 0
            ph = 0
    L = levels[c]
    table = flat[: n * L].reshape((n, L))
    ktab = kflat[: n * L].reshape((n, L))
    _predict(D, q, xs, y, i0, i1, ph, c, L, levels[0], lastr, lastv, stats, kst, lam, beta, perr,
             merr, e0, act_thr, pv, centre, cx, nbv, nbn, table, ktab)  # fmt: skip
    for t in range(n):
        sym[t] = q[c, i0 + start + stride * t]
    state[0] = y
    state[1] = c
    state[2] = ph
    state[3] = 1
    return n, L


@numba.njit(cache=True)
def _advance_known(
    D, state, q, xs, rowptr, levels, lastr, lastv, stats, kst, lam, beta, perr, merr, e0,
    act_thr, pv, centre, cx, nbv, nbn, flat, kflat, sym, tables, values, sizes,
):  # fmt: skip
    """Encoder side of :func:`_advance`: the values are known, so consecutive batches run in one
    compiled call. Their tables are appended to ``tables``, their values to ``values`` and
    their (n, L) to ``sizes`` while another batch of the largest size fits. Returns the number
    of batches (0: all values are coded)."""
    F = flat.shape[0]
    S = sym.shape[0]
    pos = 0
    spos = 0
    nb = 0
    dec = sym  # the values of a batch left pending by the previous call
    while nb < sizes.shape[0] and pos + F <= tables.shape[0] and spos + S <= values.shape[0]:
        n, L = _advance(D, state, dec, q, xs, rowptr, levels, lastr, lastv, stats, kst, lam,
                        beta, perr, merr, e0, act_thr, pv, centre, cx, nbv, nbn,
                        tables[pos : pos + F], kflat, values[spos : spos + S])  # fmt: skip
        if n == 0:
            break
        dec = values[spos : spos + n]
        sizes[nb, 0] = n
        sizes[nb, 1] = L
        pos += n * L
        spos += n
        nb += 1
    if nb:
        n = sizes[nb - 1, 0]
        sym[:n] = values[spos - n : spos]
    return nb


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
        d = max(self.count, 1) / max(m.size, 1)
        self.radius = max(RADIUS_MIN, min(SEARCH_RADIUS, round(RADIUS_SCALE / np.sqrt(d))))
        maxrow = int(np.max(np.diff(self.rowptr))) if self.height else 0
        self.lastr = np.full(self.width, -1, np.int64)
        self.lastv = np.zeros((C, self.width))
        self.stats = np.zeros((C * NUM_CONTEXTS, 2))
        self.beta = np.zeros((C, 2))
        self.e0 = np.zeros(maxrow)
        self.perr = np.ones((C * _NUM_ACT, 2))
        self.merr = np.ones((C, 2))
        self.kst = np.zeros((C * NUM_CONTEXTS, 2))
        self.lam = np.full(C * NUM_CONTEXTS, 0.3)
        self.pv = np.zeros((maxrow, 7))
        self.nbv = np.zeros((maxrow, MAX_NEIGHBOURS), np.int64)
        self.nbn = np.zeros(maxrow, np.int64)
        self.centre = np.zeros(maxrow, np.int64)
        self.cx = np.zeros(maxrow, np.int64)
        self.flat = np.zeros(maxrow * max(levels))
        self.kflat = np.zeros(maxrow * max(levels))
        self.sym = np.zeros(maxrow, np.int32)

    def _args(self, q: np.ndarray) -> tuple:
        """Arguments of :func:`_advance` after ``D`` and ``state`` (``dec`` excluded)."""
        return (
            q, self.xs, self.rowptr, np.array(self.levels, np.int64), self.lastr, self.lastv,
            self.stats, self.kst, self.lam, self.beta, self.perr, self.merr, self.e0,
            _ACT_THRESHOLDS, self.pv, self.centre, self.cx, self.nbv, self.nbn, self.flat,
            self.kflat, self.sym,
        )  # fmt: skip

    def run(self, q: np.ndarray, code) -> None:
        """Code all batches: ``code(table, sym)`` returns the batch's n values (int32)."""
        state = np.zeros(4, np.int64)
        args = self._args(q)
        flat = self.flat
        sym = self.sym
        D = self.radius
        n, L = _advance(D, state, sym, *args)
        while n:
            dec = code(flat[: n * L].reshape(n, L), sym[:n])
            n, L = _advance(D, state, dec, *args)

    def run_known(self, q: np.ndarray, code, chunk: int = 1 << 20) -> None:
        """Encoder: the batches of :meth:`run` in compiled chunks of about ``chunk`` table
        entries; ``code(table, sym)`` gets consecutive batches of equal L merged."""
        state = np.zeros(4, np.int64)
        tables = np.empty(max(chunk, 2 * self.flat.size))
        values = np.empty(tables.size // min(self.levels) + self.sym.size, np.int32)
        sizes = np.empty((values.size, 2), np.int64)
        args = self._args(q)
        while nb := _advance_known(self.radius, state, *args, tables, values, sizes):
            n, L = sizes[:nb, 0], sizes[:nb, 1]
            ends = np.cumsum(n * L)
            vends = np.cumsum(n)
            # runs of batches with equal L are one call (the queue coder is sequential)
            cuts = np.flatnonzero(np.diff(L)) + 1
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, nb], strict=True):
                t0 = ends[a - 1] if a else 0
                v0 = vends[a - 1] if a else 0
                code(tables[t0 : ends[b - 1]].reshape(-1, L[a]), values[v0 : vends[b - 1]])


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

    def code(table: np.ndarray, sym: np.ndarray) -> np.ndarray:
        encoder.encode(sym, family, table)
        return sym

    coder.run_known(q, code)
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

        def code(table: np.ndarray, sym: np.ndarray) -> np.ndarray:
            return decoder.decode(family, table)

        coder.run(q, code)
    except Exception as exc:  # constriction rejects inconsistent data with various errors
        raise BitstreamError(f"corrupt values payload ({type(exc).__name__})") from None
    for c, L in enumerate(lv):
        if q[c].size and (q[c].min() < 0 or q[c].max() >= L):
            raise BitstreamError("corrupt values payload (value out of range)")
    return q
