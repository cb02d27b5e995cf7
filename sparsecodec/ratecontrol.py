"""Rate control: choose density and quantisation for a target rate (bpp) or quality (PSNR).

For every candidate quantisation (number of levels; for YCbCr colour also the chroma levels,
as factors of the luma levels, so the per-channel quantisation is chosen per image by its
rate-distortion result) the density is found by a safeguarded secant
search on ``log(bpp)`` against ``log(density)`` (the rate grows monotonically with the number of
stored points); among the candidates that land within the tolerance the one with the highest
PSNR wins (``--bpp``), or the smallest file that reaches the target PSNR (``--psnr``).
"""

from __future__ import annotations

import math

import numpy as np

from .codec import (
    CHROMA_FACTOR,
    DEFAULT_DECODER,
    DEFAULT_DENSITY,
    DEFAULT_MASK,
    DEFAULT_TONAL,
    EncodeResult,
    chroma_levels_for,
    encode_image,
)
from .decoders import get_decoder
from .errors import OptionError
from .validate import check_positive

#: quantisation levels tried by rate control: with tonal optimisation and quadtree masks the
#: Pareto fronts of benchmarks/results/rd.md use 8-16 levels, without it 16-64
LEVELS_GRID = (8, 12, 16, 32, 64)
#: with tonal optimisation only these are re-encoded with it (64 never wins there)
TONAL_LEVELS_MAX = 32
#: colour (YCbCr): chroma levels tried per luma level, as factors of it (see codec.CHROMA_FACTOR)
CHROMA_FACTORS = (1.0, 1.5, 2.0)
#: decoders whose encode runs several anisotropic solves (EED: ~20 s for a Kodak colour image
#: with tonal optimisation) try two quantisations by default: the codec's 12 levels (those of
#: benchmarks/results/rd_eed24.md) and 32 for high targets (12 levels without tonal
#: optimisation reach about 27 dB at most), chroma ``CHROMA_FACTOR`` times that;
#: ``levels_grid`` / ``levels`` override it
SLOW_DECODER_LEVELS = {"eed": ((12, 32), (CHROMA_FACTOR,))}
MIN_DENSITY = 1e-4

Levels = int | tuple[int, ...]


def candidate_levels(
    image: np.ndarray, levels_grid, options: dict, factors: tuple[float, ...] = CHROMA_FACTORS
) -> list[Levels]:
    """The quantisations rate control compares: the grid's luma levels, each with every chroma
    factor of ``factors`` for a YCbCr colour image (unless ``chroma_levels`` is fixed in
    ``options``); tuples in the grid are per-channel levels used as they are."""
    colour = np.ndim(image) == 3 and np.shape(image)[2] == 3
    ycbcr = colour and options.get("colour", "ycbcr") == "ycbcr"
    out: list[Levels] = []
    for L in levels_grid:
        if not np.isscalar(L) or not ycbcr or options.get("chroma_levels") is not None:
            out.append(L if np.isscalar(L) else tuple(L))
            continue
        for f in factors:
            c = chroma_levels_for(L, f)
            cand = (int(L), c, c)
            if cand not in out:
                out.append(cand)
    return out


def _candidates(image: np.ndarray, levels_grid, options: dict) -> list[Levels]:
    """:func:`candidate_levels` of ``levels_grid``, or with ``None`` of the decoder's default
    grid (:data:`LEVELS_GRID` x :data:`CHROMA_FACTORS`, or :data:`SLOW_DECODER_LEVELS`)."""
    if levels_grid is not None:
        return candidate_levels(image, levels_grid, options)
    name = get_decoder(options.get("decoder", DEFAULT_DECODER)).name
    grid, factors = SLOW_DECODER_LEVELS.get(name, (LEVELS_GRID, CHROMA_FACTORS))
    return candidate_levels(image, grid, options, factors)


def _luma_levels(L: Levels) -> int:
    return int(L) if np.isscalar(L) else int(L[0])


def _bracket_search(
    f, target: float, lo: float, hi: float, d: float, rel_tol: float, steps: int
) -> list:
    """Evaluate the increasing function ``f`` at densities in ``[lo, hi]`` until its value is
    within ``rel_tol`` of ``target``: proportional steps (rate ~ density) until the target is
    bracketed, then secant steps in log-log space kept inside the bracket. Returns the evaluated
    ``(density, value, result)`` triples."""
    seen = []
    flo = fhi = None
    for _ in range(steps):
        d = min(max(d, lo), hi)
        v, res = f(d)
        seen.append((d, v, res))
        if abs(v - target) <= rel_tol * target:
            break
        if v < target:
            lo, flo = d, v
        else:
            hi, fhi = d, v
        if hi / lo < 1.0005:
            break
        if flo is not None and fhi is not None and 0 < flo < fhi:
            t = (math.log(target) - math.log(flo)) / (math.log(fhi) - math.log(flo))
            d = math.exp(math.log(lo) + min(max(t, 0.05), 0.95) * (math.log(hi) - math.log(lo)))
        else:
            d = d * target / v if v > 0 else 2 * d
            if not lo < d < hi:
                d = math.sqrt(lo * hi)
    return seen


