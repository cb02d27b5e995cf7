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
            c0 = time.process_time()
            res = sparsecodec.encode_image(img, args.density, args.mask)
            c1 = time.process_time()
            dec = sparsecodec.decode(res.data)
            c2 = time.process_time()
            p_dec = sparsecodec.metrics.psnr(img, dec)
            same = bool(np.array_equal(dec, res.reconstruction))
            s = res.stats
            row = [
                path.name,
                "grey" if grey else "colour",
                f"{100 * s['density']:.2f}",
                s["bytes"],
                f"{s['bpp']:.4f}",
                f"{s['bits_per_mask_point']:.3f}",
                "/".join(map(str, s["levels"])),
                "yes" if s["tonal"] else "no",
                f"{s['psnr']:.2f}",
                f"{p_dec:.2f}",
                same,
                f"{c1 - c0:.2f}",
                f"{c2 - c1:.2f}",
            ]
            rows.append(row)
            acc.append([s["bpp"], s["psnr"], p_dec, c1 - c0, c2 - c1, abs(p_dec - s["psnr"]), same])
            print(" ".join(str(v) for v in row), flush=True)
        summary["grey" if grey else "colour"] = np.array(acc)
    head = [
        "image",
        "kind",
        "density %",
        "bytes",
        "bpp",
        "bits/mask pt",
        "levels",
        "tonal",
        "PSNR enc",
        "PSNR dec",
        "decoded = encoder's reconstruction",
        "encode CPU s",
        "decode CPU s",
    ]
    means = [
        [
            k,
            f"{a[:, 0].mean():.4f}",
            f"{a[:, 1].mean():.2f}",
            f"{a[:, 2].mean():.2f}",
            f"{a[:, 5].max():.2g}",
            f"{int(a[:, 6].sum())}/{len(a)}",
            f"{np.median(a[:, 3]):.2f}",
            f"{np.median(a[:, 4]):.2f}",
        ]
        for k, a in summary.items()
    ]
    text = (
        f"# Encode/decode round trip\n\nCommand: `{command()}`  \nMachine: {machine()}\n\n"
        f"Mask `{args.mask}`, density {args.density}; `sparsecodec.encode_image` defaults for "
        "quantisation, colour space and tonal optimisation (columns `levels`, `tonal`). Times "
        "are process CPU seconds (robust to other jobs on the machine).\n\n"
        "## Means\n\n"
        + table(
            [
                "kind",
                "mean bpp",
                "mean PSNR enc",
                "mean PSNR dec",
                "max abs diff dB",
                "bit-identical",
                "median encode CPU s",
                "median decode CPU s",
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
