"""Quality and run time of the mask strategies: Belhachmi, PS, PS+NLPE, learned (+ tonal).

For grey classic images and Kodak luma at several densities: MSE and PSNR of homogeneous
diffusion inpainting from each mask, with the original values and with tonal optimisation
(least-squares optimal values, unquantised), the mask-generation time of each strategy (wall
clock and process CPU time), the speed-up of the learned mask over PS and PS+NLPE, and the time
of the bare mask-network pass on a 512x512 image. All errors are measured with a tight solve
(relative residual 1e-9), independently of the solvers the optimisers use internally.

    python -m benchmarks.masks [--data DIR] [--quick] [--densities 2,3,5,10]
        [--methods belhachmi,ps,nlpe,learned] [--classic trui,peppers,...] [--kodak N]
        [--kodak-densities ...] [--kodak-methods ...] [--kodak-ps-densities ...]
        [--kodak-ps-count N] [--nlpe-cycles 5] [--kodak-nlpe-cycles 1] [--samples 4]
        [--threads 1] [--cache FILE]

Methods: ``belhachmi``, ``ps``, ``nlpe`` (PS then NLPE), ``learned`` (network pass + best of
``--samples`` dithering orientations, the codec's default), ``learned-coin`` (network pass + best
of ``--samples`` coin flips, the paper's binarisation), ``nlpe-t`` (PS then tonal-aware NLPE;
the last two are not run by default).
``--quick``: trui, peppers, cameraman, house at 4 % and one Kodak image at 4 %.
Writes benchmarks/results/masks.md (``--out`` to change).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import (
    DEFAULT_DATA,
    RESULTS,
    command,
    images,
    load,
    machine,
    network_precisions,
    table,
)
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
#: method key -> label in the tables
LABELS = {
    "belhachmi": "Belhachmi",
    "ps": "PS",
    "nlpe": "PS+NLPE",
    "nlpe-t": "PS+NLPE(t)",
    "learned": "learned",
    "learned-coin": "learned (coin flips)",
}
SLOW = {"ps", "nlpe", "nlpe-t"}


def error(f: np.ndarray, values: np.ndarray, mask: np.ndarray, solver: str = "cg") -> float:
    """MSE of the diffusion inpainting of ``values`` from ``mask`` against ``f`` (tight solve)."""
    u = solve(values, mask, solver=solver, tol=1e-9, maxiter=20000).u
    return float(np.mean((u - f) ** 2))


def psnr(e: float) -> float:
    """PSNR (peak 255) of an MSE."""
    return float(10 * np.log10(255.0**2 / e)) if e > 0 else float("inf")


def timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """``fn(*args, **kwargs)``, its wall-clock and its process CPU time in seconds."""
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w, time.process_time() - c


class MaskCache:
    """PS / NLPE masks and their times in an .npz file, so that reruns skip the slow part."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.data: dict[str, np.ndarray] = {}
        self.hits = 0
        if path is not None and path.exists():
            self.data = dict(np.load(path))

    def get(self, key: str, make: Callable[[], np.ndarray]) -> tuple[np.ndarray, float, float]:
        """Cached ``(mask, wall, cpu)`` for ``key``, else computed by ``make`` and stored."""
        if key in self.data:
            t = self.data[key + "|t"]
            self.hits += 1
            return self.data[key].astype(bool), float(t[0]), float(t[1])
        m, w, c = timed(make)
        if self.path is not None:
            self.data[key] = np.asarray(m, dtype=bool)
            self.data[key + "|t"] = np.array([w, c])
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp.npz")
            np.savez_compressed(tmp, **self.data)
            os.replace(tmp, self.path)
        return m, w, c


