"""Mask stage: the inpainting mask of an image, by a registered strategy or given.

Colour images are masked on their luma (one mask serves all channels); a strategy that also
uses colour (:attr:`~sparsecodec.masks.MaskStrategy.colour`) receives the RGB image too. With
``nlpe_cycles > 0`` any strategy's mask is refined by nonlocal pixel exchange.
"""

from __future__ import annotations

import numpy as np

from .. import masks
from ..colour import luma
from ..errors import OptionError
from ..io import check_mask

#: header id of a mask that no registered strategy made (given as an array)
CUSTOM_MASK = 255


def choose_mask(
    image: np.ndarray,
    density: float,
    mask: str | np.ndarray,
    *,
    seed: int = 0,
    tonal: bool = False,
    nlpe_cycles: float = 0,
    progress: bool = False,
    precision: str = "auto",
    mask_options: dict | None = None,
    mask_array: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """The mask of ``image`` and the strategy id written into the header.

    Parameters
    ----------
    image : uint8 ``(H, W)`` or ``(H, W, 3)``.
    density : fraction of pixels stored, checked by the caller.
    mask : a strategy name of :data:`sparsecodec.masks.STRATEGIES`, or a bool mask.
    seed : seed of stochastic strategies.
    tonal : the stored values will be tonal-optimised (NLPE then judges masks with it).
    nlpe_cycles : refine the mask by this many NLPE cycles (for ``mask="nlpe"``: its cycles).
    progress, precision : passed to strategies that are slow / run a network.
    mask_options : further options of the strategy; unknown ones raise before any work.
    mask_array : the final mask these options already produced for this image and density
        (rate control reuses masks); recorded as the strategy's mask.

    Returns
    -------
    mask : bool ``(H, W)``, not empty.
    strategy_id : the strategy's header id, or :data:`CUSTOM_MASK`.
    """
    H, W = image.shape[:2]
    y = luma(image)
    if isinstance(mask, str):
        strategy = masks.get(mask)
        opts = dict(mask_options or {})
        if strategy.colour and image.ndim == 3:
            opts.setdefault("colour", image)
        if strategy.slow:
            opts.setdefault("progress", progress)
        if strategy.network:
            opts.setdefault("precision", precision)
        if mask == "nlpe":
            if nlpe_cycles:
                opts.setdefault("cycles", nlpe_cycles)
            opts.setdefault("tonal", tonal)
        if mask_array is not None:
            m = _checked(mask_array, H, W)
        else:
            m = strategy.make(y, density, seed=int(seed), **opts)
        strategy_id = strategy.id
    else:
        m = _checked(mask, H, W)
        strategy_id = CUSTOM_MASK
    if not m.any():
        raise OptionError("the mask is empty")
    if nlpe_cycles and not (isinstance(mask, str) and mask == "nlpe") and mask_array is None:
        from ..masks.nlpe import nlpe_refine

        m = nlpe_refine(y, m, cycles=nlpe_cycles, seed=int(seed), progress=progress, tonal=tonal)
    return m, strategy_id


def _checked(mask: np.ndarray, H: int, W: int) -> np.ndarray:
    m = check_mask(mask)
    if m.shape != (H, W):
        raise OptionError(f"mask shape {m.shape} does not match image {(H, W)}")
    return m
