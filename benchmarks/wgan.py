"""Mask WGAN benchmark: analogues of Peter (2022), Tables 2-4, on BSDS500 crops and Kodak.

    python -m benchmarks.wgan [--data DIR] [--count 24] [--sizes 64,128] [--kodak 4] [--quick]
                              [--densities 0.05,0.1,0.2] [--cache FILE] [--threads 1]

Quality (Tables 2-3): the first ``--count`` centre crops (``--sizes``, colour) of
``bsds500/val`` (``sparsecodec.training.data.val_crops``) and the first ``--kodak`` Kodak images
(full size). Methods: random mask + homogeneous diffusion (HD), random mask + WGAN generator
(``wgan_inpaint``), Belhachmi + HD, PS + HD and PS + NLPE (``--nlpe-cycles``) + HD (crops only:
they are slow), and, at the densities that have a trained mask model ``wgan_mask_dNN``, the mask
generator with the generator stored beside it (mask-WGAN + WGAN; the paper's MG pairs it with
its jointly trained generator) and with HD.
Masks are made from the luma (seed = image index), all methods use the public API
(``sparsecodec.make_mask`` / ``sparsecodec.inpaint``); the WGAN decoder uses noise seed 0.
PSNR (peak 255), MAE and SSIM over the colour image; means over the images.

Run times (Table 4): 128x128 crop, one thread, medians of ``--repeats`` runs after a warm-up
for the fast methods; for PS and PS+NLPE the medians over the 128x128 crops of the quality
runs. Speed-up = (PS+NLPE mask + HD) / (mask-WGAN mask + WGAN inpainting).

``--data``: a data root holding ``bsds500/val`` (and ``kodak``), or the ``kodak`` folder of such
a root, or any image folder (then used for both). ``--cache FILE`` (npz) keeps the PS / PS+NLPE
masks and times between runs. Writes ``benchmarks/results/wgan.md`` and ``wgan.png``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import DEFAULT_DATA, RESULTS, command, machine, network_precisions, table

HD = "HD"
WG = "WGAN"


def resolve_data(data: Path) -> tuple[Path, Path | None]:
    """(folder of the crops, folder of the full images) for ``--data``."""
    if (data / "bsds500" / "val").is_dir():
        kodak = data / "kodak"
        return data / "bsds500" / "val", kodak if kodak.is_dir() else None
    if (data.parent / "bsds500" / "val").is_dir():
        return data.parent / "bsds500" / "val", data
    return data, data


def methods_for(density: float, slow: bool, mask_models: dict[float, str]) -> list[str]:
    """Method names ("mask + inpainting") evaluated at ``density``."""
    out = ["random + HD", "random + WGAN", "Belhachmi + HD"]
    if slow:
        out += ["PS + HD", "PS+NLPE + HD"]
    if density in mask_models:
        out += ["mask-WGAN + WGAN", "mask-WGAN + HD"]
    return out


class MaskCache:
    """PS / PS+NLPE masks and their run times, kept in an npz file between runs."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.hits = 0  # lookups answered from the file (masks and times of an earlier run)
        self.data: dict[str, np.ndarray] = {}
        if path is not None and path.is_file():
            with np.load(path) as z:
                self.data = {k: z[k] for k in z.files}

    def get(self, key: str) -> tuple[np.ndarray, float] | None:
        if key not in self.data:
            return None
        self.hits += 1
        return self.data[key].astype(bool), float(self.data[key + "#t"][0])

    def put(self, key: str, mask: np.ndarray, seconds: float) -> None:
        self.data[key] = mask.astype(np.uint8)
        self.data[key + "#t"] = np.array([seconds])
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(self.path.name + ".tmp.npz")
            np.savez_compressed(tmp, **self.data)
            tmp.replace(self.path)


def timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def make_masks(
    img: np.ndarray,
    density: float,
    seed: int,
    names: list[str],
    mask_models: dict[float, str],
    cache: MaskCache,
    key: str,
    cycles: float,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Masks of every mask strategy used by ``names`` and their run times (seconds)."""
    import sparsecodec
    from sparsecodec.colour import luma
    from sparsecodec.masks.nlpe import nlpe_refine

    kinds = {n.split(" + ")[0] for n in names}
    masks: dict[str, np.ndarray] = {}
    secs: dict[str, float] = {}
    masks["random"], secs["random"] = timed(
        lambda: sparsecodec.make_mask(img, density, strategy="random", seed=seed)
    )
    masks["Belhachmi"], secs["Belhachmi"] = timed(
        lambda: sparsecodec.make_mask(img, density, strategy="belhachmi", seed=seed)
    )
    if "PS" in kinds:
        hit = cache.get(f"{key}/ps")
        if hit is None:
            hit = timed(lambda: sparsecodec.make_mask(img, density, strategy="ps", seed=seed))
            cache.put(f"{key}/ps", *hit)
        masks["PS"], secs["PS"] = hit
    if "PS+NLPE" in kinds:
        # PS+NLPE = the "nlpe" strategy (PS with the same seed, then NLPE); the PS mask above is
        # refined instead of recomputed, and the time is the sum of both stages.
        hit = cache.get(f"{key}/nlpe{cycles:g}")
        if hit is None:
            ps = masks["PS"]
            lum = luma(img)
            m, t = timed(lambda: nlpe_refine(lum, ps.copy(), cycles=cycles, seed=seed))
            hit = (m, t + secs["PS"])
            cache.put(f"{key}/nlpe{cycles:g}", *hit)
        masks["PS+NLPE"], secs["PS+NLPE"] = hit
    if "mask-WGAN" in kinds:
        masks["mask-WGAN"], secs["mask-WGAN"] = timed(
            lambda: sparsecodec.make_mask(
                img, density, strategy="wgan", seed=seed, colour=img, model=mask_models[density]
            )
        )
    return masks, secs


def reconstruct(
    img: np.ndarray, mask: np.ndarray, how: str, model: str | None
) -> tuple[np.ndarray, float]:
    import sparsecodec

    if how == HD:
        return timed(lambda: sparsecodec.inpaint(img, mask, method="diffusion"))
    opts = {"model": model} if model else {}
    return timed(lambda: sparsecodec.inpaint(img, mask, method="wgan", seed=0, **opts))


def scores(ref: np.ndarray, out: np.ndarray) -> tuple[float, float, float]:
    from sparsecodec.metrics import mae, psnr, ssim

    out = np.clip(out, 0.0, 255.0)
    return psnr(ref, out), mae(ref, out), ssim(ref, out)


def evaluate(
    name: str,
    images: list[np.ndarray],
    densities: list[float],
    slow: bool,
    mask_models: dict[float, str],
    joint_gen: dict[float, str],
    cache: MaskCache,
    cycles: float,
    grid_rows: int,
) -> dict:
    """Scores (method -> density -> list of (PSNR, MAE, SSIM)), times and figure panels."""
    res: dict[str, dict[float, list[tuple[float, float, float]]]] = {}
    mask_s: dict[str, dict[float, list[float]]] = {}
    grid: list[tuple[float, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]] = []
    for d in densities:
        names = methods_for(d, slow, mask_models)
        for i, img in enumerate(images):
            key = f"{name}/{i}/{d:g}"
            masks, secs = make_masks(img, d, i, names, mask_models, cache, key, cycles)
            for k, t in secs.items():
                mask_s.setdefault(k, {}).setdefault(d, []).append(t)
            outs = {}
            for n in names:
                kind, how = n.split(" + ")
                model = joint_gen.get(d) if kind == "mask-WGAN" else None
                outs[n], _ = reconstruct(img, masks[kind], how, model)
                res.setdefault(n, {}).setdefault(d, []).append(scores(img, outs[n]))
            print(
                f"{name} d={d:g} #{i}: " + " ".join(f"{n}={res[n][d][-1][0]:.2f}" for n in names),
                flush=True,
            )
            if i < grid_rows:
                shown = {n.split(" + ")[0]: masks[n.split(" + ")[0]] for n in names}
                grid.append((d, img, outs, shown))
    return {"scores": res, "mask_s": mask_s, "grid": grid}


def run_times(
    img: np.ndarray,
    densities: list[float],
    mask_models: dict[float, str],
    joint_gen: dict[float, str],
    repeats: int,
) -> dict[str, dict[float, float]]:
    """Median seconds of the fast mask strategies and of both inpainting methods (Table 4)."""
    import sparsecodec

    def median(fn: Callable[[], object]) -> float:
        fn()  # warm-up (compilation, weight loading)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    out: dict[str, dict[float, float]] = {}
    precisions = network_precisions()
    for d in densities:
        rnd = sparsecodec.make_mask(img, d, strategy="random", seed=0)
        out.setdefault("mask: random", {})[d] = median(
            lambda d=d: sparsecodec.make_mask(img, d, strategy="random", seed=0)
        )
        out.setdefault("mask: Belhachmi", {})[d] = median(
            lambda d=d: sparsecodec.make_mask(img, d, strategy="belhachmi", seed=0)
        )
        for p in precisions:  # the default precision's rows carry no suffix
            sfx = "" if p == precisions[0] else f", {p}"
            if d in mask_models:
                m = mask_models[d]
                out.setdefault(f"mask: mask-WGAN{sfx}", {})[d] = median(
                    lambda d=d, m=m, p=p: sparsecodec.make_mask(
                        img, d, strategy="wgan", seed=0, colour=img, model=m, precision=p
                    )
                )
        out.setdefault("inpaint: HD", {})[d] = median(
            lambda rnd=rnd: sparsecodec.inpaint(img, rnd, method="diffusion")
        )
        for p in precisions:
            sfx = "" if p == precisions[0] else f", {p}"
            out.setdefault(f"inpaint: WGAN (wgan_inpaint){sfx}", {})[d] = median(
                lambda rnd=rnd, p=p: sparsecodec.inpaint(
                    img, rnd, method="wgan", seed=0, precision=p
                )
            )
            if d in joint_gen:
                jg = joint_gen[d]
                out.setdefault(f"inpaint: WGAN (mask model's generator){sfx}", {})[d] = median(
                    lambda rnd=rnd, jg=jg, p=p: sparsecodec.inpaint(
                        img, rnd, method="wgan", model=jg, precision=p
                    )
                )
    return out


def save_grid(rows: list[tuple], path: Path) -> None:
    """PNG grid: per shown image one row of reconstructions and one row of masks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = 1 + max(len(r[2]) for r in rows)
    fig, axes = plt.subplots(
        2 * len(rows), ncols, figsize=(1.25 * ncols, 2.6 * len(rows) + 0.3), squeeze=False
    )
    for k, (d, img, outs, masks) in enumerate(rows):
        top, bottom = axes[2 * k], axes[2 * k + 1]
        top[0].imshow(img.astype(np.uint8), interpolation="nearest")
        top[0].set_title(f"original, {100 * d:g} %", fontsize=5)
        for j, (n, out) in enumerate(outs.items(), start=1):
            top[j].imshow(np.clip(np.round(out), 0, 255).astype(np.uint8), interpolation="nearest")
            top[j].set_title(n, fontsize=5)
            kind = n.split(" + ")[0]
            shown = np.where(masks[kind][..., None], img, 0).astype(np.uint8)
            bottom[j].imshow(shown, interpolation="nearest")
            bottom[j].set_title(f"mask: {kind}", fontsize=5)
        for ax in list(top) + list(bottom):
            ax.set_xticks([])
            ax.set_yticks([])
            if not ax.images:
                ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=160)
    plt.close(fig)


