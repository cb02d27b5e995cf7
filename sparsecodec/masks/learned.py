"""Learned inpainting masks for homogeneous diffusion (Alt, Peter & Weickert 2021).

A density-conditioned mask U-Net (``sparsecodec.nets.unet.MaskNet``) turns the image into
per-pixel probabilities; these are rescaled to mean = density and binarised, by default by
Floyd-Steinberg error diffusion of the probabilities in up to 8 scan orientations (our
addition), or by seeded weighted coin flips as in the paper (``binarise="coin"``). Of
``samples`` binarisations the one with the smallest real diffusion inpainting error
(``sparsecodec.inpainting.solve``) is returned (the paper takes the best of 30 coin flips).

Weights are read with safetensors (no code execution) through the weights registry
(:mod:`sparsecodec.nets.zoo`: the packaged ``learned_masks``, or a name in the folder
``$SPARSECODEC_WEIGHTS`` names, or a path). torch is imported only when a mask is made.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OptionError
from ..nets.zoo import MASK_UNET_FORMAT
from ..validate import check_density
from . import check_options
from .densify import ROUNDS, START

DEFAULT_WEIGHTS = "learned_masks.safetensors"
DENSIFY_ROUNDS = ROUNDS  # error-driven densification rounds after the network (0 = none)
DENSIFY_START = START  # share of the points the network places before densification
FORMAT = MASK_UNET_FORMAT
#: the binarisations of ``learned_mask(binarise=...)``, the default first
BINARISE = ("dither", "coin")


def weights_path(name: str = DEFAULT_WEIGHTS) -> Path:
    """Location of a weight file: a name in the weights registry's folder
    (:func:`sparsecodec.nets.zoo.locate`) or a path used as is."""
    from ..nets import zoo

    return Path(str(zoo.locate(name)))


def rescale_probabilities(p: np.ndarray, density: float, iters: int = 50) -> np.ndarray:
    """Scale probabilities to mean ``density`` (clipping at 1 and redistributing the excess)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    target = density * p.size
    if p.sum() <= 0:
        return np.full(p.shape, density)
    if p.sum() >= target:  # scaling down never leaves [0, 1]
        return p * (target / p.sum())
    for _ in range(iters):
        s = p.sum()
        if abs(s - target) <= 1e-9 * p.size:
            break
        free = p < 1.0
        fixed = p.size - free.sum()
        sf = p[free].sum()
        if sf <= 0:
            break
        p = p.copy()
        p[free] *= (target - fixed) / sf
        np.clip(p, 0.0, 1.0, out=p)
    return p


#: scan orientations of the dithered binarisation: the dihedral group of the square, as
#: (transpose, flip rows, flip columns); each maps the probabilities, dithers, and maps back
ORIENTATIONS = tuple((t, a, b) for t in (False, True) for a in (False, True) for b in (False, True))


def dither(p: np.ndarray, orientation: int = 0) -> np.ndarray:
    """Floyd-Steinberg error diffusion of the probabilities ``p`` (as Belhachmi masks), scanned
    in orientation ``orientation`` of :data:`ORIENTATIONS` (0 = rows top-down, left to right)."""
    from .belhachmi import floyd_steinberg

    t, a, b = ORIENTATIONS[orientation]

    def view(x: np.ndarray) -> np.ndarray:
        x = x[::-1] if a else x
        x = x[:, ::-1] if b else x
        return x

    q = view(p.T if t else p)
    m = view(floyd_steinberg(np.ascontiguousarray(q)))
    m = np.ascontiguousarray(m.T if t else m)
    if not m.any():
        m.flat[int(np.argmax(p))] = True
    return m


#: relative miss of the kept-pixel count beyond which the dithered masks are re-dithered at a
#: corrected density: on flat images error diffusion loses much of its error at the image border
#: (a constant 64x64 image kept 1.49 % at 2 %); natural images miss by at most 3.8 % (the 544
#: dithered candidates behind benchmarks/results/masks.md) and are left as they are.
DITHER_COUNT_TOLERANCE = 0.05


def dither_to_density(p: np.ndarray, orientation: int, density: float) -> np.ndarray:
    """:func:`dither` with the count corrected to ``density`` within
    :data:`DITHER_COUNT_TOLERANCE` (:func:`~sparsecodec.masks.belhachmi.corrected_dither`, on
    ``p`` rescaled to the corrected density; ``p`` itself, of mean ``density``, first)."""
    from .belhachmi import corrected_dither

    return corrected_dither(
        lambda d: p if d == density else rescale_probabilities(p, d),
        density,
        tol=DITHER_COUNT_TOLERANCE,
        binarise=lambda q: dither(q, orientation),
    )


