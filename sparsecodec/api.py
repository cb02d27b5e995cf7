"""The public functions: ``encode`` / ``encode_result`` (fixed density or rate control),
and the array-in/array-out ``make_mask``, ``inpaint``, ``optimise_tonal``."""

from __future__ import annotations

import numpy as np

from . import masks
from .codec import DEFAULT_DENSITY, DEFAULT_MASK, EncodeResult, encode_image
from .colour import luma
from .errors import OptionError
from .validate import check_keywords

METHODS = ("diffusion", "eed", "wgan", "semantic")


def encode_result(
    image: np.ndarray,
    density: float | None = None,
    mask: str | np.ndarray = DEFAULT_MASK,
    *,
    bpp: float | None = None,
    psnr: float | None = None,
    **options,
) -> EncodeResult:
    """Encode an image and return the bitstream with its mask, reconstruction and statistics.

    Parameters
    ----------
    image : uint8 ``(H, W)`` or ``(H, W, 3)``.
    density : fraction of pixels stored (default ``DEFAULT_DENSITY``); ignored with a target.
    mask : a mask strategy name or a bool mask.
    bpp, psnr : at most one target: the density and the quantisation are then chosen by rate
        control (:func:`sparsecodec.ratecontrol.encode_to_rate` / ``encode_to_quality``);
        ``levels`` then fixes the luma levels instead of searching them.
    **options : the keyword options of :func:`sparsecodec.codec.encode_image`; unknown ones
        raise :class:`~sparsecodec.errors.OptionError` before any work.

    Returns
    -------
    :class:`~sparsecodec.codec.EncodeResult` (``data``, ``mask``, ``reconstruction``,
    ``stats``; with a target also ``stats["target_bpp"]`` or ``stats["target_psnr"]``).
    """
    if bpp is None and psnr is None:
        check_keywords(encode_image, options, "encode")
        d = DEFAULT_DENSITY if density is None else density
        return encode_image(image, d, mask, **options)
    from .ratecontrol import encode_to_quality, encode_to_rate

    if bpp is not None and psnr is not None:
        raise OptionError("give at most one of bpp and psnr")
    # rate control's own options; it sets the density, mask_array and reconstruct itself
    own = {"levels", "levels_grid", "steps"} | ({"rel_tol"} if bpp is not None else set())
    rest = {k: v for k, v in options.items() if k not in own}
    check_keywords(encode_image, rest, "rate control", filled=("reconstruct", "mask_array"))
    if "levels" in options:
        options["levels_grid"] = (options.pop("levels"),)
    if bpp is not None:
        return encode_to_rate(image, bpp, mask, **options)
    return encode_to_quality(image, psnr, mask, **options)


def encode(
    image: np.ndarray,
    density: float = DEFAULT_DENSITY,
    mask: str | np.ndarray = DEFAULT_MASK,
    *,
    bpp: float | None = None,
    psnr: float | None = None,
    **options,
) -> bytes:
    """Encode an image into a sparsecodec bitstream: the ``data`` of :func:`encode_result`
    (see :func:`sparsecodec.codec.encode_image` for the options).

    With ``bpp`` (or ``psnr``) the density and the quantisation are chosen by rate control
    (:mod:`sparsecodec.ratecontrol`) and ``density`` is ignored.
    """
    return encode_result(image, density, mask, bpp=bpp, psnr=psnr, **options).data


def make_mask(
    image: np.ndarray, density: float, strategy: str = "belhachmi", seed: int = 0, **options
) -> np.ndarray:
    """Inpainting mask of ``density`` for ``image`` ((H, W) grey or (H, W, 3) colour, [0, 255]).

    ``strategy`` is a name of :data:`sparsecodec.masks.STRATEGIES`; colour images use their
    luma. Returns an (H, W) bool array (True = stored pixel).
    """
    from .io import check_image, warn_unit_range
    from .validate import check_density, check_seed

    d = check_density(density)
    seed = check_seed(seed)
    image = check_image(image)
    warn_unit_range(image)
    return masks.get(strategy).make(luma(image), d, seed=seed, **options)


