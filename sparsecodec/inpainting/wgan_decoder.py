"""Inpainting with the WGAN generator (Peter 2022, Eq. 1; Vasata et al. 2021).

``wgan_inpaint(image, mask, seed=...)`` rebuilds an image from the pixels where ``mask`` is True:
``u = (1 - c) g(r, c, c f) + c f`` with noise ``r`` uniform in [0, 1) drawn from
``torch.Generator().manual_seed(seed)``, so the result is a deterministic function of image
values at the mask, the mask and the seed (on a given machine and torch build). Any size works:
the image is mirror-padded to the network's multiple (16) and large images are processed in
overlapping, linearly blended tiles. Grey images are fed as three equal channels and the output
channels are averaged. torch is imported on first use only.

A *guided* generator (``HourglassConfig(guide=True)`` in the weight metadata) also receives the
homogeneous diffusion inpainting ``h`` of the known data (:func:`diffusion_guide`, computed once
on the whole unpadded image with the project's solver, mirror-padded and tiled like the other
inputs), so an untrained guided generator decodes to exactly the diffusion result.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import ImageError, OptionError

DEFAULT_MODEL = "wgan_inpaint"
GUIDE_TOL = 1e-6  # relative residual of the diffusion guide (training and decoding alike)


def diffusion_guide(f: np.ndarray, mask: np.ndarray, tol: float = GUIDE_TOL) -> np.ndarray:
    """Homogeneous diffusion inpainting ``h`` of ``f`` ((C, H, W), any range) from the pixels
    where ``mask`` ((H, W)) is True, all channels in one multigrid solve; the input of a guided
    generator. An empty mask gives the constant 0.5 (mid-grey for data in [0, 1])."""
    from .solve import solve

    m = np.asarray(mask, dtype=bool)
    f = np.asarray(f, dtype=np.float64)
    if not m.any():
        return np.full(f.shape, 0.5)
    return solve(f, m, solver="multigrid", tol=tol).u


@lru_cache(maxsize=8)
def _load(model: str, device: str) -> Any:
    """The networks of a weights file for inference, cached; channels-last (NHWC) weights make
    the CPU convolutions about 25 % faster (measured on 128x128 crops, one thread)."""
    import torch

    from ..nets.wgan import load_bundle

    bundle = load_bundle(model, device=device)
    for net in (bundle.generator, bundle.mask_generator):
        if net is not None:
            net.to(memory_format=torch.channels_last)
    return bundle


def load_generator(model: str = DEFAULT_MODEL, device: str = "cpu") -> Any:
    """The generator of a weights file (name in the weights folder, or a path); cached."""
    from ..errors import WeightsError

    g = _load(str(model), device).generator
    if g is None:
        raise WeightsError(f"WGAN weights {model!r} hold no inpainting generator")
    return g


def _as_rgb(image: np.ndarray) -> tuple[np.ndarray, bool]:
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        return np.repeat(a[..., None], 3, axis=2), True
    if a.ndim == 3 and a.shape[2] == 1:
        return np.repeat(a, 3, axis=2), True
    if a.ndim == 3 and a.shape[2] == 3:
        return a, False
    raise ImageError(f"WGAN inpainting needs an (H,W), (H,W,1) or (H,W,3) image, got {a.shape}")


def wgan_inpaint(
    image: np.ndarray,
    mask: np.ndarray,
    *,
    seed: int = 0,
    device: str = "cpu",
    model: str = DEFAULT_MODEL,
    precision: str = "auto",
) -> np.ndarray:
    """Reconstruct ``image`` from its values where ``mask`` is True with the WGAN generator.

    ``image``: (H, W) or (H, W, C) with C in {1, 3}, range [0, 255] (values off the mask are
    ignored). Returns float64 of the same shape in [0, 255]; mask pixels keep their values.
    ``model`` names a weights file in the weights folder (``wgan_inpaint``: trained on random
    masks; ``wgan_mask_d10`` etc.: generator trained jointly with the mask generator).
    ``precision``: ``"float32"``, ``"bfloat16"`` or ``"auto"`` (bfloat16 where the device has
    it natively; :mod:`sparsecodec.nets.precision`). The codec stores the encoder's choice in
    the bitstream, so that its decoder computes the same.
    """
    import torch

    from ..nets.precision import autocast
    from ..nets.wgan import pad_to_multiple, run_tiled

    rgb, grey = _as_rgb(image)
    h, w = rgb.shape[:2]
    m = np.asarray(mask)
    if m.shape != (h, w):
        raise OptionError(f"mask shape {m.shape} does not match image size {(h, w)}")
    if h == 0 or w == 0:
        raise ImageError("empty image")
    if not np.all(np.isfinite(rgb)):
        raise ImageError("image contains non-finite values")
    m = m.astype(bool)
    g = load_generator(model, device)
    mult = g.multiple
    f = pad_to_multiple(np.clip(rgb, 0.0, 255.0) / 255.0, mult)
    c = pad_to_multiple(m.astype(np.float64), mult)
    hp, wp = c.shape
    gen = torch.Generator().manual_seed(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    r = torch.rand((1, 3, hp, wp), generator=gen, dtype=torch.float32)
    ft = torch.from_numpy(np.ascontiguousarray(f.transpose(2, 0, 1))[None]).float()
    ct = torch.from_numpy(c[None, None]).float()
    inputs = [ft.to(device), ct.to(device), r.to(device)]
    if getattr(g, "guided", False):  # HD of the unpadded image, then padded like the inputs
        f0 = np.clip(rgb, 0.0, 255.0).transpose(2, 0, 1) / 255.0
        hd = pad_to_multiple(diffusion_guide(f0, m).transpose(1, 2, 0), mult)
        hd = np.ascontiguousarray(hd.transpose(2, 0, 1))
        inputs.append(torch.from_numpy(hd[None]).float().to(device))
    with torch.inference_mode(), autocast(precision, device):
        u = run_tiled(g.inpaint, inputs, 3)
    out = u[0].cpu().double().numpy().transpose(1, 2, 0)[:h, :w] * 255.0
    out = np.clip(out, 0.0, 255.0)
    out[m] = np.clip(rgb[m], 0.0, 255.0)  # Eq. (1): known data exactly
    if grey:
        out = out.mean(axis=2)
        out[m] = np.clip(rgb[m, 0], 0.0, 255.0)
        return out if np.ndim(image) == 2 else out[..., None]
    return out
