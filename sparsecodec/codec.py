"""The codec: image -> (mask, quantised values) -> bitstream -> reconstruction.

Encoding chooses a mask with a registered strategy (computed on the luma of colour images; one
mask serves all channels), transforms colour images to YCbCr, optionally optimises the stored
values (tonal optimisation), quantises them and writes one bitstream (:mod:`.coding`). The
encoder reconstructs through exactly the code path of the decoder (:func:`rebuild`), so its
predicted PSNR is the PSNR of the decoded file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import masks
from .colour import luma, rgb_to_ycbcr, ycbcr_to_rgb
from .errors import OptionError
from .io import check_image, check_mask, to_uint8
from .validate import check_density, check_keywords, check_levels, check_seed

#: decoder ids of the header: homogeneous diffusion; the WGAN generator ``wgan_inpaint``
#: (trained on random masks); the generator bundled with the mask WGAN model for the mask's
#: density (``wgan_mask_dNN``, adapted to that mask generator's masks). ``decoder="wgan"``
#: with ``mask="wgan"`` writes ``wgan-joint``: the paper's pairing of the two networks
DECODERS = {"diffusion": 0, "wgan": 1, "wgan-joint": 2}
COLOUR_SPACES = {"rgb": 0, "ycbcr": 1}
#: defaults of ``sparsecodec encode`` and :func:`encode`, chosen from the rate-distortion
#: benchmark (benchmarks/results/rd.md, issue 8): quadtree masks with tonal optimisation have
#: the best BD-rate among the configurations that encode a Kodak image in <= 10 s on the
#: 2-core development machine; density 6 % with 12 levels is the operating point of its
#: Pareto fronts near 0.2 bpp on Kodak
DEFAULT_DENSITY = 0.06
DEFAULT_MASK = "quadtree"
DEFAULT_LEVELS = 12
#: chroma levels of YCbCr colour images = CHROMA_FACTOR x the luma levels: Cb and Cr fill a
#: narrow band of [0, 255], so the uniform quantiser needs finer steps there, and the adaptive
#: value coder pays little for the unused levels (benchmarks/results/chroma.md: BD-rate of the
#: chroma factors against equal levels on Kodak); rate control chooses the factor per image
CHROMA_FACTOR = 1.5
DEFAULT_TONAL = True
#: solver settings of the decoder; part of the format (the encoder predicts with the same)
DECODE_SOLVER = "multigrid"
DECODE_TOL = 1e-6
#: settings of ``optimise_tonal`` inside the encoder (``tonal=True``): 12 CGLS iterations and
#: rounding to the quantisation grid take half the time of (25, progressive) for <= 0.07 dB
#: (measured on Kodak, see :func:`sparsecodec.tonal.optimise_tonal`)
TONAL_OPTIONS = {"maxiter": 12, "progressive": False}


@dataclass
class EncodeResult:
    """Everything :func:`encode_image` produced: the bitstream and what the decoder rebuilds."""

    data: bytes
    mask: np.ndarray
    reconstruction: np.ndarray
    stats: dict = field(default_factory=dict)


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
    if chroma_levels is not None and not (channels == 3 and colour == COLOUR_SPACES["ycbcr"]):
        raise OptionError("chroma levels apply only to colour images stored as YCbCr")
    if np.isscalar(levels):
        levels = check_levels(levels)
        if channels == 3 and colour == COLOUR_SPACES["ycbcr"]:
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
    """``(C, H, W)`` float64 channels in which values are stored (YCbCr for colour=1)."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        return a[None]
    if colour == COLOUR_SPACES["ycbcr"]:
        a = rgb_to_ycbcr(a)
    return np.ascontiguousarray(np.moveaxis(a, 2, 0))


def image_space(chw: np.ndarray, colour: int) -> np.ndarray:
    """Inverse of :func:`to_coding_space` in float64 ``(H, W[, 3])``, not rounded."""
    if chw.shape[0] == 1:
        return chw[0]
    a = np.moveaxis(chw, 0, 2)
    return ycbcr_to_rgb(a) if colour == COLOUR_SPACES["ycbcr"] else a


def from_coding_space(chw: np.ndarray, colour: int) -> np.ndarray:
    """Inverse of :func:`to_coding_space`, rounded and clipped to uint8 ``(H, W[, 3])``."""
    return np.clip(np.round(image_space(chw, colour)), 0, 255).astype(np.uint8)