def make_masks(
    f: np.ndarray,
    d: float,
    methods: list[str],
    *,
    key: str,
    cycles: float,
    seed: int,
    samples: int,
    tonal_solver: str,
    cache: MaskCache,
) -> dict[str, tuple[np.ndarray, float, float]]:
    """``method -> (mask, wall s, CPU s)``; PS+NLPE times include the PS stage."""
    import sparsecodec

    out: dict[str, tuple[np.ndarray, float, float]] = {}
    for m in methods:
        if m == "belhachmi":
            out[m] = timed(lambda: belhachmi_mask(f, d))
        elif m in ("learned", "learned-coin"):
            opts = {"binarise": "coin"} if m == "learned-coin" else {}
            out[m] = timed(
                sparsecodec.make_mask, f, d, strategy="learned", seed=seed, samples=samples, **opts
            )
    if SLOW & set(methods):
        mp, wp, cp = cache.get(f"{key}|ps|{seed}", lambda: ps_mask(f, d, seed=seed))
        if "ps" in methods:
            out["ps"] = (mp, wp, cp)
        if "nlpe" in methods:
            mn, w, c = cache.get(
                f"{key}|nlpe{cycles:g}|{seed}",
                lambda: nlpe_refine(f, mp, cycles=cycles, seed=seed),
            )
            out["nlpe"] = (mn, wp + w, cp + c)
        if "nlpe-t" in methods:
            mt, w, c = cache.get(
                f"{key}|nlpet{cycles:g}|{seed}|{tonal_solver}",
                lambda: nlpe_refine(
                    f, mp, cycles=cycles, seed=seed, tonal=True, tonal_solver=tonal_solver
                ),
            )
            out["nlpe-t"] = (mt, wp + w, cp + c)
    return {m: out[m] for m in methods}


def network_pass(f: np.ndarray, d: float, precision: str = "auto") -> tuple[float, float]:
    """Wall and CPU time of one bare mask-network pass on ``f``."""
    from sparsecodec.masks.learned import mask_probabilities

    _, w, c = timed(lambda: mask_probabilities(f, d, precision=precision))
    return w, c


def network_timing(
    f: np.ndarray, d: float, repeats: int, precision: str = "auto"
) -> tuple[float, float]:
    """Median wall and CPU time of ``repeats`` network passes after one warm-up pass."""
    network_pass(f, d, precision)
    t = np.array([network_pass(f, d, precision) for _ in range(repeats)])
    return float(np.median(t[:, 0])), float(np.median(t[:, 1]))


def set_threads(n: int, need_torch: bool) -> str:
    """Limit Numba (and torch, if used) to ``n`` threads; a description for the report."""
    import numba

    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    desc = f"Numba {numba.get_num_threads()} thread(s)"
    if need_torch:
        import torch

        torch.set_num_threads(n)
        desc += f", torch {torch.get_num_threads()} thread(s) (torch {torch.__version__})"
    return desc


