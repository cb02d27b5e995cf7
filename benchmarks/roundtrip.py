"""Encode/decode every image of a folder and check that the decoded PSNR equals the encoder's.

    python -m benchmarks.roundtrip [--data DIR] [--density 0.05] [--mask belhachmi]

Writes benchmarks/results/roundtrip.md (grey = luma and colour, per-image and mean figures).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import sparsecodec
from benchmarks.common import DEFAULT_DATA, RESULTS, command, images, load, machine, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=str, default=str(DEFAULT_DATA / "kodak"))
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--mask", default="belhachmi")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", default=str(RESULTS / "roundtrip.md"))
    args = ap.parse_args()
    sparsecodec.decode(sparsecodec.encode(np.zeros((16, 16), np.uint8), 0.1))  # JIT warm-up
    rows, summary = [], {}
    for grey in (True, False):
        acc = []
        for path in images(args.data, limit=args.limit):
            img = load(path, grey=grey)
            t0 = time.perf_counter()
            res = sparsecodec.encode_image(img, args.density, args.mask)
            t1 = time.perf_counter()
            dec = sparsecodec.decode(res.data)
            t2 = time.perf_counter()
            p_dec = sparsecodec.metrics.psnr(img, dec)
            s = res.stats
            row = [
                path.name,
                "grey" if grey else "colour",
                f"{100 * s['density']:.2f}",
                s["bytes"],
                f"{s['bpp']:.4f}",
                f"{s['bits_per_mask_point']:.3f}",
                f"{s['psnr']:.2f}",
                f"{p_dec:.2f}",
                abs(p_dec - s["psnr"]) < 0.01,
                f"{t1 - t0:.2f}",
                f"{t2 - t1:.2f}",
            ]
            rows.append(row)
            acc.append([s["bpp"], s["psnr"], p_dec, t1 - t0, t2 - t1, abs(p_dec - s["psnr"])])
            print(" ".join(str(v) for v in row), flush=True)
        summary["grey" if grey else "colour"] = np.array(acc)
    head = [
        "image",
        "kind",
        "density %",
        "bytes",
        "bpp",
        "bits/mask pt",
        "PSNR enc",
        "PSNR dec",
        "equal",
        "encode s",
        "decode s",
    ]
    means = [
        [
            k,
            f"{a[:, 0].mean():.4f}",
            f"{a[:, 1].mean():.2f}",
            f"{a[:, 2].mean():.2f}",
            f"{a[:, 5].max():.2g}",
            f"{np.median(a[:, 3]):.2f}",
            f"{np.median(a[:, 4]):.2f}",
        ]
        for k, a in summary.items()
    ]
    text = (
        f"# Encode/decode round trip\n\nCommand: `{command()}`  \nMachine: {machine()}\n\n"
        f"Mask `{args.mask}`, density {args.density}, default quantisation and colour space.\n\n"
        "## Means\n\n"
        + table(
            [
                "kind",
                "mean bpp",
                "mean PSNR enc",
                "mean PSNR dec",
                "max abs diff dB",
                "median encode s",
                "median decode s",
            ],
            means,
        )
        + "\n\n## Per image\n\n"
        + table(head, rows)
        + "\n"
    )
    from pathlib import Path

    Path(args.out).write_text(text)
    print(text.split("## Per image")[0])


if __name__ == "__main__":
    main()