class _Encoder:
    """``encode_image`` with the options of one rate-control run and a cache of its masks.

    The mask depends on the density only (not on the quantisation or tonal optimisation), so
    each density's mask is computed once and reused by every later encode at that density.
    """

    def __init__(self, image: np.ndarray, mask: str, options: dict) -> None:
        self.image, self.mask, self.options = image, mask, options
        self.masks: dict[float, np.ndarray] = {}
        self.done: dict[tuple, EncodeResult] = {}

    def __call__(
        self, d: float, levels: Levels, reconstruct: bool = True, tonal: bool | None = None
    ) -> EncodeResult:
        key = (d, levels, tonal)
        if key in self.done and (self.done[key].stats.get("psnr") is not None or not reconstruct):
            return self.done[key]
        opts = dict(self.options)
        if tonal is not None:
            opts["tonal"] = tonal
        if isinstance(self.mask, str) and d in self.masks:
            opts["mask_array"] = self.masks[d]
        r = encode_image(self.image, d, self.mask, levels=levels, reconstruct=reconstruct, **opts)
        self.masks.setdefault(d, r.mask)
        self.done[key] = r
        return r


def encode_to_rate(
    image: np.ndarray,
    bpp: float,
    mask: str = DEFAULT_MASK,
    *,
    levels_grid: tuple[Levels, ...] | None = None,
    rel_tol: float = 0.03,
    steps: int = 14,
    **options,
) -> EncodeResult:
    """Encode at ``bpp`` bits per pixel (within ``rel_tol``), maximising PSNR over the number of
    quantisation levels. Other options go to :func:`sparsecodec.codec.encode_image`.

    The density is searched without tonal optimisation (it changes the rate only slightly);
    with ``tonal=True`` the best levels are then re-encoded with it and, if the rate moved
    outside the tolerance, the density is corrected by a few secant steps with tonal
    optimisation on.
    """
    bpp = check_positive(bpp, "bpp")
    H, W = np.shape(image)[:2]
    tonal = bool(options.get("tonal", DEFAULT_TONAL))
    tonal = tonal and get_decoder(options.get("decoder", DEFAULT_DECODER)).tonal
    enc = _Encoder(image, mask, options)
    lo = max(MIN_DENSITY, 1.0 / (H * W))
    found: list[tuple[Levels, float]] = []
    closest: EncodeResult | None = None
    d0 = 0.02
    for L in _candidates(image, levels_grid, options):

        def rate(d, L=L):
            r = enc(d, L, reconstruct=False, tonal=False)
            return r.stats["bpp"], r

        seen = _bracket_search(rate, bpp, lo, 1.0, d0, rel_tol, steps)
        for _, v, r in seen:
            if closest is None or abs(v - bpp) < abs(closest.stats["bpp"] - bpp):
                closest = r
        ok = [(d, v) for d, v, _ in seen if abs(v - bpp) <= rel_tol * bpp]
        if ok:
            d = d0 = min(ok, key=lambda t: abs(t[1] - bpp))[0]
            found.append((L, d))
    best: EncodeResult | None = None
    plain: dict[int, tuple[float, Levels, float]] = {}  # luma levels -> best chroma choice
    for L, d in found:
        res = enc(d, L, tonal=False)
        if best is None or res.stats["psnr"] > best.stats["psnr"]:
            best = res
        k = _luma_levels(L)
        if k not in plain or res.stats["psnr"] > plain[k][0]:
            plain[k] = (res.stats["psnr"], L, d)
    if best is not None and tonal:
        # tonal optimisation changes the ranking (it makes coarse quantisation usable): every
        # luma quantisation up to TONAL_LEVELS_MAX levels, with its best chroma levels without
        # tonal optimisation, is re-encoded with it at its density, then the density of the
        # best one is corrected by a few secant steps with tonal on
        cands = [(L, d) for k, (_, L, d) in plain.items() if k <= TONAL_LEVELS_MAX]
        cands = cands or [(L, d) for _, L, d in plain.values()]
        scored = [(enc(d, L, tonal=True), L, d) for L, d in cands]
        _, L, d = max(scored, key=lambda t: t[0].stats["psnr"])
        best_t: EncodeResult | None = None

        def rate_t(dd, L=L):
            r = enc(dd, L, tonal=True)
            return r.stats["bpp"], r

        seen = _bracket_search(rate_t, bpp, lo, 1.0, d, rel_tol, 5)
        for r, _, _ in scored:
            seen.append((0.0, r.stats["bpp"], r))
        for _, v, r in seen:
            if abs(v - bpp) <= rel_tol * bpp and (
                best_t is None or r.stats["psnr"] > best_t.stats["psnr"]
            ):
                best_t = r
        best = best_t or best
    if best is None:
        got = closest.stats["bpp"] if closest is not None else float("nan")
        raise OptionError(
            f"cannot reach {bpp} bpp within {100 * rel_tol:g} % with mask "
            f"{mask!r} (closest {got:.4f} bpp)"
        )
    best.stats["target_bpp"] = bpp
    return best


