"""Rate-distortion of sparsecodec configurations against JPEG, JPEG 2000, WebP and AVIF.

    python -m benchmarks.rd [--data DIR] [--quick] [--jobs N] [--configs GLOBS] [--slow]

For every image of ``--data`` (default ../shared/data/kodak), as grey (luma) and as colour:

* sparsecodec: every configuration ``MASK[+tonal]/DECODER`` that works here (mask strategies
  from the registry ``sparsecodec.masks.STRATEGIES`` x tonal optimisation off/on (diffusion only)
  x decoder diffusion/wgan; configurations whose probe encode fails, e.g. missing weights, are
  skipped with a note). Each is run over a grid of densities x quantisation levels; per image the
  RD curve is the Pareto front of the grid's points (best quality at each rate). The
  ``+tonal`` configurations use ``--tonal-levels`` (default 32 only: tonal optimisation takes
  seconds per Kodak image) and every ``--tonal-every``-th density (default 2). Quadtree masks
  use their own grid (:data:`MASK_GRIDS`: higher densities, 8-32 levels) unless ``--densities``
  or ``--levels`` is given. Without ``--configs``, the full run leaves out
  ``random+tonal/diffusion``, ``random/wgan``, ``belhachmi/wgan``, ``learned/wgan``,
  ``wgan+tonal/diffusion``, ``quadtree/wgan`` (the WGAN decoder only with its own mask
  generator) and ``--quick`` keeps only plain diffusion for every mask plus
  ``belhachmi+tonal``, ``quadtree+tonal`` and ``wgan/wgan`` (time budgets: quick <= 10 min,
  full <= 2 h on 2 cores). The slow stochastic strategies (``ps``, ``nlpe``: minutes per
  Kodak image) run only with ``--slow`` and then on the first ``--slow-images`` images
  (default 4); their tables say on how many images they ran, and their BD figures use those
  images only.
* JPEG (Pillow, ``optimize=True``, 4:2:0), JPEG 2000 (Pillow/OpenJPEG, 9/7 wavelet
  ``irreversible=True``, ``mct=1`` for colour, ``quality_mode="rates"`` sweep), WebP
  (``method=6``) and AVIF (Pillow, ``speed=--avif-speed``) over a quality sweep.

Rates are real file sizes (the encoded bytes, 8 * bytes / pixels). PSNR (peak 255 over all
channels) and SSIM come from :mod:`sparsecodec.metrics`. Per image, quality at 0.05 ... 0.5 bpp
is interpolated linearly in log rate on the image's own curve, and averaged only where every
image reaches that rate. BD-rate and BD-PSNR (Bjontegaard, VCEG-M33, with monotone
piecewise-cubic interpolation over the overlapping interval, no extrapolation) are computed per
image and averaged, against each standard codec and against the sparsecodec anchor
``belhachmi/diffusion`` (the configuration whose curve overlaps every other sparsecodec curve;
the choice of the codec's defaults ranks configurations by their BD-rate against it).

Finished points are cached in benchmarks/cache/rd.jsonl (keyed by image, configuration, grid
point, and a hash of the sparsecodec sources), so an interrupted run resumes. Writes
benchmarks/results/rd.md, rd.json, rd_grey.png, rd_colour.png.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from benchmarks.common import (
    DEFAULT_DATA,
    RESULTS,
    code_hash,
    command,
    images,
    load,
    machine,
    table,
)

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "cache" / "rd.jsonl"
TARGETS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
KINDS = ("grey", "colour")
#: density grid (fraction of pixels stored); spans about 0.03-0.5 bpp on Kodak
DENSITIES = (0.0015, 0.0025, 0.004, 0.006, 0.009, 0.014, 0.022, 0.035, 0.055, 0.085)
LEVELS = (16, 32, 64)
QUICK_DENSITIES = (0.002, 0.005, 0.012, 0.03, 0.08)
QUICK_LEVELS = (32, 64)
QUICK_IMAGES = 4
#: --quick without --configs: every mask strategy with plain diffusion, plus these
QUICK_EXTRA = ("belhachmi+tonal/diffusion", "quadtree+tonal/diffusion", "wgan/wgan")
#: sparsecodec anchor of the BD figures between configurations (and of the choice of defaults)
ANCHOR = "belhachmi/diffusion"
#: left out of the full run unless --configs selects them (time budget: full run <= 2 h)
FULL_EXCLUDE = (
    "random+tonal/diffusion",
    "random/wgan",
    "belhachmi/wgan",
    "learned/wgan",
    "wgan+tonal/diffusion",
    "quadtree/wgan",
)
#: tonal optimisation costs ~5-20 s per Kodak encode: one quantisation level only
TONAL_LEVELS = (32,)
#: per-mask grids replacing the global ones: (densities, levels, tonal levels, quick densities,
#: quick levels, quick tonal levels). Quadtree masks cost well under a bit per point, so their
#: front lies at higher densities with coarser quantisation (tonal optimisation makes 8-12
#: levels usable); every density of the grid is used for ``+tonal``
MASK_GRIDS = {
    "quadtree": (
        (0.01, 0.02, 0.035, 0.06, 0.1, 0.16),
        (8, 12, 16, 32),
        (8, 12, 16),
        (0.01, 0.02, 0.04, 0.08, 0.16),
        (8, 16),
        (8, 16),
    ),
}
#: grids of the EED decoder's configurations (densities, levels, tonal levels, and the same for
#: --quick): its encoder runs several EED solves per point, so the grid is that of the
#: quadtree's front near 0.05-0.3 bpp only
EED_GRID = (
    (0.01, 0.02, 0.035, 0.06, 0.1),
    (8, 12, 16),
    (8, 12),
    (0.01, 0.03, 0.08),
    (8, 16),
    (8, 12),
)
#: chroma lattice steps of the luma-preference EED configurations (colour only)
EED_CHROMA_STEPS = (1, 4, 8)
#: stochastic spatial optimisation: minutes per Kodak image, only with --slow
SLOW = ("ps", "nlpe")
#: encode-time limit for the default configuration (issue 8, item 4)
MAX_ENCODE_S = 10.0

JP2_BPP = (0.02, 0.03, 0.045, 0.06, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0)
STANDARD = {
    # key: (label, full sweep, quick sweep); JPEG 2000 sweeps target bpp (per pixel, all channels)
    "jpeg": (
        "JPEG",
        (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 90),
        (1, 3, 5, 10, 20, 40, 75),
    ),
    "jp2": ("JPEG 2000", JP2_BPP, (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)),
    "webp": ("WebP", (0, 2, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90), (0, 5, 15, 30, 50, 80)),
    "avif": ("AVIF", (0, 3, 6, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80), (0, 5, 15, 30, 50, 70)),
}


# --------------------------------------------------------------------------------------------
# RD analysis (pure functions)


def rd_front(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Pareto front of ``(rate, quality)`` points: the best quality reachable at each rate.

    Returned sorted by rate with strictly increasing quality (a point is dropped when another
    point has at most its rate and at least its quality). Non-positive or non-finite entries
    are dropped (identical images give ``inf`` PSNR). No convex hull: PSNR against log rate
    is not concave for inpainting codecs, and a hull would discard real operating points.
    """
    pts = sorted(
        {(r, q) for r, q in points if r > 0 and math.isfinite(r) and math.isfinite(q)},
        key=lambda p: (p[0], -p[1]),
    )
    front: list[tuple[float, float]] = []
    for r, q in pts:
        if front and r == front[-1][0]:
            continue  # same rate: the first one has the best quality
        if not front or q > front[-1][1]:
            front.append((r, q))
    return front


