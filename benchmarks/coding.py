"""Benchmark of the mask and value coders of sparsecodec.coding on Kodak.

For luma images at densities 2 %, 5 %, 10 % with random and Belhachmi masks: bits per mask point
of the mask coder vs the i.i.d. floor H(d)/d vs JBIG (pbmtojbg of jbigkit, mask written as PBM
with 1 = black = mask point), encode/decode times; and bits per stored value of the value coder
vs the empirical i.i.d. entropy of the quantised values. Writes benchmarks/results/coding.md.

    python benchmarks/coding.py [--data ../shared/data/kodak] [--images 24]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sparsecodec.coding import (  # noqa: E402
    decode_mask,
    decode_values,
    encode_mask,
    encode_values,
    quantise,
)
from sparsecodec.colour import rgb_to_ycbcr  # noqa: E402

DENSITIES = (0.02, 0.05, 0.10)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114])


def h2(d: float) -> float:
    return float(-(d * np.log2(d) + (1 - d) * np.log2(1 - d)))


def iid_entropy_bits(q: np.ndarray) -> float:
    """Total bits of the empirical zeroth-order entropy of each row of q."""
    total = 0.0
    for row in q:
        _, counts = np.unique(row, return_counts=True)
        total += float(-(counts * np.log2(counts / counts.sum())).sum())
    return total


def belhachmi(image: np.ndarray, density: float) -> np.ndarray:
    from sparsecodec.masks.belhachmi import belhachmi_mask

    return belhachmi_mask(image, density, seed=0)


def random_mask(image: np.ndarray, density: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(image.shape) < density


def jbig_bytes(mask: np.ndarray, options: list[str], tmp: Path) -> int | None:
    """Size of the JBIG (BIE) file of the mask, or None without pbmtojbg."""
    exe = shutil.which("pbmtojbg")
    if exe is None:
        return None
    h, w = mask.shape
    pbm = tmp / "mask.pbm"
    pbm.write_bytes(f"P4\n{w} {h}\n".encode() + np.packbits(mask, axis=1).tobytes())
    out = tmp / "mask.jbg"
    subprocess.run([exe, *options, str(pbm), str(out)], check=True, capture_output=True)
    return out.stat().st_size


def timed(fn, *args):
    """Result, wall-clock seconds and CPU seconds of this process (robust to machine load)."""
    t, c = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, (time.perf_counter() - t, time.process_time() - c)


def ms(times: list[tuple[float, float]]) -> tuple[float, float, float]:
    """(mean wall, mean CPU, max CPU) in milliseconds."""
    t = 1e3 * np.array(times)
    return float(t[:, 0].mean()), float(t[:, 1].mean()), float(t[:, 1].max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "kodak")
    ap.add_argument("--images", type=int, default=24, help="use the first N images")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "coding.md")
    args = ap.parse_args()
    files = sorted(args.data.glob("*.png"))[: args.images]
    if not files:
        raise SystemExit(f"no PNG images in {args.data}")
    rgbs = [np.asarray(Image.open(f).convert("RGB"), dtype=np.float64) for f in files]
    lumas = [luma(x) for x in rgbs]
    ycbcrs = [rgb_to_ycbcr(x) for x in rgbs]
    # warm up the JIT caches so that timings are steady-state
    warm = random_mask(lumas[0][:64, :64], 0.05, 0)
    decode_mask(encode_mask(warm), 64, 64)
    qw = quantise(lumas[0][:64, :64][warm][None], 64)
    decode_values(encode_values(qw, (64,), warm), (64,), warm, 1)

    mask_rows = []
    value_rows = []
    tmp = Path(tempfile.mkdtemp())
    kinds = {"random": lambda im, d, i: random_mask(im, d, i), "belhachmi": None}
    kinds["belhachmi"] = lambda im, d, i: belhachmi(im, d)
    for kind, make in kinds.items():
        for d in DENSITIES:
            bits = floor = jq = jd = 0.0
            points = 0
            enc_t, dec_t = [], []
            vstats = {}
            for i, (im, rgb) in enumerate(zip(lumas, rgbs, strict=True)):
                m = make(im, d, i)
                n = int(m.sum())
                data, te = timed(encode_mask, m)
                out, td = timed(decode_mask, data, *m.shape)
                assert np.array_equal(out, m), "mask round trip failed"
                enc_t.append(te)
                dec_t.append(td)
                bits += 8 * len(data)
                points += n
                floor += m.size * h2(m.mean())
                jq += 8 * (jbig_bytes(m, ["-q"], tmp) or np.nan)
                jd += 8 * (jbig_bytes(m, [], tmp) or np.nan)
                configs = [("luma", 64), ("ycbcr", 64)] if d != 0.05 else [
                    ("luma", 16), ("luma", 64), ("luma", 256), ("ycbcr", 64), ("rgb", 64),
                    ("ycbcr", 256),
                ]  # fmt: skip
                for space, levels in configs:
                    if space == "luma":
                        vals = im[m][None]
                    else:
                        vals = (rgb if space == "rgb" else ycbcrs[i])[m].T
                    q = quantise(vals, levels)
                    lv = (levels,) * q.shape[0]
                    vdata, vte = timed(encode_values, q, lv, m)
                    vq, vtd = timed(decode_values, vdata, lv, m, q.shape[0])
                    assert np.array_equal(vq, q), "value round trip failed"
                    s = vstats.setdefault((space, levels), [0.0, 0.0, 0, [], []])
                    s[0] += 8 * len(vdata)
                    s[1] += iid_entropy_bits(q)
                    s[2] += q.size
                    s[3].append(vte)
                    s[4].append(vtd)
            mask_rows.append(
                (kind, d, points / len(files), bits / points, floor / points, jq / points,
                 jd / points, *ms(enc_t), *ms(dec_t))
            )  # fmt: skip
            for (space, levels), s in vstats.items():
                value_rows.append(
                    (kind, d, space, levels, s[0] / s[2], s[1] / s[2], ms(s[3])[1],
                     ms(s[4])[1])
                )  # fmt: skip
            print(mask_rows[-1], flush=True)
    shutil.rmtree(tmp, ignore_errors=True)

    lines = [
        "# Mask and value coding (sparsecodec.coding)",
        "",
        f"Command: `python benchmarks/coding.py --data {args.data} --images {len(files)}`",
        "",
        f"Data: {len(files)} Kodak images ({args.data.name}), luma = 0.299 R + 0.587 G + 0.114 B"
        " (768x512 or 512x768). Random masks: i.i.d. Bernoulli(d), seed = image index."
        " Belhachmi masks: `sparsecodec.masks.belhachmi.belhachmi_mask(luma, d)`.",
        "Times per image with warm JIT caches: CPU time of the process (robust to the load of the"
        " shared 2-core machine) and wall clock. Load average (1/5/15 min) at the end of the run:"
        f" {' / '.join(f'{v:.1f}' for v in os.getloadavg())}.",
        "",
        "## Mask: bits per mask point",
        "",
        "| mask | d | points/image | sparsecodec | i.i.d. floor H(d)/d | JBIG `-q` | JBIG default"
        " | enc ms CPU | dec ms CPU (mean / max) | dec ms wall |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in mask_rows:
        lines.append(
            f"| {r[0]} | {r[1]:.0%} | {r[2]:.0f} | **{r[3]:.3f}** | {r[4]:.3f} | {r[5]:.3f} |"
            f" {r[6]:.3f} | {r[8]:.1f} | {r[11]:.1f} / {r[12]:.1f} | {r[10]:.1f} |"
        )
    lines += [
        "",
        "JBIG = `pbmtojbg` (jbigkit 2.1) on the PBM mask (1 = black = mask point); sizes include"
        " its 20-byte header. The i.i.d. floor uses the mask's own density.",
        "",
        "## Values: bits per stored value",
        "",
        "| mask | d | channels | levels | sparsecodec | empirical i.i.d. entropy | enc ms |"
        " dec ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in value_rows:
        lines.append(
            f"| {r[0]} | {r[1]:.0%} | {r[2]} | {r[3]} | **{r[4]:.3f}** | {r[5]:.3f} |"
            f" {r[6]:.1f} | {r[7]:.1f} |"
        )
    lines += [
        "",
        "Values are the quantised original pixel values at the mask points (no tonal"
        " optimisation); ms = CPU time per image; `rgb` codes R, G, B as 3 channels, `ycbcr` the"
        " channels of `sparsecodec.colour.rgb_to_ycbcr` (the codec's default colour space)."
        " The i.i.d. entropy is the zeroth-order entropy of each image's quantised"
        " values (per channel).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
