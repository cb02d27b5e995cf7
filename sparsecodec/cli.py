"""Command-line interface: a thin shell over :mod:`sparsecodec`'s Python API."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import click
import numpy as np

from . import masks
from .api import METHODS
from .codec import CHROMA_FACTOR, DEFAULT_DECODER, DEFAULT_DENSITY, DEFAULT_LEVELS, DEFAULT_MASK
from .colour import COLOUR_MODES
from .decoders import DECODERS
from .errors import SparseCodecError
from .masks.learned import BINARISE
from .nets.precision import PRECISIONS

OUTPUT_EXTS = (".png", ".pgm", ".ppm", ".pnm")


class _Group(click.Group):
    """Turns every :class:`SparseCodecError` into a one-line message and exit code 1."""

    def invoke(self, ctx):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always")
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except SparseCodecError as exc:
            raise click.ClickException(str(exc)) from None
        except MemoryError:
            raise click.ClickException("out of memory") from None


def _show_warning(message, category, filename, lineno, file=None, line=None):
    click.echo(f"warning: {message}", err=True)


def _check_output(path: str | None, exts: tuple[str, ...], what: str) -> None:
    if path is not None and Path(path).suffix.lower() not in exts:
        raise click.BadParameter(f"{path!r}: {what} must end in {', '.join(exts)}")


def _mask_options(strategy: str, device: str, **given) -> dict:
    """Options of the mask strategy from the command line: ``device`` for network strategies,
    and the ``given`` strategy options that are not None (each must be one the strategy
    declares, see :meth:`sparsecodec.masks.MaskStrategy.options`)."""
    entry = masks.get(strategy)
    opts: dict = {"device": device} if entry.network else {}
    for name, value in given.items():
        if value is not None:
            if name not in entry.options():
                takers = [s.name for s in masks.STRATEGIES.values() if name in s.options()]
                raise click.BadParameter(f"--{name} applies to --mask {' / '.join(takers)} only")
            opts[name] = value
    return opts


def _default_image() -> tuple[np.ndarray, str]:
    from .data import default_image

    return default_image(), "embedded default image (scikit-image astronaut)"


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sparsecodec")
def cli() -> None:
    """Image compression by sparse inpainting (diffusion or WGAN decoders)."""


@cli.command()
@click.argument("input", required=False, type=click.Path(dir_okay=True))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Bitstream to write (.bin).",
)
@click.option(
    "-d",
    "--density",
    type=float,
    default=None,
    help=f"Fraction of pixels stored, in (0, 1] (default {DEFAULT_DENSITY}).",
)
@click.option(
    "--mask",
    "strategy",
    type=click.Choice(sorted(masks.STRATEGIES)),
    default=None,
    help=f"Mask strategy (default: {DEFAULT_MASK}).",
)
@click.option(
    "--bpp",
    type=float,
    default=None,
    help="Target rate: choose density and quantisation to land within 3 % of it.",
)
@click.option(
    "--psnr",
    "target_psnr",
    type=float,
    default=None,
    help="Target quality: the smallest file whose decoded PSNR reaches it (dB).",
)
@click.option(
    "--quant",
    type=click.IntRange(2, 256),
    default=None,
    help=f"Quantisation levels of grey/luma values (default {DEFAULT_LEVELS}; with --bpp/--psnr:"
    " chosen).",
)
@click.option(
    "--chroma-quant",
    type=click.IntRange(2, 256),
    default=None,
    help=f"Quantisation levels of the chroma values (YCbCr; default {CHROMA_FACTOR}x --quant,"
    " or chosen).",
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option(
    "--colour",
    type=click.Choice(list(COLOUR_MODES)),
    default="ycbcr",
    show_default=True,
    help="Colour space of the stored values.",
)
@click.option(
    "--decoder",
    type=click.Choice(list(DECODERS)),
    default=DEFAULT_DECODER,
    show_default=True,
    help="; ".join(f"{d.name}: {d.description}" for d in DECODERS.values()) + ".",
)
@click.option(
    "--tonal/--no-tonal",
    default=True,
    show_default=True,
    help="Tonal optimisation of the stored values (diffusion decoder).",
)
@click.option(
    "--nlpe-cycles",
    type=click.FloatRange(0, 1000),
    default=0,
    help="Refine the mask by nonlocal pixel exchange (cycles; 0 = off).",
)
@click.option(
    "--samples",
    type=click.IntRange(1, 1000),
    default=None,
    help="Learned masks: best of this many binarisations (dithering: at most 8 orientations).",
)
@click.option(
    "--binarise",
    type=click.Choice(BINARISE),
    default=None,
    help="Learned masks: Floyd-Steinberg dithering (default) or weighted coin flips (paper).",
)
@click.option(
    "--centres/--no-centres",
    default=None,
    help="Quadtree masks: also store the centre of every final square (R-EED's corner and "
    "midpoint data; default off).",
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="Torch device of the networks (cpu, cuda, cuda:1, ...).",
)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="auto",
    show_default=True,
    help="Arithmetic of the networks (mask networks, WGAN decoder; stored in the stream for "
    "the decoder). auto: bfloat16 where the CPU has it natively.",
)
@click.option("--save-mask", type=click.Path(dir_okay=False), help="Write the mask as PNG.")
@click.option(
    "--save-recon",
    type=click.Path(dir_okay=False),
    help="Write the image the decoder will rebuild (PNG/PGM/PPM).",
)
@click.option("--json", "as_json", is_flag=True, help="Print statistics as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
def encode(
    input,
    output,
    density,
    strategy,
    bpp,
    target_psnr,
    quant,
    chroma_quant,
    seed,
    colour,
    decoder,
    tonal,
    nlpe_cycles,
    samples,
    binarise,
    centres,
    device,
    precision,
    save_mask,
    save_recon,
    as_json,
    quiet,
) -> None:
    """Encode INPUT (PNG, PGM/PPM, JPEG, TIFF, BMP) into a bitstream.

    Without INPUT, the embedded default image is encoded.
    """
    from .api import encode_result
    from .io import atomic_write_all, image_bytes, read_image

    strategy = strategy or DEFAULT_MASK
    _check_output(save_mask, (".png",), "--save-mask")
    _check_output(save_recon, OUTPUT_EXTS, "--save-recon")
    if input is None:
        image, name = _default_image()
    else:
        image, name = read_image(input), input
    if sum(v is not None for v in (density, bpp, target_psnr)) > 1:
        raise click.UsageError("give at most one of -d/--density, --bpp and --psnr")
    opts = dict(
        seed=seed,
        colour=colour,
        decoder=decoder,
        tonal=tonal,
        nlpe_cycles=nlpe_cycles,
        progress=not quiet,
        mask_options=_mask_options(
            strategy, device, samples=samples, binarise=binarise, centres=centres
        ),
        precision=precision,
    )
    # not given: the encoder's defaults (with a target: chosen by rate control)
    for key, value in (("levels", quant), ("chroma_levels", chroma_quant)):
        if value is not None:
            opts[key] = value
    t0 = time.perf_counter()
    res = encode_result(image, density, strategy, bpp=bpp, psnr=target_psnr, **opts)
    res.stats["encode_seconds"] = time.perf_counter() - t0
    files = [(output, res.data)]  # written all or none
    if save_mask:
        files.append((save_mask, image_bytes(save_mask, res.mask.astype(np.uint8) * 255)))
    if save_recon:
        files.append((save_recon, image_bytes(save_recon, res.reconstruction)))
    atomic_write_all(files)
    s = res.stats
    s.update(input=name, output=output)
    if as_json:
        click.echo(json.dumps(s, indent=2))
    elif not quiet:
        p = s["parts"]
        shape = f"{s['width']}x{s['height']}" + ("x3" if s["channels"] == 3 else "")
        click.echo(f"{name} ({shape}) -> {output}")
        click.echo(
            f"  mask     {s['mask']}: {s['mask_points']} points, density "
            f"{100 * s['density']:.2f} % (target {100 * s['target_density']:.2f} %)"
        )
        click.echo(
            f"  bytes    header {p['header']}, mask {p['mask']}, values {p['values']}, "
            f"total {s['bytes']}"
        )
        click.echo(
            f"  rate     {s['bpp']:.4f} bpp, {s['bits_per_mask_point']:.3f} bits per "
            f"mask point, levels {'/'.join(str(v) for v in s['levels'])}"
        )
        click.echo(
            f"  PSNR     {s['psnr']:.2f} dB (the decoded image), "
            f"encoded in {s['encode_seconds']:.2f} s"
        )


@cli.command()
@click.argument("input", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Image to write (.png, .pgm, .ppm).",
)
@click.option("-q", "--quiet", is_flag=True)
def decode(input, output, quiet) -> None:
    """Decode a bitstream INPUT into an image."""
    from .codec import decode as _decode
    from .io import write_image

    _check_output(output, OUTPUT_EXTS, "output")
    t0 = time.perf_counter()
    img = _decode(input)
    dt = time.perf_counter() - t0
    write_image(output, img)
    if not quiet:
        shape = "x".join(str(v) for v in img.shape[1::-1]) + ("x3" if img.ndim == 3 else "")
        click.echo(f"{input} -> {output} ({shape}), decoded in {dt:.2f} s")


@cli.command()
@click.argument("input", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def info(input, as_json) -> None:
    """Show the header fields, part sizes and rate of a bitstream."""
    from .codec import describe

    d = describe(input)
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    for k, v in d.items():
        if v is not None:  # e.g. the precision of a WGAN decoder, absent for diffusion
            click.echo(f"{k:22s} {v}")


@cli.command()
@click.argument("damaged", type=click.Path(dir_okay=False))
@click.option(
    "--holes",
    required=True,
    type=click.Path(dir_okay=False),
    help="Image of the same size; white (non-zero) = missing pixel.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Image to write (.png, .pgm, .ppm).",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default="diffusion",
    show_default=True,
)
@click.option(
    "--iterations",
    type=click.IntRange(1, 100000),
    default=None,
    help="Semantic: latent optimisation steps (default 1000).",
)
@click.option(
    "--fallback/--no-fallback",
    default=True,
    show_default=True,
    help="Semantic: blend each hole with diffusion by a weight measured on a hidden band of "
    "known pixels, falling back to diffusion without confidence (--no-fallback: the paper's).",
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--device", default="cpu", show_default=True)
@click.option("-q", "--quiet", is_flag=True)
def inpaint(damaged, holes, output, method, iterations, fallback, seed, device, quiet) -> None:
    """Fill the HOLES of DAMAGED by diffusion, the WGAN generator or semantic inpainting."""
    from .api import inpaint as _inpaint
    from .errors import ImageError
    from .io import read_image, write_image

    _check_output(output, OUTPUT_EXTS, "output")
    img = read_image(damaged)
    h = read_image(holes)
    if h.ndim == 3:
        h = h.max(axis=2)
    if h.shape != img.shape[:2]:
        raise ImageError(
            f"holes image is {h.shape[1]}x{h.shape[0]} but the damaged image is "
            f"{img.shape[1]}x{img.shape[0]}"
        )
    missing = h > 127
    if not missing.any():
        raise ImageError("the holes image marks no missing pixel (white = missing)")
    if missing.all():
        raise ImageError("the holes image marks every pixel as missing")
    opts: dict = {}
    if method != "diffusion":
        opts.update(seed=seed, device=device)
    if method == "semantic":
        opts["progress"] = not quiet
        opts["fallback"] = fallback
        if iterations is not None:
            opts["iterations"] = iterations
    elif iterations is not None:
        raise click.BadParameter("--iterations applies to --method semantic only")
    elif not fallback:
        raise click.BadParameter("--no-fallback applies to --method semantic only")
    t0 = time.perf_counter()
    out = _inpaint(img, ~missing, method=method, **opts)
    write_image(output, out)
    if not quiet:
        click.echo(
            f"{damaged}: {int(missing.sum())} missing pixels filled by {method} -> "
            f"{output} in {time.perf_counter() - t0:.2f} s"
        )


def main() -> None:
    """Console-script entry point."""
    args = set(sys.argv[1:])
    if args and not {"-h", "--help", "--version"} & args:
        from . import firstrun  # the first run after an install: see its docstring

        if {"encode", "decode"} & args:
            firstrun.start_background_compile()  # also with -q: it prints nothing
        if not {"-q", "--quiet"} & args:
            firstrun.install()  # the compile notice
    sys.exit(cli.main(prog_name="sparsecodec"))