def rebuild(header, mask: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Rebuild the image from a header, the mask and the quantised values (the decoder)."""
    from .coding import dequantise
    from .coding.header import FLAG_BFLOAT16
    from .errors import BitstreamError

    C, H, W = header.channels, header.height, header.width
    values = np.zeros((C, H, W))
    for c in range(C):
        values[c][mask] = dequantise(q[c], header.levels[c])
    if header.decoder == DECODERS["diffusion"]:
        from .inpainting import solve

        u = solve(values, mask, solver=DECODE_SOLVER, tol=DECODE_TOL).u
    elif header.decoder in (DECODERS["wgan"], DECODERS["wgan-joint"]):
        from .inpainting.wgan_decoder import DEFAULT_MODEL, wgan_inpaint

        model = DEFAULT_MODEL
        if header.decoder == DECODERS["wgan-joint"]:
            from .masks.wgan import joint_model

            model = joint_model(mask)
        precision = "bfloat16" if header.flags & FLAG_BFLOAT16 else "float32"
        out = wgan_inpaint(
            image_space(values, header.colour),
            mask,
            seed=header.seed,
            model=model,
            precision=precision,
        )
        return np.clip(np.round(out), 0, 255).astype(np.uint8)
    else:
        raise BitstreamError(f"unknown decoder id {header.decoder}")
    return from_coding_space(u, header.colour)


def encode_image(
    image: np.ndarray,
    density: float = DEFAULT_DENSITY,
    mask: str | np.ndarray = DEFAULT_MASK,
    *,
    levels: int | tuple[int, ...] = DEFAULT_LEVELS,
    chroma_levels: int | None = None,
    seed: int = 0,
    colour: str = "ycbcr",
    decoder: str = "diffusion",
    tonal: bool = DEFAULT_TONAL,
    nlpe_cycles: float = 0,
    progress: bool = False,
    mask_options: dict | None = None,
    reconstruct: bool = True,
    mask_array: np.ndarray | None = None,
    precision: str = "auto",
) -> EncodeResult:
    """Encode ``image`` (uint8 ``(H, W)`` or ``(H, W, 3)``; other types are read as grey levels
    0..255, see :func:`sparsecodec.io.to_uint8`) and return the full result.

    ``mask`` is a strategy name from :mod:`sparsecodec.masks` or a precomputed bool mask.
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
    """
    from .coding import Header, quantise, write_stream
    from .coding.header import FLAG_BFLOAT16, FLAG_TONAL
    from .nets.precision import check_precision, resolve_precision

    img = to_uint8(check_image(image))
    d = check_density(density)
    check_precision(precision)
    if decoder not in DECODERS:
        raise OptionError(f"unknown decoder {decoder!r} (choose from {', '.join(DECODERS)})")
    if colour not in COLOUR_SPACES:
        raise OptionError(f"unknown colour space {colour!r} (choose from rgb, ycbcr)")
    seed = check_seed(seed)
    H, W = img.shape[:2]
    C = 1 if img.ndim == 2 else 3
    cs = COLOUR_SPACES[colour] if C == 3 else 0
    lv = channel_levels(levels, C, cs, chroma_levels)

    y = luma(img)
    if isinstance(mask, str):
        strategy = masks.get(mask)
        opts = dict(mask_options or {})
        if strategy.colour and C == 3:
            opts.setdefault("colour", img)
        if strategy.slow:
            opts.setdefault("progress", progress)
        if strategy.network:
            opts.setdefault("precision", precision)
        if mask == "nlpe":
            if nlpe_cycles:
                opts.setdefault("cycles", nlpe_cycles)
            opts.setdefault("tonal", bool(tonal) and decoder == "diffusion")
        if mask_array is not None:
            m = check_mask(mask_array)
            if m.shape != (H, W):
                raise OptionError(f"mask shape {m.shape} does not match image {(H, W)}")
        else:
            m = strategy.load()(y, d, seed=int(seed), **opts)
        strategy_id = strategy.id
    else:
        m = check_mask(mask)
        strategy_id = 255
        if m.shape != (H, W):
            raise OptionError(f"mask shape {m.shape} does not match image {(H, W)}")
    if not m.any():
        raise OptionError("the mask is empty")
    if nlpe_cycles and mask != "nlpe" and mask_array is None:
        from .masks.nlpe import nlpe_refine

        m = nlpe_refine(
            y,
            m,
            cycles=nlpe_cycles,
            seed=int(seed),
            progress=progress,
            tonal=bool(tonal) and decoder == "diffusion",
        )

    chw = to_coding_space(img, cs)
    tonal = bool(tonal) and decoder == "diffusion"  # the WGAN decoder ignores stored values' fit
    if decoder == "wgan" and isinstance(mask, str) and mask == "wgan":
        decoder = "wgan-joint"  # the generator adapted to this mask generator's masks
    flags = FLAG_TONAL if tonal else 0
    # rebuild() runs the WGAN decoders on the CPU; precision of the stream's generator
    if decoder != "diffusion" and resolve_precision(precision, "cpu") == "bfloat16":
        flags |= FLAG_BFLOAT16
    if tonal:
        from .tonal import optimise_tonal

        opt = optimise_tonal(
            np.moveaxis(chw, 0, 2) if C > 1 else chw[0], m, levels=lv, **TONAL_OPTIONS
        )
        chw = to_coding_space(opt, 0) if C == 1 else np.ascontiguousarray(np.moveaxis(opt, 2, 0))
    q = np.stack([quantise(chw[c][m], lv[c]) for c in range(C)])
    header = Header(
        width=W,
        height=H,
        channels=C,
        levels=lv,
        colour=cs,
        mask_strategy=strategy_id,
        decoder=DECODERS[decoder],
        seed=int(seed),
        flags=flags,
    )
    data = write_stream(header, m, q)
    from .coding import part_sizes

    sizes = part_sizes(data)
    stats = {
        "width": W,
        "height": H,
        "channels": C,
        "mask": mask if isinstance(mask, str) else "custom",
        "decoder": decoder,
        "tonal": bool(tonal),
        "target_density": d,
        "density": float(m.mean()),
        "mask_points": int(m.sum()),
        "levels": list(lv),
        "bytes": len(data),
        "parts": sizes,
        "bpp": 8.0 * len(data) / (H * W),
        "bits_per_mask_point": 8.0 * sizes.get("mask", 0) / max(1, int(m.sum())),
    }
    rec = None
    if reconstruct:
        from . import metrics

        rec = rebuild(header, m, q)
        stats.update(psnr=metrics.psnr(img, rec), mse=metrics.mse(img, rec))
    return EncodeResult(data, m, rec, stats)


def encode(
    image: np.ndarray,
    density: float = DEFAULT_DENSITY,
    mask: str = DEFAULT_MASK,
    *,
    bpp: float | None = None,
    psnr: float | None = None,
    **options,
) -> bytes:
    """Encode an image into a sparsecodec bitstream (see :func:`encode_image` for options).

    With ``bpp`` (or ``psnr``) the density and the quantisation are chosen by rate control
    (:mod:`sparsecodec.ratecontrol`) and ``density`` is ignored.
    """
    if bpp is not None or psnr is not None:
        from .ratecontrol import encode_to_quality, encode_to_rate

        if bpp is not None and psnr is not None:
            raise OptionError("give at most one of bpp and psnr")
        # rate control's own options; it sets the density, mask_array and reconstruct itself
        own = {"levels", "levels_grid", "steps"} | ({"rel_tol"} if bpp is not None else set())
        rest = {k: v for k, v in options.items() if k not in own}
        check_keywords(encode_image, rest, "rate control", filled=("reconstruct", "mask_array"))
        if "levels" in options:
            options["levels_grid"] = (options.pop("levels"),)
        if bpp is not None:
            return encode_to_rate(image, bpp, mask, **options).data
        return encode_to_quality(image, psnr, mask, **options).data
    check_keywords(encode_image, options, "encode")
    return encode_image(image, density, mask, **options).data


def _stream_bytes(data: bytes | str | os.PathLike) -> bytes:
    """The stream itself, or the contents of the file at a ``str`` / path-like ``data``."""
    from .errors import BitstreamError

    if isinstance(data, (str, os.PathLike)):
        p = Path(data)
        if p.is_dir():
            raise BitstreamError(f"cannot read stream {str(p)!r}: it is a directory")
        try:
            return p.read_bytes()
        except OSError as exc:
            raise BitstreamError(f"cannot read stream {str(p)!r}: {exc.strerror or exc}") from None
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

    header, m, q = read_stream(_stream_bytes(data))
    return rebuild(header, m, q)


def describe(data: bytes | str | os.PathLike) -> dict:
    """Header fields, part sizes, bits per pixel and per mask point of a bitstream (bytes, or
    the path of a stream file)."""
    from .coding import part_sizes, read_stream
    from .coding.header import FLAG_BFLOAT16, FLAG_QUADTREE, FLAG_TONAL

    data = _stream_bytes(data)
    header, m, _ = read_stream(data)
    strategy = masks.by_id(header.mask_strategy)
    sizes = part_sizes(data)
    n = int(m.sum())
    decoder = {v: k for k, v in DECODERS.items()}.get(header.decoder, str(header.decoder))
    colour = {v: k for k, v in COLOUR_SPACES.items()}.get(header.colour, str(header.colour))
    return {
        "format_version": header.version,
        "width": header.width,
        "height": header.height,
        "channels": header.channels,
        "colour_space": colour if header.channels == 3 else "grey",
        "mask_strategy": strategy.name if strategy else f"custom ({header.mask_strategy})",
        "decoder": decoder,
        "levels": list(header.levels),
        "seed": header.seed,
        "tonal": bool(header.flags & FLAG_TONAL),
        "precision": None
        if header.decoder == DECODERS["diffusion"]
        else ("bfloat16" if header.flags & FLAG_BFLOAT16 else "float32"),
        "mask_code": "quadtree split flags"
        if header.flags & FLAG_QUADTREE
        else "context-mixing coder",
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
