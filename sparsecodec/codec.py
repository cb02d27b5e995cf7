"""The codec: composes the stages of :mod:`sparsecodec.pipeline` into encode and decode.

Encoding: mask (:mod:`.pipeline.masking`) -> stored values (:mod:`.pipeline.values`: colour
transform, tonal optimisation, quantisation) -> bitstream (:mod:`.coding`). Decoding:
bitstream -> values -> inpainting by the registered decoder (:mod:`.pipeline.decoding`). The
encoder reconstructs through exactly the code path of the decoder, so its predicted PSNR is
the PSNR of the decoded file. Rate control (:mod:`.ratecontrol`) is a search over
:func:`encode_image` and sits above this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .colour import colour_mode, colour_mode_by_id
from .decoders import decoder_by_id, get_decoder
from .io import check_image, to_uint8
from .pipeline.values import CHROMA_FACTOR, TONAL_OPTIONS, channel_levels, chroma_levels_for
from .validate import check_density, check_seed

__all__ = [
    "CHROMA_FACTOR",
    "DEFAULT_DENSITY",
    "DEFAULT_LEVELS",
    "DEFAULT_MASK",
    "DEFAULT_TONAL",
    "TONAL_OPTIONS",
    "EncodeResult",
    "channel_levels",
    "chroma_levels_for",
    "decode",
    "describe",
    "encode_image",
]

#: defaults of ``sparsecodec encode`` and :func:`encode_image`, chosen from the rate-distortion
#: benchmark (benchmarks/results/rd.md, issue 8): quadtree masks with tonal optimisation have
#: the best BD-rate among the configurations that encode a Kodak image in <= 10 s on the
#: 2-core development machine; density 6 % with 12 levels is the operating point of its
#: Pareto fronts near 0.2 bpp on Kodak
DEFAULT_DENSITY = 0.06
DEFAULT_MASK = "quadtree"
DEFAULT_LEVELS = 12
DEFAULT_TONAL = True
#: the default decoder (issue 26, item 5: the best RD among the configurations whose Kodak
#: colour encode takes <= 30 s): edge-enhancing anisotropic diffusion with luma-preference
#: colour; against homogeneous diffusion on all 24 Kodak images BD-PSNR +0.21 dB luma,
#: +0.72 dB colour (benchmarks/results/rd_eed24.md), default Kodak colour encode 15-19 s
#: (one thread 21-27 s; diffusion 3-5 s)
DEFAULT_DECODER = "eed"


@dataclass
class EncodeResult:
    """Everything an encode produced.

    Attributes
    ----------
    data : bytes
        The bitstream.
    mask : ndarray
        The ``(H, W)`` bool mask it stores.
    reconstruction : ndarray or None
        The uint8 image the decoder rebuilds (None with ``reconstruct=False``).
    stats : dict
        Sizes, rate, density, levels and (with the reconstruction) PSNR and MSE.
    """

    data: bytes
    mask: np.ndarray
    reconstruction: np.ndarray | None
    stats: dict = field(default_factory=dict)


def encode_image(
    image: np.ndarray,
    density: float = DEFAULT_DENSITY,
    mask: str | np.ndarray = DEFAULT_MASK,
    *,
    levels: int | tuple[int, ...] = DEFAULT_LEVELS,
    chroma_levels: int | None = None,
    seed: int = 0,
    colour: str = "ycbcr",
    decoder: str = DEFAULT_DECODER,
    tonal: bool = DEFAULT_TONAL,
    nlpe_cycles: float = 0,
    progress: bool = False,
    mask_options: dict | None = None,
    reconstruct: bool = True,
    mask_array: np.ndarray | None = None,
    precision: str = "auto",
    decoder_options: dict | None = None,
) -> EncodeResult:
    """Encode ``image`` (uint8 ``(H, W)`` or ``(H, W, 3)``; other types are read as grey levels
    0..255, see :func:`sparsecodec.io.to_uint8`) and return the full result.

    ``mask`` is a strategy name from :mod:`sparsecodec.masks` or a precomputed bool mask.
    ``decoder`` is a name of :data:`sparsecodec.decoders.DECODERS` (``"wgan"`` with
    ``mask="wgan"`` writes ``"wgan-joint"``), ``colour`` one of
    :data:`sparsecodec.colour.COLOUR_MODES` (for colour images).
    ``levels`` is the number of quantisation levels: per channel (a tuple), or one number for
    grey and luma, with ``chroma_levels`` (default ``CHROMA_FACTOR * levels``) for the chroma
    channels of YCbCr colour (see :func:`channel_levels`).
    ``tonal`` optimises the stored values for the diffusion decoder (quantisation-aware).
    ``nlpe_cycles > 0`` refines the mask of any strategy by nonlocal pixel exchange (for
    ``mask="nlpe"`` it sets the strategy's own number of cycles). ``mask_options`` are passed
    to the strategy (e.g. ``samples`` for learned masks, ``p``/``q`` for PS).
    ``reconstruct=False`` skips the decoder run (no reconstruction, PSNR or MSE in the stats).
    ``mask_array`` is the final mask (after any NLPE refinement) that these options already
    produced for this image and density (rate control reuses masks); it is recorded as the
    strategy's mask.
    ``precision`` (``"auto"``, ``"float32"``, ``"bfloat16"``) of the networks: the mask
    networks' pass and the WGAN decoders' generator; the latter is stored in the stream
    (:data:`~sparsecodec.coding.header.FLAG_BFLOAT16`) so that the decoder computes the same.
    ``"auto"`` is bfloat16 where the CPU has it natively (:mod:`sparsecodec.nets.precision`).
    ``decoder_options`` fix parameters the decoder stores in the stream (EED: ``lam``,
    ``sigma``, ``diffusivity``, ``chroma_step``); the others are chosen per image
    (:func:`sparsecodec.pipeline.params.choose_params`).
    """
    from . import masks
    from .coding import Header, part_sizes, write_stream
    from .coding.header import FLAG_BFLOAT16, FLAG_TONAL
    from .nets.precision import check_precision, resolve_precision
    from .pipeline.masking import choose_mask
    from .pipeline.params import choose_params
    from .pipeline.values import eed_stored_values, stored_values

    img = to_uint8(check_image(image))
    d = check_density(density)
    check_precision(precision)
    dec = get_decoder(decoder)
    mode = colour_mode(colour)
    seed = check_seed(seed)
    H, W = img.shape[:2]
    C = 1 if img.ndim == 2 else 3
    cs = mode.id if C == 3 else 0
    lv = channel_levels(levels, C, cs, chroma_levels)
    tonal = bool(tonal) and dec.tonal  # a network decoder ignores how the stored values fit

    m, strategy_id = choose_mask(
        img,
        d,
        mask,
        seed=seed,
        tonal=tonal,
        nlpe_cycles=nlpe_cycles,
        progress=progress,
        precision=precision,
        mask_options=mask_options,
        mask_array=mask_array,
    )
    # e.g. the generator adapted to the mask generator's masks
    dec = dec.for_mask(mask if isinstance(mask, str) else None)
    flags = FLAG_TONAL if tonal else 0
    # the decoder runs the networks on the CPU; precision of the stream's generator
    if dec.network and resolve_precision(precision, "cpu") == "bfloat16":
        flags |= FLAG_BFLOAT16
    # without tonal optimisation and reconstruction the stream's size does not depend on the
    # searched parameters (rate control's density search): no search then
    params = choose_params(
        dec,
        img,
        m,
        cs,
        lv,
        decoder_options,
        search=tonal or reconstruct,
        subdivision=isinstance(mask, str) and masks.get(mask).subdivision and not nlpe_cycles,
    )
    if dec.name == "eed":
        q = eed_stored_values(img, m, cs, lv, tonal, params)
    else:
        q = stored_values(img, m, cs, lv, tonal)
    header = Header(
        width=W,
        height=H,
        channels=C,
        levels=lv,
        colour=cs,
        mask_strategy=strategy_id,
        decoder=dec.id,
        seed=int(seed),
        flags=flags,
        params=dec.pack_params(params) if dec.stream_params else b"",
    )
    data = write_stream(header, m, q)
    sizes = part_sizes(data)
    stats = {
        "width": W,
        "height": H,
        "channels": C,
        "mask": mask if isinstance(mask, str) else "custom",
        "decoder": dec.name,
        "tonal": tonal,
        "target_density": d,
        "density": float(m.mean()),
        "mask_points": int(m.sum()),
        "levels": list(lv),
        "decoder_params": params,
        "bytes": len(data),
        "parts": sizes,
        "bpp": 8.0 * len(data) / (H * W),
        "bits_per_mask_point": 8.0 * sizes.get("mask", 0) / max(1, int(m.sum())),
    }
    rec = None
    if reconstruct:
        from . import metrics
        from .pipeline.decoding import reconstruct as rebuild

        rec = rebuild(header, m, q)
        stats.update(psnr=metrics.psnr(img, rec), mse=metrics.mse(img, rec))
    return EncodeResult(data, m, rec, stats)


def _stream_bytes(data: bytes | str | os.PathLike) -> bytes:
    """The stream itself, or the contents of the file at a ``str`` / path-like ``data``."""
    from .errors import BitstreamError
    from .io import read_stream_file

    if isinstance(data, (str, os.PathLike)):
        return read_stream_file(data)
    if isinstance(data, (int, float)) or data is None:  # bytes(5) would be five zero bytes
        raise BitstreamError(f"a stream is bytes or a file path, not {type(data).__name__}")
    try:
        return bytes(data)
    except TypeError:
        raise BitstreamError(
            f"a stream is bytes or a file path, not {type(data).__name__}"
        ) from None


def decode(data: bytes | str | os.PathLike) -> np.ndarray:
    """Decode a bitstream (bytes, or the path of a stream file) into a uint8 ``(H, W)`` or
    ``(H, W, 3)`` image."""
    from .coding import read_stream
    from .pipeline.decoding import reconstruct

    header, m, q = read_stream(_stream_bytes(data))
    return reconstruct(header, m, q)


def describe(data: bytes | str | os.PathLike) -> dict:
    """Header fields, part sizes, bits per pixel and per mask point of a bitstream (bytes, or
    the path of a stream file)."""
    from .coding import part_sizes, read_stream
    from .coding.header import FLAG_BFLOAT16, FLAG_QUADTREE, FLAG_TONAL
    from .coding.quadtree_coder import has_centres
    from .masks import by_id

    data = _stream_bytes(data)
    header, m, _ = read_stream(data)
    strategy = by_id(header.mask_strategy)
    sizes = part_sizes(data)
    n = int(m.sum())
    dec = decoder_by_id(header.decoder)
    mode = colour_mode_by_id(header.colour)
    return {
        "format_version": header.version,
        "width": header.width,
        "height": header.height,
        "channels": header.channels,
        "colour_space": (mode.name if mode else str(header.colour))
        if header.channels == 3
        else "grey",
        "mask_strategy": strategy.name if strategy else f"custom ({header.mask_strategy})",
        "decoder": dec.name if dec else str(header.decoder),
        "levels": list(header.levels),
        "decoder_params": header.decoder_params(),
        "seed": header.seed,
        "tonal": bool(header.flags & FLAG_TONAL),
        "precision": None
        if dec is None or not dec.network
        else ("bfloat16" if header.flags & FLAG_BFLOAT16 else "float32"),
        "mask_code": "context-mixing coder"
        if not header.flags & FLAG_QUADTREE
        else "quadtree split flags, corners and centres"
        if has_centres(data[header.size : header.size + header.mask_bytes])
        else "quadtree split flags",
        "mask_points": n,
        "density": n / (header.width * header.height),
        "bytes_header": sizes["header"],
        "bytes_mask": sizes["mask"],
        "bytes_values": sizes["values"],
        "bytes_total": len(data),
        "bpp": 8.0 * len(data) / (header.width * header.height),
        "bits_per_mask_point": 8.0 * sizes["mask"] / max(1, n),
        "bits_per_value": 8.0 * sizes["values"] / max(1, n * header.channels),
    }
