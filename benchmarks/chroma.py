"""Per-channel quantisation of colour images: chroma levels against luma levels (issue 7).

    python -m benchmarks.chroma [--data DIR] [--limit N] [--jobs N] [--quick]

For each Kodak colour image, the codec's defaults (quadtree mask, tonal optimisation, YCbCr)
are encoded over a grid of densities x luma levels L, with the chroma channels at
``round(f * L)`` levels for each chroma factor f. Per image and factor the rate-distortion
front over (density, L) is formed (:func:`benchmarks.rd.rd_front`); the table gives the mean
colour PSNR at fixed rates and the BD-rate of each factor against equal levels (f = 1).
Writes ``benchmarks/results/chroma.md`` and ``chroma.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .common import DEFAULT_DATA, RESULTS, command, images, load, machine, table
from .rd import _init_worker, bd_psnr, bd_rate, mean_at, mean_curve, rd_front

DENSITIES = (0.02, 0.035, 0.05, 0.08, 0.12)
LUMA_LEVELS = (8, 12, 16, 24)
FACTORS = (1.0, 1.5, 2.0)
RATES = (0.1, 0.15, 0.2, 0.3, 0.4)
QUICK = dict(densities=(0.03, 0.06), luma=(8, 12), factors=(1.0, 2.0), limit=2)


def run_image(path: str, densities, luma, factors) -> list[dict]:
    """Every (density, L, f) encode of one image: rate and PSNR of the decoded image."""
    from sparsecodec.codec import chroma_levels_for, encode_image

    img = load(Path(path))
    out = []
    for d in densities:
        mask = None
        for L in luma:
            for f in factors:
                c = chroma_levels_for(L, f)
                r = encode_image(img, d, levels=(L, c, c), mask_array=mask)
                mask = r.mask  # the mask depends on the density only
                out.append(
                    dict(
                        image=Path(path).stem,
                        d=d,
                        L=L,
                        f=f,
                        bpp=r.stats["bpp"],
                        psnr=r.stats["psnr"],
                    )
                )
    return out


def analyse(rows: list[dict], factors) -> dict:
    """Per factor: per-image fronts, mean PSNR at RATES, BD-rate/PSNR against f = 1."""
    names = sorted({r["image"] for r in rows})
    fronts = {
        f: [
            rd_front([(r["bpp"], r["psnr"]) for r in rows if r["image"] == n and r["f"] == f])
            for n in names
        ]
        for f in factors
    }
    ref = fronts[factors[0]]
    res = {}

    def mean(vals: list) -> float | None:
        ok = [v for v in vals if v is not None]
        return float(np.mean(ok)) if ok else None

    for f in factors:
        bdr = [bd_rate(a, t) for a, t in zip(ref, fronts[f], strict=True)]
        bdp = [bd_psnr(a, t) for a, t in zip(ref, fronts[f], strict=True)]
        res[f] = dict(
            at={b: mean_at(fronts[f], b) for b in RATES},
            bd_rate=mean(bdr),
            bd_psnr=mean(bdp),
            wins=sum(1 for v in bdr if v is not None and v < 0),
            curve=mean_curve(fronts[f]),
        )
    return dict(images=names, factors=res)


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for f, s in summary["factors"].items():
        if s["curve"]:
            x, y = zip(*s["curve"], strict=True)
            ax.plot(x, y, label=f"chroma = {f:g} x luma levels")
    ax.set_xscale("log")
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("colour PSNR (dB), mean over images")
    ax.set_title(f"Kodak colour, {len(summary['images'])} images: chroma quantisation")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(summary: dict, meta: dict) -> str:
    head = (
        ["chroma factor f"]
        + [f"{b:g} bpp" for b in RATES]
        + ["BD-rate vs f = 1", "BD-PSNR vs f = 1", "images better than f = 1"]
    )
    rows = []
    n = len(summary["images"])
    for f, s in summary["factors"].items():
        cells = []
        for b in RATES:
            v, k = s["at"][b]
            cells.append(f"{v:.2f}" if v is not None else f"n/a ({k}/{n})")
        bdr = "-" if s["bd_rate"] is None else f"{s['bd_rate']:+.1f} %"
        bdp = "-" if s["bd_psnr"] is None else f"{s['bd_psnr']:+.2f} dB"
        rows.append([f"{f:g}"] + cells + [bdr, bdp, f"{s['wins']}/{n}"])
    return "\n".join(
        [
            "# Chroma quantisation of colour images (per-channel levels)",
            "",
            f"Command: `{meta['command']}`  ",
            f"Machine: {meta['machine']}; wall time {meta['seconds'] / 60:.1f} min",
            "",
            f"Images: {', '.join(summary['images'])} (Kodak, colour). Encoder defaults (quadtree "
            "mask, tonal optimisation, YCbCr), densities "
            f"{', '.join(f'{d:g}' for d in meta['densities'])} x luma levels "
            f"{', '.join(str(v) for v in meta['luma'])}; chroma levels round(f L). Per image and "
            "factor the RD front over (density, L); mean colour PSNR (dB) at fixed rates (n/a: not "
            "every image's front reaches the rate) and mean BD-rate / BD-PSNR against f = 1.",
            "",
            table(head, rows),
            "",
            "![RD](chroma.png)",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "kodak")
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--factors", default=None, help="comma-separated chroma factors (1 first)")
    ap.add_argument("--quick", action="store_true", help="2 images, small grid (a smoke run)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args(argv)
    dens, luma, factors, limit = DENSITIES, LUMA_LEVELS, FACTORS, a.limit
    if a.quick:
        dens, luma, factors = QUICK["densities"], QUICK["luma"], QUICK["factors"]
        limit = min(limit, QUICK["limit"])
    if a.factors:
        factors = tuple(float(v) for v in a.factors.split(","))
    files = images(a.data, limit=limit)
    t0 = time.time()
    rows: list[dict] = []
    with ProcessPoolExecutor(a.jobs, initializer=_init_worker) as ex:
        futs = [ex.submit(run_image, str(p), dens, luma, factors) for p in files]
        for p, fu in zip(files, futs, strict=True):
            rows += fu.result()
            print(f"{p.stem} done ({time.time() - t0:.0f} s)", flush=True)
    summary = analyse(rows, factors)
    meta = dict(
        command=command(), machine=machine(), seconds=time.time() - t0, densities=dens, luma=luma
    )
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "chroma.json").write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    plot(summary, a.out / "chroma.png")
    (a.out / "chroma.md").write_text(report(summary, meta))
    print(report(summary, meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
