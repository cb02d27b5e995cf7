"""Values stage: the stored values of an image at its mask, and back.

Forward (encoder): colour transform into the stream's colour mode
(:data:`sparsecodec.colour.COLOUR_MODES`), optional tonal optimisation for the diffusion decoder
(:func:`sparsecodec.tonal.optimise_tonal`), uniform quantisation per channel
(:func:`sparsecodec.quantise.quantise`). Inverse (decoder): dequantisation into a ``(C, H, W)``
array that is zero off the mask, and the colour transform back to RGB.
"""

from __future__ import annotations

import numpy as np

from ..colour import colour_mode_by_id, has_chroma
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
#: re-linearisations of the EED tonal optimisation (:func:`eed_stored_values`): after the
#: optimisation for the original's tensor, the tensor is frozen at the decoder's own
#: reconstruction of those values and the values are optimised again (the better by the real
#: decode is kept). One: BD-PSNR +0.20 dB on the first 12 Kodak images, luma
#: (benchmarks/results/rd_eed_relinearised.md); a second gained <= 0.05 dB on kodim05, 15, 23
EED_RELINEARISE = 1
#: CGLS iterations of each re-linearised optimisation (warm-started from the previous values)
RELINEARISE_MAXITER = 6


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
    if chroma_levels is not None and not has_chroma(channels, colour):
        raise OptionError("chroma levels apply only to colour images stored as YCbCr")
    if np.isscalar(levels):
        levels = check_levels(levels)
        if has_chroma(channels, colour):
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


def eed_stored_values(
    image: np.ndarray,
    mask: np.ndarray,
    colour: int,
    levels: tuple[int, ...],
    tonal: bool,
    params: dict,
    tonal_options: dict | None = None,
    relinearise: int = EED_RELINEARISE,
) -> np.ndarray:
    """Quantised values ``(C, N)`` for the EED decoder with decoder parameters ``params``.

    Tonal optimisation linearises the decoder (Schmaltz et al. 2014, Sec. 4.3): the grey, luma
    or joint RGB values are least-squares optimal for the anisotropic diffusion whose tensor is
    frozen at the original image's (:func:`sparsecodec.tonal.optimise_tonal` with ``tensor``);
    the chroma of luma-preference YCbCr, which the decoder inpaints linearly with the tensor of
    its luma reconstruction, is optimised exactly for that tensor, at the chroma lattice points
    (``chroma_step``; the chroma values elsewhere are unused and stored as 0).
    ``tonal_options`` replace :data:`TONAL_OPTIONS`. ``relinearise`` times the grey, luma or
    RGB values are then optimised again for the tensor frozen at the decoder's reconstruction
    of the previous values (the linearisation iterated); the values whose EED decode is best
    are kept.
    """
    from ..decoders import EED_TOL
    from ..geometry import lattice_mask
    from ..tonal import optimise_tonal

    topts = TONAL_OPTIONS if tonal_options is None else tonal_options
    chw = to_coding_space(image, colour)
    C = chw.shape[0]
    eed = {k: params[k] for k in ("lam", "sigma", "diffusivity")}
    luma_pref = has_chroma(C, colour)
    head = chw[:1] if luma_pref else chw
    if tonal:
        from ..inpainting.anisotropic import eed_inpaint, eed_tensor

        hl = levels[: head.shape[0]]
        target = np.moveaxis(head, 0, 2) if head.shape[0] > 1 else head[0]
        at, opts, best = head, dict(topts), None  # first linearised at the original
        for _ in range(1 + int(relinearise)):
            opt = optimise_tonal(target, mask, levels=hl, tensor=eed_tensor(at, **eed), **opts)
            g = opt[None] if opt.ndim == 2 else np.ascontiguousarray(np.moveaxis(opt, 2, 0))
            gq = np.stack([quantise(c[mask], lv) for c, lv in zip(g, hl, strict=True)])
            at = eed_inpaint(dequantised_values(gq, mask, hl), mask, tol=EED_TOL, **eed).u
            err = float(np.sum((at - head) ** 2))  # what the decoder will make of these values
            if best is None or err < best[0]:
                best = (err, g, at)
            # next: the tensor of this reconstruction, starting from these values
            opts = {**topts, "start": opt, "maxiter": RELINEARISE_MAXITER}
        _, head, rec = best
    q = np.zeros((C, int(mask.sum())), np.int64)
    for c in range(head.shape[0]):
        q[c] = quantise(head[c][mask], levels[c])
    if not luma_pref:
        return q
    cmask = lattice_mask(mask, int(params.get("chroma_step", 1)))
    if not cmask.any():
        raise OptionError("the chroma lattice holds no mask point: use a smaller chroma_step")
    chroma = chw[1:]
    if tonal:  # exact for the tensor of the decoder's luma reconstruction ``rec``
        opt = optimise_tonal(
            np.moveaxis(chroma, 0, 2),
            cmask,
            levels=levels[1:],
            tensor=eed_tensor(rec, **eed),
            **topts,
        )
        chroma = np.ascontiguousarray(np.moveaxis(opt, 2, 0))
    on = cmask[mask]
    for c in (1, 2):
        q[c, on] = quantise(chroma[c - 1][cmask], levels[c])
    return q


def dequantised_values(q: np.ndarray, mask: np.ndarray, levels: tuple[int, ...]) -> np.ndarray:
    """Float64 ``(C, H, W)`` values: the dequantised ``q`` at the mask, zero elsewhere."""
    C = len(levels)
    values = np.zeros((C, *mask.shape))
    for c in range(C):
        values[c][mask] = dequantise(q[c], levels[c])
    return values
