"""Speed-up table: mask generation per strategy and density, decoding per decoder.

    python -m benchmarks.speed [--data DIR] [--image kodim23.png] [--quick] [--device cpu|cuda]

In the style of Peter (2022, Table 4) and Alt et al. (2021, Fig. 4b): wall-clock time of every
registered mask strategy (``sparsecodec.masks.STRATEGIES``) at densities 2, 5, 10, 20 % on the luma
of a 128x128 and a 256x256 centre crop and the full 768x512 Kodak image (a generated test image
if there is no data), and of every decoder (diffusion with the multigrid and the CG solver, the
WGAN generator if its weights exist) on the Belhachmi mask of the same density; then the
speed-up factors: the time of the slowest mask strategy (and of each stochastic one, ps/nlpe,
when present) divided by each strategy's time, and the time of the slowest decoder divided by
each decoder's time. Times are medians of ``--repeats`` runs after a warm-up call on a small
image (Numba compilation / cache loading and weight loading excluded; their time is reported)
and, except for the slow strategies ps/nlpe, one more untimed call at the measured size.
Measurements whose estimate (from the previous size, scaled by the pixel count) exceeds
``--max-seconds`` are skipped and marked. Writes benchmarks/results/speed.md and speed.json.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, RESULTS, command, load, machine, table

SIZES = ((128, 128), (256, 256), (512, 768))
DENSITIES = (0.02, 0.05, 0.10, 0.20)
SLOW = ("ps", "nlpe")


def test_image(h: int, w: int) -> np.ndarray:
    """Deterministic grey test image (smooth shading, edges, texture) when there is no data."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    g = 110 + 70 * np.sin(7 * x + 3 * y) + 50 * ((x - 0.4) ** 2 + (y - 0.3) ** 2 < 0.05)
    g += 15 * np.sign(np.sin(60 * x) * np.sin(45 * y)) * (x > 0.6)
    return np.clip(g, 0, 255)


def images_for(sizes, path: Path | None) -> dict[tuple[int, int], np.ndarray]:
    """Grey float64 images of the requested sizes: centre crops (or a resize when the size is
    larger than the image) of ``path``'s luma, else the generated test image."""
    out = {}
    if path is None or not path.is_file():
        return {s: test_image(*s) for s in sizes}
    base = load(path, grey=True)
    if base.shape[0] > base.shape[1]:
        base = base.T.copy()  # portrait Kodak images: use landscape orientation
    for h, w in sizes:
        H, W = base.shape
        if h <= H and w <= W:
            y0, x0 = (H - h) // 2, (W - w) // 2
            out[(h, w)] = base[y0 : y0 + h, x0 : x0 + w].astype(np.float64)
        else:
            from PIL import Image

            im = Image.fromarray(base).resize((w, h), Image.BICUBIC)
            out[(h, w)] = np.asarray(im, dtype=np.float64)
    return out


def _accepts(fn, name: str) -> bool:
    try:
        ps = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in ps or any(p.kind is p.VAR_KEYWORD for p in ps.values())


def _time(fn, repeats: int, budget: float) -> tuple[float, int]:
    """Median time of up to ``repeats`` calls (fewer if one call already exceeds ``budget``)."""
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
        if sum(ts) > budget:
            break
    return float(np.median(ts)), len(ts)


def mask_functions(device: str, only: list[str] | None):
    """``{name: (fn(image, density) -> mask, warm-up error or None)}`` of the registry."""
    from sparsecodec import masks

    out = {}
    for name, st in masks.STRATEGIES.items():
        if only and name not in only:
            continue
        try:
            f = st.load()
        except Exception as e:  # noqa: BLE001 - strategy not usable here: note and go on
            out[name] = (None, f"{type(e).__name__}: {e}"[:200])
            continue
        kw = {"device": device} if device != "cpu" and _accepts(f, "device") else {}
        out[name] = (partial(f, seed=0, **kw), None)
    return out