def generated_image(n: int, seed: int = 0) -> np.ndarray:
    """A smooth random grey image with edges, values in [0, 255] (for warm-up and timing)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:n, 0:n] / n
    g = 128 + 60 * np.sin(6 * x + 3 * y) + 40 * (x + y > 1) - 30 * ((x - 0.3) ** 2 + y**2 < 0.1)
    return np.clip(g + rng.normal(0, 5, g.shape), 0, 255)


def percent(d: float) -> str:
    return f"{d * 100:g} %"


def parse_percent(s: str) -> list[float]:
    return [float(x) / 100 for x in s.split(",") if x]


def parse_methods(s: str) -> list[str]:
    ms = [m.strip() for m in s.split(",") if m.strip()]
    bad = [m for m in ms if m not in LABELS]
    if bad:
        raise SystemExit(f"error: unknown method(s) {', '.join(bad)}; choose from {list(LABELS)}")
    return [m for m in LABELS if m in ms]


def summary(recs: list[dict], sets: list[str], dens: list[float], methods: list[str]) -> list[str]:
    """Mean PSNR per set, method (+tonal) and density, with the number of images."""
    out = []
    for s in sets:
        rs = [r for r in recs if r["set"] == s]
        if not rs:
            continue
        ds = [d for d in dens if any(r["d"] == d for r in rs)]
        rows = []
        for tonal in (False, True):
            for m in methods:
                row: list[Any] = [LABELS[m] + (" + tonal" if tonal else "")]
                for d in ds:
                    v = [
                        r["psnr_t" if tonal else "psnr"] for r in rs if r["d"] == d and r["m"] == m
                    ]
                    row.append(f"{np.mean(v):.2f} ({len(v)})" if v else "-")
                rows.append(row)
        names = sorted({r["image"] for r in rs}, key=lambda n: [r["image"] for r in rs].index(n))
        out += [
            f"Mean PSNR in dB over the {s} images ({len(names)}: {', '.join(names)}); "
            "(n) = number of images in the mean:",
            "",
            table(["method"] + [percent(d) for d in ds], rows),
            "",
        ]
    return out


def paired(recs: list[dict], s: str, d: float, m: str, ref: str, key: str) -> tuple[float, int]:
    """Mean over the images that have both methods of ``key(m) - key(ref)``, and their number."""
    a = {r["image"]: r[key] for r in recs if (r["set"], r["d"], r["m"]) == (s, d, m)}
    b = {r["image"]: r[key] for r in recs if (r["set"], r["d"], r["m"]) == (s, d, ref)}
    both = [n for n in a if n in b]
    return (float(np.mean([a[n] - b[n] for n in both])) if both else float("nan")), len(both)


def targets(recs: list[dict], sets: list[str], dens: list[float]) -> list[str]:
    """Quality targets of issue 5 per set and density (learned vs PS and vs Belhachmi), each a
    paired mean over the images that have both methods."""
    rows = []
    for s in sets:
        for d in dens:
            for key, suffix in (("psnr", ""), ("psnr_t", " (all + tonal)")):
                for ref, label, margin in (
                    ("ps", "PS", 0.0),
                    ("belhachmi", "Belhachmi + 1 dB", 1.0),
                ):
                    if ref == "ps" and d > 0.05 + 1e-12:
                        continue
                    diff, n = paired(recs, s, d, "learned", ref, key)
                    if n == 0:
                        continue
                    ok = "yes" if diff >= margin else "no"
                    rows.append(
                        [f"learned >= {label}{suffix}", f"{s} ({n})", percent(d),
                         f"{diff:+.2f} dB", ok]
                    )  # fmt: skip
    for s in sets:
        for d in dens:
            pairs = [
                (r, l)
                for r in recs
                for l in recs
                if (r["set"], r["d"], r["m"], l["set"], l["d"], l["m"])
                == (s, d, "nlpe", s, d, "learned")
                and r["image"] == l["image"]
            ]
            for what, t in (("learned mask", "cpu"), ("network pass", "net_cpu")):
                if pairs:
                    f = float(np.mean([r["cpu"] / l[t] for r, l in pairs]))
                    ok = "yes" if f >= 1000 else "no"
                    rows.append([f"{what} >= 1000x faster than PS+NLPE (CPU)",
                                 f"{s} ({len(pairs)})", percent(d), f"{f:.0f}x", ok])  # fmt: skip
    if not rows:
        return []
    rows.sort(key=lambda r: (r[0], sets.index(r[1].split(" (")[0])))
    return [
        "Targets of issue 5 (quality: mean over the images that have both methods, (n) of them, "
        "of the per-image PSNR difference; the PS target only at <= 5 %; speed: mean over the "
        "images of the per-image CPU-time ratio, see the next section):",
        "",
        table(["target", "images", "density", "learned minus / over reference", "met?"], rows),
        "",
    ]


def speedups(recs: list[dict], sets: list[str], dens: list[float], methods: list[str]) -> list[str]:
    """Mean mask-generation times and mean per-image speed-up factors of learned."""
    refs = [m for m in ("ps", "nlpe") if m in methods]
    if "learned" not in methods:
        return []
    rows = []
    for s in sets:
        for d in dens:
            lr = {r["image"]: r for r in recs if (r["set"], r["d"], r["m"]) == (s, d, "learned")}
            if not lr:
                continue
            row: list[Any] = [s, percent(d)]
            row.append(f"{np.mean([r['cpu'] for r in lr.values()]):.3f}")
            row.append(f"{np.mean([r['net_cpu'] for r in lr.values()]):.3f}")
            for m in refs:
                rr = [r for r in recs if (r["set"], r["d"], r["m"]) == (s, d, m)]
                rr = [r for r in rr if r["image"] in lr]
                if not rr:
                    row += ["-"] * 4
                    continue
                cpu = [r["cpu"] / lr[r["image"]]["cpu"] for r in rr]
                wall = [r["wall"] / lr[r["image"]]["wall"] for r in rr]
                net = [r["cpu"] / lr[r["image"]]["net_cpu"] for r in rr]
                row += [
                    f"{np.mean([r['cpu'] for r in rr]):.1f} ({len(rr)})",
                    f"{np.mean(cpu):.0f}x",
                    f"{np.mean(wall):.0f}x",
                    f"{np.mean(net):.0f}x",
                ]
            rows.append(row)
    header = ["images", "density", "learned mask CPU s", "network pass CPU s"]
    for m in refs:
        lab = LABELS[m]
        header += [
            f"{lab} CPU s (n)",
            f"{lab} / learned (CPU)",
            f"{lab} / learned (wall)",
            f"{lab} / network pass (CPU)",
        ]
    return [
        "Mask-generation time (means over the images) and speed-up factors (mean over the images "
        "of the per-image time ratio). The learned mask time is the whole "
        '`make_mask(..., strategy="learned")` call (network pass, binarisations and the real '
        "inpainting solves that pick the best sample); the network pass is "
        "`mask_probabilities` alone on the same image (median of 5 passes after one warm-up pass)."
        " PS+NLPE = PS + NLPE stages.",
        "",
        table(header, rows),
        "",
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--densities", default="2,3,5,10", help="percent, comma separated")
    ap.add_argument("--methods", default="belhachmi,ps,nlpe,learned", help=", ".join(LABELS))
    ap.add_argument("--classic", default=",".join(CLASSIC))
    ap.add_argument("--kodak", type=int, default=24, help="number of Kodak images (0: none)")
    ap.add_argument("--kodak-densities", default=None, help="percent (default: --densities)")
    ap.add_argument("--kodak-methods", default=None, help="default: --methods")
    ap.add_argument(
        "--kodak-ps-densities",
        default=None,
        help="percent: run PS / NLPE on Kodak only at these densities (default: all)",
    )
    ap.add_argument(
        "--kodak-ps-count",
        type=int,
        default=None,
        help="run PS / NLPE only on the first N Kodak images (default: all)",
    )
    ap.add_argument("--nlpe-cycles", type=float, default=5)
    ap.add_argument("--kodak-nlpe-cycles", type=float, default=1)
    ap.add_argument("--samples", type=int, default=4, help="binarisations per learned mask")
    ap.add_argument("--tonal-solver", default="multigrid")
    ap.add_argument("--error-solver", default="cg", help="solver of the 1e-9 error measurement")
    ap.add_argument("--threads", type=int, default=1, help="Numba and torch threads")
    ap.add_argument("--net-size", type=int, default=512, help="network timing image (0: skip)")
    ap.add_argument("--net-repeats", type=int, default=7)
    ap.add_argument("--cache", type=Path, default=None, help=".npz cache of PS/NLPE masks")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "masks.md")
    args = ap.parse_args(argv)
    dens = parse_percent(args.densities)
    kdens = dens if args.kodak_densities is None else parse_percent(args.kodak_densities)
    methods = parse_methods(args.methods)
    kmethods = methods if args.kodak_methods is None else parse_methods(args.kodak_methods)
    kps = None if args.kodak_ps_densities is None else parse_percent(args.kodak_ps_densities)
    classic = [n for n in args.classic.split(",") if n]
    nkodak = args.kodak
    if args.quick:
        dens, kdens, classic, nkodak = [0.04], [0.04], QUICK_CLASSIC, 1
    need_torch = "learned" in methods + kmethods or args.net_size > 0
    threads = set_threads(args.threads, need_torch)
    t_start = time.perf_counter()

    # jobs: (set, name, path, densities, methods per density, NLPE cycles)
    jobs = []
    for name in classic:
        path = args.data / "classic" / f"{name}.png"
        if path.exists():
            jobs.append(("classic", name, path, dens, lambda d: methods, args.nlpe_cycles))
    if nkodak:

        def kodak_methods(slow: bool) -> Callable[[float], list[str]]:
            def pick(d: float) -> list[str]:
                if slow and (kps is None or any(abs(d - x) < 1e-12 for x in kps)):
                    return kmethods
                return [m for m in kmethods if m not in SLOW]

            return pick

        for i, path in enumerate(images(args.data / "kodak", limit=nkodak)):
            slow = args.kodak_ps_count is None or i < args.kodak_ps_count
            jobs.append(
                ("Kodak", path.stem, path, kdens, kodak_methods(slow), args.kodak_nlpe_cycles)
            )

    # warm-up (JIT compilation, weight loading) on a small generated image, not timed
    small = generated_image(32)
    make_masks(
        small,
        0.1,
        sorted(set(methods + kmethods)),
        key="warm-up",
        cycles=0.1,
        seed=0,
        samples=2,
        tonal_solver=args.tonal_solver,
        cache=MaskCache(None),
    )
    net_time = None
    if args.net_size > 0:
        bank = args.data / "classic" / "bank.png"
        n = args.net_size
        big = load(bank, grey=True).astype(np.float64) if bank.exists() else None
        if big is None or big.shape[0] < n or big.shape[1] < n:
            big, src = generated_image(n), "a generated test image"
        else:
            big, src = big[:n, :n], f"{bank.name} (grey, cropped)"
        times = {}
        for prec in network_precisions():
            w, c = times[prec] = network_timing(big, 0.05, args.net_repeats, prec)
            print(
                f"network pass {n}x{n} {prec}: median wall {w * 1e3:.1f} ms, CPU {c * 1e3:.1f} ms"
            )
        net_time = (n, src, times)

    def write_report(done: int, total: int) -> None:
        """(Re)write the results file with the rows so far."""
        sets = [s for s in ("classic", "Kodak") if any(r["set"] == s for r in recs)]
        alld = sorted({r["d"] for r in recs})
        used = [m for m in LABELS if any(r["m"] == m for r in recs)]
        rows = [
            [
                r["image"],
                r["size"],
                percent(r["d"]),
                LABELS[r["m"]]
                + (f" ({r['cycles']:g} NLPE cycles)" if r["cycles"] is not None else ""),
                f"{100 * r['kept']:.2f}",
                f"{r['mse']:.2f}",
                f"{r['psnr']:.2f}",
                f"{r['mse_t']:.2f}",
                f"{r['psnr_t']:.2f}",
                f"{r['wall']:.2f} / {r['cpu']:.2f}",
                f"{r['tonal_wall']:.2f} / {r['tonal_cpu']:.2f}",
            ]
            for r in recs
        ]
        header = [
            "image",
            "size",
            "density",
            "method",
            "kept %",
            "MSE",
            "PSNR",
            "MSE +tonal",
            "PSNR +tonal",
            "mask s wall / CPU",
            "tonal s wall / CPU",
        ]
        skipped = [n for n in CLASSIC if n not in classic]
        run_names = {r["image"] for r in recs}
        coverage = [
            f"Classic images run: {', '.join(n for n in classic if n in run_names)}"
            + (f" (not run: {', '.join(skipped)})" if skipped else "")
            + f"; densities {', '.join(percent(d) for d in dens)}; methods "
            f"{', '.join(LABELS[m] for m in methods)}; NLPE {args.nlpe_cycles:g} cycle(s).",
        ]
        if nkodak:
            ps_note = (
                f"; PS / NLPE only at {', '.join(percent(d) for d in kps)}"
                if kps is not None
                else ""
            )
            if args.kodak_ps_count is not None and args.kodak_ps_count < nkodak:
                ps_note += f"; PS / NLPE only on the first {args.kodak_ps_count} image(s)"
            coverage.append(
                f"Kodak luma: the first {nkodak} image(s); densities "
                f"{', '.join(percent(d) for d in kdens)}; methods "
                f"{', '.join(LABELS[m] for m in kmethods)}{ps_note}; NLPE "
                f"{args.kodak_nlpe_cycles:g} cycle(s)."
            )
        load_txt = (
            f"Load average (1 min) at the start of each image/density: min {min(loads):.1f}, "
            f"max {max(loads):.1f} on {os.cpu_count()} cores (shared with other jobs), so wall "
            "times are inflated; process CPU time is closer to what an idle machine needs. "
            if loads
            else ""
        )
        text = [
            "# Mask strategies: Belhachmi, PS, PS+NLPE, learned (each without and with tonal)",
            "",
            f"Command: `{command()}` (environment: NUMBA_NUM_THREADS="
            f"{os.environ.get('NUMBA_NUM_THREADS', 'unset')}, OMP_NUM_THREADS="
            f"{os.environ.get('OMP_NUM_THREADS', 'unset')}, nice {os.nice(0)})",
            "",
            f"Machine: {machine()}. {threads}. {load_txt}"
            f"Total {time.perf_counter() - t_start:.0f} s.",
            "",
            *(
                [f"**Partial results: {done} of {total} image/density jobs done.**", ""]
                if done < total
                else []
            ),
            *(f"- {c}" for c in coverage),
            "",
            "MSE/PSNR of homogeneous diffusion inpainting from the mask (original grey values; "
            "`+ tonal`: the least-squares optimal values of `optimise_tonal(f, mask)`, "
            f"unquantised, {args.tonal_solver} solver), measured with {args.error_solver} to "
            f"relative residual 1e-9. PS: p = 0.1, q = 0.05, one run, seed {args.seed}; NLPE: 30 "
            "candidates, 10 tried per step, started from the PS mask. "
            "Learned: `sparsecodec.make_mask(f, d, "
            f'strategy="learned", seed={args.seed}, samples={args.samples})` (the default '
            f"binarisation), the best of {args.samples} Floyd-Steinberg dithering orientations by "
            'the real inpainting error; learned (coin flips): the same with `binarise="coin"`, '
            f"the best of {args.samples} coin flips (the paper's binarisation). Kept densities "
            "are only about d (column `kept %`). Timings follow a warm-up on a small image "
            "(JIT compilation and weight loading not included).",
            "",
        ]
        if cache.hits:
            text += [
                f"**{cache.hits} PS / NLPE masks and their times were read from the cache "
                f"{args.cache}**, i.e. measured in an earlier run (under that run's load), not in "
                "this one; wall-time ratios against learned masks timed in this run are then not "
                "like for like.",
                "",
            ]
        if net_time is not None:
            n, src, times = net_time
            default = next(iter(times))  # network_precisions() lists the default first
            text += [
                "**Network pass** (`sparsecodec.masks.learned.mask_probabilities`, density "
                f"5 %) on a {n}x{n} image ({src}), {threads}: median of {args.net_repeats} runs "
                f"after one warm-up; the default precision `auto` is {default} on this machine "
                "(`sparsecodec.nets.precision`):",
                "",
            ]
            for prec, (w, c) in times.items():
                ok = "yes" if w <= 0.1 else "no"
                okc = "yes" if c <= 0.1 else "no"
                tag = " (default)" if prec == default else ""
                text.append(
                    f"- {prec}{tag}: **{w * 1e3:.1f} ms wall, {c * 1e3:.1f} ms CPU**. "
                    f"Target <= 100 ms: wall {ok}, CPU {okc}."
                )
            text.append("")
        text += ["## Summary", ""]
        text += summary(recs, sets, alld, used)
        text += targets(recs, sets, alld)
        text += ["## Mask-generation time and speed-up of learned masks", ""]
        text += speedups(recs, sets, alld, used)
        text += ["## All rows", "", table(header, rows), ""]
        if any(m in used for m in ("ps", "nlpe")) and {"ps", "nlpe"} <= set(used):
            text += [
                "Each stage better than the previous (MSE PS > PS+NLPE > PS+NLPE + tonal): "
                + (
                    "yes, on every row."
                    if not monotone_fail
                    else "NO for " + ", ".join(monotone_fail)
                ),
                "",
            ]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text("\n".join(text))
        os.replace(tmp, args.out)
        if done == total:
            print(f"wrote {args.out}")

    cache = MaskCache(args.cache)
    recs: list[dict] = []
    loads: list[float] = []
    monotone_fail: list[str] = []
    total = sum(1 for j in jobs for d in j[3] if j[4](d))
    done = 0
    for s, name, path, ds, mfor, cycles in jobs:
        f = load(path, grey=True).astype(np.float64)
        size = f"{f.shape[1]}x{f.shape[0]}"
        for d in ds:
            ms = mfor(d)
            if not ms:
                continue
            loads.append(os.getloadavg()[0])
            key = f"{s}/{name}|{size}|{d:.5f}"
            masks = make_masks(
                f,
                d,
                ms,
                key=key,
                cycles=cycles,
                seed=args.seed,
                samples=args.samples,
                tonal_solver=args.tonal_solver,
                cache=cache,
            )
            # steady-state pass on this image: median of 5 after one warm-up (as for the
            # 512x512 figure); the first pass in a process also loads the weights
            net = network_timing(f, d, 5) if "learned" in ms else (np.nan, np.nan)
            by = {}
            for m, (mask, w, c) in masks.items():
                e = error(f, f, mask, args.error_solver)
                g, tw, tc = timed(optimise_tonal, f, mask, solver=args.tonal_solver)
                et = error(f, g, mask, args.error_solver)
                r = dict(
                    set=s,
                    image=name,
                    size=size,
                    d=d,
                    m=m,
                    kept=float(mask.mean()),
                    mse=e,
                    psnr=psnr(e),
                    mse_t=et,
                    psnr_t=psnr(et),
                    wall=w,
                    cpu=c,
                    tonal_wall=tw,
                    tonal_cpu=tc,
                    net_wall=net[0],
                    net_cpu=net[1],
                    cycles=cycles if m in ("nlpe", "nlpe-t") else None,
                )
                recs.append(r)
                by[m] = r
                print(
                    f"{s} {name} {size} {percent(d)} {LABELS[m]}: kept {r['kept']:.4f}, "
                    f"PSNR {r['psnr']:.2f} / +tonal {r['psnr_t']:.2f}, "
                    f"mask {w:.2f} s wall / {c:.2f} s CPU",
                    flush=True,
                )
            if "ps" in by and "nlpe" in by:
                if not (by["ps"]["mse"] > by["nlpe"]["mse"] > by["nlpe"]["mse_t"]):
                    monotone_fail.append(f"{name} {percent(d)}")
            done += 1
            write_report(done, total)
    if done == 0:
        write_report(0, 0)


if __name__ == "__main__":
    main()
