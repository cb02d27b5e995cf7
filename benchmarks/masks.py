"""Quality and run time of the mask optimisers: Belhachmi, PS, PS+NLPE, PS+NLPE+tonal.

For grey classic images and Kodak luma at several densities: MSE and PSNR of homogeneous
diffusion inpainting from each mask (original values; tonal = least-squares optimal values,
unquantised) and the run time of each stage;
PS+NLPE(t)+tonal uses the tonal-aware NLPE (wall clock and process CPU time; the machine is
shared, see the load average in the output). All errors are measured with a tight CG solve
(relative residual 1e-9), independently of the solvers the optimisers use internally.

    python -m benchmarks.masks [--data DIR] [--quick] [--densities 3,4,5,10]
        [--classic trui,peppers,...] [--kodak N] [--nlpe-cycles 5] [--kodak-nlpe-cycles 1]

``--quick``: trui, peppers, cameraman, house at 4 % and one Kodak image at 4 %.
Writes benchmarks/results/masks.md (``--out`` to change).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, RESULTS, command, images, load, machine, table
from sparsecodec.inpainting import solve
from sparsecodec.masks.belhachmi import belhachmi_mask
from sparsecodec.masks.nlpe import nlpe_refine
from sparsecodec.masks.ps import ps_mask
from sparsecodec.tonal import optimise_tonal

CLASSIC = [
    "trui",
    "peppers",
    "cameraman",
    "house",
    "airplane",
    "bank",
    "office",
    "parrot",
    "starfish",
    "monarch",
    "house_set12",
]
QUICK_CLASSIC = ["trui", "peppers", "cameraman", "house"]


def error(f: np.ndarray, values: np.ndarray, mask: np.ndarray) -> float:
    u = solve(values, mask, solver="cg", tol=1e-9, maxiter=20000).u
    return float(np.mean((u - f) ** 2))


def psnr(e: float) -> float:
    return 10 * np.log10(255.0**2 / e) if e > 0 else float("inf")


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def run_one(f: np.ndarray, d: float, cycles: float, seed: int, tonal_solver: str) -> dict:
    res = {}
    mb, w, c = timed(lambda: belhachmi_mask(f, d))
    res["Belhachmi"] = (error(f, f, mb), w, c)
    mp, w, c = timed(lambda: ps_mask(f, d, seed=seed))
    assert mp.sum() == round(d * f.size)
    res["PS"] = (error(f, f, mp), w, c)
    mn, w, c = timed(lambda: nlpe_refine(f, mp, cycles=cycles, seed=seed))
    res["PS+NLPE"] = (error(f, f, mn), w, c)
    g, w, c = timed(lambda: optimise_tonal(f, mn, solver=tonal_solver))
    res["PS+NLPE+tonal"] = (error(f, g, mn), w, c)
    mt, w, c = timed(
        lambda: nlpe_refine(f, mp, cycles=cycles, seed=seed, tonal=True, tonal_solver=tonal_solver)
    )
    g, w2, c2 = timed(lambda: optimise_tonal(f, mt, solver=tonal_solver))
    res["PS+NLPE(t)+tonal"] = (error(f, g, mt), w + w2, c + c2)
    return res


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--densities", default="3,4,5,10", help="percent, comma separated")
    ap.add_argument("--classic", default=",".join(CLASSIC))
    ap.add_argument("--kodak", type=int, default=24, help="number of Kodak images (0: none)")
    ap.add_argument("--kodak-densities", default=None, help="percent (default: --densities)")
    ap.add_argument("--nlpe-cycles", type=float, default=5)
    ap.add_argument("--kodak-nlpe-cycles", type=float, default=1)
    ap.add_argument("--tonal-solver", default="multigrid")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "masks.md")
    args = ap.parse_args(argv)
    dens = [float(x) / 100 for x in args.densities.split(",")]
    kdens = (
        dens
        if args.kodak_densities is None
        else [float(x) / 100 for x in args.kodak_densities.split(",")]
    )
    classic = [n for n in args.classic.split(",") if n]
    nkodak = args.kodak
    if args.quick:
        dens, kdens, classic, nkodak = [0.04], [0.04], QUICK_CLASSIC, 1

    jobs = []
    for name in classic:
        path = args.data / "classic" / f"{name}.png"
        if path.exists():
            jobs.append((name, path, dens, args.nlpe_cycles))
    if nkodak:
        for path in images(args.data / "kodak", limit=nkodak):
            jobs.append((path.stem + " (luma)", path, kdens, args.kodak_nlpe_cycles))

    methods = ["Belhachmi", "PS", "PS+NLPE", "PS+NLPE+tonal", "PS+NLPE(t)+tonal"]
    rows, loads = [], []
    monotone_fail = []
    t_start = time.perf_counter()
    for name, path, ds, cycles in jobs:
        f = load(path, grey=True).astype(np.float64)
        for d in ds:
            loads.append(os.getloadavg()[0])
            r = run_one(f, d, cycles, args.seed, args.tonal_solver)
            e = [r[m][0] for m in methods]
            if not (e[1] > e[2] > e[3]):
                monotone_fail.append(f"{name} {d:.0%}")
            row = [name, f"{f.shape[1]}x{f.shape[0]}", f"{d * 100:g} %", cycles]
            for m in methods:
                mse_, w, c = r[m]
                row += [round(mse_, 2), round(psnr(mse_), 2), f"{w:.1f} / {c:.1f}"]
            rows.append(row)
            print(" | ".join(str(v) for v in row), flush=True)

    header = ["image", "size", "density", "NLPE cycles"]
    for m in methods:
        header += [f"{m} MSE", f"{m} PSNR", f"{m} s wall / CPU"]
    # Per-density means over the classic images.
    mean_rows = []
    for d in sorted({r[2] for r in rows}):
        sel = [r for r in rows if r[2] == d and "(luma)" not in r[0]]
        if not sel:
            continue
        mr = [f"mean of {len(sel)} classic", "", d]
        for k, _m in enumerate(methods):
            mr += [
                round(float(np.mean([r[4 + 3 * k] for r in sel])), 2),
                round(float(np.mean([r[5 + 3 * k] for r in sel])), 2),
            ]
        mean_rows.append(mr)
    mean_header = ["images", "", "density"]
    for m in methods:
        mean_header += [f"{m} MSE", f"{m} PSNR"]

    text = [
        "# Mask optimisation: Belhachmi, PS, PS+NLPE, PS+NLPE+tonal",
        "",
        f"Command: `{command()}`",
        "",
        f"Machine: {machine()}; Numba threads {os.environ.get('NUMBA_NUM_THREADS', 'default')}. "
        f"Load average (1 min) at the start of each row: min {min(loads):.1f}, "
        f"max {max(loads):.1f} on 2 cores (shared with training jobs), so wall times are "
        "inflated; process CPU time is closer to what an idle machine needs. "
        f"Total {time.perf_counter() - t_start:.0f} s.",
        "",
        "MSE/PSNR of homogeneous diffusion inpainting from the mask (original grey values; for "
        "`+tonal` the least-squares optimal values, unquantised), measured with CG to relative "
        "residual 1e-9. PS: p = 0.1, q = 0.05, one run, seed "
        f"{args.seed}; NLPE: 30 candidates, 10 tried per step, cycles as listed; times are "
        "per stage (PS+NLPE = the NLPE stage only, +tonal = the tonal stage only). "
        "PS+NLPE(t)+tonal: tonal-aware NLPE (`nlpe_refine(..., tonal=True)`, same cycles, "
        "started from the same PS mask) then tonal optimisation; its time is NLPE(t) + tonal.",
        "",
        table(header, rows),
        "",
    ]
    if mean_rows:
        text += ["Means over the classic images:", "", table(mean_header, mean_rows), ""]
    text += [
        "Each stage better than the previous (PS > PS+NLPE > PS+NLPE+tonal in MSE): "
        + ("yes, on every row." if not monotone_fail else "NO for " + ", ".join(monotone_fail)),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
