"""Probabilistic sparsification (PS) of Mainberger et al. (2011).

Mainberger, Hoffmann, Weickert, Tang, Johannsen, Neumann, Doerr, "Optimising spatial and tonal
data for homogeneous diffusion inpainting", SSVM 2011; as summarised by Alt et al. (2021, Sec. 2
and 4: ``p = 0.1``, ``q = 0.05``, best of 5 runs). Starting from the full mask, every step draws a
random candidate set ``T`` of ``p |K|`` mask pixels, inpaints without them and removes for good the
``q |T|`` candidates whose removal costs least (smallest local error); the others go back into the
mask. This is repeated until the mask has exactly ``round(d H W)`` pixels (the last step removes
only what is left to remove).

The local error of a candidate is the increase of the squared inpainting error over its 7x7
neighbourhood (``error_window``) caused by removing the candidates, i.e. the reconstruction
without the candidates compared with the one with the current mask. On trui at 4 % (one run,
exact solves) the 3x3 and 5x5 windows gave MSE 61 and 56, the error summed over a 3x3 window
without the baseline 70, the error at the candidate alone (Mainberger et al.) 89; with the default
loose solves 7x7 gave 51-52 (9x9: 53).

Speed (``solver="cg"``, the default): the current reconstruction is kept across steps, so a step
costs two warm-started solves of the solver core's fused serial CG
(:func:`sparsecodec.inpainting.local.resolve_window` on the whole image), each starting from the
current reconstruction: one without the candidates, one after the ``q |T|`` removals (its
residual sits at the removed pixels only). Both stop at ``solve_tol`` times the norm of the
right-hand side without the candidates. Per-removal window re-solves (grown while the change
reaches the window edge) were tried for the second solve and were not faster on trui at 4 %;
``solve_tol`` 3e-5 instead of 1e-5 gave the same mask quality (mean MSE over seeds 0-2: 52.0
against 52.1) in 20 % less time. See benchmarks/results/ps_speed.md.

Note on ``q``: Alt et al. describe the step as putting back the fraction ``q`` of the candidates
with the largest error; we follow Mainberger et al., where ``q`` is the fraction removed for good
(only this matches the about 700 steps Alt et al. report for a 3 % mask on a 256x256 image).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..errors import ImageError, OptionError
from ..inpainting import local, solve
from ..inpainting import operators as ops
from . import check_options


@njit(cache=True)
def candidate_errors(u, f, cand, radius):
    """Squared error ``(u - f)^2`` summed over the ``(2 radius + 1)^2`` window of each candidate
    (flat indices ``cand``), windows clipped at the image border."""
    H, W = u.shape
    out = np.empty(cand.size)
    for n in range(cand.size):
        i = cand[n] // W
        j = cand[n] % W
        s = 0.0
        for y in range(max(0, i - radius), min(H, i + radius + 1)):
            for x in range(max(0, j - radius), min(W, j + radius + 1)):
                d = u[y, x] - f[y, x]
                s += d * d
        out[n] = s
    return out


def check_image(image: np.ndarray) -> np.ndarray:
    """The image as a finite float64 (H, W) array, or :class:`ImageError`."""
    f = np.asarray(image, dtype=np.float64)
    if f.ndim != 2:
        raise ImageError(f"mask optimisation needs a grey (H, W) image, got shape {f.shape}")
    if f.size == 0:
        raise ImageError("image is empty")
    if not np.all(np.isfinite(f)):
        raise ImageError("image contains NaN or infinite values")
    return np.ascontiguousarray(f)


def target_count(density: float, size: int) -> int:
    """Number of mask pixels ``round(density * size)`` (at least 1), or :class:`OptionError`."""
    try:
        d = float(density)
    except (TypeError, ValueError):
        raise OptionError(f"density must be a number, got {density!r}") from None
    if not 0.0 < d <= 1.0:
        raise OptionError(f"density must be in (0, 1], got {density!r}")
    return max(1, min(size, int(round(d * size))))


def mse(u: np.ndarray, f: np.ndarray) -> float:
    return float(np.mean((u - f) ** 2))


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False, unit="px")


def _ps_run(
    f: np.ndarray,
    n_target: int,
    rng: np.random.Generator,
    p: float,
    q: float,
    radius: int,
    tol: float,
    maxiter: int | None,
    solver: str,
    bar,
) -> np.ndarray:
    H, W = f.shape
    N = H * W
    known = np.ones((H, W), dtype=np.uint8)
    flat = known.reshape(-1)
    n = N
    u = f.copy()  # the reconstruction from the current mask
    trial = np.empty_like(u)
    work = local.workspace(H, W)
    its = 4 * (H + W) + 100 if maxiter is None else int(maxiter)
    no_g = np.zeros((1, 1, 1))
    while n > n_target:
        n_cand = max(1, int(round(p * n)))
        n_rem = min(max(1, int(round(q * n_cand))), n - n_target)
        n_cand = min(max(n_cand, n_rem), n)
        pool = np.flatnonzero(flat)
        cand = pool[rng.choice(n, n_cand, replace=False)]
        if n_cand == n:  # every pixel is a candidate: nothing to inpaint from, drop at random
            flat[cand[rng.permutation(n_cand)[:n_rem]]] = 0
        elif solver != "cg":
            m = known.astype(bool)
            u = solve(f, m, solver=solver, tol=tol, maxiter=maxiter, x0=u).u
            before = candidate_errors(u, f, cand, radius)
            flat[cand] = 0
            u = solve(f, known.astype(bool), solver=solver, tol=tol, maxiter=maxiter, x0=u).u
            order = np.argsort(candidate_errors(u, f, cand, radius) - before, kind="stable")
            flat[cand[order[n_rem:]]] = 1
        else:
            before = candidate_errors(u, f, cand, radius)
            flat[cand] = 0
            atol = tol * ops.rhs_norm(f[None], known, no_g, False)[0]
            trial[:] = u
            local.resolve_window(trial, known, 0, H, 0, W, work, atol, 0.0, its)
            order = np.argsort(candidate_errors(trial, f, cand, radius) - before, kind="stable")
            flat[cand[order[n_rem:]]] = 1
            # the removals: residual only at the removed pixels, warm start from u
            local.resolve_window(u, known, 0, H, 0, W, work, atol, 0.0, its)
        n -= n_rem
        bar.update(n_rem)
    return known.astype(bool)


def ps_mask(
    image: np.ndarray,
    density: float,
    *,
    seed: int = 0,
    p: float = 0.1,
    q: float = 0.05,
    runs: int = 1,
    progress: bool = False,
    error_window: int = 7,
    solve_tol: float = 3e-5,
    solve_maxiter: int | None = None,
    solver: str = "cg",
    **options,
) -> np.ndarray:
    """Probabilistic sparsification mask with exactly ``round(density * H * W)`` pixels.

    Parameters
    ----------
    image : (H, W) grey image in [0, 255].
    density : fraction of pixels to keep, in (0, 1].
    seed : random seed (run ``k`` of ``runs`` uses the k-th child of ``SeedSequence(seed)``).
    p : fraction of the mask drawn as candidates per step.
    q : fraction of the candidates removed per step.
    runs : number of independent runs; the mask with the smallest MSE is returned.
    progress : show a tqdm progress bar.
    error_window : odd side length of the window over which a candidate's error change is
        summed.
    solve_tol, solve_maxiter : tolerance and iteration cap of the warm-started solves.
    solver : ``"cg"`` (default): the core's fused serial CG kept warm across steps (see the
        module notes); ``"multigrid"``: two :func:`sparsecodec.inpainting.solve` calls per
        step (slower: the mask changes every step, so the hierarchy is rebuilt each time).
    """
    check_options("ps", options)
    f = check_image(image)
    n_target = target_count(density, f.size)
    if not 0.0 < p <= 1.0:
        raise OptionError(f"PS candidate fraction p must be in (0, 1], got {p!r}")
    if not 0.0 < q <= 1.0:
        raise OptionError(f"PS removal fraction q must be in (0, 1], got {q!r}")
    if int(runs) != runs or runs < 1:
        raise OptionError(f"PS runs must be a positive integer, got {runs!r}")
    if int(error_window) != error_window or error_window < 1 or error_window % 2 == 0:
        raise OptionError(f"error_window must be a positive odd integer, got {error_window!r}")
    radius = int(error_window) // 2
    best, best_err = None, np.inf
    seeds = np.random.SeedSequence(int(seed)).spawn(int(runs))
    with _progress(int(runs) * (f.size - n_target), "PS", progress) as bar:
        for ss in seeds:
            rng = np.random.default_rng(ss)
            mask = _ps_run(f, n_target, rng, p, q, radius, solve_tol, solve_maxiter, solver, bar)
            if runs == 1:
                return mask
            err = mse(solve(f, mask, solver=solver, maxiter=1000).u, f)
            if err < best_err:
                best, best_err = mask, err
    return best
