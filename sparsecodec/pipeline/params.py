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

from ..decoders import Decoder

#: contrast parameters tried for EED (grey values per pixel) when ``lam`` is not given: with
#: tonal optimisation 2-4 won on Kodak luma (kodim05, 15, 23) at 2-3.5 % quadtree masks
#: (1 lost 0.1-0.4 dB)
LAM_GRID = (2.0, 4.0)
#: tonal optimisation of the lam search (the encoder then optimises fully for the chosen lam)
SEARCH_TONAL = {"maxiter": 3, "progressive": False}


def choose_params(
    decoder: Decoder,
    image: np.ndarray,
    mask: np.ndarray,
    colour: int,
    levels: tuple[int, ...],
    options: dict | None = None,
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
    if decoder.name == "eed" and "lam" not in opts:
        params["lam"] = _best_lam(image, mask, colour, levels, params)
    if "weights" in params:  # network decoders: the identity of the weights that decode
        from ..nets.zoo import tag
        from .decoding import network_model

        params["weights"] = tag(network_model(decoder.name, mask))
    return params


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
