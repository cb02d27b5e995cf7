"""Diffusion inpainting solvers: sparsecodec multigrid and CG against SciPy and PyAMG.

    python -m benchmarks.solvers [--data DIR] [--image kodim23.png] [--repeats 5] [--quick]

For Kodak luma (768x512) and the same image upscaled to >= 4 megapixels, masks of 2, 5, 10 %
(random and Belhachmi): time to reach relative residual 1e-6 (``||b - M x|| / ||b||`` of the
reduced system, the same definition for every solver) and the PSNR reached, median of
``--repeats`` runs (set-up included). The PSNR is against the original image; the reference is
``scipy.sparse.linalg.spsolve``. Numba compile/load time is reported separately. Also measures
this machine's copy bandwidth and states a memory-traffic bound for one multigrid solve.
Writes benchmarks/results/solvers.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spl

from benchmarks.common import DEFAULT_DATA, RESULTS, command, load, machine, table

TOL = 1e-6


def neumann_laplacian(H: int, W: int) -> sp.csr_matrix:
    def lap1(n):
        main = -2.0 * np.ones(n)
        main[[0, -1]] = -1.0
        return sp.diags([np.ones(n - 1), main, np.ones(n - 1)], [-1, 0, 1])

    return (sp.kron(sp.eye(H), lap1(W)) + sp.kron(lap1(H), sp.eye(W))).tocsr()


def reduced_system(f: np.ndarray, mask: np.ndarray):
    """``M x = b`` on the unknowns (the system every solver below solves)."""
    A = neumann_laplacian(*mask.shape)
    k = mask.ravel()
    unk = ~k
    Au = A[unk]
    M = (-Au[:, unk]).tocsr()
    b = Au[:, k] @ f.ravel()[k]
    return M, b, unk


def assemble(f, mask, unk, x):
    out = f.astype(np.float64).ravel().copy()
    out[unk] = x
    return out.reshape(f.shape)


def run_sparsecodec(f, mask, solver):
    from sparsecodec.inpainting import solve

    r = solve(f, mask, solver=solver, tol=TOL, maxiter=100000)
    return r.u, r.iterations, r.residuals[-1]


def run_spsolve(f, mask, system):
    M, b, unk = system
    x = spl.spsolve(M.tocsc(), b)
    return assemble(f, mask, unk, x), 1, np.linalg.norm(b - M @ x) / np.linalg.norm(b)


def run_scipy_cg(f, mask, system):
    M, b, unk = system
    dinv = 1.0 / M.diagonal()
    P = spl.LinearOperator(M.shape, matvec=lambda v: dinv * v, dtype=np.float64)
    its = [0]

    def cb(_):
        its[0] += 1

    x, info = spl.cg(M, b, rtol=TOL, atol=0.0, M=P, maxiter=100000, callback=cb)
    return assemble(f, mask, unk, x), its[0], np.linalg.norm(b - M @ x) / np.linalg.norm(b)


def run_pyamg(f, mask, system):
    import pyamg

    M, b, unk = system
    ml = pyamg.smoothed_aggregation_solver(M.tocsr(), symmetry="symmetric")
    res: list[float] = []
    x = ml.solve(b, tol=TOL, accel="cg", maxiter=1000, residuals=res)
    return assemble(f, mask, unk, x), len(res) - 1, np.linalg.norm(b - M @ x) / np.linalg.norm(b)


SOLVERS = {  # spsolve first: it is the reference of the other rows
    "scipy spsolve": run_spsolve,
    "sparsecodec multigrid": lambda f, m, _: run_sparsecodec(f, m, "multigrid"),
    "sparsecodec CG": lambda f, m, _: run_sparsecodec(f, m, "cg"),
    "scipy CG + Jacobi": run_scipy_cg,
    "pyamg SA + CG": run_pyamg,
}


#: traffic model of one MG-PCG iteration (bytes per node), counted from the kernels:
#: fine grid: CG matvec (p, q), update (x, r rw; p, q), dot (r, z), xpby (z, p rw) = 13 float64
#: passes; V-cycle fine part (float32): first half-sweep (r, e) + 3 half-sweeps (e rw, r) +
#: restrict (e, r) + prolong (e rw) = 15 passes, plus the conversions of r in and e out
#: (float64 -> float32 -> float64); plus the uint8 mask read by 8 kernels.
FINE_BYTES = 13 * 8 + 15 * 4 + (8 + 4) + (4 + 8) + 8
#: coarse node per visit (float32): 4 half-sweeps (wx, wy, 1/diag, r, e; e written for half the
#: nodes), restriction (wx, wy, diag, e, r), prolongation (1/diag, e rw), zero-initialised e.
COARSE_BYTES = 4 * (5 * 4 + 2) + 5 * 4 + 3 * 4 + 4


def traffic_bytes(mask: np.ndarray, iterations: int) -> float:
    """Bytes moved by one multigrid solve under the traffic model above (W-cycle visits)."""
    from sparsecodec.inpainting.multigrid import MultigridPreconditioner

    pre = MultigridPreconditioner(mask.astype(np.uint8))
    per_iter = FINE_BYTES * mask.size
    visits = 1
    for lv in pre.levels:
        per_iter += COARSE_BYTES * lv.diag.size * visits
        if lv.diag.size >= pre.w_min_nodes:
            visits *= pre.gamma
    setup = 8 * 8 * mask.size  # fine weights and first coarsening
    return iterations * per_iter + setup


def psnr(a, b):
    return 10 * np.log10(255.0**2 / np.mean((np.asarray(a, float) - b) ** 2))


def copy_bandwidth(nbytes: int = 256 * 2**20, repeats: int = 5) -> float:
    """Bytes moved per second by ``np.copyto`` of an ``nbytes`` float64 array (read + write),
    best of ``repeats`` (256 MB: main memory; an image-sized array stays in the caches)."""
    a = np.ones(max(1, nbytes // 8))
    b = np.empty_like(a)
    np.copyto(b, a)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return 2 * a.nbytes / best


def threads_and_colour(path: Path, repeats: int) -> tuple[list[list], list[str]]:
    """Multigrid time on the luma and on all 3 channels of one Kodak image (one solve of
    the 3-channel system), with 1 and with 2 Numba threads (issue 3: colour <= 2x grey)."""
    import numba

    from sparsecodec.inpainting import solve
    from sparsecodec.masks.belhachmi import belhachmi_mask
    from sparsecodec.masks.random import random_mask

    rgb = np.moveaxis(load(path).astype(np.float64), 2, 0)
    grey = load(path, grey=True).astype(np.float64)
    rows, notes = [], []
    avail = numba.config.NUMBA_NUM_THREADS
    thread_counts = [t for t in (1, 2) if t <= avail]
    if avail < 2:
        notes.append(f"only {avail} Numba thread(s) available (NUMBA_NUM_THREADS)")
    for kind in ("random", "belhachmi"):
        for d in (0.02, 0.05):
            mask = (random_mask if kind == "random" else belhachmi_mask)(grey, d, seed=0)
            for nt in thread_counts:
                numba.set_num_threads(nt)
                t = {}
                for label, f in (("grey", grey), ("colour", rgb)):
                    solve(f, mask, tol=TOL)  # warm caches
                    ts = []
                    for _ in range(repeats):
                        t0 = time.perf_counter()
                        solve(f, mask, tol=TOL)
                        ts.append(time.perf_counter() - t0)
                    t[label] = float(np.median(ts))
                rows.append(
                    [
                        kind,
                        f"{100 * d:g}",
                        nt,
                        f"{1000 * t['grey']:.1f}",
                        f"{1000 * t['colour']:.1f}",
                        f"{t['colour'] / t['grey']:.2f}x",
                    ]
                )
                print("  threads/colour:", rows[-1], flush=True)
    numba.set_num_threads(1)
    return rows, notes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA / "kodak"))
    ap.add_argument("--image", default="kodim23.png")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--large-side", type=int, default=2560, help="width of the upscaled image")
    ap.add_argument(
        "--large-densities", default="0.05", help="comma-separated densities for the upscaled image"
    )
    ap.add_argument(
        "--large-repeats",
        type=int,
        default=3,
        help="runs of the SciPy/PyAMG solvers on the upscaled image",
    )
    ap.add_argument(
        "--quick", action="store_true", help="Kodak only, 3 repeats, no spsolve on the large image"
    )
    ap.add_argument("--out", default=str(RESULTS / "solvers.md"))
    args = ap.parse_args()
    import numba
    from PIL import Image

    from sparsecodec.inpainting import solve
    from sparsecodec.masks.belhachmi import belhachmi_mask
    from sparsecodec.masks.random import random_mask

    numba.set_num_threads(1)  # the main table compares single-threaded solvers
    t = time.perf_counter()
    m0 = np.zeros((16, 16), bool)
    m0[3, 3] = True
    for s in ("multigrid", "cg"):
        solve(np.zeros((3, 16, 16)), m0, solver=s)
        solve(np.zeros((16, 16)), m0, solver=s)
    compile_s = time.perf_counter() - t

    small = load(Path(args.data) / args.image, grey=True).astype(np.float64)
    H, W = small.shape
    scale = args.large_side / W
    big = np.asarray(
        Image.fromarray(small.astype(np.uint8)).resize(
            (args.large_side, int(round(H * scale))), Image.BICUBIC
        ),
        dtype=np.float64,
    )
    images = [("Kodak luma", small)] if args.quick else [("Kodak luma", small), ("upscaled", big)]
    repeats = 3 if args.quick else args.repeats
    rows, speedups, bounds = [], [], []
    for label, img in images:
        for kind in ("random", "belhachmi"):
            dens = (
                (0.02, 0.05, 0.10)
                if label != "upscaled"
                else tuple(float(v) for v in args.large_densities.split(","))
            )
            for d in dens:
                mask = (random_mask if kind == "random" else belhachmi_mask)(img, d, seed=0)
                system = reduced_system(img, mask)
                times, wall, ref = {}, {}, None
                for name, fn in SOLVERS.items():
                    big_direct = label == "upscaled" and name == "scipy spsolve"
                    if big_direct and args.quick:
                        continue
                    n = 1 if big_direct else repeats
                    if label == "upscaled" and not name.startswith("sparsecodec"):
                        n = min(n, args.large_repeats)
                    ts, cs = [], []
                    for _ in range(n):
                        t, c = time.perf_counter(), time.process_time()
                        u, its, rel = fn(img, mask, system)
                        ts.append(time.perf_counter() - t)
                        cs.append(time.process_time() - c)
                    if name == "scipy spsolve":
                        ref = u
                    wall[name] = float(np.median(ts))
                    times[name] = float(np.median(cs))
                    diff = f"{np.abs(u - ref).max():.2e}" if ref is not None else "n/a"
                    rows.append(
                        [
                            label,
                            f"{img.shape[1]}x{img.shape[0]}",
                            kind,
                            f"{100 * d:g}",
                            name,
                            f"{1000 * wall[name]:.1f}",
                            f"{1000 * times[name]:.1f}",
                            its,
                            f"{rel:.1e}",
                            f"{psnr(img, u):.4f}",
                            diff,
                            n,
                        ]
                    )
                    print(" | ".join(str(v) for v in rows[-1]), flush=True)
                mg = times["sparsecodec multigrid"]
                mg_its = next(r[7] for r in rows[::-1] if r[4] == "sparsecodec multigrid")
                bounds.append(
                    [
                        label,
                        kind,
                        f"{100 * d:g}",
                        mg_its,
                        f"{traffic_bytes(mask, mg_its) / 1e6:.0f}",
                        mask,
                    ]
                )
                speedups.append(
                    [label, kind, f"{100 * d:g}"]
                    + [
                        f"{times[k] / mg:.1f}x" if k in times else "n/a"
                        for k in SOLVERS
                        if k != "sparsecodec multigrid"
                    ]
                )
                print("  speed-up:", speedups[-1], flush=True)

    tc_rows, tc_notes = threads_and_colour(Path(args.data) / args.image, repeats)
    bw = copy_bandwidth()
    bw_cache = {}  # copy bandwidth of one image-sized float64 array (working-set scale)
    mg_time = {(r[0], r[2], r[3]): float(r[6]) for r in rows if r[4] == "sparsecodec multigrid"}
    bound_rows = []
    for label, kind, dd, its, mb, mask in bounds:
        if mask.size not in bw_cache:
            bw_cache[mask.size] = copy_bandwidth(8 * mask.size, repeats=50)
        t_bound = float(mb) * 1e6 / bw * 1000
        t_cache = float(mb) * 1e6 / bw_cache[mask.size] * 1000
        t = mg_time[(label, kind, dd)]
        bound_rows.append(
            [label, kind, dd, its, mb, f"{t_bound:.1f}", f"{t:.1f}", f"{t / t_bound:.1f}x",
             f"{bw_cache[mask.size] / 1e9:.1f}", f"{t_cache:.1f}", f"{t / t_cache:.1f}x"]
        )  # fmt: skip
    text = (
        "# Diffusion inpainting solvers\n\n"
        f"Command: `{command()}`  \nMachine: {machine()}  \n"
        f"Numba compile/cache-load time (excluded below): {compile_s:.2f} s  \n"
        f"Measured copy bandwidth (np.copyto, 256 MB, read+write): {bw / 1e9:.1f} GB/s\n\n"
        f"Stopping rule: relative residual of the reduced system <= {TOL:g} for every solver. "
        "Times are medians of wall-clock and of process CPU time (all solvers run "
        "single-threaded, so CPU time is the robust measure on a shared machine: the speed-up "
        "and bound tables use it) (set-up included: hierarchy for multigrid, AMG set-up for PyAMG; "
        "the assembly of the SciPy matrix is excluded). Every solver runs on one thread (Numba "
        "set to 1 thread here; two threads: last section). `max|u-u_spsolve|` in grey levels."
        "\n\n"
        + table(
            [
                "image",
                "size",
                "mask",
                "density %",
                "solver",
                "wall ms",
                "CPU ms",
                "iterations",
                "rel. residual",
                "PSNR dB",
                "max abs diff vs spsolve",
                "runs",
            ],
            rows,
        )
        + "\n\n## Speed-up of sparsecodec multigrid (CPU time of the other / CPU time of "
        "multigrid)\n\n"
        + table(
            ["image", "mask", "density %"] + [k for k in SOLVERS if k != "sparsecodec multigrid"],
            speedups,
        )
        + "\n\n## Memory-traffic bound of the multigrid solve\n\n"
        f"Model: one MG-PCG iteration moves {FINE_BYTES} bytes per fine-grid pixel (13 float64 "
        "array passes of CG, 15 float32 passes of the fine part of the cycle and its conversions "
        f"from and to float64, plus the uint8 mask) and {COARSE_BYTES} bytes per coarse node "
        "and visit (float32; W-cycle on levels with >= 8192 "
        "nodes); plus the hierarchy set-up. Bound = bytes / measured copy bandwidth, once with "
        "the main-memory bandwidth (256 MB copy) and once with the copy bandwidth of one "
        "image-sized float64 array: the solver's arrays of a Kodak image (about 6 arrays of "
        "3 MB) fit in this machine's caches, so the second bound is the tighter one there.\n\n"
        + table(
            [
                "image",
                "mask",
                "density %",
                "iterations",
                "MB moved",
                "bound ms (memory)",
                "measured CPU ms",
                "measured / memory bound",
                "image-size copy GB/s",
                "bound ms (cache)",
                "measured / cache bound",
            ],
            bound_rows,
        )
        + "\n\n## Colour and threads (multigrid, Kodak image, median of the runs)\n\n"
        "All three channels of the colour image are solved together (one hierarchy, every "
        "sweep updates the three channels); `colour / grey` is the time of the 3-channel solve "
        "over the time of the luma solve with the same mask (issue 3 target: <= 2x). "
        + " ".join(tc_notes)
        + "\n\n"
        + table(
            ["mask", "density %", "Numba threads", "grey ms", "colour (3 ch.) ms", "colour / grey"],
            tc_rows,
        )
        + "\n"
    )
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