#: smallest and largest density factor of the steps that bracket the target PSNR in
#: :func:`_smallest_density`
GROW, MAX_GROW = 1.5, 16.0


def _smallest_density(f, psnr: float, lo: float, hi: float, steps: int, first: float | None = None):
    """Smallest density in ``[lo, hi]`` (to 2 %) whose encode ``f(d)`` reaches ``psnr``;
    returns that encode or ``None`` if ``f(hi)`` misses it.

    The PSNR grows about linearly in ``log(d)``. From ``first`` (default ``hi``) steps up or
    down bracket the target: a factor :data:`GROW`, or the slope of the last two encodes
    extrapolated 10 % beyond the target (at most :data:`MAX_GROW`). Then the bracket is narrowed
    by regula falsi in ``(log d, PSNR)`` (bisection when the same end moved twice running,
    every step inside the middle 80 % of the bracket) until ``hi / lo < 1.02``."""
    found = None
    p_lo = p_hi = None
    side = 0
    prev = None
    d = first if first is not None and lo < first < hi else hi
    for _ in range(steps):
        r = f(d)
        p = r.stats["psnr"]
        tried = d
        if p >= psnr:
            hi, p_hi, found, moved = d, p, r, 1
        elif d >= hi:
            return None
        else:
            lo, p_lo, moved = d, p, -1
        if hi / lo < 1.02:
            break
        if found is None or p_lo is None:  # not bracketed yet
            factor = GROW
            if prev is not None and moved == side and d != prev[0]:
                slope = (p - prev[1]) / math.log(d / prev[0])
                if slope > 0:
                    factor = min(max(math.exp(1.1 * abs(psnr - p) / slope), GROW), MAX_GROW)
            d = min(hi, d * factor) if found is None else max(lo, d / factor)
        else:
            t = (psnr - p_lo) / (p_hi - p_lo) if p_hi > p_lo else 0.5
            t = 0.5 if moved == side else min(max(t, 0.1), 0.9)
            d = math.exp(math.log(lo) + t * (math.log(hi) - math.log(lo)))
        side = moved
        prev = (tried, p)
    return found


def encode_to_quality(
    image: np.ndarray,
    psnr: float,
    mask: str = DEFAULT_MASK,
    *,
    levels_grid: tuple[Levels, ...] | None = None,
    steps: int = 12,
    **options,
) -> EncodeResult:
    """Smallest bitstream whose decoded PSNR is at least ``psnr`` dB (over density and levels).

    With ``tonal=True`` the density is first bisected without tonal optimisation (which only
    improves the PSNR), then refined with it below that density for the two best levels.
    """
    psnr = check_positive(psnr, "psnr")
    H, W = np.shape(image)[:2]
    tonal = bool(options.get("tonal", DEFAULT_TONAL))
    tonal = tonal and get_decoder(options.get("decoder", DEFAULT_DECODER)).tonal
    enc = _Encoder(image, mask, options)
    lo = max(MIN_DENSITY, 1.0 / (H * W))
    cands: list[tuple[EncodeResult, Levels]] = []  # with the levels spec that made each
    guess = DEFAULT_DENSITY  # then the density found for the previous quantisation
    grid = _candidates(image, levels_grid, options)
    for L in grid:
        r = _smallest_density(lambda d, L=L: enc(d, L, tonal=False), psnr, lo, 1.0, steps, guess)
        if r is not None:
            cands.append((r, L))
            guess = r.stats["target_density"]
    if tonal and cands:
        plain = sorted(cands, key=lambda c: c[0].stats["bytes"])[:2]
        for r, L in plain:
            d = r.stats["target_density"]
            t = _smallest_density(
                lambda dd, L=L: enc(dd, L, tonal=True), psnr, max(lo, d / 4), d, 6, d / 1.5
            )
            if t is not None:
                cands.append((t, L))
    if not cands:
        top = enc(1.0, max(grid, key=_luma_levels), tonal=False).stats["psnr"]
        raise OptionError(
            f"cannot reach {psnr} dB with mask {mask!r} (at most {top:.2f} dB "
            f"with these quantisation levels)"
        )
    best = min((r for r, _ in cands), key=lambda r: r.stats["bytes"])
    best.stats["target_psnr"] = psnr
    return best