def coin_flips(p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Binarise by independent weighted coin flips: pixel kept with probability ``p``."""
    m = rng.random(p.shape) < p
    if not m.any():  # a diffusion inpainting needs at least one known pixel
        m.flat[int(np.argmax(p))] = True
    return m


@lru_cache(maxsize=4)
def _load_net(path: str, device: str) -> Any:
    """:func:`sparsecodec.nets.unet.load_mask_net`, kept for the next call (a mask is often
    made several times with the same weights)."""
    from ..nets.unet import load_mask_net

    return load_mask_net(path, device)


def calibrated_gamma(meta: dict[str, str], density: float, binarise: str = "coin") -> float:
    """Exponent gamma for ``p**gamma`` stored in the weight file as ``gamma_<mode>_<density>``
    entries (chosen on training crops with the real solver); the nearest log density wins."""
    pre = f"gamma_{binarise}_"
    table = {float(k[len(pre) :]): float(v) for k, v in meta.items() if k.startswith(pre)}
    if not table:
        return 1.0
    return table[min(table, key=lambda d: abs(np.log(d) - np.log(density)))]


def mask_probabilities(
    image: np.ndarray,
    density: float,
    *,
    weights: str = DEFAULT_WEIGHTS,
    device: str = "cpu",
    precision: str = "auto",
) -> np.ndarray:
    """Non-binary mask c = M(f) of the network for a grey image in [0,255] (float64 (H,W)).

    The image is reflect-padded to a multiple of the network's down-sampling factor, passed
    through the network and cropped back. Values are in [0,1] with mean <= density (untempered).
    ``precision``: ``"float32"``, ``"bfloat16"`` or ``"auto"`` (bfloat16 where the device has
    it natively; see :mod:`sparsecodec.nets.precision`).
    """
    import torch

    from ..nets.precision import autocast

    ctx = autocast(precision, device)
    net, _ = _load_net(str(weights_path(weights)), device)
    f = np.asarray(image, dtype=np.float32) / 255.0
    h, w = f.shape
    m = net.multiple
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        # symmetric padding = reflecting boundary of the discrete image; tile for tiny images
        f = np.pad(f, ((0, ph), (0, pw)), mode="symmetric")
    with torch.inference_mode():
        x = torch.from_numpy(np.ascontiguousarray(f))[None, None].to(device)
        x = x.contiguous(memory_format=torch.channels_last)
        d = torch.tensor([float(density)], device=device)
        with ctx:
            c = net.probabilities(x, d)
        c = c[0, 0, :h, :w].double().cpu().numpy()
    # rescale on the image itself (not the padding) so that mean(c) <= density
    mean = float(c.mean())
    return c * (density / mean) if mean > density else c


def _inpainting_error(image: np.ndarray, mask: np.ndarray, solver: str) -> float:
    from ..inpainting import solve

    u = solve(image, mask, solver=solver).u
    return float(np.mean((u - image) ** 2))


def _pick_solver() -> str:
    """``"multigrid"`` when the solver core offers it, else ``"cg"``."""
    try:
        from .. import inpainting

        names = getattr(inpainting, "SOLVERS", None)
        if names is not None and "multigrid" not in names:
            return "cg"
    except ImportError:
        return "cg"
    return "multigrid"


def learned_mask(
    image: np.ndarray,
    density: float,
    *,
    seed: int = 0,
    samples: int | None = None,
    refine: int = DENSIFY_ROUNDS,
    start: float = DENSIFY_START,
    device: str = "cpu",
    weights: str = DEFAULT_WEIGHTS,
    solver: str | None = None,
    gamma: float | None = None,
    binarise: str = "dither",
    precision: str = "auto",
    **options: Any,
) -> np.ndarray:
    """Learned mask (Alt et al. 2021): network probabilities, binarisation, best of ``samples``.

    ``image`` is float64 (H,W) in [0,255] (luma for colour images); returns bool (H,W) with
    about ``density * H * W`` True pixels. The probabilities are tempered, ``p**gamma`` (gamma
    from the weight file unless given; our addition: 1 = the network as trained, 0 = uniform
    random), rescaled to mean density, then binarised:

    * ``binarise="dither"`` (default; our addition): deterministic Floyd-Steinberg error
      diffusion (as Belhachmi masks) in the first ``min(samples, 8)`` scan orientations of
      :data:`ORIENTATIONS`, each re-dithered at a corrected density if its count misses the
      target by more than :data:`DITHER_COUNT_TOLERANCE` (:func:`dither_to_density`); ``seed``
      is unused.
    * ``binarise="coin"`` (the paper): ``samples`` independent weighted coin flips (``seed``).

    With more than one candidate each is judged by the real homogeneous diffusion inpainting
    MSE and the best is kept.

    With ``refine > 0`` (default; our addition) the network places only ``start * density`` of
    the points and ``refine`` rounds of error-driven densification
    (:func:`sparsecodec.masks.densify.densify`, one loose multigrid solve each) add the rest;
    the result has exactly ``round(density * H * W)`` points. ``refine=0`` is the network and
    binarisation alone.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` float64 grey image or luma in [0, 255].
    density : float
        Fraction of pixels in (0, 1].
    seed : int
        Seed of the coin flips (``binarise="coin"``).
    samples : int, optional
        Candidate masks judged by their inpainting error (1..1000); default 1 with ``refine``,
        else 4.
    refine : int
        Densification rounds after the network (0..64; 0 = none).
    start : float
        Share of the points the network places when ``refine > 0``, in (0, 1].
    device : str
        Torch device of the network pass (``"cpu"``, ``"cuda"``, ...).
    weights : str
        Name of the mask network in the weights zoo (:mod:`sparsecodec.nets.zoo`).
    solver : str, optional
        Diffusion solver of the candidates' judgement (default: the weights' setting).
    gamma : float, optional
        Tempering exponent of the probabilities (default: from the weight file).
    binarise : str
        ``"dither"`` or ``"coin"`` (above).
    precision : str
        Arithmetic of the network pass (see :func:`mask_probabilities`).

    Returns
    -------
    ndarray
        ``(H, W)`` bool mask.

    References
    ----------
    Alt, Peter, Weickert 2021, "Learning sparse masks for diffusion-based image inpainting",
    Sec. 3 (mask network, inpainting loss with the variance regulariser, binarisation by
    weighted coin flips).
    """
    check_options("learned", options)
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or image.size == 0:
        raise OptionError(f"learned mask needs a non-empty 2-D image, got shape {image.shape}")
    density = check_density(density)
    refine = int(refine)
    if not 0 <= refine <= 64:
        raise OptionError(f"refine must be in 0..64, got {refine}")
    if not 0.0 < float(start) <= 1.0:
        raise OptionError(f"start must be in (0, 1], got {start}")
    if samples is None:
        samples = 1 if refine else 4
    samples = int(samples)
    if not 1 <= samples <= 1000:
        raise OptionError(f"samples must be in 1..1000, got {samples}")
    if binarise not in BINARISE:
        raise OptionError(f"binarise must be 'coin' or 'dither', got {binarise!r}")
    if refine:
        count = max(1, round(density * image.size))
        density = max(float(start) * density, 1.0 / image.size)
    c = mask_probabilities(image, density, weights=weights, device=device, precision=precision)
    if gamma is None:
        meta = _load_net(str(weights_path(weights)), device)[1]
        gamma = calibrated_gamma(meta, density, binarise)
    if not 0.0 <= float(gamma) <= 4.0:
        raise OptionError(f"gamma must be in [0, 4], got {gamma}")
    p = rescale_probabilities(c ** float(gamma), density)
    if binarise == "dither":
        candidates = (
            dither_to_density(p, k, density) for k in range(min(samples, len(ORIENTATIONS)))
        )
    else:
        rng = np.random.default_rng(seed)
        candidates = (coin_flips(p, rng) for _ in range(samples))
    if samples == 1:
        best = next(candidates)
    else:
        solver = solver or _pick_solver()
        best, best_err = None, np.inf
        for m in candidates:
            err = _inpainting_error(image, m, solver)
            if err < best_err:
                best, best_err = m, err
    assert best is not None
    if not refine:
        return best
    from .densify import densify
    from .wgan import adjust_count

    if best.sum() > count:  # the binarisation overshot: keep the points of largest p
        best = adjust_count(best, p, count, seed)
    return densify(image, best, count, rounds=refine)
