"""Decoder-parameter stage: the parameters a decoder reads from the stream, chosen per image.

Decoders that declare stream parameters (:attr:`sparsecodec.decoders.Decoder.stream_params`,
e.g. EED's contrast ``lam``) get them here: the values the caller gave, the registry defaults
for the rest, and for EED's ``lam`` (unless given) the best of :data:`LAM_GRID` by the PSNR of
the real decoder on briefly tonal-optimised, quantised values, as R-EED optimises its diffusivity
parameter per image (Schmaltz et al. 2014, Sec. 4.2). Every value is returned as the stream
stores it, so the encoder predicts with exactly what the decoder reads.
"""

from __future__ import annotations

import numpy as np

from ..colour import has_chroma
from ..decoders import Decoder
from ..errors import OptionError

#: contrast parameters tried for EED (grey values per pixel) when ``lam`` is not given: with
#: tonal optimisation 2-4 won on Kodak luma (kodim05, 15, 23) at 2-3.5 % quadtree masks
#: (1 lost 0.1-0.4 dB)
LAM_GRID = (2.0, 4.0)
#: tonal optimisation of the lam search (the encoder then optimises fully for the chosen lam)
SEARCH_TONAL = {"maxiter": 3, "progressive": False}
#: smallest share of the mask's points that the default chroma lattice keeps: the lattice of
#: step k holds at most H W / k**2 points, so at high densities the step is halved (k = 16
#: keeps 3-40 % of a Kodak quadtree mask's points at densities 0.01-0.13, where it was
#: measured best; at density 1 the rule gives k = 4, without it the chroma would cap the
#: colour PSNR near 29 dB on kodim23)
CHROMA_MIN_SHARE = 0.025


def choose_params(
    decoder: Decoder,
    image: np.ndarray,
    mask: np.ndarray,
    colour: int,
    levels: tuple[int, ...],
    options: dict | None = None,
    *,
    search: bool = True,
    subdivision: bool = True,
) -> dict:
    """Decoder parameters for ``image`` with ``mask`` (empty for decoders without).

    Parameters
    ----------
    decoder : the registered decoder the stream names.
    image : uint8 ``(H, W)`` or ``(H, W, 3)``.
    mask : ``(H, W)`` bool.
    colour : colour mode id of the stream.
    levels : quantisation levels per channel.
    options : parameters fixed by the caller (unknown names are an ``OptionError``).
    search : choose the searched parameters (EED's ``lam``) per image; ``False`` takes the
        defaults (for encodes whose stream size does not depend on them: no tonal optimisation
        and no reconstruction, as in rate control's density search).
    subdivision : whether ``mask`` is a subdivision (quadtree corner) mask
        (:attr:`sparsecodec.masks.MaskStrategy.subdivision`). Only there does the
        lattice of the default ``chroma_step`` hold a coarser level of the same mask (measured:
        benchmarks/results/rd_eed_chroma_step.md); other masks default to step 1. The default
        step is halved while its lattice holds fewer than :data:`CHROMA_MIN_SHARE` of the
        mask's points (high densities, tiny images).

    Returns
    -------
    dict of every declared parameter, as the stream stores it.
    """
    opts = dict(options or {})
    if not decoder.stream_params:
        if opts:
            decoder.pack_params(opts)  # raises: unknown options for this decoder
        return {}
    decoder.pack_params({**decoder.defaults(), **opts})  # validates the given values early
    params = {**decoder.defaults(), **{k: v for k, v in opts.items()}}
    params = {p.name: p.quantised(params[p.name]) for p in decoder.stream_params}
    channels = 1 if np.ndim(image) == 2 else np.shape(image)[2]
    if "chroma_step" in params and not has_chroma(channels, colour):
        if params["chroma_step"] != 1 and "chroma_step" in opts:
            raise OptionError("chroma_step applies only to colour images stored as YCbCr")
        params["chroma_step"] = 1  # grey and RGB: every channel at every mask point
    elif "chroma_step" in params and "chroma_step" not in opts:
        params["chroma_step"] = _default_chroma_step(mask, params["chroma_step"], subdivision)
    if decoder.name == "eed" and "lam" not in opts and search:
        params["lam"] = _best_lam(image, mask, colour, levels, params)
    if "weights" in params:  # network decoders: the identity of the weights that decode
        from ..nets.zoo import tag
        from .decoding import network_model

        params["weights"] = tag(network_model(decoder.name, mask))
    return params


def _default_chroma_step(mask: np.ndarray, step: int, subdivision: bool) -> int:
    """The default chroma lattice step for ``mask`` (see :func:`choose_params`): ``step``
    halved while its lattice holds fewer than :data:`CHROMA_MIN_SHARE` of the mask's points."""
    from ..geometry import lattice_mask

    if not subdivision:
        return 1
    n = int(np.count_nonzero(mask))
    while step > 1 and np.count_nonzero(lattice_mask(mask, step)) < CHROMA_MIN_SHARE * max(n, 1):
        step //= 2
    return step


def _best_lam(image, mask, colour, levels, params) -> float:
    """The ``lam`` of :data:`LAM_GRID` whose decode has the best grey / luma PSNR, each with
    values tonal-optimised for it by :data:`SEARCH_TONAL` (a short CGLS run: the optimal
    ``lam`` depends on the tonal optimisation, plain values favour smaller ones)."""
    from ..colour import luma
    from ..decoders import EED_TOL
    from ..inpainting.anisotropic import eed_inpaint
    from ..metrics import psnr
    from .values import dequantised_values, eed_stored_values

    grey = np.asarray(image) if np.ndim(image) == 2 else np.round(luma(image)).astype(np.uint8)
    lv = levels[:1]
    best, best_lam = -np.inf, params["lam"]
    for lam in LAM_GRID:
        trial = {**params, "lam": lam}
        q = eed_stored_values(
            grey, mask, 0, lv, True, trial, tonal_options=SEARCH_TONAL, relinearise=0
        )
        values = dequantised_values(q, mask, lv)[0]
        eed = {k: trial[k] for k in ("lam", "sigma", "diffusivity")}
        rec = np.clip(np.round(eed_inpaint(values, mask, tol=EED_TOL, **eed).u), 0, 255)
        p = psnr(grey, rec.astype(np.uint8))
        if p > best:
            best, best_lam = p, lam
    return best_lam
