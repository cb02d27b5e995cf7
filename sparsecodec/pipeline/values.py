"""Values stage: the stored values of an image at its mask, and back.

Forward (encoder): colour transform into the stream's colour mode
(:data:`sparsecodec.colour.COLOUR_MODES`), optional tonal optimisation for the diffusion decoder
(:func:`sparsecodec.tonal.optimise_tonal`), uniform quantisation per channel
(:func:`sparsecodec.quantise.quantise`). Inverse (decoder): dequantisation into a ``(C, H, W)``
array that is zero off the mask, and the colour transform back to RGB.
"""

from __future__ import annotations

import numpy as np

from ..colour import COLOUR_MODES, colour_mode_by_id
from ..errors import OptionError
from ..quantise import dequantise, quantise
from ..validate import check_levels

#: chroma levels of YCbCr colour images = CHROMA_FACTOR x the luma levels: Cb and Cr fill a
#: narrow band of [0, 255], so the uniform quantiser needs finer steps there, and the adaptive
#: value coder pays little for the unused levels (benchmarks/results/chroma.md: BD-rate of the
#: chroma factors against equal levels on Kodak); rate control chooses the factor per image
CHROMA_FACTOR = 1.5
#: settings of ``optimise_tonal`` inside the encoder (``tonal=True``): 12 CGLS iterations and
#: rounding to the quantisation grid take half the time of (25, progressive) for <= 0.07 dB
#: (measured on Kodak, see :func:`sparsecodec.tonal.optimise_tonal`)
TONAL_OPTIONS = {"maxiter": 12, "progressive": False}
_YCBCR = COLOUR_MODES["ycbcr"].id


def chroma_levels_for(levels: int, factor: float = CHROMA_FACTOR) -> int:
    """Chroma levels ``round(factor * levels)``, at most 256."""
    return min(256, int(round(factor * int(levels))))


def channel_levels(
    levels: int | tuple[int, ...],
    channels: int,
    colour: int = 0,
    chroma_levels: int | None = None,
) -> tuple[int, ...]:
    """Quantisation levels per stored channel.

    A tuple is taken as is. A number is the levels of grey and luma; the chroma channels of
    YCbCr (``colour=1``) get ``chroma_levels``, by default ``CHROMA_FACTOR`` times as many
    (at most 256); RGB channels all get ``levels``. ``chroma_levels`` for a grey or RGB image is
    an error (it would be silently ignored).
    """
    if chroma_levels is not None and not (channels == 3 and colour == _YCBCR):
        raise OptionError("chroma levels apply only to colour images stored as YCbCr")
    if np.isscalar(levels):
        levels = check_levels(levels)
        if channels == 3 and colour == _YCBCR:
            cl = chroma_levels_for(levels) if chroma_levels is None else chroma_levels
            lv = (levels, cl, cl)
        else:
            lv = (levels,) * channels
    else:
        if chroma_levels is not None:
            raise OptionError("give chroma_levels only with a single number of levels")
        try:
            lv = tuple(levels)
        except TypeError:
            raise OptionError(f"quantisation levels must be integers, got {levels!r}") from None
    if len(lv) != channels:
        raise OptionError(f"need {channels} quantisation levels, got {len(lv)}")
    return tuple(check_levels(v) for v in lv)


def to_coding_space(image: np.ndarray, colour: int) -> np.ndarray:
    """``(C, H, W)`` float64 channels in which values are stored (colour mode id ``colour``)."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        return a[None]
    return np.ascontiguousarray(np.moveaxis(colour_mode_by_id(colour).forward(a), 2, 0))


def image_space(chw: np.ndarray, colour: int) -> np.ndarray:
    """Inverse of :func:`to_coding_space` in float64 ``(H, W[, 3])``, not rounded."""
    if chw.shape[0] == 1:
        return chw[0]
    return colour_mode_by_id(colour).inverse(np.moveaxis(chw, 0, 2))


def to_uint8_image(a: np.ndarray) -> np.ndarray:
    """A float image rounded and clipped to uint8 (the decoder's last step)."""
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def from_coding_space(chw: np.ndarray, colour: int) -> np.ndarray:
    """Inverse of :func:`to_coding_space`, rounded and clipped to uint8 ``(H, W[, 3])``."""
    return to_uint8_image(image_space(chw, colour))


def stored_values(
    image: np.ndarray, mask: np.ndarray, colour: int, levels: tuple[int, ...], tonal: bool
) -> np.ndarray:
    """Quantised values ``(C, N)`` (int64) of ``image`` (uint8) at the N mask points.

    Parameters
    ----------
    image : uint8 ``(H, W)`` or ``(H, W, 3)`` RGB.
    mask : ``(H, W)`` bool.
    colour : colour mode id of the stream (ignored for grey images).
    levels : quantisation levels per channel (:func:`channel_levels`).
    tonal : tonal optimisation (Mainberger et al. 2011) of the values for the diffusion
        decoder, with :data:`TONAL_OPTIONS`, quantisation-aware.
    """
    chw = to_coding_space(image, colour)
    C = chw.shape[0]
    if tonal:
        from ..tonal import optimise_tonal

        opt = optimise_tonal(
            np.moveaxis(chw, 0, 2) if C > 1 else chw[0], mask, levels=levels, **TONAL_OPTIONS
        )
        chw = to_coding_space(opt, 0) if C == 1 else np.ascontiguousarray(np.moveaxis(opt, 2, 0))
    return np.stack([quantise(chw[c][mask], levels[c]) for c in range(C)])


def dequantised_values(q: np.ndarray, mask: np.ndarray, levels: tuple[int, ...]) -> np.ndarray:
    """Float64 ``(C, H, W)`` values: the dequantised ``q`` at the mask, zero elsewhere."""
    C = len(levels)
    values = np.zeros((C, *mask.shape))
    for c in range(C):
        values[c][mask] = dequantise(q[c], levels[c])
    return values
