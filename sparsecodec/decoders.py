"""Registry of decoders: the inpainting that rebuilds an image from the stored values.

Every bitstream names its decoder by a one-byte id of the header, so ids must stay stable.
An entry declares what the decoder reads from the header besides the mask and the values
(:data:`HEADER_PARAMS`), whether the encoder may tonal-optimise the stored values for it, and
the function that decodes, imported lazily (torch loads only when a network decoder runs)::

    register_decoder("eed", 3, "sparsecodec.inpainting.eed", "eed_decode", "edge-enhancing
                     anisotropic diffusion (Weickert 1994)")

A decoder function has the signature ``fn(values, mask, header) -> image``: ``values`` are the
dequantised stored values as float64 ``(C, H, W)`` in the stream's colour space (zero off the
mask; see :func:`sparsecodec.pipeline.values.image_space`), ``mask`` the ``(H, W)`` bool mask,
``header`` the :class:`~sparsecodec.coding.header.Header`; it returns the float64 image
``(H, W)`` or ``(H, W, 3)`` in RGB, which the pipeline rounds and clips to uint8. The encoder
predicts its PSNR through the same function, so the function is part of the format.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .registry import Registry

#: header fields a decoder may declare it reads (the encoder fills them from its options)
HEADER_PARAMS = {
    "seed": "header seed (u32): the seed of the generator's noise",
    "precision": "flag FLAG_BFLOAT16: the arithmetic of the network (bfloat16 or float32)",
}


@dataclass(frozen=True)
class Decoder:
    """A registered decoder (see the module docstring for the function's signature).

    Attributes
    ----------
    name, id : str, int
        Name of the ``decoder=`` option / ``--decoder`` choice, and the header id.
    module, function : str
        Where the decoder function lives, imported on first use.
    description : str
        One line for ``--help`` and the docs.
    params : tuple of str
        The header fields of :data:`HEADER_PARAMS` it reads.
    tonal : bool
        Stored values may be tonal-optimised for it (the diffusion decoder is linear in them).
    with_mask : tuple of (str, str)
        ``(strategy, decoder)``: with this mask strategy the encoder writes that decoder
        instead (a network trained jointly with the mask generator).
    """

    name: str
    id: int
    module: str
    function: str
    description: str
    params: tuple[str, ...] = ()
    tonal: bool = False
    with_mask: tuple[tuple[str, str], ...] = ()

    @property
    def network(self) -> bool:
        """Runs a network whose precision is stored in the stream."""
        return "precision" in self.params

    def load(self) -> Callable[..., np.ndarray]:
        """The decoder function (imports its module)."""
        return getattr(importlib.import_module(self.module), self.function)

    def for_mask(self, strategy: str | None) -> Decoder:
        """The decoder the encoder writes with mask strategy ``strategy`` (usually itself)."""
        return DECODERS[dict(self.with_mask).get(strategy, self.name)]


#: the decoders by name, in registration order
DECODERS: Registry[Decoder] = Registry("decoder")


def register_decoder(
    name: str,
    id: int,
    module: str,
    function: str,
    description: str,
    *,
    params: tuple[str, ...] = (),
    tonal: bool = False,
    with_mask: tuple[tuple[str, str], ...] = (),
) -> Decoder:
    """Add a decoder to :data:`DECODERS` (names and ids unique; ids are in every stream)."""
    unknown = set(params) - set(HEADER_PARAMS)
    if unknown:
        raise ValueError(f"decoder {name!r}: unknown header parameter(s) {sorted(unknown)}")
    entry = Decoder(name, id, module, function, description, tuple(params), tonal, tuple(with_mask))
    return DECODERS.add(entry)


def get_decoder(name: str) -> Decoder:
    """The registered decoder ``name``, or an :class:`~sparsecodec.errors.OptionError`."""
    return DECODERS.entry(name)


def decoder_by_id(id: int) -> Decoder | None:
    """The decoder with header id ``id``, or None."""
    return DECODERS.by_id(id)


_IMPL = "sparsecodec.pipeline.decoding"
register_decoder(
    "diffusion",
    0,
    _IMPL,
    "diffusion_decode",
    "homogeneous diffusion inpainting (Laplace equation, multigrid)",
    tonal=True,
)
register_decoder(
    "wgan",
    1,
    _IMPL,
    "wgan_decode",
    "the WGAN inpainting generator trained on random masks (Peter 2022)",
    params=("seed", "precision"),
    with_mask=(("wgan", "wgan-joint"),),
)
register_decoder(
    "wgan-joint",
    2,
    _IMPL,
    "wgan_joint_decode",
    "the generator bundled with the mask WGAN of the mask's density (chosen automatically "
    "for --mask wgan --decoder wgan)",
    params=("seed", "precision"),
)
