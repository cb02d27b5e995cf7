"""Benchmark of the mask and value coders of sparsecodec.coding.

Mask coder: bits per mask point vs the i.i.d. floor H(d)/d vs JBIG (pbmtojbg of jbigkit, mask
written as PBM with 1 = black = mask point) at densities 2 %, 5 %, 10 %, with encode/decode
times, for random, Belhachmi, learned and WGAN masks on Kodak luma and PS+NLPE masks on the
256x256 grey classic test images (PS+NLPE takes ~0.5 min per image: masks are cached in
``--cache``). Value coder: bits per stored value vs the empirical i.i.d. entropy of the
quantised values (random and Belhachmi masks, Kodak). Writes benchmarks/results/coding.md
(a trailing "## Fuzz" section of an existing file is kept).

    python benchmarks/coding.py [--data ../shared/data/kodak] [--images 24]
        [--classic ../shared/data/classic] [--classic-images 10] [--quick] [--cache DIR]
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

from benchmarks.common import code_hash  # noqa: E402
from sparsecodec.coding import (  # noqa: E402
    decode_mask,
    decode_values,
    encode_mask,
    encode_values,
    quantise,
)
from sparsecodec.coding.header import FORMAT_VERSION  # noqa: E402
from sparsecodec.coding.quadtree_coder import decode_quadtree, encode_quadtree  # noqa: E402
from sparsecodec.colour import rgb_to_ycbcr  # noqa: E402

DENSITIES = (0.02, 0.05, 0.10)
DEFAULT_OUT = REPO / "benchmarks" / "results" / "coding.md"


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


def strategy_mask(name: str, image: np.ndarray, rgb: np.ndarray | None, density: float):
    """Mask of a registered strategy (seed 0); the WGAN mask also sees the colour image."""
    from sparsecodec import masks

    s = masks.get(name)
    options = {"colour": rgb} if s.colour and rgb is not None else {}
    return s.load()(image, density, seed=0, **options)


def cached(cache: Path | None, key: str, make) -> np.ndarray:
    """``make()``, stored as ``cache/key.npy`` (slow mask strategies)."""
    if cache is None:
        return make()
    path = cache / f"{key}.npy"
    if path.exists():
        return np.load(path)
    m = np.asarray(make(), dtype=bool)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, m)
    return m


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


# bits per mask point of the format-version-3 mask coder (commit 8dbcffe) on the same masks
# (WGAN / PS+NLPE from the mask cache of the format-4 run), measured in the session that
# introduced format 4 (which changed only the value coder); none for learned masks, whose
# weights were retrained after that measurement
PREV_VERSION = 3
PREV_BITS = {
    ("random", 0.02): 7.142, ("random", 0.05): 5.762, ("random", 0.10): 4.707,
    ("belhachmi", 0.02): 6.143, ("belhachmi", 0.05): 4.736, ("belhachmi", 0.10): 3.746,
    ("quadtree (context coder)", 0.02): 1.897, ("quadtree (context coder)", 0.05): 1.181,
    ("quadtree (context coder)", 0.10): 0.739,
    ("ps+nlpe", 0.02): 6.291, ("ps+nlpe", 0.05): 4.672, ("ps+nlpe", 0.10): 3.667,
}  # fmt: skip


def mask_row(kind, d, masks, tmp, coder=(encode_mask, decode_mask)):
    """Statistics of one (mask kind, density) over a list of masks (``coder``: the encode and
    decode functions; the bitstream uses the quadtree split-flag code for quadtree masks)."""
    bits = floor = jq = jd = 0.0
    points = 0
    enc_t, dec_t = [], []
    encode, decode = coder
    for m in masks:
        data, te = timed(encode, m)
        out, td = timed(decode, data, *m.shape)
        assert np.array_equal(out, m), "mask round trip failed"
        enc_t.append(te)
        dec_t.append(td)
        bits += 8 * len(data)
        points += int(m.sum())
        floor += m.size * h2(m.mean())
        jq += 8 * (jbig_bytes(m, ["-q"], tmp) or np.nan)
        jd += 8 * (jbig_bytes(m, [], tmp) or np.nan)
    row = (kind, d, points / len(masks), bits / points, floor / points, jq / points, jd / points,
           *ms(enc_t), *ms(dec_t), len(masks), masks[0].shape)  # fmt: skip
    print(row[:8], flush=True)
    return row


def value_rows(kind, d, masks, lumas, rgbs, ycbcrs):
    """Bits per stored value for the codec's channel/level configurations."""
    configs = [("luma", 64), ("ycbcr", 64)] if d != 0.05 else [
        ("luma", 16), ("luma", 64), ("luma", 256), ("ycbcr", 64), ("rgb", 64), ("ycbcr", 256),
    ]  # fmt: skip
    vstats = {}
    for m, im, rgb, ycc in zip(masks, lumas, rgbs, ycbcrs, strict=True):
        for space, levels in configs:
            if space == "luma":
                vals = im[m][None]
            else:
                vals = (rgb if space == "rgb" else ycc)[m].T
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
    return [
        (kind, d, space, levels, s[0] / s[2], s[1] / s[2], ms(s[3])[1], ms(s[4])[1])
        for (space, levels), s in vstats.items()
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "kodak")
    ap.add_argument("--images", type=int, default=24, help="use the first N Kodak images")
    ap.add_argument(
        "--classic",
        type=Path,
        default=None,
        help="256x256 grey images for PS+NLPE (default: DATA/../classic)",
    )
    ap.add_argument("--classic-images", type=int, default=10)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="4 Kodak and 1 classic image, no learned/WGAN masks; writes coding-quick.md",
    )
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "sparsecodec-coding-masks",
        help="mask cache for the slow strategies ('' = none)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument(
        "--kinds",
        default=None,
        help="comma-separated mask kinds to run (random, belhachmi, learned, wgan, quadtree,"
        " ps+nlpe; default all)",
    )
    args = ap.parse_args()  # fmt: skip
    if args.quick:  # a smoke run: does not overwrite the full results
        args.images = min(args.images, 4)
        args.classic_images = min(args.classic_images, 1)
        if args.out == DEFAULT_OUT:
            args.out = DEFAULT_OUT.with_name("coding-quick.md")
    cache = args.cache if str(args.cache) else None
    files = sorted(args.data.glob("*.png"))[: args.images]
    if not files:
        raise SystemExit(f"no PNG images in {args.data}")
    classic_dir = args.classic or args.data.parent / "classic"
    classic = [f for f in sorted(classic_dir.glob("*.png"))
               if Image.open(f).size == (256, 256)][: args.classic_images]  # fmt: skip
    rgbs = [np.asarray(Image.open(f).convert("RGB"), dtype=np.float64) for f in files]
    lumas = [luma(x) for x in rgbs]
    ycbcrs = [rgb_to_ycbcr(x) for x in rgbs]
    greys = [np.asarray(Image.open(f).convert("L"), dtype=np.float64) for f in classic]
    # warm up the JIT caches so that timings are steady-state
    warm = random_mask(lumas[0][:64, :64], 0.05, 0)
    decode_mask(encode_mask(warm), 64, 64)
    qw = quantise(lumas[0][:64, :64][warm][None], 64)
    decode_values(encode_values(qw, (64,), warm), (64,), warm, 1)

    kodak = {
        "random": lambda i, d: random_mask(lumas[i], d, i),
        "belhachmi": lambda i, d: belhachmi(lumas[i], d),
    }
    if not args.quick:
        # cached masks are keyed by the sources and weights they depend on
        tags = {"learned": code_hash(wgan=False), "wgan": code_hash(wgan=True)}
        for name in ("learned", "wgan"):
            kodak[name] = lambda i, d, name=name: cached(
                cache, f"{name}_{tags[name]}_{d}_{files[i].stem}",
                lambda: strategy_mask(name, lumas[i], rgbs[i], d))  # fmt: skip
    kodak["quadtree"] = lambda i, d: strategy_mask("quadtree", lumas[i], rgbs[i], d)
    kinds = set(args.kinds.split(",")) if args.kinds else None
    if kinds is not None:
        kodak = {k: v for k, v in kodak.items() if k in kinds}
        if "ps+nlpe" not in kinds:
            greys = []
    mask_rows = []
    vrows = []
    tmp = Path(tempfile.mkdtemp())
    for kind, make in kodak.items():
        for d in DENSITIES:
            masks = [make(i, d) for i in range(len(files))]
            label = kind
            if kind == "quadtree":  # the bitstream's code for these masks, then the generic one
                coder = (encode_quadtree, decode_quadtree)
                mask_rows.append(mask_row("quadtree (split flags)", d, masks, tmp, coder))
                label = "quadtree (context coder)"
            mask_rows.append(mask_row(label, d, masks, tmp))
            if kind in ("random", "belhachmi", "quadtree"):
                vrows += value_rows(kind, d, masks, lumas, rgbs, ycbcrs)
    if greys:
        for d in DENSITIES:
            masks = [cached(cache, f"nlpe_{d}_{f.stem}",
                            lambda g=g, d=d: strategy_mask("nlpe", g, None, d))
                     for f, g in zip(classic, greys, strict=True)]  # fmt: skip
            mask_rows.append(mask_row("ps+nlpe", d, masks, tmp))
    shutil.rmtree(tmp, ignore_errors=True)

    quick = " --quick" if args.quick else ""
    lines = [
        f"# Mask and value coding (sparsecodec.coding, format version {FORMAT_VERSION})",
        "",
        f"Command: `NUMBA_NUM_THREADS=1 python benchmarks/coding.py --data {args.data} --images"
        f" {len(files)} --classic {classic_dir} --classic-images {len(classic)}{quick}"
        f"{' --kinds ' + args.kinds if args.kinds else ''}"
        f"{' --out ' + str(args.out) if args.out != DEFAULT_OUT else ''}`",
        "",
        f"Data: {len(files)} Kodak images ({args.data.name}, 768x512 or 512x768), luma = 0.299 R"
        " + 0.587 G + 0.114 B; random masks: i.i.d. Bernoulli(d), seed = image index; Belhachmi:"
        " `sparsecodec.masks.belhachmi.belhachmi_mask(luma, d)`; learned / WGAN:"
        " the registered strategies with seed 0 (WGAN also sees the colour image). PS+NLPE:"
        " strategy `nlpe` (PS + 5 NLPE cycles, seed 0) on the first"
        f" {len(classic)} 256x256 grey images of {classic_dir.name}"
        f" ({', '.join(f.stem for f in classic)}), because PS is too slow for Kodak.",
        "Times per image with warm JIT caches: CPU time of the process (robust to the load of the"
        " shared 2-core machine) and wall clock. Load average (1/5/15 min) at the end of the run:"
        f" {' / '.join(f'{v:.1f}' for v in os.getloadavg())}.",
        "",
        "## Mask: bits per mask point",
        "",
        "| mask | images | d | points/image | sparsecodec | vs JBIG `-q` |"
        f" format v{PREV_VERSION} coder |"
        " i.i.d. floor H(d)/d | JBIG `-q` | JBIG default | enc ms CPU | dec ms CPU (mean / max)"
        " | dec ms wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in mask_rows:
        v1 = PREV_BITS.get((r[0], r[1]))
        v1s = f"{v1:.3f}" if v1 is not None and not args.quick else "-"
        where = f"{r[13]} classic {r[14][1]}x{r[14][0]}" if r[0] == "ps+nlpe" else f"{r[13]} Kodak"
        lines.append(
            f"| {r[0]} | {where} | {r[1]:.0%} | {r[2]:.0f} |"
            f" **{r[3]:.3f}** | {100 * (r[3] / r[5] - 1):+.1f} % | {v1s} | {r[4]:.3f} |"
            f" {r[5]:.3f} | {r[6]:.3f} | {r[8]:.1f} | {r[11]:.1f} / {r[12]:.1f} | {r[10]:.1f} |"
        )
    lines += [
        "",
        "JBIG = `pbmtojbg` (jbigkit 2.1) on the PBM mask (1 = black = mask point); sizes include"
        " its 20-byte header. The i.i.d. floor uses the mask's own density."
        f" `format v{PREV_VERSION} coder`: the previous format's mask coder (commit 8dbcffe) on"
        " the same masks (format 4 changed only the value coder). sparsecodec sizes include"
        " the mask payload's LEB128 point count.",
        "",
        "## Values: bits per stored value",
        "",
        "| mask | d | channels | levels | sparsecodec | empirical i.i.d. entropy | enc ms |"
        " dec ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in vrows:
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
    text = "\n".join(lines)
    if args.out.exists():  # keep a hand-written fuzz record
        old = args.out.read_text()
        if "\n## Fuzz" in old:
            text += old[old.index("\n## Fuzz") + 1 :]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
