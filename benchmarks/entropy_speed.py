"""Entropy-coding time of whole streams (issue 7: <= 50 ms for a 768x512 image at 5 %).

Encodes every Kodak image with ``sparsecodec.encode`` at the codec's default levels (12; colour:
YCbCr 12 / 18 / 18) and density 5 % for each mask strategy, then times the bitstream alone:
``write_stream`` (mask + values coding, container, CRC) and ``read_stream`` (parsing, CRC,
mask + values decoding) on the decoded header, mask and values. Per image the fastest of
``--repeats`` runs (CPU time of the process), then mean and max over the images. Writes
benchmarks/results/entropy_speed.md.

    NUMBA_NUM_THREADS=1 python -m benchmarks.entropy_speed [--data ../shared/data] [--images 24]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks.common import DEFAULT_DATA, RESULTS, images, load, table

KINDS = ("quadtree", "belhachmi", "random")
TARGET_MS = 50.0


def cpu_ms(fn, *args, repeats: int = 3) -> float:
    """Fastest of ``repeats`` calls, CPU milliseconds of this process."""
    best = np.inf
    for _ in range(repeats):
        t = time.process_time()
        fn(*args)
        best = min(best, time.process_time() - t)
    return 1e3 * best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=str, default=str(DEFAULT_DATA))
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--density", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--out", default=str(RESULTS / "entropy_speed.md"))
    args = ap.parse_args()

    import sparsecodec
    from sparsecodec.coding.bitstream import read_stream, write_stream

    files = images(f"{args.data}/kodak", limit=args.images)
    rows = []
    for kind in args.kinds.split(","):
        for grey in (True, False):
            enc, dec, kib = [], [], []
            for f in files:
                image = load(f, grey=grey)
                data = sparsecodec.encode(image, args.density, mask=kind, tonal=False)
                header, mask, q = read_stream(data)
                assert write_stream(header, mask, q) == data
                enc.append(cpu_ms(write_stream, header, mask, q, repeats=args.repeats))
                dec.append(cpu_ms(read_stream, data, repeats=args.repeats))
                kib.append(len(data) / 1024)
            ok = max(max(enc), max(dec)) <= TARGET_MS
            rows.append(
                [
                    kind,
                    "grey" if grey else "colour (YCbCr)",
                    f"{np.mean(kib):.1f}",
                    f"{np.mean(enc):.1f} / {max(enc):.1f}",
                    f"{np.mean(dec):.1f} / {max(dec):.1f}",
                    "yes" if ok else "no",
                ]
            )
            print(rows[-1], flush=True)
    cmd = "NUMBA_NUM_THREADS=1 python -m benchmarks.entropy_speed"
    if args.images != 24:
        cmd += f" --images {args.images}"
    load1, load5, _ = os.getloadavg()
    text = "\n".join(
        [
            "# Entropy-coding time of whole streams",
            "",
            f"Command: `{cmd}` ({time.strftime('%Y-%m-%d %H:%M')}, load average at the end"
            f" {load1:.1f} / {load5:.1f}).",
            "",
            f"{len(files)} Kodak images (768x512 / 512x768), `sparsecodec.encode(image,"
            f" {args.density}, mask=KIND, tonal=False)` with the default levels (12; colour"
            " 12 / 18 / 18). Times: `write_stream` (encoding) and `read_stream` (decoding) of the"
            f" stream's header, mask and values, CPU ms, fastest of {args.repeats} runs per image;"
            f" mean / max over the images. Target (issue 7): <= {TARGET_MS:.0f} ms both ways.",
            "",
            table(
                [
                    "mask",
                    "image",
                    "KiB",
                    "encode ms (mean / max)",
                    "decode ms (mean / max)",
                    f"<= {TARGET_MS:.0f} ms",
                ],
                rows,
            ),  # fmt: skip
            "",
            "Quadtree masks (the default) are stored as split flags; every other mask goes"
            " through the context-mixing mask coder, whose one compiled pass over the H x W"
            " pixels takes most of the time.",
            "",
        ]
    )
    with open(args.out, "w") as fh:
        fh.write(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