def interpolate(curve: list[tuple[float, float]], rate: float) -> float | None:
    """Quality at ``rate`` on a curve, linear in log rate; ``None`` outside its rate range."""
    if not curve:
        return None
    r = np.array([c[0] for c in curve])
    q = np.array([c[1] for c in curve])
    if rate < r[0] * (1 - 1e-9) or rate > r[-1] * (1 + 1e-9):
        return None
    return float(np.interp(math.log(rate), np.log(r), q))


def _pchip_mean(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Mean of the monotone piecewise-cubic (PCHIP) interpolant of ``y(x)`` over [lo, hi]."""
    from scipy.interpolate import PchipInterpolator

    if len(x) == 2:  # a straight line
        p = np.polyint(np.polyfit(x, y, 1))
        return float(np.polyval(p, hi) - np.polyval(p, lo)) / (hi - lo)
    f = PchipInterpolator(x, y, extrapolate=False)
    return float(f.integrate(lo, hi)) / (hi - lo)


def _overlap(xa: np.ndarray, xt: np.ndarray) -> tuple[float, float] | None:
    lo, hi = max(xa.min(), xt.min()), min(xa.max(), xt.max())
    return (lo, hi) if hi > lo else None


def bd_psnr(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """Bjontegaard delta PSNR (dB) of ``test`` against ``anchor`` (VCEG-M33, with PCHIP).

    Each curve (rate, PSNR), sorted with increasing rate, is interpolated against log10 rate
    by a monotone piecewise-cubic Hermite polynomial (as in the later Bjontegaard tools of
    JVET/AOM) instead of one cubic fit, so nothing is extrapolated and curves of different
    shapes give sane numbers; both are averaged over the overlapping log-rate interval and the
    difference is returned (positive: ``test`` better). ``None`` if the rates do not overlap.
    """
    if len(anchor) < 2 or len(test) < 2:
        return None
    ra, qa = np.log10([c[0] for c in anchor]), np.array([c[1] for c in anchor])
    rt, qt = np.log10([c[0] for c in test]), np.array([c[1] for c in test])
    ov = _overlap(ra, rt)
    if ov is None:
        return None
    return _pchip_mean(rt, qt, *ov) - _pchip_mean(ra, qa, *ov)


def bd_rate(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """Bjontegaard delta rate (%) of ``test`` against ``anchor`` (VCEG-M33, with PCHIP).

    log10 rate is interpolated against PSNR (PCHIP, curves with increasing PSNR) and averaged
    over the overlapping PSNR interval; returns ``100 (10^mean_diff - 1)`` (negative: ``test``
    needs fewer bits for the same PSNR). ``None`` if the curves do not overlap in PSNR.
    """
    if len(anchor) < 2 or len(test) < 2:
        return None
    ra, qa = np.log10([c[0] for c in anchor]), np.array([c[1] for c in anchor])
    rt, qt = np.log10([c[0] for c in test]), np.array([c[1] for c in test])
    ov = _overlap(qa, qt)
    if ov is None:
        return None
    d = _pchip_mean(qt, rt, *ov) - _pchip_mean(qa, ra, *ov)
    return 100.0 * (10.0**d - 1.0)


def mean_at(curves: list[list[tuple[float, float]]], rate: float) -> tuple[float | None, int]:
    """Mean quality at ``rate`` over per-image curves, only if every image reaches it.

    Returns ``(mean or None, number of images reaching the rate)``.
    """
    vals = [interpolate(c, rate) for c in curves]
    ok = [v for v in vals if v is not None]
    return (float(np.mean(ok)) if ok and len(ok) == len(curves) else None), len(ok)


def mean_curve(curves: list[list[tuple[float, float]]], n: int = 40) -> list[tuple[float, float]]:
    """Mean of per-image curves on a log-spaced rate grid where every image has a value."""
    if not curves or any(not c for c in curves):
        return []
    lo = max(c[0][0] for c in curves)
    hi = min(c[-1][0] for c in curves)
    if hi < lo:
        return []
    grid = np.exp(np.linspace(math.log(lo), math.log(hi), n)) if hi > lo else np.array([lo])
    return [(float(r), float(np.mean([interpolate(c, r) for c in curves]))) for r in grid]


# --------------------------------------------------------------------------------------------
# configurations


def sparsecodec_configs(slow: bool = False) -> tuple[list[str], list[str]]:
    """Names ``MASK[+tonal]/DECODER[:key=value]`` of the configurations to try, and notes on
    left-out ones.

    Reads the mask registry at run time (other strategies land there over time). The EED
    decoder runs with quadtree masks (its subdivision codec, R-EED), also with
    luma-preference colour (:data:`EED_CHROMA_STEPS`: chroma at every k-th lattice point).
    """
    from sparsecodec import masks

    out, notes = [], []
    for name in masks.STRATEGIES:
        if (name in SLOW or getattr(masks.STRATEGIES[name], "slow", False)) and not slow:
            notes.append(f"`{name}`: slow stochastic optimisation, only with `--slow`")
            continue
        out += [f"{name}/diffusion", f"{name}+tonal/diffusion", f"{name}/wgan"]
    out += ["quadtree/eed", "quadtree+tonal/eed", "quadtree.centres+tonal/eed"]
    out += [f"quadtree+tonal/eed:chroma_step={k}" for k in EED_CHROMA_STEPS]
    return out, notes


def parse_config(name: str) -> tuple[str, bool, str]:
    """``"belhachmi+tonal/diffusion"`` -> ``("belhachmi", True, "diffusion")``; a mask flag
    (``"quadtree.centres+tonal/eed"``, see :func:`mask_flags`) is not part of the mask name."""
    head, _, decoder = name.partition("/")
    mask, _, extra = head.partition("+")
    return mask.partition(".")[0], extra == "tonal", decoder.partition(":")[0] or "diffusion"


def mask_flags(name: str) -> dict:
    """Boolean options of the mask strategy named after dots in the mask part:
    ``"quadtree.centres+tonal/eed"`` -> ``{"centres": True}``."""
    flags = name.partition("/")[0].partition("+")[0].split(".")[1:]
    return {flag: True for flag in flags if flag}


def decoder_options(name: str) -> dict:
    """``"quadtree+tonal/eed:chroma_step=2"`` -> ``{"chroma_step": 2}`` (numbers as int or
    float, other values as strings)."""
    opts = {}
    tail = name.partition("/")[2].partition(":")[2]
    for item in filter(None, tail.split(",")):
        key, _, value = item.partition("=")
        for cast in (int, float, str):
            try:
                opts[key] = cast(value)
                break
            except ValueError:
                continue
    return opts


def _test_image(size: int = 32, colour: bool = False) -> np.ndarray:
    """Deterministic smooth image with edges (for probes and tests)."""
    y, x = np.mgrid[0:size, 0:size] / size
    g = 100 + 80 * np.sin(6 * x) * np.cos(4 * y) + 60 * ((x - 0.5) ** 2 + (y - 0.4) ** 2 < 0.08)
    if not colour:
        return np.clip(g, 0, 255).astype(np.uint8)
    return np.clip(np.stack([g, 255 - g, 0.5 * g + 60 * x], axis=2), 0, 255).astype(np.uint8)


def probe(config: str) -> str | None:
    """``None`` if the configuration encodes a tiny image here, else the reason it cannot."""
    import sparsecodec

    mask, tonal, decoder = parse_config(config)
    # a chroma lattice step applies to colour (YCbCr) only: probe those on a colour image
    colour = decoder_options(config).get("chroma_step", 1) != 1
    try:
        sparsecodec.encode_image(
            _test_image(32, colour=colour),
            0.1,
            mask,
            levels=16,
            tonal=tonal,
            decoder=decoder,
            decoder_options=decoder_options(config),
            mask_options=mask_flags(config),
        )
    except Exception as e:  # noqa: BLE001 - any failure means: skip with the reason
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
    return None


def select(names: list[str], globs: str | None) -> list[str]:
    """Names matching any of the comma-separated glob patterns (all if ``globs`` is empty)."""
    if not globs:
        return names
    pats = [g.strip() for g in globs.split(",") if g.strip()]
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in pats)]


# --------------------------------------------------------------------------------------------
# workers


def _init_worker() -> None:
    os.environ["NUMBA_NUM_THREADS"] = "1"
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # noqa: BLE001
        pass


def _load_kind(path: str, kind: str) -> np.ndarray:
    return load(Path(path), grey=kind == "grey")


def _quality(img: np.ndarray, rec: np.ndarray) -> tuple[float, float]:
    from sparsecodec import metrics

    return metrics.psnr(img, rec), metrics.ssim(img, rec)


def run_sparsecodec(
    path: str, kind: str, config: str, density: float, levels: tuple[int, ...]
) -> list[dict]:
    """RD points of one configuration at one density for each quantisation level.

    The mask is computed once (timed; with the same options ``encode_image`` would pass) and
    given to ``encode_image(..., reconstruct=False)`` for every level. ``encode_s`` = mask time
    + the rest of the encoder (tonal optimisation, quantisation, coding); ``decode_s`` is the
    time of ``sparsecodec.decode`` on the bytes, whose output is the image that is measured.
    """
    import sparsecodec
    from sparsecodec import masks
    from sparsecodec.colour import luma

    img = _load_kind(path, kind)
    mask_name, tonal, decoder = parse_config(config)
    strategy = masks.get(mask_name)
    opts = {"colour": img} if getattr(strategy, "colour", False) and img.ndim == 3 else {}
    t0 = time.perf_counter()
    m = strategy.load()(luma(img), density, seed=0, **opts, **mask_flags(config))
    mask_s = time.perf_counter() - t0
    out = []
    for lv in levels:
        t0 = time.perf_counter()
        res = sparsecodec.encode_image(
            img, density, mask_name, mask_array=m, levels=lv, tonal=tonal, decoder=decoder,
            decoder_options=decoder_options(config),
            reconstruct=False,
        )  # fmt: skip
        t1 = time.perf_counter()
        rec = sparsecodec.decode(res.data)
        t2 = time.perf_counter()
        p, s = _quality(img, rec)
        out.append(
            {
                "density": density,
                "levels": lv,
                "bytes": len(res.data),
                "bpp": 8.0 * len(res.data) / (img.shape[0] * img.shape[1]),
                "psnr": p,
                "ssim": s,
                "mask_points": int(m.sum()),
                "mask_s": mask_s,
                "encode_s": mask_s + t1 - t0,
                "decode_s": t2 - t1,
            }
        )
    return out


def encode_standard(img: np.ndarray, codec: str, q: float, avif_speed: int = 4) -> bytes:
    """Encoded bytes of ``img`` with a standard codec through Pillow at quality setting ``q``."""
    from PIL import Image

    im = Image.fromarray(img)
    buf = io.BytesIO()
    if codec == "jpeg":
        im.save(buf, format="JPEG", quality=int(q), optimize=True)
    elif codec == "jp2":
        raw_bits = 8 * (1 if img.ndim == 2 else 3)
        im.save(
            buf,
            format="JPEG2000",
            quality_mode="rates",
            quality_layers=[raw_bits / q],
            irreversible=True,
            mct=1 if img.ndim == 3 else 0,
        )
    elif codec == "webp":
        im.save(buf, format="WEBP", quality=int(q), method=6)
    elif codec == "avif":
        im.save(buf, format="AVIF", quality=int(q), speed=avif_speed)
    else:
        raise ValueError(f"unknown codec {codec!r}")
    return buf.getvalue()


def decode_standard(data: bytes, grey: bool) -> np.ndarray:
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    im = im.convert("L" if grey else "RGB")
    return np.asarray(im)


def run_standard(
    path: str, kind: str, codec: str, qualities: tuple, avif_speed: int = 4
) -> list[dict]:
    """RD points of a standard codec over its quality sweep (real encoded sizes)."""
    img = _load_kind(path, kind)
    out = []
    for q in qualities:
        t0 = time.perf_counter()
        data = encode_standard(img, codec, q, avif_speed)
        enc_s = time.perf_counter() - t0
        rec = decode_standard(data, img.ndim == 2)
        p, s = _quality(img, rec)
        out.append(
            {
                "quality": q,
                "bytes": len(data),
                "bpp": 8.0 * len(data) / (img.shape[0] * img.shape[1]),
                "psnr": p,
                "ssim": s,
                "encode_s": enc_s,
            }
        )
    return out


def _run_task(task: dict) -> tuple[dict, list[dict] | None, str | None]:
    try:
        if task["type"] == "sc":
            pts = run_sparsecodec(
                task["path"], task["kind"], task["config"], task["density"], tuple(task["levels"])
            )
        else:
            pts = run_standard(
                task["path"],
                task["kind"],
                task["config"],
                tuple(task["qualities"]),
                task["avif_speed"],
            )
        return task, pts, None
    except Exception as e:  # noqa: BLE001 - reported per task, the run goes on
        return task, None, f"{type(e).__name__}: {e}"[:300]


# --------------------------------------------------------------------------------------------
# cache


def task_key(task: dict, codes: str) -> str:
    p = Path(task["path"])
    st = p.stat()
    ident = {k: v for k, v in task.items() if k != "path"}
    ident["image"] = [p.name, st.st_size, st.st_mtime_ns]
    if task["type"] == "sc":
        ident["code"] = codes
    else:
        import PIL

        ident["pillow"] = PIL.__version__
    return hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def load_cache(path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
                out[rec["key"]] = rec["points"]
            except (ValueError, KeyError):
                continue  # a line cut short by an interrupted run
    return out


# --------------------------------------------------------------------------------------------
# driver


def build_tasks(
    paths: list[Path],
    kinds: tuple[str, ...],
    sc: list[str],
    std: list[str],
    densities: tuple,
    levels: tuple,
    quick: bool,
    avif_speed: int,
    slow_images: int | None = None,
    tonal_levels: tuple = TONAL_LEVELS,
    tonal_every: int = 2,
    use_mask_grids: bool = True,
) -> list[dict]:
    """One task per (image, kind, sparsecodec configuration, density) and per (image, kind,
    standard codec). Slow strategies run on the first ``slow_images`` images only; masks in
    :data:`MASK_GRIDS` use their own grids unless ``use_mask_grids`` is False (explicit
    ``--densities`` / ``--levels``)."""
    from sparsecodec import masks

    def is_slow(c: str) -> bool:
        m = parse_config(c)[0]
        return m in SLOW or getattr(masks.STRATEGIES.get(m), "slow", False)

    tasks = []
    for i, path in enumerate(paths):
        for kind in kinds:
            for c in sc:
                if slow_images is not None and i >= slow_images and is_slow(c):
                    continue
                dens, lvs, tlvs, every = densities, levels, tonal_levels, tonal_every
                if kind == "grey" and "chroma_step" in c:
                    continue  # luma preference is a colour mode
                grid = MASK_GRIDS.get(parse_config(c)[0])
                if parse_config(c)[2] == "eed":
                    grid = EED_GRID
                if grid is not None and use_mask_grids:
                    dens = grid[3] if quick else grid[0]
                    lvs = grid[4] if quick else grid[1]
                    tlvs, every = (grid[5] if quick else grid[2]), 1
                # tonal optimisation is slow: every ``tonal_every``-th density, the top kept
                if "+tonal" in c:
                    dens = dens[::-every][::-1]
                for d in dens:
                    tasks.append(
                        {
                            "type": "sc",
                            "path": str(path),
                            "kind": kind,
                            "config": c,
                            "density": d,
                            "levels": list(tlvs if "+tonal" in c else lvs),
                        }
                    )
            for c in std:
                qs = STANDARD[c][2] if quick else STANDARD[c][1]
                tasks.append(
                    {
                        "type": "std",
                        "path": str(path),
                        "kind": kind,
                        "config": c,
                        "qualities": list(qs),
                        "avif_speed": avif_speed,
                    }
                )
    return tasks


def run_tasks(
    tasks: list[dict], jobs: int, cache_path: Path | None, progress: bool = True
) -> tuple[dict[str, dict], list[str]]:
    """Run (or read from the cache) every task; returns raw points and error notes.

    Raw points: ``{kind: {config: {image: [points]}}}``.
    """
    from tqdm import tqdm

    codes = {True: code_hash(True), False: code_hash(False)}
    cache = load_cache(cache_path) if cache_path else {}
    raw: dict = {}
    errors: list[str] = []

    def store(task, pts):
        lst = raw.setdefault(task["kind"], {}).setdefault(task["config"], {})
        lst.setdefault(Path(task["path"]).name, []).extend(pts)

    todo = []
    for t in tasks:
        k = task_key(t, codes["wgan" in t.get("config", "")])
        if k in cache:
            store(t, cache[k])
        else:
            todo.append((k, t))
    keys = {id(t): k for k, t in todo}
    fh = None
    if cache_path:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(cache_path, "a")
    bar = tqdm(total=len(todo), desc="rd points", disable=not progress or not todo, file=sys.stderr)

    def done(task, pts, err):
        bar.update(1)
        if err:
            errors.append(
                f"{task['config']} {task['kind']} {Path(task['path']).name} "
                f"{task.get('density', '')}: {err}"
            )
            return
        store(task, pts)
        if fh:
            fh.write(json.dumps({"key": keys[id(task)], "points": pts}) + "\n")
            fh.flush()

    try:
        if jobs <= 1:
            for _, t in todo:
                done(*_run_task(t))
        else:
            import multiprocessing as mp

            with ProcessPoolExecutor(
                jobs, mp_context=mp.get_context("spawn"), initializer=_init_worker
            ) as ex:
                futs = {ex.submit(_run_task, t): t for _, t in todo}
                for f in as_completed(futs):
                    task, pts, err = f.result()
                    done(futs[f], pts, err)
    finally:
        bar.close()
        if fh:
            fh.close()
    return raw, errors


def label(config: str) -> str:
    return STANDARD[config][0] if config in STANDARD else config


def analyse(raw: dict) -> dict:
    """Hulls, qualities at the target rates, BD figures and encode times from raw points."""
    summary: dict = {}
    for kind, per_cfg in raw.items():
        S: dict = {"images": sorted(set().union(*per_cfg.values())), "configs": {}}
        for cfg, imgs in per_cfg.items():
            names = sorted(imgs)  # slow configurations may run on a subset of the images
            psnr = {n: rd_front([(p["bpp"], p["psnr"]) for p in imgs[n]]) for n in names}
            ssim = {n: rd_front([(p["bpp"], p["ssim"]) for p in imgs[n]]) for n in names}
            at = {}
            for r in TARGETS:
                mp_, kp = mean_at(list(psnr.values()), r)
                ms, _ = mean_at(list(ssim.values()), r)
                at[str(r)] = {"psnr": mp_, "ssim": ms, "reached": kp}
            enc = [p["encode_s"] for n in names for p in imgs[n]]
            dec = [p["decode_s"] for n in names for p in imgs[n] if "decode_s" in p]
            # operating points on the PSNR front: which (density, levels) make the curve
            front_pts = {}
            for n in names:
                h = set(psnr[n])
                front_pts[n] = [p for p in imgs[n] if (p["bpp"], p["psnr"]) in h]
            S["configs"][cfg] = {
                "images": names,
                "psnr_front": psnr,
                "ssim_front": ssim,
                "at": at,
                "mean_psnr_curve": mean_curve(list(psnr.values())),
                "mean_ssim_curve": mean_curve(list(ssim.values())),
                "encode_s_median": float(np.median(enc)) if enc else None,
                "encode_s_max": float(np.max(enc)) if enc else None,
                "decode_s_median": float(np.median(dec)) if dec else None,
                "front_points": front_pts,
            }
        bd: dict = {}
        for cfg, c in S["configs"].items():
            if cfg in STANDARD:
                continue
            for ref, a in S["configs"].items():
                if ref not in STANDARD and (ref != ANCHOR or cfg == ANCHOR):
                    continue
                both = [n for n in c["images"] if n in a["psnr_front"]]
                rates = [bd_rate(a["psnr_front"][n], c["psnr_front"][n]) for n in both]
                dbs = [bd_psnr(a["psnr_front"][n], c["psnr_front"][n]) for n in both]
                rr = [v for v in rates if v is not None]
                dd = [v for v in dbs if v is not None]
                bd.setdefault(cfg, {})[ref] = {
                    "bd_rate": float(np.mean(rr)) if rr else None,
                    "n_rate": len(rr),
                    "bd_psnr": float(np.mean(dd)) if dd else None,
                    "n_psnr": len(dd),
                    "per_image_rate": rates,
                    "per_image_psnr": dbs,
                }
        S["bd"] = bd
        summary[kind] = S
    return summary


def recommend(summary: dict, max_encode_s: float = MAX_ENCODE_S, ref: str = ANCHOR) -> dict:
    """The configuration with the best BD-rate against ``ref`` among those whose median encode
    time per image is <= ``max_encode_s`` (issue 8, item 4: the codec's defaults).

    ``ref`` is the sparsecodec anchor by default: sparsecodec's curves overlap each other in
    PSNR, while their overlap with the standard codecs can be a sliver. The anchor itself
    scores 0 %.

    The score is the BD-rate averaged over the kinds (grey, colour) where it exists for the
    configuration. Also suggests density and levels per target rate from the front points
    (median density and most frequent levels among each image's front point nearest the rate).
    """
    cands = []
    rejected = []
    cfgs = {c for S in summary.values() for c in S["bd"]}
    for cfg in sorted(cfgs):
        vals, times = [], []
        for S in summary.values():
            b = S["bd"].get(cfg, {}).get(ref)
            if b and b["bd_rate"] is not None:
                vals.append(b["bd_rate"])
            t = S["configs"].get(cfg, {}).get("encode_s_median")
            if t is not None:
                times.append(t)
        if not vals and cfg == ref and times:
            vals = [0.0]
        if not vals:
            continue
        t = max(times) if times else float("inf")
        (cands if t <= max_encode_s else rejected).append((float(np.mean(vals)), cfg, t))
    if not cands:
        return {
            "config": None,
            "ref": ref,
            "max_encode_s": max_encode_s,
            "rejected": [(c, v, t) for v, c, t in rejected],
        }
    score, cfg, t = min(cands)
    per_kind = {}
    for kind, S in summary.items():
        best = None
        for c, b in S["bd"].items():
            v = 0.0 if c == ref else b.get(ref, {}).get("bd_rate")
            tk = S["configs"][c]["encode_s_median"]
            if v is not None and tk is not None and tk <= max_encode_s:
                if best is None or v < best[1]:
                    best = (c, v, tk)
        if best:
            per_kind[kind] = best
    ops = {}
    for kind, S in summary.items():
        hp = S["configs"].get(cfg, {}).get("front_points", {})
        for r in TARGETS:
            ds, lv = [], []
            for pts in hp.values():
                if pts:
                    p = min(pts, key=lambda p: abs(math.log(p["bpp"] / r)))
                    ds.append(p["density"])
                    lv.append(p["levels"] if isinstance(p["levels"], int) else p["levels"][0])
            if ds:
                vals, counts = np.unique(lv, return_counts=True)
                ops.setdefault(kind, {})[str(r)] = {
                    "density": float(np.median(ds)),
                    "levels": int(vals[np.argmax(counts)]),
                }
    return {
        "config": cfg,
        "ref": ref,
        "bd_rate": score,
        "encode_s_median": t,
        "max_encode_s": max_encode_s,
        "operating_points": ops,
        "per_kind": per_kind,
        "ranking": [(c, v, tt) for v, c, tt in sorted(cands)],
        "rejected": [(c, v, tt) for v, c, tt in sorted(rejected)],
    }


def recommendation_text(rec: dict) -> str:
    if rec.get("config") is None:
        return (
            f"No configuration has a BD-rate against {label(rec['ref'])} with median encode "
            f"time <= {rec['max_encode_s']:g} s per image.\n"
        )
    lines = [
        f"Best BD-rate against {label(rec['ref'])} (mean of the grey and colour BD-rates) "
        f"among configurations whose encode time per image is <= {rec['max_encode_s']:g} s "
        "(median over images and grid points, the larger of grey and colour; mask + tonal "
        "optimisation + coding, without the decoder run): "
        f"**`{rec['config']}`**, BD-rate {rec['bd_rate']:+.1f} %, encode time "
        f"{rec['encode_s_median']:.2f} s.",
        "",
    ]
    for kind, (c, v, t) in rec.get("per_kind", {}).items():
        lines.append(f"- {kind} alone: `{c}`, BD-rate {v:+.1f} %, encode time {t:.2f} s")
    lines.append("")
    rows = []
    for kind, ops in rec["operating_points"].items():
        for r, o in ops.items():
            rows.append([kind, r, f"{o['density']:.4g}", o["levels"]])
    if rows:
        lines += [
            "Operating points of this configuration (median density and most "
            "frequent quantisation levels among the per-image front points nearest to "
            "the rate):",
            "",
            table(["kind", "bpp", "density", "levels"], rows),
            "",
        ]
    rank = [[c, f"{v:+.1f}", f"{t:.2f}"] for c, v, t in rec["ranking"]]
    rank += [[c + " (too slow)", f"{v:+.1f}", f"{t:.2f}"] for c, v, t in rec["rejected"]]
    lines += [
        "All configurations:",
        "",
        table(["configuration", f"BD-rate vs {label(rec['ref'])} %", "median encode s"], rank),
        "",
    ]
    return "\n".join(lines)


def _fmt(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}"


def report(summary: dict, notes: list[str], rec: dict, meta: dict) -> str:
    out = [
        "# Rate-distortion: sparsecodec against JPEG, JPEG 2000, WebP and AVIF",
        "",
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']}  ",
        f"Data: {meta['data']} ({meta['n_images']} images"
        f"{', quick mode' if meta['quick'] else ''})  ",
        f"Pillow {meta['pillow']} (AVIF speed {meta['avif_speed']})",
        "",
        "Rates are real encoded sizes (8 x bytes / pixels). PSNR: peak 255 over all channels; "
        "SSIM: Gaussian-window SSIM averaged over channels. sparsecodec configurations are "
        "`MASK[+tonal]/DECODER`; each is run over densities "
        f"{', '.join(f'{d:g}' for d in meta['densities'])} x quantisation levels "
        f"{', '.join(str(v) for v in meta['levels'])} (`+tonal`: levels "
        f"{', '.join(str(v) for v in meta.get('tonal_levels', ()))}"
        ", densities "
        + ", ".join(f"{d:g}" for d in meta["densities"][:: -meta.get("tonal_every", 1)][::-1])
        + "), and per image the RD curve "
        "is the Pareto front of these points (best quality at each rate). Qualities at a rate "
        "are interpolated per image (linear in log rate) and averaged only where every image "
        "reaches the rate (else `n/a k/N`: k of N images reach it). BD figures (Bjontegaard, "
        "monotone piecewise-cubic interpolation against log rate over the overlapping "
        "interval only, no extrapolation), per image, then averaged (n = images with overlap). "
        "Where the PSNR ranges of two curves hardly overlap, their BD-rate describes only "
        "that narrow range.",
        "",
    ]
    if notes:
        out += ["Not run:", ""] + [f"- {n}" for n in notes] + [""]
    out += [
        "## Choice of the default configuration (issue 8, item 4)",
        "",
        recommendation_text(rec),
    ]
    for kind, S in summary.items():
        N = len(S["images"])
        out += [f"## {kind.capitalize()} ({N} images)", "", f"![RD {kind}](rd_{kind}.png)", ""]
        for metric, unit in (("psnr", "dB"), ("ssim", "")):
            rows = []
            for cfg, c in S["configs"].items():
                n = len(c["images"])
                row = [label(cfg) + ("" if n == N else f" ({n} images)")]
                for r in TARGETS:
                    a = c["at"][str(r)]
                    v = a[metric]
                    if v is None:
                        row.append(f"n/a {a['reached']}/{n}")
                    else:
                        row.append(f"{v:.2f}" if metric == "psnr" else f"{v:.4f}")
                if metric == "psnr":
                    row += [
                        _fmt(c["encode_s_median"]),
                        _fmt(c["encode_s_max"]),
                        _fmt(c.get("decode_s_median")),
                    ]
                rows.append(row)
            head = ["codec"] + [f"{r:g} bpp" for r in TARGETS]
            if metric == "psnr":
                head += ["median encode s", "max encode s", "median decode s"]
            out += [
                f"### Mean {metric.upper()}{' (' + unit + ')' if unit else ''}",
                "",
                table(head, rows),
                "",
            ]
        refs = [r for r in STANDARD if r in S["configs"]]
        if ANCHOR in S["configs"]:
            refs.append(ANCHOR)
        if S["bd"] and refs:
            rows = []
            for cfg, b in S["bd"].items():
                row = [cfg]
                for r in refs:
                    x = b.get(r)
                    if x is None:
                        row.append("-")
                        continue
                    row.append(
                        f"{_fmt(x['bd_rate'], 1)} % / {_fmt(x['bd_psnr'])} dB "
                        f"(n={min(x['n_rate'], x['n_psnr'])})"
                    )
                rows.append(row)
            out += [
                "### BD-rate / BD-PSNR of sparsecodec against each codec",
                "",
                "Negative BD-rate / positive BD-PSNR: sparsecodec better.",
                "",
                table(["configuration"] + [label(r) for r in refs], rows),
                "",
            ]
    if meta.get("errors"):
        out += ["## Failed tasks", ""] + [f"- {e}" for e in meta["errors"][:50]] + [""]
    return "\n".join(out)


def plot(summary: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    files = []
    for kind, S in summary.items():
        fig, axes = plt.subplots(1, 2, figsize=(12, 5))
        for cfg, c in S["configs"].items():
            std = cfg in STANDARD
            for ax, key in zip(axes, ("mean_psnr_curve", "mean_ssim_curve"), strict=True):
                cur = c[key]
                if cur:
                    ax.plot(
                        [p[0] for p in cur],
                        [p[1] for p in cur],
                        "--" if std else "-",
                        lw=2 if std else 1.5,
                        label=label(cfg),
                    )
        for ax, yl in zip(axes, ("mean PSNR (dB)", "mean SSIM"), strict=True):
            ax.set_xscale("log")
            ax.set_xlabel("bits per pixel")
            ax.set_ylabel(yl)
            ax.grid(True, which="both", alpha=0.3)
            ax.set_xlim(0.025, 1.0)
            ticks = [0.03, *TARGETS, 1.0]
            ax.set_xticks(ticks)
            ax.set_xticklabels([f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
        axes[0].legend(fontsize=7)
        fig.suptitle(
            f"{kind}: mean over {len(S['images'])} images (where every image reaches the rate)"
        )
        fig.tight_layout()
        p = out_dir / f"rd_{kind}.png"
        fig.savefig(p, dpi=110)
        plt.close(fig)
        files.append(p)
    return files


def _image_front(run: dict, cfg: str, image: str) -> list[tuple[float, float]]:
    """The per-image PSNR front of ``cfg`` in one kind of a run's raw points, as
    :func:`analyse` builds it (empty where the run lacks it)."""
    return rd_front([(p["bpp"], p["psnr"]) for p in run.get(cfg, {}).get(image, [])])


def compare_runs(before: Path, after: Path, anchor: str = "jp2") -> str:
    """Markdown comparison of two ``rd.json`` runs: for every kind and sparsecodec configuration
    of ``after``, on ``after``'s images, the mean BD-PSNR / BD-rate against ``anchor`` (of
    ``after``) before and after, and the BD-PSNR of after against before (per-image Pareto
    fronts and averages as in :func:`analyse`)."""
    old = json.loads(Path(before).read_text())["raw"]
    new = json.loads(Path(after).read_text())["raw"]
    curve = _image_front

    def mean(vals):
        ok = [v for v in vals if v is not None]
        return (float(np.mean(ok)) if ok else float("nan")), len(ok)

    lines = [
        f"| kind | configuration | images | BD-PSNR vs {anchor} before | after "
        f"| BD-rate vs {anchor} before | after | after vs before (BD-PSNR) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, runs in new.items():
        for cfg, per_image in runs.items():
            if cfg in STANDARD or cfg not in old.get(kind, {}):
                continue
            imgs = sorted(per_image)
            ref = [curve(runs, anchor, i) for i in imgs]
            b = [curve(old[kind], cfg, i) for i in imgs]
            a = [curve(runs, cfg, i) for i in imgs]
            bp, n = mean([bd_psnr(r, t) for r, t in zip(ref, b, strict=True)])
            ap_, _ = mean([bd_psnr(r, t) for r, t in zip(ref, a, strict=True)])
            br, _ = mean([bd_rate(r, t) for r, t in zip(ref, b, strict=True)])
            ar, _ = mean([bd_rate(r, t) for r, t in zip(ref, a, strict=True)])
            d, _ = mean([bd_psnr(x, y) for x, y in zip(b, a, strict=True)])
            lines.append(
                f"| {kind} | {cfg} | {n} | {bp:.2f} dB | {ap_:.2f} dB | {br:.1f} % | {ar:.1f} % "
                f"| {d:+.2f} dB |"
            )
    return "\n".join(lines)


def per_image_bd(run: Path, anchor: str) -> str:
    """Markdown table of one ``rd.json`` run: per kind and image, the BD-PSNR of every other
    configuration against configuration ``anchor`` (per-image Pareto fronts as in
    :func:`analyse`), and the mean over the images."""
    raw = json.loads(Path(run).read_text())["raw"]
    out = []
    for kind, runs in raw.items():
        if anchor not in runs:
            continue
        cfgs = [c for c in runs if c != anchor]
        out += [
            f"{kind}, BD-PSNR (dB) against `{anchor}`:",
            "",
            "| image | " + " | ".join(f"`{c}`" for c in cfgs) + " |",
            "|---|" + "---|" * len(cfgs),
        ]
        table = {c: [] for c in cfgs}
        for image in sorted(runs[anchor]):
            ref = _image_front(runs, anchor, image)
            row = []
            for c in cfgs:
                v = bd_psnr(ref, _image_front(runs, c, image))
                table[c].append(v)
                row.append("n/a" if v is None else f"{v:+.2f}")
            out.append(f"| {image} | " + " | ".join(row) + " |")
        means = []
        for c in cfgs:
            ok = [v for v in table[c] if v is not None]
            means.append(f"**{np.mean(ok):+.2f}**" if ok else "n/a")
        out += ["| mean | " + " | ".join(means) + " |", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA / "kodak"))
    ap.add_argument("--pattern", default="*.png")
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_IMAGES} images, {len(QUICK_DENSITIES)} densities x "
        f"{len(QUICK_LEVELS)} levels, shorter quality sweeps; without --configs: plain "
        f"diffusion for every mask strategy plus {', '.join(QUICK_EXTRA)}",
    )
    ap.add_argument("--limit", type=int, default=None, help="use the first N images")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument(
        "--configs",
        default=None,
        help="comma-separated globs over configuration names, e.g. "
        "'belhachmi*,jpeg,jp2' (standard codecs: jpeg, jp2, webp, avif)",
    )
    ap.add_argument(
        "--slow",
        action="store_true",
        help="also the stochastic strategies ps, nlpe (minutes per Kodak image)",
    )
    ap.add_argument(
        "--slow-images",
        type=int,
        default=4,
        help="run the slow strategies on the first N images only (default 4)",
    )
    ap.add_argument("--kinds", default="grey,colour")
    ap.add_argument("--densities", default=None, help="comma-separated density grid")
    ap.add_argument("--levels", default=None, help="comma-separated quantisation levels")
    ap.add_argument(
        "--tonal-levels",
        default=",".join(map(str, TONAL_LEVELS)),
        help="quantisation levels of the +tonal configurations (slow: default one level)",
    )
    ap.add_argument(
        "--tonal-every",
        type=int,
        default=2,
        help="+tonal configurations use every N-th density of the grid (the largest kept)",
    )
    ap.add_argument("--avif-speed", type=int, default=4, help="libavif speed 0 (best) - 10")
    ap.add_argument("--max-encode-s", type=float, default=MAX_ENCODE_S)
    ap.add_argument("--cache", default=str(CACHE), help="JSONL cache ('' disables it)")
    ap.add_argument("--out-dir", default=str(RESULTS))
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument(
        "--compare",
        nargs=2,
        metavar=("BEFORE_JSON", "AFTER_JSON"),
        help="only compare two rd.json runs (BD against JPEG 2000 before / after) and exit",
    )
    ap.add_argument(
        "--per-image",
        nargs=2,
        metavar=("RUN_JSON", "ANCHOR"),
        help="only print the per-image BD-PSNR of every configuration of a rd.json run against "
        "its configuration ANCHOR, and exit",
    )
    args = ap.parse_args(argv)
    if args.compare:
        print(compare_runs(Path(args.compare[0]), Path(args.compare[1])))
        return 0
    if args.per_image:
        print(per_image_bd(Path(args.per_image[0]), args.per_image[1]))
        return 0

    paths = images(Path(args.data), args.pattern)
    if args.limit:
        paths = paths[: args.limit]
    elif args.quick and len(paths) > QUICK_IMAGES:
        step = len(paths) / QUICK_IMAGES
        paths = [paths[int(i * step)] for i in range(QUICK_IMAGES)]
    kinds = tuple(k for k in args.kinds.split(",") if k)
    for k in kinds:
        if k not in KINDS:
            sys.exit(f"error: unknown kind {k!r} (grey, colour)")
    densities = (
        tuple(float(v) for v in args.densities.split(","))
        if args.densities
        else QUICK_DENSITIES
        if args.quick
        else DENSITIES
    )
    levels = (
        tuple(int(v) for v in args.levels.split(","))
        if args.levels
        else QUICK_LEVELS
        if args.quick
        else LEVELS
    )

    tonal_levels = tuple(int(v) for v in args.tonal_levels.split(","))
    sc, notes = sparsecodec_configs(args.slow)
    if not args.configs:
        keep = [
            c
            for c in sc
            if (
                (c.endswith("/diffusion") and "+" not in c or c in QUICK_EXTRA)
                if args.quick
                else c not in FULL_EXCLUDE
            )
        ]
        if len(keep) < len(sc):
            left = ", ".join(f"`{c}`" for c in sc if c not in keep)
            notes.append(f"{left}: left out by default (time budget); select with --configs")
        sc = keep
    sc = select(sc, args.configs)
    std = select(list(STANDARD), args.configs)
    if "avif" in std:
        from PIL import features

        if not features.check("avif"):
            std.remove("avif")
            notes.append("AVIF: this Pillow has no AVIF support")
    ok = []
    for c in sc:
        why = probe(c)
        if why:
            notes.append(f"`{c}`: {why}")
        else:
            ok.append(c)
    if not ok and not std:
        sys.exit("error: no configuration selected or working")
    print(
        f"{len(paths)} images x {kinds}; sparsecodec: {', '.join(ok) or '-'}; "
        f"standard: {', '.join(std) or '-'}",
        file=sys.stderr,
    )
    for n in notes:
        print(f"note: {n}", file=sys.stderr)

    tasks = build_tasks(
        paths,
        kinds,
        ok,
        std,
        densities,
        levels,
        args.quick,
        args.avif_speed,
        args.slow_images,
        tonal_levels,
        args.tonal_every,
        use_mask_grids=not (args.densities or args.levels),
    )
    t0 = time.perf_counter()
    raw, errors = run_tasks(
        tasks, args.jobs, Path(args.cache) if args.cache else None, progress=not args.no_progress
    )
    wall = time.perf_counter() - t0
    summary = analyse(raw)
    rec = recommend(summary, args.max_encode_s)
    import PIL

    meta = {
        "command": command() if argv is None else "python -m benchmarks.rd " + " ".join(argv),
        "machine": machine(),
        "data": str(args.data),
        "n_images": len(paths),
        "quick": args.quick,
        "densities": densities,
        "levels": levels,
        "tonal_levels": tonal_levels,
        "tonal_every": args.tonal_every,
        "pillow": PIL.__version__,
        "avif_speed": args.avif_speed,
        "errors": errors,
        "wall_s": wall,
        "jobs": args.jobs,
    }
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rd.json").write_text(
        json.dumps(
            {"meta": meta, "notes": notes, "recommendation": rec, "summary": summary, "raw": raw},
            default=float,
        )
    )
    plot(summary, out)
    (out / "rd.md").write_text(report(summary, notes, rec, meta))
    print(recommendation_text(rec))
    print(f"wrote {out / 'rd.md'} ({wall:.0f} s; {len(errors)} failed tasks)")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
