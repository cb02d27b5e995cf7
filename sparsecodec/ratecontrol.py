"""Rate control: choose density and quantisation for a target rate (bpp) or quality (PSNR).

For every candidate number of quantisation levels the density is found by a safeguarded secant
search on ``log(bpp)`` against ``log(density)`` (the rate grows monotonically with the number of
stored points); among the candidates that land within the tolerance the one with the highest
PSNR wins (``--bpp``), or the smallest file that reaches the target PSNR (``--psnr``).
"""

from __future__ import annotations

import math

import numpy as np

from .codec import EncodeResult, encode_image
from .errors import OptionError

LEVELS_GRID = (16, 24, 32, 48, 64, 96, 128)
MIN_DENSITY = 1e-4


def _bracket_search(f, target: float, lo: float, hi: float, d: float, rel_tol: float,
                    steps: int) -> list:
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


def encode_to_rate(
    image: np.ndarray,
    bpp: float,
    mask: str = "belhachmi",
    *,
    levels_grid: tuple[int, ...] = LEVELS_GRID,
    rel_tol: float = 0.03,
    steps: int = 14,
    **options,
) -> EncodeResult:
    """Encode at ``bpp`` bits per pixel (within ``rel_tol``), maximising PSNR over the number of
    quantisation levels. Other options go to :func:`sparsecodec.codec.encode_image`."""
    if not (bpp > 0):
        raise OptionError(f"target rate must be positive, got {bpp}")
    H, W = np.shape(image)[:2]
    best: EncodeResult | None = None
    closest: EncodeResult | None = None
    d0 = 0.02
    for L in levels_grid:

        def rate(d, L=L):
            r = encode_image(image, d, mask, levels=L, reconstruct=False, **options)
            return r.stats["bpp"], r

        seen = _bracket_search(rate, bpp, max(MIN_DENSITY, 1.0 / (H * W)), 1.0, d0, rel_tol,
                               steps)
        for _, v, r in seen:
            if closest is None or abs(v - bpp) < abs(closest.stats["bpp"] - bpp):
                closest = r
        ok = [(d, v) for d, v, _ in seen if abs(v - bpp) <= rel_tol * bpp]
        if not ok:
            continue
        d = d0 = min(ok, key=lambda t: abs(t[1] - bpp))[0]
        res = encode_image(image, d, mask, levels=L, **options)
        if best is None or res.stats["psnr"] > best.stats["psnr"]:
            best = res
    if best is None:
        got = closest.stats["bpp"] if closest is not None else float("nan")
        raise OptionError(f"cannot reach {bpp} bpp within {100 * rel_tol:g} % with mask "
                          f"{mask!r} (closest {got:.4f} bpp)")
    best.stats["target_bpp"] = bpp
    return best


def encode_to_quality(
    image: np.ndarray,
    psnr: float,
    mask: str = "belhachmi",
    *,
    levels_grid: tuple[int, ...] = LEVELS_GRID,
    steps: int = 12,
    **options,
) -> EncodeResult:
    """Smallest bitstream whose decoded PSNR is at least ``psnr`` dB (over density and levels)."""
    H, W = np.shape(image)[:2]
    best: EncodeResult | None = None
    top = -np.inf
    for L in levels_grid:
        lo, hi = max(MIN_DENSITY, 1.0 / (H * W)), 1.0
        res_hi = encode_image(image, hi, mask, levels=L, **options)
        top = max(top, res_hi.stats["psnr"])
        if res_hi.stats["psnr"] < psnr:
            continue
        found = res_hi
        for _ in range(steps):
            d = math.sqrt(lo * hi)
            r = encode_image(image, d, mask, levels=L, **options)
            if r.stats["psnr"] >= psnr:
                hi, found = d, r
            else:
                lo = d
            if hi / lo < 1.02:
                break
        if best is None or found.stats["bytes"] < best.stats["bytes"]:
            best = found
    if best is None:
        raise OptionError(f"cannot reach {psnr} dB with mask {mask!r} (at most {top:.2f} dB "
                          f"with these quantisation levels)")
    best.stats["target_psnr"] = psnr
    return best