def inpaint(
    image: np.ndarray,
    mask: np.ndarray,
    method: str = "diffusion",
    solver: str = "multigrid",
    tol: float = 1e-6,
    **options,
) -> np.ndarray:
    """Inpaint ``image`` from the pixels where ``mask`` is True (values elsewhere are ignored and
    may be NaN; ``mask`` is boolean or 0/1; NaN or infinite values at mask pixels raise
    :class:`~sparsecodec.errors.ImageError`).

    ``method="diffusion"``: homogeneous diffusion inpainting (Laplace equation, reflecting
    boundaries) solved by ``solver`` ("multigrid" or "cg") to relative residual ``tol``.
    ``method="eed"``: edge-enhancing anisotropic diffusion (options ``lam``, ``sigma``,
    ``diffusivity``, ``outer``, ``guide``, ``alpha``, ``beta``; see
    :func:`sparsecodec.inpainting.anisotropic.eed_inpaint`), linear solves to ``tol``; one
    joint tensor for all channels.
    ``method="wgan"``: the learned WGAN inpainting generator (Peter 2022).
    ``method="semantic"``: WGAN-GP latent optimisation + Poisson editing (Vitoria et al. 2019).
    Returns float64 of the shape of ``image``.
    """
    from .errors import ImageError
    from .io import check_mask, check_numeric

    a = check_numeric(image).astype(np.float64, copy=False)
    m = check_mask(mask)
    if a.ndim not in (2, 3):
        raise OptionError(f"image must be (H, W) or (H, W, C), got {a.shape}")
    if m.shape != a.shape[:2]:
        raise OptionError(f"mask shape {m.shape} does not match image shape {a.shape[:2]}")
    if not np.isfinite(a[m]).all():
        raise ImageError("image has NaN or infinite values at mask pixels")
    if not np.isfinite(a).all():  # values off the mask are ignored: they may be NaN
        a = np.where(m if a.ndim == 2 else m[..., None], a, 0.0)
    if method == "diffusion":
        from .inpainting import solve

        check_keywords(solve, options, "diffusion inpainting")
        if a.ndim == 2:
            return solve(a, m, solver=solver, tol=tol, **options).u
        u = solve(np.moveaxis(a, 2, 0), m, solver=solver, tol=tol, **options).u
        return np.moveaxis(u, 0, 2)
    if method == "eed":
        from .inpainting.anisotropic import eed_inpaint

        check_keywords(eed_inpaint, options, "EED inpainting")
        if a.ndim == 2:
            return eed_inpaint(a, m, tol=tol, **options).u
        u = eed_inpaint(np.moveaxis(a, 2, 0), m, tol=tol, **options).u
        return np.moveaxis(u, 0, 2)
    if method == "wgan":
        from .inpainting.wgan_decoder import wgan_inpaint

        check_keywords(wgan_inpaint, options, "WGAN inpainting")
        return wgan_inpaint(a, m, **options)
    if method == "semantic":
        from .inpainting.semantic import semantic_inpaint

        check_keywords(semantic_inpaint, options, "semantic inpainting")
        return semantic_inpaint(a, m, **options)
    raise OptionError(f"unknown inpainting method {method!r} (choose from {', '.join(METHODS)})")


def optimise_tonal(image: np.ndarray, mask: np.ndarray, **options) -> np.ndarray:
    """Least-squares optimal values at the mask pixels (Mainberger et al. 2011); see
    :func:`sparsecodec.tonal.optimise_tonal`."""
    from .io import check_mask, check_numeric
    from .tonal import optimise_tonal as _opt

    check_keywords(_opt, options, "optimise_tonal")
    return _opt(check_numeric(image), check_mask(mask), **options)