def decoder_functions(device: str):
    from sparsecodec.inpainting import solve

    def diffusion(solver):
        return lambda img, m: solve(img, m, solver=solver, tol=1e-6).u

    def wgan(img, m):
        from sparsecodec.inpainting.wgan_decoder import wgan_inpaint

        return wgan_inpaint(img, m, seed=0, device=device)

    return {
        "diffusion multigrid": diffusion("multigrid"),
        "diffusion CG": diffusion("cg"),
        "wgan": wgan,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA / "kodak"))
    ap.add_argument("--image", default="kodim23.png")
    ap.add_argument("--sizes", default=None, help="e.g. 128x128,256x256,512x768 (HxW)")
    ap.add_argument("--densities", default=None, help="comma-separated, default 0.02,0.05,0.1,0.2")
    ap.add_argument("--strategies", default=None, help="comma-separated (default: all)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=600.0,
        help="skip a measurement whose estimated time exceeds this",
    )
    ap.add_argument(
        "--quick", action="store_true", help="density 0.05 only, 1 repeat, skip estimates over 60 s"
    )
    ap.add_argument("--device", default="cpu", help="cpu or cuda (torch strategies/decoders)")
    ap.add_argument("--threads", type=int, default=None, help="Numba threads (default: all)")
    ap.add_argument("--out-dir", default=str(RESULTS))
    args = ap.parse_args(argv)
    if args.device != "cpu":
        try:
            import torch

            ok = args.device.startswith("cuda") and torch.cuda.is_available()
        except ImportError:
            ok = False
        if not ok:
            sys.exit(f"error: device {args.device!r} is not available here")
    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    sizes = (
        tuple(tuple(int(v) for v in s.split("x")) for s in args.sizes.split(","))
        if args.sizes
        else SIZES
    )
    densities = (
        tuple(float(v) for v in args.densities.split(","))
        if args.densities
        else (0.05,)
        if args.quick
        else DENSITIES
    )
    repeats = 1 if args.quick else args.repeats
    max_s = min(args.max_seconds, 60.0) if args.quick else args.max_seconds
    path = Path(args.data) / args.image
    imgs = images_for(sorted(sizes, key=lambda s: s[0] * s[1]), path)
    source = (
        f"luma of {path} (centre crops / resize)"
        if path.is_file()
        else "generated test image (no data found)"
    )
    only = args.strategies.split(",") if args.strategies else None

    notes, warm = [], {}
    small = test_image(32, 32)
    fns = {}
    for name, (f, err) in mask_functions(args.device, only).items():
        if err:
            notes.append(f"mask `{name}`: {err}")
            continue
        t = time.perf_counter()
        try:
            f(small, 0.1)
        except Exception as e:  # noqa: BLE001
            notes.append(f"mask `{name}`: {type(e).__name__}: {e}"[:200])
            continue
        warm[f"mask {name}"] = time.perf_counter() - t
        fns[name] = f
    decs = {}
    from sparsecodec.masks.random import random_mask

    m_small = random_mask(small, 0.1, seed=0)
    for name, f in decoder_functions(args.device).items():
        t = time.perf_counter()
        try:
            f(small, m_small)
        except Exception as e:  # noqa: BLE001
            notes.append(f"decoder `{name}`: {type(e).__name__}: {e}"[:200])
            continue
        warm[f"decoder {name}"] = time.perf_counter() - t
        decs[name] = f

    from sparsecodec import masks
    from sparsecodec.masks.belhachmi import belhachmi_mask

    slow_names = {n for n, st in masks.STRATEGIES.items() if n in SLOW or getattr(st, "slow", 0)}
    mask_t: dict = {}
    dec_t: dict = {}
    rows = []
    last: dict = {}
    for size in sorted(sizes, key=lambda s: s[0] * s[1]):
        img = imgs[size]
        npx = size[0] * size[1]
        for d in densities:
            for name, f in list(fns.items()) + [(k, None) for k in decs]:
                is_dec = f is None
                key = ("dec " if is_dec else "mask ") + name
                prev = last.get((key, d))
                est = prev[0] * npx / prev[1] if prev else 0.0
                label = f"{size[1]}x{size[0]}"
                if est > max_s:
                    (dec_t if is_dec else mask_t)[(label, d, name)] = None
                    rows.append(
                        [
                            "decode" if is_dec else "mask",
                            name,
                            label,
                            f"{100 * d:g}",
                            f"skipped (est. {est:.0f} s)",
                            0,
                        ]
                    )
                    continue
                if is_dec:
                    m = belhachmi_mask(img, d, seed=0)
                    fn = partial(decs[name], img, m)
                else:
                    fn = partial(f, img, d)
                try:
                    if is_dec or name not in slow_names:
                        fn()  # untimed warm-up at this size (Numba specialisations, caches)
                    t, n = _time(fn, repeats, max_s)
                except Exception as e:  # noqa: BLE001
                    notes.append(f"{key} at {label}, {d:g}: {type(e).__name__}: {e}"[:200])
                    continue
                last[(key, d)] = (t, npx)
                (dec_t if is_dec else mask_t)[(label, d, name)] = t
                rows.append(
                    ["decode" if is_dec else "mask", name, label, f"{100 * d:g}", f"{t:.4g}", n]
                )
                print(" | ".join(str(v) for v in rows[-1]), flush=True)

    def factors(times: dict, names: list[str], refs: list[str]):
        out = []
        for size in sorted(sizes, key=lambda s: s[0] * s[1]):
            label = f"{size[1]}x{size[0]}"
            for d in densities:
                ts = {n: times.get((label, d, n)) for n in names}
                valid = {n: t for n, t in ts.items() if t}
                if not valid:
                    continue
                slowest = max(valid, key=valid.get)
                for ref in refs + [slowest]:
                    if ref not in valid:
                        continue
                    row = [label, f"{100 * d:g}", ref]
                    row += [f"{valid[ref] / valid[n]:.3g}x" if n in valid else "n/a" for n in names]
                    out.append(row)
                    if ref == slowest:
                        break
        return out

    def pivot() -> str:
        """One table per size: rows = density, columns = mask strategies and decoders."""
        cols = [("mask", n) for n in fns] + [("decode", n) for n in decs]
        parts = []
        for size in sorted(sizes, key=lambda s: s[0] * s[1]):
            label = f"{size[1]}x{size[0]}"
            body = []
            for d in densities:
                row = [f"{100 * d:g} %"]
                for stage, n in cols:
                    t = (mask_t if stage == "mask" else dec_t).get((label, d, n), "missing")
                    row.append("n/a" if t == "missing" else "skipped" if t is None else f"{t:.4g}")
                body.append(row)
            head = ["density"] + [f"{'mask ' if st == 'mask' else ''}{n}" for st, n in cols]
            parts += [f"### {label}", "", table(head, body), ""]
        return "\n".join(parts)

    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel function has run
        layer = numba.config.THREADING_LAYER
    threads = f"{numba.get_num_threads()} ({layer} threading layer)"
    mnames = list(fns)
    mref = [s for s in SLOW if s in fns]
    dnames = list(decs)
    cmd = command() if argv is None else "python -m benchmarks.speed " + " ".join(argv)
    text = "\n".join(
        [
            "# Speed: mask generation and decoding",
            "",
            f"Command: `{cmd}`  ",
            f"Machine: {machine()}  ",
            f"Device: {args.device}; Numba threads: {threads}  ",
            f"Images: {source}",
            "",
            f"Median of up to {repeats} runs (fewer when the runs exceed {max_s:g} s), after an "
            "untimed call at the same size (not for ps/nlpe). Warm-up "
            "calls on a 32x32 image (Numba compilation or cache load, weight loading) are "
            "excluded; "
            "their times:",
            "",
            table(["what", "warm-up s"], [[k, f"{v:.2f}"] for k, v in warm.items()]),
            "",
            *(["Not measured:", ""] + [f"- {n}" for n in notes] + [""] if notes else []),
            "## Times in seconds, per image size (Peter 2022, Table 4 layout)",
            "",
            pivot(),
            "## All measurements",
            "",
            "Decoders reconstruct from the Belhachmi mask of the given density; diffusion to "
            "relative residual 1e-6.",
            "",
            table(["stage", "method", "size (WxH)", "density %", "time s", "runs"], rows),
            "",
            "## Mask generation speed-up (time of the reference / time of the strategy)",
            "",
            table(["size", "density %", "reference"] + mnames, factors(mask_t, mnames, mref))
            if mnames
            else "no strategy measured",
            "",
            "## Decoder speed-up (time of the reference / time of the decoder)",
            "",
            table(["size", "density %", "reference"] + dnames, factors(dec_t, dnames, []))
            if dnames
            else "no decoder measured",
            "",
        ]
    )
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed.md").write_text(text)
    (out / "speed.json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "device": args.device,
                "source": source,
                "warm_up_s": warm,
                "notes": notes,
                "repeats": repeats,
                "mask_s": [[k[0], k[1], k[2], v] for k, v in mask_t.items()],
                "decode_s": [[k[0], k[1], k[2], v] for k, v in dec_t.items()],
            },
            indent=1,
        )
    )
    print(f"wrote {out / 'speed.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
