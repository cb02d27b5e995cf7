"""Run time and mask quality of probabilistic sparsification (PS) on 256x256 classic images.

    NUMBA_NUM_THREADS=1 taskset -c 0 python -m benchmarks.ps_speed [--data DIR] [--quick]
        [--images trui]
        [--density 0.04] [--repeats 3] [--json FILE] [--baseline FILE --baseline-label TEXT]

For each image (grey, from ``DIR/classic``; default ``../shared/data``): the run time of
``ps_mask(image, density, seed=0)`` as process CPU time (one thread: ``NUMBA_NUM_THREADS=1``;
unlike wall clock, CPU time is not inflated by other jobs on a shared machine), median of
``--repeats`` runs, Numba compilation excluded by a warm-up on a small image; and the MSE of
homogeneous diffusion inpainting from the mask, solved tightly (relative residual 1e-9,
independent of the solves PS uses internally). ``--json`` saves the figures; ``--baseline``
reads such a file (made by this script run against an older checkout) and adds before/after
columns. Writes benchmarks/results/ps_speed.md (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, RESULTS, command, load, machine, table


def measure(f: np.ndarray, density: float, repeats: int) -> dict:
    from sparsecodec.inpainting import solve
    from sparsecodec.masks.ps import ps_mask

    times, cpu, mask = [], [], None
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        mask = ps_mask(f, density, seed=0)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    u = solve(f, mask, tol=1e-9, maxiter=1000).u
    return {
        "seconds": float(np.median(cpu)),
        "cpu_seconds": cpu,
        "wall_seconds": times,
        "mse": float(np.mean((u - f) ** 2)),
        "pixels": int(mask.sum()),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="data root (with classic/)")
    ap.add_argument("--quick", action="store_true", help="trui only, one run")
    ap.add_argument("--images", default="trui")
    ap.add_argument("--density", type=float, default=0.04)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--baseline", type=Path)
    ap.add_argument("--results", type=Path, help="report figures saved by --json, do not measure")
    ap.add_argument("--baseline-label", default="an older checkout")
    ap.add_argument("--note", default="", help="a paragraph added to the report")
    ap.add_argument("--out", type=Path, default=RESULTS / "ps_speed.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.images, args.repeats = args.images.split(",")[0], 1

    from sparsecodec.masks.ps import ps_mask

    res = json.loads(args.results.read_text()) if args.results else {}
    if not res:
        ps_mask(np.random.default_rng(0).uniform(0, 255, (32, 32)), 0.1)  # compile / load Numba
    for name in [] if res else args.images.split(","):
        f = load(args.data / "classic" / f"{name}.png", grey=True).astype(np.float64)
        res[name] = measure(f, args.density, args.repeats)
        res[name]["shape"] = list(f.shape)
        print(name, res[name], flush=True)
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    base = json.loads(args.baseline.read_text()) if args.baseline else {}

    header = ["image", "size", "mask px", "PS CPU time (s)", "MSE"]
    if base:
        header = ["image", "size", "mask px", "CPU s before", "CPU s after", "speed-up"]
        header += ["MSE before", "MSE after", "MSE change"]
    rows = []
    for name, r in res.items():
        row = [name, "x".join(map(str, r["shape"])), r["pixels"]]
        if name in base:
            b = base[name]
            row += [b["seconds"], r["seconds"], f"{b['seconds'] / r['seconds']:.2f}x"]
            row += [b["mse"], r["mse"], f"{100 * (r['mse'] / b['mse'] - 1):+.2f} %"]
        else:
            row += [r["seconds"], r["mse"]]
        rows.append(row)
    threads = os.environ.get("NUMBA_NUM_THREADS", "default")
    text = [
        "# Probabilistic sparsification: run time and mask quality",
        "",
        f"Command: `{command()}`",
        "",
        f"ps_mask(image, {args.density}, seed=0) with default options; time = median over "
        f"{args.repeats} runs (process CPU time, NUMBA_NUM_THREADS={threads}; wall-clock "
        "times of every run in the JSON file); MSE of the "
        "homogeneous diffusion reconstruction from the mask (tight solve, residual 1e-9).",
        "",
        table(header, rows),
        "",
        f"Machine: {machine()}.",
    ]
    if base:
        text += ["", f"Before: `{args.baseline}`, made by this script on {args.baseline_label}."]
    if args.note:
        text += ["", args.note]
    args.out.write_text("\n".join(text) + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