def _mean(v: list[tuple[float, float, float]], j: int) -> float:
    return float(np.mean([x[j] for x in v]))


def quality_tables(res: dict, densities: list[float]) -> str:
    head = ["method"] + [f"{100 * d:g} %" for d in densities]
    parts = []
    for j, (metric, fmt) in enumerate((("PSNR (dB)", ".2f"), ("MAE", ".2f"), ("SSIM", ".4f"))):
        rows = [
            [n] + [format(_mean(res[n][d], j), fmt) if d in res[n] else "-" for d in densities]
            for n in res
        ]
        parts.append(f"{metric}:\n\n" + table(head, rows))
    return "\n\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--count", type=int, default=24, help="bsds500/val crops per size")
    ap.add_argument("--sizes", default="64,128")
    ap.add_argument("--kodak", type=int, default=4, help="full-size images (0: none)")
    ap.add_argument("--densities", default="0.05,0.1,0.2")
    ap.add_argument("--nlpe-cycles", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--grid-rows", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=None, help="npz file of PS/NLPE masks")
    ap.add_argument("--quick", action="store_true", help="4 crops of 64x64, 1 Kodak image, ...")
    ap.add_argument("--out", type=Path, default=RESULTS / "wgan.md")
    a = ap.parse_args(argv)
    if a.quick:
        a.count, a.sizes, a.kodak, a.nlpe_cycles = min(a.count, 4), "64", min(a.kodak, 1), 1.0
        a.repeats, a.grid_rows = min(a.repeats, 3), min(a.grid_rows, 2)

    import numba
    import torch

    from sparsecodec.errors import SparseCodecError
    from sparsecodec.masks.wgan import available_models
    from sparsecodec.nets.wgan import load_bundle
    from sparsecodec.training.data import list_images, load_image, val_crops

    torch.set_num_threads(a.threads)
    numba.set_num_threads(max(1, min(a.threads, numba.config.NUMBA_NUM_THREADS)))
    densities = [float(x) for x in a.densities.split(",")]
    sizes = [int(x) for x in a.sizes.split(",")]
    crops_dir, full_dir = resolve_data(a.data)
    try:
        base = load_bundle("wgan_inpaint")
        gen_meta = base.meta
    except SparseCodecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    all_models = available_models()
    mask_models = {d: all_models[m] for d in densities for m in all_models if abs(m - d) < 1e-9}
    stored_g = {n: load_bundle(n).generator for n in mask_models.values()}
    joint_gen = {
        d: n for d, n in mask_models.items() if stored_g[n] is not None
    }  # the paper's MG pairs the mask generator with its jointly trained generator
    base_g = base.generator.state_dict()
    same_g = [
        n
        for n in joint_gen.values()
        if all(torch.equal(v, base_g[k]) for k, v in stored_g[n].state_dict().items())
    ]  # mask models whose stored generator is wgan_inpaint's (not trained jointly)
    cache = MaskCache(a.cache)

    datasets: list[tuple[str, list[np.ndarray], bool]] = []
    for s in sizes:
        crops = val_crops(crops_dir, s, a.count, grey=False)
        imgs = [np.round(np.moveaxis(c, 0, 2) * 255.0) for c in crops]
        datasets.append((f"bsds500/val {s}x{s} crops ({a.count})", imgs, True))
    if a.kodak and full_dir is not None:
        files = list_images(full_dir)[: a.kodak]
        imgs = [np.round(load_image(f, grey=False) * 255.0).astype(np.float64) for f in files]
        datasets.append(
            (f"Kodak full size ({len(files)}: {', '.join(f.stem for f in files)})", imgs, False)
        )

    t_all = time.perf_counter()
    results = []
    for name, imgs, slow in datasets:
        r = evaluate(
            name, imgs, densities, slow, mask_models, joint_gen, cache, a.nlpe_cycles, a.grid_rows
        )
        results.append((name, r))

    # Table 4: run times on the first 128x128 crop (or the largest crop size available).
    tsize = 128 if 128 in sizes else max(sizes)
    timg = next(imgs for name, imgs, _ in datasets if name.startswith(f"bsds500/val {tsize}x"))[0]
    times = run_times(timg, densities, mask_models, joint_gen, a.repeats)
    slow_res = next(r for name, r in results if name.startswith(f"bsds500/val {tsize}x"))
    for kind in ("PS", "PS+NLPE"):
        if kind in slow_res["mask_s"]:
            times[f"mask: {kind} (median over crops)"] = {
                d: statistics.median(v) for d, v in slow_res["mask_s"][kind].items()
            }

    # ----------------------------------------------------------------------- report
    trained = ", ".join(f"{100 * d:g} % ({n})" for d, n in mask_models.items())
    lines = [
        "# Mask WGAN benchmark (Peter 2022, Tables 2-4 analogues)",
        "",
        f"Command: `{command()}`  ",
        f"Machine: {machine()}, torch {torch.__version__}, torch threads {a.threads}, "
        f"Numba threads {numba.get_num_threads()}; total wall time "
        f"{(time.perf_counter() - t_all) / 60:.1f} min",
        "",
        f"Crops: `{crops_dir}` (centre crops of the first images, colour, held out from training); "
        f"full images: `{full_dir}`. Masks from the luma, seed = image index; PS + NLPE: "
        f"{a.nlpe_cycles:g} NLPE cycles. PSNR (peak 255), MAE (grey levels) and SSIM over the "
        "colour image, means over images. WGAN inpainting generator `wgan_inpaint` "
        f"(guided: {json.loads(gen_meta.get('g_config', '{}')).get('guide', False)}, "
        f"{gen_meta.get('steps', '?')} steps). Mask-WGAN rows only at densities with a trained "
        f"mask model: {trained or 'none'}; mask-WGAN masks are `make_mask(strategy='wgan')`'s "
        "default, the generator's most confident 60 % of the points and the rest by "
        "error-driven densification (`sparsecodec.masks.densify`, not in the paper);"
        " there `mask-WGAN + WGAN` uses the generator stored with that mask generator"
        + (
            f" (for {', '.join(same_g)} it is `wgan_inpaint`'s generator, unchanged: those mask"
            " generators were not trained jointly with it, see their cards)."
            if same_g
            else " (trained with that mask generator's masks; how, see their cards), as the"
            " codec's `wgan-joint` decoder does."
        ),
        "",
    ]
    if cache.hits:
        lines += [
            f"PS / PS+NLPE masks and their run times: {cache.hits} taken from `--cache` (computed"
            " and timed in an earlier run, possibly with older code).",
            "",
        ]
    for name, r in results:
        lines += [f"## {name}", "", quality_tables(r["scores"], densities), ""]
    head = ["step (128x128)" if tsize == 128 else f"step ({tsize}x{tsize})"]
    head += [f"{100 * d:g} % (ms)" for d in densities]
    rows = [
        [k] + [f"{1e3 * v[d]:.1f}" if d in v else "-" for d in densities] for k, v in times.items()
    ]
    precisions = network_precisions()
    prec_txt = (
        f"Network rows run at the default precision `auto`, {precisions[0]} on this machine"
        + (
            f"; the rows marked `, {precisions[1]}` time the same networks at {precisions[1]}."
            if len(precisions) > 1
            else "."
        )
    )
    lines += ["## Run times (Table 4 analogue)", "", prec_txt, "", table(head, rows), ""]
    speed_rows = []
    for d in densities:
        if d not in mask_models or "mask: PS+NLPE (median over crops)" not in times:
            continue
        wg = times[
            "inpaint: WGAN (mask model's generator)"
            if d in joint_gen
            else "inpaint: WGAN (wgan_inpaint)"
        ][d]
        ours = times["mask: mask-WGAN"][d] + wg
        ps = times["mask: PS (median over crops)"][d] + times["inpaint: HD"][d]
        nl = times["mask: PS+NLPE (median over crops)"][d] + times["inpaint: HD"][d]
        speed_rows.append(
            [f"{100 * d:g} %", f"{1e3 * ours:.1f}", f"{ps / ours:.1f}", f"{nl / ours:.1f}"]
        )
    if speed_rows:
        lines += [
            "Speed-up of mask-WGAN + WGAN (mask generation + inpainting) over PS + HD and "
            "PS + NLPE + HD:",
            "",
            table(["density", "mask-WGAN + WGAN (ms)", "vs PS", "vs PS+NLPE"], speed_rows),
            "",
        ]
    # targets of issues 6 and 27, evaluated on the crops at 5 % (and 10 % for random masks)
    tg = []
    for name, r in results:
        if not name.startswith("bsds500"):
            continue
        s = r["scores"]
        for d in (0.05, 0.1):
            if d in densities:
                w, h = _mean(s["random + WGAN"][d], 0), _mean(s["random + HD"][d], 0)
                tg.append(
                    [
                        name,
                        f"random+WGAN PSNR >= random+HD + 0.5 dB at {100 * d:g} %",
                        f"{w:.2f} vs {h:.2f} + 0.5",
                        "met" if w >= h + 0.5 else "missed",
                    ]
                )
        if 0.05 in mask_models and 0.05 in densities:
            mg, bh = _mean(s["mask-WGAN + WGAN"][0.05], 0), _mean(s["Belhachmi + HD"][0.05], 0)
            tg.append(
                [
                    name,
                    "mask-WGAN+WGAN PSNR >= Belhachmi+HD + 1 dB at 5 %",
                    f"{mg:.2f} vs {bh:.2f} + 1",
                    "met" if mg >= bh + 1 else "missed",
                ]
            )
            if "PS+NLPE + HD" in s:
                a1, b1 = _mean(s["mask-WGAN + WGAN"][0.05], 2), _mean(s["PS+NLPE + HD"][0.05], 2)
                tg.append(
                    [
                        name,
                        "mask-WGAN+WGAN SSIM >= PS+NLPE+HD at 5 %",
                        f"{a1:.4f} vs {b1:.4f}",
                        "met" if a1 >= b1 else "missed",
                    ]
                )
    if speed_rows and speed_rows[0][0] == "5 %":
        ms, sp = float(speed_rows[0][1]), float(speed_rows[0][3])
        tg.append(
            [
                f"{tsize}x{tsize}",
                "mask generation + inpainting <= 50 ms at 5 %",
                f"{ms:.1f} ms",
                "met" if ms <= 50 else "missed",
            ]
        )
        tg.append(
            [
                f"{tsize}x{tsize}",
                "speed-up over PS+NLPE >= 400x at 5 %",
                f"{sp:.1f}x",
                "met" if sp >= 400 else "missed",
            ]
        )
    if tg:
        lines += ["## Targets (issue 27)", "", table(["data", "target", "measured", ""], tg), ""]
    png = a.out.with_suffix(".png")
    grid = [g for _, r in results for g in r["grid"] if g[1].shape[0] == tsize and g[0] == 0.05]
    grid = grid or [g for _, r in results for g in r["grid"]][: a.grid_rows]
    lines += [
        f"Figure: `{png.name}` (first {len(grid)} {tsize}x{tsize} crops at 5 %: reconstructions "
        "on top, each method's known pixels below).",
        "",
    ]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    save_grid(grid[: a.grid_rows], png)
    a.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
