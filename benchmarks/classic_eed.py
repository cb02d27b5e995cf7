"""MSE of the classic grey test images at compression ratios 1:40, 1:80 and 1:160, side by side
with JPEG 2000, as the R-EED paper (Schmaltz et al. 2014, Tables 2-4) reports them.

sparsecodec streams are made by rate control at the ratio's rate (``sparsecodec.encode_result``
with ``bpp = 8 / ratio``; the quadtree default mask with tonal optimisation, once with the
homogeneous diffusion decoder and once with EED); JPEG 2000 (OpenJPEG through Pillow, 9/7
wavelet) is asked for the same rate. The table gives each codec's real rate and MSE.

    python -m benchmarks.classic_eed [--data DIR] [--images trui,peppers,...] [--out FILE]
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np

from .common import DEFAULT_DATA, RESULTS, command, load, machine, table

RATIOS = (40, 80, 160)
IMAGES = ("trui", "peppers", "house", "cameraman")


def jp2(img: np.ndarray, bpp: float) -> tuple[float, float]:
    """(bpp, MSE) of JPEG 2000 at ``bpp``."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(
        buf, format="JPEG2000", quality_mode="rates", quality_layers=[8 / bpp], irreversible=True
    )
    rec = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"), dtype=np.float64)
    return 8 * len(buf.getvalue()) / img.size, float(np.mean((rec - img) ** 2))


def sparse(img: np.ndarray, bpp: float, decoder: str) -> tuple[float, float, float]:
    """(bpp, MSE, encode seconds) of sparsecodec at ``bpp``."""
    import sparsecodec

    t = time.perf_counter()
    res = sparsecodec.encode_result(img, bpp=bpp, decoder=decoder)
    dt = time.perf_counter() - t
    rec = sparsecodec.decode(res.data).astype(np.float64)
    return 8 * len(res.data) / img.size, float(np.mean((rec - img) ** 2)), dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA / "classic"))
    ap.add_argument("--images", default=",".join(IMAGES))
    ap.add_argument("--out", default=str(RESULTS / "classic_eed.md"))
    args = ap.parse_args(argv)
    rows = []
    for name in args.images.split(","):
        img = load(Path(args.data) / f"{name}.png", grey=True)
        for ratio in RATIOS:
            bpp = 8.0 / ratio
            jb, jm = jp2(img, bpp)
            hb, hm, ht = sparse(img, bpp, "diffusion")
            eb, em, et = sparse(img, bpp, "eed")
            rows.append(
                [name, f"1:{ratio}", f"{jb:.3f}", f"{jm:.1f}", f"{hb:.3f}", f"{hm:.1f}",
                 f"{eb:.3f}", f"{em:.1f}", f"{et:.1f}"]
            )  # fmt: skip
            print(" ".join(rows[-1]), flush=True)
    head = ["image", "ratio", "JPEG 2000 bpp", "JPEG 2000 MSE", "diffusion bpp",
            "diffusion MSE", "EED bpp", "EED MSE", "EED encode s"]  # fmt: skip
    text = (
        "# Classic test images: MSE at 1:40 / 1:80 / 1:160 against JPEG 2000\n\n"
        f"Command: `{command()}`  \nMachine: {machine()}\n\n"
        "sparsecodec: quadtree mask + tonal optimisation, rate control to the ratio's rate "
        "(within 3 %), homogeneous diffusion and EED decoders; JPEG 2000: OpenJPEG 9/7 through "
        "Pillow at the same target rate. Lower MSE is better.\n\n" + table(head, rows) + "\n"
    )
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
