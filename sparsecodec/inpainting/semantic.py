"""Semantic inpainting of large holes (Vitoria, Sintes & Ballester 2019, Sec. 3.2).

With a trained improved WGAN-GP (generator ``G``, critic ``D``; :mod:`sparsecodec.nets.wgan_gp`)
the latent code closest to the damaged image ``y`` (known pixels ``M = 1``) is, Eq. (4),

    z_hat = argmin_z  alpha L_c(z) + beta L_g(z) + eta L_p(z),

with the window weights ``W`` of Eq. (5) (7x7 neighbourhood, share of missing pixels, zero on
missing pixels), the contextual loss Eq. (6) ``sum W |M (G(z) - y)|``, the gradient loss Eq. (7)
``sum W |M (grad G(z) - grad y)|_1`` (central differences, forward/backward ones next to the hole)
and the prior loss Eq. (8) ``-D(G(z))``. Adam (lr 0.03, betas 0.9/0.999), ``z`` initialised
N(0, 1) and clipped to [-1, 1] after every step. The result is ``G(z_hat)`` in the hole, or with
Poisson editing Eq. (9): ``argmin |grad x - grad G(z_hat)|^2`` with ``x = y`` on the known pixels,
i.e. ``A x = A G(z_hat)`` in the hole (``A`` the 5-point Laplacian), solved by the project's one
diffusion solver :func:`sparsecodec.inpainting.solve` with its ``rhs`` source term.

Images of any size: the holes are grouped into windows (each hole's bounding box plus a margin,
at least the generator's size, overlapping windows merged). In a window of ``h x w`` pixels the
generator output (``S x S``) is resized bilinearly to ``h x w`` inside the optimisation, so the
losses are evaluated at the image's resolution; sums are scaled by ``S^2 / (h w)`` to keep the
balance with the prior term independent of the window size. Grey images are processed as three
equal channels and the output channels averaged. torch is imported on first use only.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import ImageError, OptionError

WINDOW = 7  # Eq. (5): 7x7 neighbourhood, as in the paper and Yeh et al. (2017)


# ------------------------------------------------------------------------- loss ingredients


def window_weights(known: np.ndarray, size: int = WINDOW) -> np.ndarray:
    """Weights ``W`` of Eq. (5): for a known pixel, the fraction of missing pixels in the
    ``size x size`` window centred on it (the window is cut at the image border, ``|N_i|`` then
    counts only the pixels inside the image); 0 on missing pixels. Returns float64 (H, W)."""
    from scipy.ndimage import uniform_filter

    k = np.asarray(known, dtype=bool)
    missing = (~k).astype(np.float64)
    inside = np.ones_like(missing)
    # uniform_filter with constant 0 padding gives sums / size^2; the ratio cancels size^2
    num = uniform_filter(missing, size=size, mode="constant", cval=0.0)
    den = uniform_filter(inside, size=size, mode="constant", cval=0.0)
    w = num / den
    w[~k] = 0.0
    w[np.abs(w) < 1e-12] = 0.0  # remove round-off of the running sums
    return w


def gradient_stencils(known: np.ndarray) -> dict[str, np.ndarray]:
    """Finite-difference choice per pixel and axis (Sec. 3.2): central differences where both
    neighbours are known, else forward (next neighbour known) or backward (previous known),
    else none. Returns float64 (H, W) indicator arrays ``{axis}_{central|forward|backward}``
    for axis ``x`` (columns) and ``y`` (rows); neighbours outside the image count as unknown."""
    k = np.asarray(known, dtype=bool)
    out = {}
    for axis, name in ((1, "x"), (0, "y")):
        prev = np.zeros_like(k)
        nxt = np.zeros_like(k)
        if axis == 1:
            prev[:, 1:] = k[:, :-1]
            nxt[:, :-1] = k[:, 1:]
        else:
            prev[1:, :] = k[:-1, :]
            nxt[:-1, :] = k[1:, :]
        central = prev & nxt
        forward = nxt & ~central
        backward = prev & ~nxt
        out[f"{name}_central"] = central.astype(np.float64)
        out[f"{name}_forward"] = forward.astype(np.float64)
        out[f"{name}_backward"] = backward.astype(np.float64)
    return out


def masked_gradient(u: Any, stencils: dict[str, Any]) -> tuple[Any, Any]:
    """Gradient ``(d/dx, d/dy)`` of a torch tensor ``u`` (..., H, W) with the per-pixel
    stencils of :func:`gradient_stencils` (as torch tensors broadcastable to ``u``)."""
    import torch.nn.functional as F

    lead = u.shape[:-2]
    v = u.reshape(-1, 1, *u.shape[-2:])
    p = F.pad(v, (1, 1, 1, 1), mode="replicate").reshape(*lead, u.shape[-2] + 2, u.shape[-1] + 2)
    c = p[..., 1:-1, 1:-1]
    gx = (
        stencils["x_central"] * 0.5 * (p[..., 1:-1, 2:] - p[..., 1:-1, :-2])
        + stencils["x_forward"] * (p[..., 1:-1, 2:] - c)
        + stencils["x_backward"] * (c - p[..., 1:-1, :-2])
    )
    gy = (
        stencils["y_central"] * 0.5 * (p[..., 2:, 1:-1] - p[..., :-2, 1:-1])
        + stencils["y_forward"] * (p[..., 2:, 1:-1] - c)
        + stencils["y_backward"] * (c - p[..., :-2, 1:-1])
    )
    return gx, gy


def contextual_loss(g: Any, y: Any, known: Any, weights: Any) -> Any:
    """Eq. (6): ``sum_i W(i) |M(i) (G(z)(i) - y(i))|`` over pixels and channels (torch)."""
    return (weights * known * (g - y).abs()).sum()


def gradient_loss(g: Any, y: Any, known: Any, weights: Any, stencils: dict[str, Any]) -> Any:
    """Eq. (7): ``sum_i W(i) M(i) |grad G(z)(i) - grad y(i)|_1`` (torch), the gradient by
    :func:`masked_gradient` (the same stencil for both images)."""
    gx, gy = masked_gradient(g, stencils)
    yx, yy = masked_gradient(y, stencils)
    return (weights * known * ((gx - yx).abs() + (gy - yy).abs())).sum()


def poisson_edit(
    generated: np.ndarray,
    values: np.ndarray,
    known: np.ndarray,
    *,
    solver: str = "multigrid",
    tol: float = 1e-8,
) -> np.ndarray:
    """Poisson editing Eq. (9) (Perez et al. 2003): ``x = values`` on ``known`` and
    ``A x = A generated`` elsewhere (``A``: 5-point Laplacian, reflecting boundaries), i.e. the
    minimiser of ``|grad x - grad generated|^2`` with Dirichlet data. Solved by
    :func:`sparsecodec.inpainting.solve` with source term ``rhs = -(A generated)``.
    ``generated``/``values``: (H, W) or (C, H, W) float."""
    from . import solve
    from .operators import laplacian

    gen = np.asarray(generated, dtype=np.float64)
    rhs = -laplacian(gen)
    return solve(
        np.asarray(values, dtype=np.float64),
        np.asarray(known, dtype=bool),
        solver=solver,
        tol=tol,
        rhs=rhs,
        x0=gen,
    ).u


# ----------------------------------------------------------------------------- windows


def hole_windows(known: np.ndarray, size: int) -> list[tuple[int, int, int, int, np.ndarray]]:
    """Group the missing pixels into windows ``(y0, y1, x0, x1, holes)``: each connected hole's
    bounding box plus a margin of ``max(4, side / 4)`` pixels, widened to at least
    ``size x size`` (clipped to the image), windows that overlap merged. ``holes`` is the (H, W)
    bool mask of the missing pixels this window is responsible for."""
    from scipy.ndimage import find_objects, label

    k = np.asarray(known, dtype=bool)
    H, W = k.shape
    lab, n = label(~k, structure=np.ones((3, 3), dtype=bool))
    if n == 0:
        return []
    groups: list[tuple[list[int], tuple[int, int, int, int]]] = []
    for i, sl in enumerate(find_objects(lab), start=1):
        groups.append(([i], (sl[0].start, sl[0].stop, sl[1].start, sl[1].stop)))

    def window(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        y0, y1, x0, x1 = box
        side = max(y1 - y0, x1 - x0)
        m = max(4, -(-side // 4))
        t = max(size, side + 2 * m)

        def span(a: int, b: int, n_: int) -> tuple[int, int]:
            if t >= n_:
                return 0, n_
            lo = (a + b - t) // 2
            lo = min(max(lo, 0), n_ - t)
            return lo, lo + t

        wy0, wy1 = span(y0, y1, H)
        wx0, wx1 = span(x0, x1, W)
        return wy0, wy1, wx0, wx1

    def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
        return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]

    wins = [(ids, box, window(box)) for ids, box in groups]
    merged = True
    while merged:
        merged = False
        for a in range(len(wins)):
            for b in range(a + 1, len(wins)):
                if overlap(wins[a][2], wins[b][2]):
                    ia, ba, _ = wins[a]
                    ib, bb, _ = wins[b]
                    box = (
                        min(ba[0], bb[0]),
                        max(ba[1], bb[1]),
                        min(ba[2], bb[2]),
                        max(ba[3], bb[3]),
                    )
                    wins[a] = (ia + ib, box, window(box))
                    del wins[b]
                    merged = True
                    break
            if merged:
                break
    out = []
    for ids, _, (y0, y1, x0, x1) in wins:
        out.append((y0, y1, x0, x1, np.isin(lab, ids)))
    return out


# ------------------------------------------------------------------------ optimisation


@lru_cache(maxsize=4)
def _models(model: str, device: str) -> tuple[Any, Any]:
    from ..nets.wgan_gp import load_wgan_gp

    g, d, _ = load_wgan_gp(model, device=device)
    for p in list(g.parameters()) + list(d.parameters()):
        p.requires_grad_(False)
    return g, d


def optimise_latent(
    generator: Any,
    critic: Any,
    y: np.ndarray,
    known: np.ndarray,
    *,
    iterations: int = 1000,
    alpha: float = 0.1,
    beta: float = 0.9,
    eta: float = 0.5,
    lr: float = 0.03,
    seed: int = 0,
    device: str = "cpu",
    pbar: Any = None,
) -> tuple[np.ndarray, list[float]]:
    """Minimise Eq. (4) over ``z`` for one window.

    ``y``: (3, h, w) in [-1, 1]; ``known``: (h, w) bool. Returns ``G(z_hat)`` resized to
    (3, h, w) in [-1, 1] (float64) and the loss at each iteration (before its step).
    """
    import torch
    import torch.nn.functional as F

    dev = torch.device(device)
    h, w = known.shape
    S = generator.cfg.size
    scale = float(S * S) / float(h * w)
    yt = torch.as_tensor(y, dtype=torch.float32, device=dev)[None]
    kt = torch.as_tensor(known, dtype=torch.float32, device=dev)
    wt = torch.as_tensor(window_weights(known), dtype=torch.float32, device=dev)
    st = {
        k: torch.as_tensor(v, dtype=torch.float32, device=dev)
        for k, v in gradient_stencils(known).items()
    }
    gen = torch.Generator().manual_seed(int(seed))
    z = torch.randn(1, generator.cfg.z_dim, generator=gen).to(dev)
    z = z.clamp_(-1.0, 1.0).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.999))

    def render(zz: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = generator(zz)
        if (h, w) != (S, S):
            up = F.interpolate(
                g, size=(h, w), mode="bilinear", align_corners=False, antialias=h < S or w < S
            )
        else:
            up = g
        return g, up

    history: list[float] = []
    for _ in range(iterations):
        g, up = render(z)
        loss = torch.zeros((), device=dev)
        if alpha:
            loss = loss + alpha * scale * contextual_loss(up, yt, kt, wt)
        if beta:
            loss = loss + beta * scale * gradient_loss(up, yt, kt, wt, st)
        if eta:
            loss = loss - eta * critic(g).sum()
        opt.zero_grad(set_to_none=True)
        if loss.requires_grad:
            loss.backward()
            opt.step()
        with torch.no_grad():
            z.clamp_(-1.0, 1.0)
        history.append(float(loss.detach()))
        if pbar is not None:
            pbar.update(1)
    with torch.no_grad():
        _, up = render(z)
    return up[0].double().cpu().numpy(), history


def _check(image: np.ndarray, known_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ImageError(f"semantic inpainting needs an (H,W) or (H,W,3) image, got {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError("empty image")
    m = np.asarray(known_mask)
    if m.shape != a.shape[:2]:
        raise OptionError(f"mask shape {m.shape} does not match image size {a.shape[:2]}")
    m = m.astype(bool)
    if not m.any():
        raise OptionError("semantic inpainting needs some known pixels (the mask is empty)")
    if not np.all(np.isfinite(a[m])):
        raise ImageError("image contains non-finite values at known pixels")
    return a, m


def semantic_inpaint(
    image: np.ndarray,
    known_mask: np.ndarray,
    *,
    iterations: int = 1000,
    alpha: float = 0.1,
    beta: float = 0.9,
    eta: float = 0.5,
    poisson: bool = True,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
    model: str = "wgan_gp_32",
    fallback: bool = True,
    probe_width: int | None = None,
    min_gain: float | None = None,
) -> np.ndarray:
    """Fill the pixels where ``known_mask`` is False by semantic inpainting (Vitoria et al. 2019).

    ``image``: (H, W) grey or (H, W, 3) colour in [0, 255] (values in the holes are ignored);
    ``known_mask``: (H, W) bool, True = known. Per window of holes, Eq. (4) is minimised over
    ``z`` for ``iterations`` Adam steps (``alpha``, ``beta``, ``eta`` weight Eqs. (6)-(8)); the
    hole is filled with ``G(z_hat)``, Poisson-edited (Eq. 9) if ``poisson``. ``seed`` fixes the
    initial ``z``; ``model`` names the WGAN-GP weights (see :mod:`sparsecodec.nets.wgan_gp`).
    With ``fallback`` (default; not in the paper) each hole is blended with homogeneous
    diffusion by a weight the method measures itself on a hidden band of known pixels, and falls
    back to diffusion where that probe gives no confidence (:mod:`sparsecodec.inpainting.blend`,
    ``probe_width`` and ``min_gain`` default to its ``PROBE_WIDTH`` and ``MIN_GAIN``); this costs
    a second latent optimisation. ``fallback=False`` is the paper's method.
    Returns float64 of the image's shape, known pixels unchanged, holes clipped to [0, 255].
    Raises WeightsError if the weights are missing.
    """

    def run(a: np.ndarray, k: np.ndarray) -> np.ndarray:
        return semantic_inpaint_variants(
            a,
            k,
            iterations=iterations,
            alpha=alpha,
            beta=beta,
            eta=eta,
            poisson_modes=(bool(poisson),),
            seed=seed,
            device=device,
            progress=progress,
            model=model,
        )[bool(poisson)]

    if not fallback:
        return run(image, known_mask)
    from . import blend

    a, m = _check(image, known_mask)
    width = blend.PROBE_WIDTH if probe_width is None else int(probe_width)
    gate = blend.MIN_GAIN if min_gain is None else float(min_gain)
    if width < 0 or not np.isfinite(gate):
        raise OptionError("probe_width must be >= 0 and min_gain finite")
    out = blend.cross_validated_blend(a, m, run, width=width, min_gain=gate).image
    return np.clip(out, 0.0, 255.0)


def semantic_inpaint_variants(
    image: np.ndarray,
    known_mask: np.ndarray,
    *,
    iterations: int = 1000,
    alpha: float = 0.1,
    beta: float = 0.9,
    eta: float = 0.5,
    poisson_modes: tuple[bool, ...] = (False, True),
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
    model: str = "wgan_gp_32",
) -> dict[bool, np.ndarray]:
    """Like :func:`semantic_inpaint`, but one latent optimisation serves several final steps:
    returns ``{poisson: result}`` for each flag in ``poisson_modes`` (for ablations)."""
    a, m = _check(image, known_mask)
    if not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise OptionError(f"iterations must be a non-negative integer, got {iterations!r}")
    for name, v in (("alpha", alpha), ("beta", beta), ("eta", eta)):
        if not (np.isfinite(v) and v >= 0):
            raise OptionError(f"{name} must be a finite non-negative number, got {v!r}")
    outs = {bool(p): a.copy() for p in poisson_modes}
    if m.all():
        return outs
    grey = a.ndim == 2
    rgb = np.repeat(a[..., None], 3, axis=2) if grey else a
    G, D = _models(str(model), str(device))
    wins = hole_windows(m, G.cfg.size)
    from tqdm import tqdm

    with tqdm(
        total=iterations * len(wins),
        disable=not progress,
        desc="semantic inpainting",
        unit="it",
        leave=False,
    ) as bar:
        for i, (y0, y1, x0, x1, holes) in enumerate(wins):
            kw = m[y0:y1, x0:x1]
            yw = np.moveaxis(rgb[y0:y1, x0:x1], 2, 0) / 127.5 - 1.0
            yw = np.where(kw[None], yw, 0.0)
            gen, _ = optimise_latent(
                G,
                D,
                yw,
                kw,
                iterations=iterations,
                alpha=alpha,
                beta=beta,
                eta=eta,
                seed=seed + i,
                device=device,
                pbar=bar,
            )
            gen = (gen + 1.0) * 127.5  # (3, h, w) in the image's range
            vals = np.where(kw[None], np.moveaxis(rgb[y0:y1, x0:x1], 2, 0), 0.0)
            if grey:
                gen, vals = gen.mean(axis=0), vals[0]
            target = holes[y0:y1, x0:x1]
            for p, out in outs.items():
                res = poisson_edit(gen, vals, kw) if p else np.where(kw, vals, gen)
                res = np.clip(res, 0.0, 255.0)
                if grey:
                    out[y0:y1, x0:x1][target] = res[target]
                else:
                    out[y0:y1, x0:x1][target] = np.moveaxis(res, 0, 2)[target]
    return outs
