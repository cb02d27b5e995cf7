"""Masks from the mask generator of the joint mask WGAN (Peter 2022, Sec. 3).

The mask generator ``m(r, f)`` (trained for one density D per weights file ``wgan_mask_dNN``,
NN = D in percent) maps the image and seeded uniform noise to a binary mask. The model whose D
is nearest to the requested density (in log scale) is used; its mask is then adjusted to
exactly ``round(density * H * W)`` pixels: surplus pixels with the lowest confidence ``c``
(the hard-sigmoid output before rounding) are dropped, missing ones with the highest ``c`` are
added (ties broken by seeded jitter). torch is imported on first use only.

Models with ``noise_skip`` (see :class:`sparsecodec.nets.wgan.MaskGenerator`) threshold the
seeded noise against an image-dependent level, so their masks are seeded, spatially adaptive
dithers; the noise is a function of ``seed`` and the padded image size only.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import ImageError, OptionError, WeightsError
from . import check_options
from .densify import ROUNDS as DENSIFY_ROUNDS
from .densify import START as DENSIFY_START

_NAME = re.compile(r"^wgan_mask_d(\d+(?:p\d+)?)$")


def available_models() -> dict[float, str]:
    """Trained mask models in the weights folder (:func:`sparsecodec.nets.zoo.available`):
    density -> model name."""
    from ..nets import zoo

    out: dict[float, str] = {}
    for name in zoo.available():
        mt = _NAME.match(name)
        if mt:
            out[float(mt.group(1).replace("p", ".")) / 100.0] = name
    return out


def choose_model(density: float) -> str:
    """Name of the mask model trained for the density nearest to ``density`` (log scale)."""
    models = available_models()
    if not models:
        from ..nets import zoo

        raise WeightsError(
            f"no mask WGAN weights (wgan_mask_d*.safetensors) in {zoo.root()}; train with "
            "python -m sparsecodec.training.mask_wgan --mode joint"
        )
    best = min(models, key=lambda d: abs(np.log(d / density)))
    return models[best]


def joint_model(mask: np.ndarray) -> str:
    """Mask model whose generator decodes ``mask`` with the ``wgan-joint`` decoder: the one
    nearest to the mask's density (a function of the decoded mask only, so encoder and decoder
    agree)."""
    m = np.asarray(mask, dtype=bool)
    return choose_model(max(float(m.mean()), 1.0 / max(m.size, 1)))


def adjust_count(b: np.ndarray, c: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Binary mask with exactly ``n`` pixels, keeping as much of ``b`` as possible; pixels are
    ranked by confidence ``c`` (plus tiny seeded jitter to break ties)."""
    b = b.astype(bool).ravel()
    score = c.astype(np.float64).ravel() + 1e-6 * np.random.default_rng(seed).random(b.size)
    k = int(b.sum())
    if k > n:
        idx = np.flatnonzero(b)
        drop = idx[np.argsort(score[idx], kind="stable")[: k - n]]
        b[drop] = False
    elif k < n:
        idx = np.flatnonzero(~b)
        add = idx[np.argsort(-score[idx], kind="stable")[: n - k]]
        b[add] = True
    return b.reshape(c.shape)


def wgan_mask(
    image: np.ndarray,
    density: float,
    *,
    seed: int = 0,
    device: str = "cpu",
    colour: np.ndarray | None = None,
    model: str | None = None,
    exact: bool = True,
    precision: str = "auto",
    refine: int = DENSIFY_ROUNDS,
    start: float = DENSIFY_START,
    **options: object,
) -> np.ndarray:
    """Mask of ``round(density * H * W)`` pixels from the mask generator (Peter 2022, Sec. 3).

    ``image``: (H, W) luma in [0, 255]; ``colour``: optional (H, W, 3) version of the same
    image, used instead when given (the networks are trained on colour). ``model`` overrides the
    nearest-density choice (a name in the weights folder or a path); ``exact=False`` returns
    the raw generator mask. ``precision``: ``"float32"``, ``"bfloat16"`` or ``"auto"``
    (bfloat16 where the device has it natively; :mod:`sparsecodec.nets.precision`).

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` luma in [0, 255].
    density : float
        Fraction of pixels in (0, 1]; the model of the nearest trained density is used.
    seed : int
        Seed of the generator's noise.
    device : str
        Torch device.
    colour : ndarray, optional
        ``(H, W, 3)`` RGB version of the image, used instead of ``image`` when given.
    model : str, optional
        Weights-zoo name or path overriding the nearest-density model.
    exact : bool
        Correct the generator's mask to exactly ``round(density * H * W)`` pixels.
    precision : str
        ``"float32"``, ``"bfloat16"`` or ``"auto"``.
    refine : int
        With ``exact`` (our addition, not in the paper): keep the ``start`` share of the
        generator's points of highest confidence and add the rest by ``refine`` rounds of
        error-driven densification (:func:`sparsecodec.masks.densify.densify`, homogeneous
        diffusion error of the luma); 0 = the generator's mask alone.
    start : float
        Share of the points kept from the generator when ``refine > 0``, in (0, 1].

    Returns
    -------
    ndarray
        ``(H, W)`` bool mask.

    References
    ----------
    Peter 2022, "A Wasserstein GAN for joint learning of inpainting and its spatial
    optimisation", Sec. 3.1 (learning binary masks: hard rounding, density loss).
    """
    import torch

    from ..inpainting.wgan_decoder import _load
    from ..nets.precision import autocast
    from ..nets.wgan import pad_to_multiple, run_tiled

    check_options("wgan", options)
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim != 2 or a.size == 0:
        raise ImageError(f"wgan mask needs an (H,W) image, got shape {a.shape}")
    if not 0.0 < float(density) <= 1.0:
        raise OptionError(f"density must be in (0, 1], got {density}")
    if not (0 <= int(refine) <= 64 and 0.0 < float(start) <= 1.0):
        raise OptionError(f"refine must be in 0..64 and start in (0, 1], got {refine}, {start}")
    h, w = a.shape
    if colour is not None:
        rgb = np.asarray(colour, dtype=np.float64)
        if rgb.shape != (h, w, 3):
            raise ImageError(f"colour image shape {rgb.shape} does not match {(h, w, 3)}")
    else:
        rgb = np.repeat(a[..., None], 3, axis=2)
    name = model if model is not None else choose_model(float(density))
    bundle = _load(str(name), device)
    m = bundle.mask_generator
    if m is None:
        raise WeightsError(f"WGAN weights {name!r} hold no mask generator")
    f = pad_to_multiple(np.clip(rgb, 0.0, 255.0) / 255.0, m.multiple)
    gen = torch.Generator().manual_seed((int(seed) + 0x6D61736B) & 0xFFFF_FFFF_FFFF_FFFF)
    r = torch.rand((1, 3, *f.shape[:2]), generator=gen, dtype=torch.float32)
    ft = torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1))[None]).float()

    def conf(r_: torch.Tensor, f_: torch.Tensor) -> torch.Tensor:
        return m(r_, f_)[1]

    with torch.inference_mode(), autocast(precision, device):
        c = run_tiled(conf, [r.to(device), ft.to(device)], 1)[0, 0].cpu().numpy()[:h, :w]
    b = np.floor(c + 0.5) > 0
    if not exact:
        return b
    n = min(h * w, max(1, int(round(float(density) * h * w))))
    if int(refine) <= 0:
        return adjust_count(b, c, n, seed)
    from .densify import densify

    first = adjust_count(b, c, max(1, int(round(float(start) * n))), seed)
    return densify(a, first, n, rounds=int(refine))
