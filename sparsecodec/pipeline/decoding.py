"""Decoding stage: the registered decoders (:mod:`sparsecodec.decoders`) and :func:`reconstruct`.

Each decoder function takes the dequantised values ``(C, H, W)`` in the stream's colour space,
the mask and the header, and returns the float64 RGB or grey image; :func:`reconstruct` rounds
it to uint8. The encoder predicts its PSNR through :func:`reconstruct`, so these functions are
part of the format.
"""

from __future__ import annotations

import numpy as np

from ..decoders import decoder_by_id
from .values import dequantised_values, image_space, to_uint8_image

#: solver settings of the diffusion decoder; part of the format (the encoder predicts with them)
DECODE_SOLVER = "multigrid"
DECODE_TOL = 1e-6


def diffusion_decode(values: np.ndarray, mask: np.ndarray, header) -> np.ndarray:
    """Homogeneous diffusion inpainting of each stored channel (Laplace equation with
    reflecting boundaries, solved by multigrid to relative residual :data:`DECODE_TOL`).

    Parameters
    ----------
    values : float64 ``(C, H, W)``, the stored values at the mask (colour space of the stream).
    mask : bool ``(H, W)``.
    header : the stream's :class:`~sparsecodec.coding.header.Header` (``colour`` is read).

    Returns
    -------
    float64 ``(H, W)`` or ``(H, W, 3)`` RGB image.

    References
    ----------
    Mainberger, Bruhn, Weickert, Forchhammer 2011, "Edge-based compression of cartoon-like
    images with homogeneous diffusion", Pattern Recognition 44, Eq. (1).
    """
    from ..inpainting import solve

    u = solve(values, mask, solver=DECODE_SOLVER, tol=DECODE_TOL).u
    return image_space(u, header.colour)


def _precision(header) -> str:
    from ..coding.header import FLAG_BFLOAT16

    return "bfloat16" if header.flags & FLAG_BFLOAT16 else "float32"


def network_model(decoder: str, mask: np.ndarray) -> str:
    """The weights (zoo name) the network decoder ``decoder`` uses for ``mask``."""
    if decoder == "wgan-joint":
        from ..masks.wgan import joint_model

        return joint_model(mask)
    from ..inpainting.wgan_decoder import DEFAULT_MODEL

    return DEFAULT_MODEL


def check_weights(header, model: str) -> None:
    """Refuse a stream whose stored weights identity is not that of ``model``'s file."""
    from ..errors import WeightsError
    from ..nets.zoo import tag

    want = header.decoder_params().get("weights")
    have = tag(model)
    if want is not None and want != have:
        raise WeightsError(
            f"stream made with other {model} weights (tag {want:08x}; installed {have:08x}): "
            "decode it with the sparsecodec release or weights folder that encoded it"
        )


def _wgan(values: np.ndarray, mask: np.ndarray, header, model: str) -> np.ndarray:
    from ..inpainting.wgan_decoder import wgan_inpaint

    check_weights(header, model)

    return wgan_inpaint(
        image_space(values, header.colour),
        mask,
        seed=header.seed,
        model=model,
        precision=_precision(header),
    )


def wgan_decode(values: np.ndarray, mask: np.ndarray, header) -> np.ndarray:
    """The WGAN inpainting generator ``wgan_inpaint`` trained on random masks, with the
    stream's seed and precision (parameters and result as :func:`diffusion_decode`).

    References
    ----------
    Peter 2022, "Quantisation and learned inpainting for compression", Eq. (1).
    """
    return _wgan(values, mask, header, network_model("wgan", mask))


def wgan_joint_decode(values: np.ndarray, mask: np.ndarray, header) -> np.ndarray:
    """The generator bundled with the mask WGAN model of the mask's density
    (``wgan_mask_dNN``), adapted to that mask generator's masks (as :func:`wgan_decode`)."""
    return _wgan(values, mask, header, network_model("wgan-joint", mask))


def eed_channels(values: np.ndarray, mask: np.ndarray, params: dict, colour: int) -> np.ndarray:
    """EED reconstruction ``(C, H, W)`` in the stream's colour space (see :func:`eed_decode`)."""
    from ..colour import has_chroma
    from ..decoders import EED_TOL
    from ..geometry import lattice_mask
    from ..inpainting.anisotropic import eed_inpaint, eed_solve, eed_tensor

    eed = {k: params[k] for k in ("lam", "sigma", "diffusivity")}
    if not has_chroma(values.shape[0], colour):
        # grey, or RGB: one joint tensor from every channel
        return eed_inpaint(values, mask, tol=EED_TOL, **eed).u
    luma = eed_inpaint(values[0], mask, tol=EED_TOL, **eed).u
    cmask = lattice_mask(mask, int(params.get("chroma_step", 1)))
    if not cmask.any():
        from ..errors import BitstreamError

        raise BitstreamError("corrupt stream (the chroma mask is empty)")
    chroma = eed_solve(values[1:], cmask, eed_tensor(luma, **eed), tol=EED_TOL).u
    return np.concatenate([luma[None], chroma])


def eed_decode(values: np.ndarray, mask: np.ndarray, header) -> np.ndarray:
    """Edge-enhancing anisotropic diffusion inpainting with the stream's parameters.

    Grey images and RGB: nonlinear EED with one joint diffusion tensor
    (:func:`sparsecodec.inpainting.anisotropic.eed_inpaint`). YCbCr colour (luma
    preference): the luma is inpainted by EED, then Cb and Cr by the linear anisotropic
    diffusion whose tensor is that of the reconstructed luma, from the chroma values at the
    lattice points of step
    ``chroma_step`` of the mask (parameters and result as :func:`diffusion_decode`).

    References
    ----------
    Weickert 1994, "Theoretical foundations of anisotropic diffusion in image processing";
    Schmaltz, Peter, Mainberger, Ebel, Weickert, Bruhn 2014, "Understanding, optimising, and
    extending data compression with anisotropic diffusion", IJCV 108, Sec. 2; Peter, Kaufhold,
    Weickert 2017, "Turning diffusion-based image colorization into efficient colour
    compression", IEEE TIP 26, Sec. 3 (luma preference).
    """
    u = eed_channels(values, mask, header.decoder_params(), header.colour)
    return image_space(u, header.colour)


def reconstruct(header, mask: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The decoded uint8 image from a header, the mask and the quantised values ``(C, N)``."""
    from ..errors import BitstreamError

    decoder = decoder_by_id(header.decoder)
    if decoder is None:
        raise BitstreamError(f"unknown decoder id {header.decoder}")
    values = dequantised_values(q, mask, header.levels)
    return to_uint8_image(decoder.load()(values, mask, header))
