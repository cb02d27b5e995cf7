"""EED decoder speed: sparsecodec's solver against a SciPy reference solve of the same system.

For Kodak images (768x512) with a 5 % quadtree mask and the true values on it, times (one
thread, best of ``--repeats``) the EED decode of the luma (:func:`eed_inpaint`: homogeneous
start + lagged-diffusivity steps, each a multigrid-preconditioned CG solve), of the colour
stream of the codec (luma-preference YCbCr: luma EED + chroma with the luma's tensor) and of a
joint-tensor RGB inpainting, with CG iteration counts; and solves the last frozen-tensor system
of the luma with SciPy (``spsolve`` of the sparse matrix assembled from the same stencil) for
its time and the largest difference of the two solutions.

    NUMBA_NUM_THREADS=1 python -m benchmarks.eed_solver [--data DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .common import DEFAULT_DATA, RESULTS, command, images, load, machine, table


def _best(fn, repeats: int):
    best, out = np.inf, None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _matrix(tensor: np.ndarray):
    """Sparse A of :func:`eed_apply`, from its pair weights."""
    import scipy.sparse as sp

    from sparsecodec.inpainting.anisotropic import pair_weights

    Wh, Wv, D1, D2 = pair_weights(tensor)
    H, W = tensor.shape[1:]
    idx = np.arange(H * W).reshape(H, W)
    pairs = [
        (idx[:, :-1], idx[:, 1:], Wh),
        (idx[:-1, :], idx[1:, :], Wv),
        (idx[:-1, :-1], idx[1:, 1:], D1),
        (idx[:-1, 1:], idx[1:, :-1], D2),
    ]
    r, c, v = [], [], []
    for p, q, w in pairs:
        p, q, w = p.ravel(), q.ravel(), w.ravel()
        r += [p, q, p, q]
        c += [q, p, p, q]
        v += [w, w, -w, -w]
    return sp.csr_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))), (H * W,) * 2)


def main(argv: list[str] | None = None) -> int:
    import scipy.sparse.linalg as spl

    import sparsecodec
    from sparsecodec.colour import COLOUR_MODES, luma
    from sparsecodec.decoders import EED_TOL
    from sparsecodec.inpainting.anisotropic import eed_inpaint, eed_solve, eed_tensor
    from sparsecodec.pipeline.decoding import eed_channels
    from sparsecodec.pipeline.values import to_coding_space

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DEFAULT_DATA / "kodak"))
    ap.add_argument("--limit", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS / "eed_solver.md"))
    args = ap.parse_args(argv)
    params = {"lam": 2.0, "sigma": 1.0, "diffusivity": "charbonnier", "chroma_step": 1}
    eed = {k: params[k] for k in ("lam", "sigma", "diffusivity")}
    ycc = COLOUR_MODES["ycbcr"].id
    eed_inpaint(np.ones((9, 9)), np.eye(9, dtype=bool), **eed)  # compile
    rows = []
    for path in images(Path(args.data), limit=args.limit):
        rgb = load(path)
        y = luma(rgb)
        m = sparsecodec.make_mask(y, 0.05, strategy="quadtree")
        tg, rg = _best(lambda y=y, m=m: eed_inpaint(y, m, tol=EED_TOL, **eed), args.repeats)
        chw = to_coding_space(rgb, ycc) * m
        tc, _ = _best(lambda c=chw, m=m: eed_channels(c, m, params, ycc), args.repeats)
        rgbv = np.moveaxis(rgb.astype(np.float64), 2, 0)
        tj, rj = _best(lambda v=rgbv, m=m: eed_inpaint(v, m, tol=EED_TOL, **eed), args.repeats)
        # the last linear system of the luma decode, solved by both
        t = eed_tensor(eed_inpaint(y, m, tol=EED_TOL, outer=1, **eed).u, **eed)
        ours = eed_solve(y, m, t, tol=1e-10, maxiter=2000)
        A = _matrix(t)
        U, K = ~m.ravel(), m.ravel()
        b = A[U][:, K] @ y.ravel()[K]
        M = -A[U][:, U].tocsc()
        t0 = time.perf_counter()
        ref = spl.spsolve(M, b)
        ts = time.perf_counter() - t0
        tl, lin = _best(lambda y=y, m=m, t=t: eed_solve(y, m, t, tol=EED_TOL), args.repeats)
        diff = float(np.abs(ours.u.ravel()[U] - ref).max())
        rows.append(
            [path.stem, f"{tg:.3f}", rg.iterations, f"{tc:.3f}", f"{tj:.3f}", rj.iterations,
             f"{tl:.3f}", lin.iterations, f"{ts:.2f}", f"{ts / tl:.0f}x", f"{diff:.1e}"]
        )  # fmt: skip
        print(" ".join(map(str, rows[-1])), flush=True)
    head = ["image", "grey EED s", "CG its", "colour (luma pref.) s", "RGB joint s", "CG its",
            "one linear solve s", "CG its", "SciPy spsolve s", "speed-up",
            "max diff at 1e-10"]  # fmt: skip
    text = (
        "# EED decoder: solve times and a SciPy reference\n\n"
        f"Command: `NUMBA_NUM_THREADS=1 {command()}`  \nMachine: {machine()}\n\n"
        "768x512 Kodak images, 5 % quadtree mask with the true values, lam 2, sigma 1, "
        f"Charbonnier, linear solves to relative residual {EED_TOL:g} (the decoder's setting), "
        "best of the repeats. 'one linear solve': the frozen-tensor system of the last outer "
        "step from zero, against SciPy's sparse direct solve of the same matrix; the "
        "difference is that of our solve to 1e-10.\n\n" + table(head, rows) + "\n"
    )
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
