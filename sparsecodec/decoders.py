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
class StreamParam:
    """A decoder parameter stored in the header's parameter block (format version 5).

    The value is stored as the unsigned integer ``round(value * scale)`` of ``size`` bytes
    (little endian); ``choices`` turns it into an index into a tuple of names. Readers refuse
    raw values outside ``[lo, hi]`` (a forged header cannot ask for a huge Gaussian kernel).
    """

    name: str
    size: int
    scale: float
    lo: int
    hi: int
    description: str
    choices: tuple[str, ...] = ()

    def pack(self, value) -> bytes:
        """The stored bytes of ``value`` (an :class:`OptionError` outside the range)."""
        from .errors import OptionError

        if self.choices:
            if value not in self.choices:
                raise OptionError(
                    f"unknown {self.name} {value!r} (choose from {', '.join(self.choices)})"
                )
            raw = self.choices.index(value)
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                v = None
            if v is None or not np.isfinite(v):
                raise OptionError(f"{self.name} must be a finite number, got {value!r}")
            raw = round(v * self.scale)
            if not self.lo <= raw <= self.hi:
                raise OptionError(
                    f"{self.name} must lie in [{self.lo / self.scale:g}, "
                    f"{self.hi / self.scale:g}], got {value!r}"
                )
        return int(raw).to_bytes(self.size, "little")

    def unpack(self, raw: int):
        """The value of the stored integer ``raw`` (assumed in range)."""
        if self.choices:
            return self.choices[raw]
        return raw if self.scale == 1 else raw / self.scale

    def quantised(self, value):
        """``value`` as the decoder will read it back (what the encoder must predict with)."""
        return self.unpack(int.from_bytes(self.pack(value), "little"))


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
    stream_params : tuple of StreamParam
        Parameters stored in the header's parameter block, in this order; the decoder
        function reads them with ``header.decoder_params()``.
    """

    name: str
    id: int
    module: str
    function: str
    description: str
    params: tuple[str, ...] = ()
    tonal: bool = False
    with_mask: tuple[tuple[str, str], ...] = ()
    stream_params: tuple[StreamParam, ...] = ()

    @property
    def params_size(self) -> int:
        """Bytes of the header's parameter block for this decoder."""
        return sum(p.size for p in self.stream_params)

    def pack_params(self, values: dict) -> bytes:
        """The parameter block of ``values`` (every declared parameter must be given)."""
        from .errors import OptionError

        extra = set(values) - {p.name for p in self.stream_params}
        if extra:
            raise OptionError(f"unknown option(s) for the {self.name} decoder: {', '.join(extra)}")
        missing = [p.name for p in self.stream_params if p.name not in values]
        if missing:
            raise OptionError(f"the {self.name} decoder needs {', '.join(missing)}")
        return b"".join(p.pack(values[p.name]) for p in self.stream_params)

    def params_problem(self, block: bytes) -> str | None:
        """Why ``block`` is not a valid parameter block of this decoder, or None."""
        if len(block) != self.params_size:
            return (
                f"decoder {self.name} has a {self.params_size}-byte parameter block, "
                f"got {len(block)} bytes"
            )
        at = 0
        for p in self.stream_params:
            raw = int.from_bytes(block[at : at + p.size], "little")
            at += p.size
            hi = len(p.choices) - 1 if p.choices else p.hi
            if not p.lo <= raw <= hi:
                return f"decoder parameter {p.name} out of range (stored {raw})"
        return None

    def unpack_params(self, block: bytes) -> dict:
        """The parameters of a valid block, by name (see :meth:`params_problem`)."""
        out, at = {}, 0
        for p in self.stream_params:
            out[p.name] = p.unpack(int.from_bytes(block[at : at + p.size], "little"))
            at += p.size
        return out

    def defaults(self) -> dict:
        """Declared parameters' defaults (:data:`PARAM_DEFAULTS`), as the stream stores them."""
        return {p.name: p.quantised(PARAM_DEFAULTS[self.name][p.name]) for p in self.stream_params}

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
    stream_params: tuple[StreamParam, ...] = (),
) -> Decoder:
    """Add a decoder to :data:`DECODERS` (names and ids unique; ids are in every stream)."""
    unknown = set(params) - set(HEADER_PARAMS)
    if unknown:
        raise ValueError(f"decoder {name!r}: unknown header parameter(s) {sorted(unknown)}")
    entry = Decoder(
        name,
        id,
        module,
        function,
        description,
        tuple(params),
        tonal,
        tuple(with_mask),
        tuple(stream_params),
    )
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
#: the network decoders store the identity of their weights (:func:`sparsecodec.nets.zoo.tag`),
#: set by the encoder from the weights it used; the decoder refuses other weights
WEIGHTS_PARAMS = (
    StreamParam("weights", 4, 1.0, 0, 2**32 - 1, "first 4 bytes of the weights' SHA-256"),
)
register_decoder(
    "wgan",
    1,
    _IMPL,
    "wgan_decode",
    "the WGAN inpainting generator trained on random masks (Peter 2022)",
    params=("seed", "precision"),
    with_mask=(("wgan", "wgan-joint"),),
    stream_params=WEIGHTS_PARAMS,
)
register_decoder(
    "wgan-joint",
    2,
    _IMPL,
    "wgan_joint_decode",
    "the generator bundled with the mask WGAN of the mask's density (chosen automatically "
    "for --mask wgan --decoder wgan)",
    params=("seed", "precision"),
    stream_params=WEIGHTS_PARAMS,
)

#: Edge-enhancing anisotropic diffusion (R-EED family, Schmaltz et al. 2014): contrast
#: parameter ``lam`` (grey values per pixel), Gaussian presmoothing ``sigma`` (pixels), the
#: diffusivity, and the chroma mask step of luma-preference colour (``chroma_step`` k > 1:
#: chroma is stored only at the mask points on the lattice of step k; Peter et al. 2017)
EED_PARAMS = (
    StreamParam("lam", 2, 256.0, 1, 65535, "contrast parameter lambda, grey values / pixel"),
    StreamParam("sigma", 1, 32.0, 0, 128, "Gaussian presmoothing sigma, pixels (<= 4)"),
    StreamParam("diffusivity", 1, 1.0, 0, 1, "diffusivity", choices=("charbonnier", "exponential")),
    StreamParam("chroma_step", 1, 1.0, 1, 16, "chroma mask lattice step (1: the luma mask)"),
)
#: relative tolerance of the EED decoder's linear solves; part of the format (the encoder
#: predicts with it)
EED_TOL = 1e-4
#: default decoder parameters, used by the encoder where it does not search them. EED's
#: ``chroma_step`` 16: BD-PSNR +0.44 dB (first 8 Kodak images) and +0.67 dB (8 bsds500/val
#: images) over the one-mask colour of step 1, step 8 +0.39 / +0.48 dB, colour RGB PSNR
#: (benchmarks/results/rd_eed_chroma_step.md, rd_eed_chroma_step_bsds.md)
PARAM_DEFAULTS = {
    "eed": {"lam": 2.0, "sigma": 1.0, "diffusivity": "charbonnier", "chroma_step": 16},
    "wgan": {"weights": 0},  # replaced by the tag of the weights the encoder uses
    "wgan-joint": {"weights": 0},
}
register_decoder(
    "eed",
    3,
    _IMPL,
    "eed_decode",
    "edge-enhancing anisotropic diffusion (R-EED, Schmaltz et al. 2014), luma-preference colour",
    tonal=True,
    stream_params=EED_PARAMS,
)
