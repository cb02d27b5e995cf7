"""Train the learned diffusion-inpainting mask generator (Alt, Peter & Weickert 2021).

The mask network M (density conditioned U-Net, sigmoid output rescaled to the target density)
minimises the inpainting loss ``||u - f||^2 + alpha / (var(c) + eps)`` (Sec. 3). Two teachers
provide u for the non-binary mask c:

* ``--teacher surrogate`` (the paper): u = I(f, c) from a second U-Net trained jointly on the
  residual loss ``||C(u - f) - (I - C) A u||^2`` (A = 5-point Laplacian, reflecting boundaries);
  each loss only updates its own network.
* ``--teacher exact`` (default; our addition for the CPU budget): u is the exact solution of
  the same equation (sparse LU per crop) and the gradient w.r.t. c comes from the adjoint
  system. In 1-2 CPU hours the surrogate runs produced masks worse than random (the surrogate
  learns to blur f rather than to inpaint), while the exact teacher beat random after ~600 steps.

Usage::

    python -m sparsecodec.training.diffusion_masks --out runs/learned --minutes 90 --threads 1
    python -m sparsecodec.training.diffusion_masks --out runs/learned --resume --minutes 30
    python -m sparsecodec.training.diffusion_masks --out runs/learned \
        --export weights/learned_masks.safetensors
    python -m sparsecodec.training.diffusion_masks --calibrate weights/learned_masks.safetensors
    python -m sparsecodec.training.diffusion_masks --evaluate weights/learned_masks.safetensors
    torchrun --nproc_per_node 4 -m sparsecodec.training.diffusion_masks --device cuda ...

Outputs in ``--out``: ``last.pt`` / ``best.pt`` (checkpoints, load with ``weights_only=True``),
``log.jsonl`` (one JSON object per logged step / validation), ``mask_net.safetensors``.
Validation uses the real solver (``sparsecodec.inpainting.solve``) on bsds500/val crops.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ..inpainting.operators import laplacian_matrix
from ..masks.learned import FORMAT, coin_flips, rescale_probabilities
from ..nets.unet import InpaintNet, MaskNet, count_parameters
from .data import RandomCrops, default_data_dir, val_crops

DEFAULT_DENSITIES = (0.02, 0.03, 0.05, 0.1)


def laplacian(u: torch.Tensor) -> torch.Tensor:
    """5-point Laplacian (grid size 1) of (N,C,H,W) with reflecting (homogeneous Neumann)
    boundaries: the mirrored neighbour outside the image equals the boundary pixel.

    Torch mirror of the solver core's stencil, :func:`sparsecodec.inpainting.operators.laplacian`
    (same edge padding; tests/test_stencil.py ties the two)."""
    p = F.pad(u, (1, 1, 1, 1), mode="replicate")
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:] - 4.0 * u


def residual_loss(u: torch.Tensor, f: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Mean of ``(C(u - f) - (I - C) A u)^2`` (Alt et al. 2021, residual loss)."""
    r = c * (u - f) - (1.0 - c) * laplacian(u)
    return (r * r).mean()


def variance_regulariser(c: torch.Tensor, eps: float) -> torch.Tensor:
    """Mean over the batch of ``1 / (var(c) + eps)`` (per-mask variance; Alt et al. 2021)."""
    var = c.var(dim=(1, 2, 3), unbiased=False)
    return (1.0 / (var + eps)).mean()


class ExactDiffusion(torch.autograd.Function):
    """u solving ``C(u - f) - (I - C) A u = 0`` for a non-binary mask c (exact, sparse LU), with
    the adjoint gradient ``dE/dc_i = lam_i (f_i - u_i - (Au)_i)``, ``M^T lam = dE/du``.

    ``c`` is (N, 1, H, W), ``f`` (N, K, H, W): the K channels share one factorisation of M and
    their gradients w.r.t. c add up. Mask values are floored at ``C_FLOOR`` in the solve so
    that an all-zero binary mask stays solvable (its inpainting is then the data mean).

    Optional teacher replacing the surrogate network (``--teacher exact``; our addition for
    the CPU budget: the exact gradient needs no surrogate training); also the differentiable
    diffusion guide of the mask WGAN (``mask_wgan --adjoint``)."""

    C_FLOOR = 1e-6

    @staticmethod
    def forward(ctx: Any, c: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        import scipy.sparse as sp
        from scipy.sparse.linalg import splu

        n, k_ch, h, w = f.shape
        a = laplacian_matrix(h, w)
        eye = sp.eye(h * w, format="csr")
        cn = c.detach().double().cpu().numpy().reshape(n, -1)
        cn = np.maximum(cn, ExactDiffusion.C_FLOOR)
        fn = f.detach().double().cpu().numpy().reshape(n, k_ch, -1).transpose(0, 2, 1)
        us, lus = [], []
        for k in range(n):
            ck = sp.diags(cn[k])
            lu = splu((ck - (eye - ck) @ a).tocsc())
            us.append(lu.solve(cn[k][:, None] * fn[k]))
            lus.append(lu)
        u = np.stack(us)  # (N, HW, K)
        ctx.lus, ctx.a, ctx.u, ctx.f = lus, a, u, fn
        return torch.from_numpy(u.transpose(0, 2, 1).reshape(f.shape)).to(f.dtype).to(f.device)

    @staticmethod
    def backward(ctx: Any, grad_u: torch.Tensor) -> tuple[torch.Tensor, None]:
        n, k_ch, h, w = grad_u.shape
        g = grad_u.detach().double().cpu().numpy().reshape(n, k_ch, -1).transpose(0, 2, 1)
        out = np.empty((n, h * w))
        for k, lu in enumerate(ctx.lus):
            lam = lu.solve(np.ascontiguousarray(g[k]), trans="T")
            u = ctx.u[k]
            out[k] = (lam * (ctx.f[k] - u - ctx.a @ u)).sum(axis=1)
        grad_c = torch.from_numpy(out.reshape(n, 1, h, w)).to(grad_u.dtype).to(grad_u.device)
        return grad_c, None


def exact_step(
    mask_net: MaskNet,
    opt_m: torch.optim.Optimizer,
    f: torch.Tensor,
    d: torch.Tensor,
    *,
    alpha: float = 0.01,
    eps: float = 1e-4,
    loss_scale: float = 255.0,
    reduce: Any = None,
    binarise: str = "soft",
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Mask-network update with the exact inpainting u (``ExactDiffusion``) instead of I(f, c).

    ``binarise="st"`` (our addition): u is computed from a binary mask b ~ Bernoulli(c) (the
    coin flips of the encoder) and the gradient w.r.t. b is passed straight through to c, so
    the network is trained for the binarisation it is used with, not for a soft mask."""
    c = mask_net(f, d)
    if binarise == "st":
        b = (torch.rand(c.shape, generator=generator).to(c.device) < c).to(c.dtype)
        u = ExactDiffusion.apply(b + (c - c.detach()), f)  # exactly b forward, dc backward
    else:
        u = ExactDiffusion.apply(c, f)
    mse = ((u - f) ** 2).mean() * loss_scale**2
    reg = variance_regulariser(c, eps)
    loss_m = mse + alpha * reg
    params = list(mask_net.parameters())
    grads = torch.autograd.grad(loss_m, params)
    if reduce is not None:
        reduce(grads)
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    opt_m.step()
    return {
        "loss_m": loss_m.item(),
        "mse": mse.item(),
        "reg": reg.item(),
        "c_mean": c.detach().mean().item(),
        "c_var": c.detach().var().item(),
    }


def sample_densities(n: int, densities: tuple[float, ...], rng: np.random.Generator) -> np.ndarray:
    """Half from the listed densities, half log-uniform over their range (conditioning)."""
    lo, hi = math.log(min(densities)), math.log(max(densities))
    listed = rng.choice(np.asarray(densities), size=n)
    cont = np.exp(rng.uniform(lo, hi, size=n))
    return np.where(rng.random(n) < 0.5, listed, cont).astype(np.float32)


def random_soft_masks(d: torch.Tensor, shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Random masks for surrogate warm-up: binary random masks at density ``d`` mixed with
    random non-binary ones, all with mean about ``d``."""
    n = shape[0]
    u = torch.rand(shape, generator=g)
    dd = d.reshape(-1, 1, 1, 1)
    binary = (u < dd).float()
    soft = torch.rand(shape, generator=g) ** 4
    soft = soft * (dd / soft.mean(dim=(1, 2, 3), keepdim=True))
    pick = (torch.rand(n, 1, 1, 1, generator=g) < 0.5).float()
    return (pick * binary + (1 - pick) * soft.clamp(0, 1)).to(d.device)


def joint_step(
    mask_net: MaskNet,
    inpaint_net: InpaintNet,
    opt_m: torch.optim.Optimizer,
    opt_i: torch.optim.Optimizer,
    f: torch.Tensor,
    d: torch.Tensor,
    *,
    alpha: float = 0.01,
    eps: float = 1e-4,
    loss_scale: float = 255.0,
    reduce: Any = None,
) -> dict[str, float]:
    """One joint update (Alt et al. 2021): M minimises ``||u - f||^2 + alpha R(c)``, I minimises
    the residual loss; each loss only updates its own network. ``f`` is (N,1,H,W) in [0,1],
    ``d`` (N,) target densities; ``reduce`` averages gradients across processes (DDP)."""
    c = mask_net(f, d)
    u = inpaint_net(f, c)
    mse = ((u - f) ** 2).mean() * loss_scale**2
    reg = variance_regulariser(c, eps)
    loss_m = mse + alpha * reg
    loss_r = residual_loss(u, f, c.detach())
    params_m = list(mask_net.parameters())
    params_i = list(inpaint_net.parameters())
    grads_m = torch.autograd.grad(loss_m, params_m, retain_graph=True)
    grads_i = torch.autograd.grad(loss_r, params_i)
    if reduce is not None:
        reduce(grads_m)
        reduce(grads_i)
    for p, g in zip(params_m, grads_m, strict=True):
        p.grad = g
    for p, g in zip(params_i, grads_i, strict=True):
        p.grad = g
    opt_m.step()
    opt_i.step()
    return {
        "loss_m": loss_m.item(),
        "mse": mse.item(),
        "reg": reg.item(),
        "res": loss_r.item(),
        "c_mean": c.detach().mean().item(),
        "c_var": c.detach().var().item(),
    }


class Trainer:
    """Holds both networks, optimisers, data and the distributed setup."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        dev = args.device
        if self.world > 1:
            import torch.distributed as dist

            dist.init_process_group("nccl" if dev.startswith("cuda") else "gloo")
            if dev.startswith("cuda"):
                dev = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        self.device = torch.device(dev)
        torch.manual_seed(args.seed)
        arch = (args.base, args.scales, args.layers)
        self.M = MaskNet(*arch).to(self.device)
        self.I = InpaintNet(*arch).to(self.device)
        self.opt_m = torch.optim.Adam(self.M.parameters(), lr=args.lr)
        self.opt_i = torch.optim.Adam(self.I.parameters(), lr=args.lr)
        self.data = RandomCrops(
            args.data, args.crop, grey=True, seed=args.seed + 1000 * self.rank, zoom=args.zoom
        )
        self.rng = np.random.default_rng(args.seed + 7 + 1000 * self.rank)
        self.gen = torch.Generator().manual_seed(args.seed + 11 + 1000 * self.rank)
        self.step = 0
        self.elapsed = 0.0  # training seconds over all (resumed) runs
        self.best = -np.inf
        self.out = Path(args.out)
        if self.rank == 0:
            self.out.mkdir(parents=True, exist_ok=True)
        self.densities = tuple(float(x) for x in args.densities.split(","))
        self.val = None
        if self.rank == 0 and args.val_count > 0:
            self.val = val_crops(args.val_data, args.val_crop, args.val_count, grey=True)[:, 0]
        if self.world > 1:
            self._broadcast()

    # ---------------------------------------------------------------- distributed helpers
    def _broadcast(self) -> None:
        import torch.distributed as dist

        for net in (self.M, self.I):
            for p in net.parameters():
                dist.broadcast(p.data, 0)

    def _allreduce(self, grads: tuple[torch.Tensor, ...]) -> None:
        if self.world == 1:
            return
        import torch.distributed as dist

        for g in grads:
            dist.all_reduce(g)
            g /= self.world

    # ---------------------------------------------------------------- training
    def lr_factor(self) -> float:
        """Constant learning rate, dropped 5x for the last 15 % of the time/step budget."""
        a = self.args
        frac = 0.0
        if a.minutes:
            frac = max(frac, self.elapsed / (60 * a.minutes))
        if a.steps:
            frac = max(frac, self.step / a.steps)
        return 0.2 if frac > 0.85 else 1.0

    def train_step(self) -> dict[str, float]:
        a = self.args
        f = self.data.torch_batch(a.batch, self.device)
        d = torch.from_numpy(sample_densities(a.batch, self.densities, self.rng)).to(self.device)
        for opt in (self.opt_m, self.opt_i):
            for grp in opt.param_groups:
                grp["lr"] = a.lr * self.lr_factor()
        if a.teacher == "exact":
            return exact_step(
                self.M,
                self.opt_m,
                f,
                d,
                alpha=a.alpha,
                eps=a.eps,
                loss_scale=a.loss_scale,
                reduce=self._allreduce,
                binarise=a.binarise,
                generator=self.gen,
            )
        warm = self.step < a.warmup
        if warm:  # surrogate only, on random masks
            c = random_soft_masks(d, tuple(f.shape), self.gen).to(self.device)
            u = self.I(f, c)
            loss_r = residual_loss(u, f, c)
            grads_i = torch.autograd.grad(loss_r, list(self.I.parameters()))
            self._allreduce(grads_i)
            for p, g in zip(self.I.parameters(), grads_i, strict=True):
                p.grad = g
            self.opt_i.step()
            return {"res": loss_r.item()}
        return joint_step(
            self.M,
            self.I,
            self.opt_m,
            self.opt_i,
            f,
            d,
            alpha=a.alpha,
            eps=a.eps,
            loss_scale=a.loss_scale,
            reduce=self._allreduce,
        )

    # ---------------------------------------------------------------- validation
    def validate(self) -> dict[str, Any]:
        """PSNR of the real diffusion inpainting on val crops: learned vs random masks."""
        assert self.val is not None
        a = self.args
        solve, solver_name = real_solver()
        self.M.eval()
        out: dict[str, Any] = {"solver": solver_name}
        rng = np.random.default_rng(1234)
        for dens in (float(x) for x in a.val_densities.split(",")):
            with torch.no_grad():
                f = torch.from_numpy(self.val[:, None]).to(self.device)
                c = self.M(f, torch.full((len(self.val),), dens, device=self.device))
            c = c[:, 0].double().cpu().numpy()
            ps_l, ps_r, dens_l = [], [], []
            for img, prob in zip(self.val, c, strict=True):
                img255 = img.astype(np.float64) * 255.0
                m = coin_flips(rescale_probabilities(prob, dens), rng)
                r = coin_flips(np.full(img.shape, dens), rng)
                ps_l.append(psnr(solve(img255, m), img255))
                ps_r.append(psnr(solve(img255, r), img255))
                dens_l.append(m.mean())
            out[f"psnr_learned_{dens}"] = float(np.mean(ps_l))
            out[f"psnr_random_{dens}"] = float(np.mean(ps_r))
            out[f"density_learned_{dens}"] = float(np.mean(dens_l))
        self.M.train()
        return out

    # ---------------------------------------------------------------- checkpoints
    def state(self) -> dict[str, Any]:
        return {
            "M": self.M.state_dict(),
            "I": self.I.state_dict(),
            "opt_m": self.opt_m.state_dict(),
            "opt_i": self.opt_i.state_dict(),
            "step": self.step,
            "elapsed": self.elapsed,
            "best": self.best,
            "data_rng": json.dumps(self.data.state()),
            "rng": json.dumps(self.rng.bit_generator.state),
            "gen": self.gen.get_state(),
            "args": json.dumps(vars(self.args)),
        }

    def save(self, name: str) -> None:
        if self.rank != 0:
            return
        tmp = self.out / (name + ".tmp")
        torch.save(self.state(), tmp)
        os.replace(tmp, self.out / name)

    def load(self, path: Path) -> None:
        st = torch.load(path, map_location=self.device, weights_only=True)
        self.M.load_state_dict(st["M"])
        self.I.load_state_dict(st["I"])
        self.opt_m.load_state_dict(st["opt_m"])
        self.opt_i.load_state_dict(st["opt_i"])
        self.step = int(st["step"])
        self.elapsed = float(st["elapsed"])
        self.best = float(st["best"])
        if self.rank == 0:
            self.data.set_state(json.loads(st["data_rng"]))
            self.rng.bit_generator.state = json.loads(st["rng"])
            self.gen.set_state(st["gen"])

    def log(self, record: dict[str, Any]) -> None:
        if self.rank != 0:
            return
        with open(self.out / "log.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")

    # ---------------------------------------------------------------- main loop
    def run(self) -> None:
        a = self.args
        if a.resume and (self.out / "last.pt").is_file():
            self.load(self.out / "last.pt")
            if self.rank == 0:
                print(f"resumed at step {self.step} ({self.elapsed / 60:.1f} min)", flush=True)
        elif a.init:
            from safetensors.torch import load_file

            self.M.load_state_dict(load_file(a.init))
            if self.rank == 0:
                print(f"initialised the mask net from {a.init}", flush=True)
            if self.val is not None:
                self._validate_and_keep()
        if self.rank == 0:
            n = count_parameters(self.M)
            extra = f", surrogate {count_parameters(self.I)}" if a.teacher == "surrogate" else ""
            print(f"mask net {n} params{extra}, teacher {a.teacher}", flush=True)
        t_last = time.perf_counter()
        t_ckpt = t_val = self.elapsed
        budget = 60 * a.minutes if a.minutes else math.inf
        acc: dict[str, list[float]] = {}
        while (not a.steps or self.step < a.steps) and self.elapsed < budget:
            rec = self.train_step()
            self.step += 1
            now = time.perf_counter()
            self.elapsed += now - t_last
            t_last = now
            for k, v in rec.items():
                acc.setdefault(k, []).append(v)
            if self.step % a.log_every == 0:
                row = {"step": self.step, "time": round(self.elapsed, 1)}
                row.update({k: float(np.mean(v)) for k, v in acc.items()})
                acc = {}
                self.log(row)
                if self.rank == 0:
                    print(json.dumps(row), flush=True)
            if self.val is not None and self.elapsed - t_val >= 60 * a.val_minutes:
                self._validate_and_keep()
                torch.set_num_threads(a.threads)
                t_val = self.elapsed
                t_last = time.perf_counter()  # validation time is not training time
            if self.elapsed - t_ckpt >= 60 * a.ckpt_minutes:
                self.save("last.pt")
                t_ckpt = self.elapsed
        if self.val is not None:
            self._validate_and_keep()
        self.save("last.pt")
        if self.rank == 0:
            src = self.out / ("best.pt" if (self.out / "best.pt").is_file() else "last.pt")
            export(src, self.out / "mask_net.safetensors")
            print(f"done: step {self.step}, {self.elapsed / 60:.1f} min", flush=True)

    def _validate_and_keep(self) -> None:
        if self.rank != 0:
            return
        v = self.validate()
        key = [k for k in v if k.startswith("psnr_learned_")]
        score = float(np.mean([v[k] for k in key]))
        v.update({"step": self.step, "time": round(self.elapsed, 1), "val_score": score})
        self.log(v)
        print(json.dumps(v), flush=True)
        if score > self.best:
            self.best = score
            self.save("best.pt")


def psnr(u: np.ndarray, f: np.ndarray) -> float:
    """PSNR in dB for images in [0,255]."""
    mse = float(np.mean((np.clip(u, 0, 255) - f) ** 2))
    return 10 * math.log10(255.0**2 / max(mse, 1e-12))


def real_solver() -> tuple[Any, str]:
    """The project's diffusion solver (:func:`sparsecodec.inpainting.solve`, multigrid) as
    ``run(img, mask) -> u`` and its name."""
    from ..inpainting import solve

    def run(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return solve(img, mask, solver="multigrid").u

    return run, "sparsecodec.inpainting"


def export(ckpt: Path, out: Path) -> None:
    """Write the mask network of checkpoint ``ckpt`` as safetensors with its architecture."""
    from safetensors.torch import save_file

    st = torch.load(ckpt, map_location="cpu", weights_only=True)
    args = json.loads(st["args"])
    meta = {
        "format": FORMAT,
        "base": str(args["base"]),
        "scales": str(args["scales"]),
        "layers": str(args["layers"]),
        "step": str(st["step"]),
        "train_minutes": f"{st['elapsed'] / 60:.1f}",
        "densities": args["densities"],
    }
    tensors = {k: v.contiguous() for k, v in st["M"].items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out), metadata=meta)


def calibrate_gamma(
    weights: Path,
    folder: str | Path,
    *,
    count: int = 24,
    crop: int = 128,
    densities: tuple[float, ...] = DEFAULT_DENSITIES,
    gammas: tuple[float, ...] = (1.0, 0.75, 0.5, 0.35, 0.25, 0.0),
) -> dict[str, float]:
    """Choose per density the tempering exponent gamma (``p**gamma`` before the coin flips)
    maximising the mean PSNR of the real diffusion inpainting on deterministic *training* crops,
    and store it in the weight file's metadata as ``gamma_<density>``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from ..masks import learned

    solve, _ = real_solver()
    imgs = val_crops(folder, crop, count, grey=True)[:, 0].astype(np.float64) * 255.0
    learned._load_net.cache_clear()
    binarisers = {
        "coin": lambda p, k: coin_flips(p, np.random.default_rng(k)),
        "dither": lambda p, k: learned.dither(p, 0),
    }
    result: dict[str, float] = {}
    for dens in densities:
        probs = [learned.mask_probabilities(img, dens, weights=str(weights)) for img in imgs]
        for mode, binarise in binarisers.items():
            scores = {}
            for g in gammas:
                ps = []
                for k, (img, c) in enumerate(zip(imgs, probs, strict=True)):
                    p = rescale_probabilities(c**g, dens)
                    ps.append(psnr(solve(img, binarise(p, k)), img))
                scores[g] = float(np.mean(ps))
            best = max(scores, key=lambda g: scores[g])
            result[f"gamma_{mode}_{dens}"] = best
            row = {"density": dens, "binarise": mode, "psnr_by_gamma": scores, "gamma": best}
            print(json.dumps(row), flush=True)
    with safe_open(str(weights), framework="pt") as fh:
        meta = dict(fh.metadata() or {})
    meta = {k: v for k, v in meta.items() if not k.startswith("gamma_")}
    meta.update({k: str(v) for k, v in result.items()})
    save_file(load_file(str(weights)), str(weights), metadata=meta)
    learned._load_net.cache_clear()
    return result


def evaluate_weights(
    weights: Path,
    folder: str | Path,
    *,
    count: int = 8,
    densities: tuple[float, ...] = DEFAULT_DENSITIES,
    samples: int = 4,
) -> list[dict[str, Any]]:
    """Mean PSNR of the real diffusion inpainting (``sparsecodec.inpainting.solve``) on the first
    ``count`` grey images of ``folder`` for random, Belhachmi and learned masks (1 and best of
    ``samples`` coin-flip binarisations, 1 and best of ``samples`` dithering orientations), plus
    the mean network-pass time."""
    from ..inpainting import solve
    from ..masks import get
    from ..masks.learned import learned_mask, mask_probabilities
    from .data import list_images, load_image

    belhachmi = get("belhachmi").load()
    imgs = [load_image(f, True).astype(np.float64) * 255 for f in list_images(folder)[:count]]
    rows = []
    for dens in densities:
        acc: dict[str, list[float]] = {}
        for k, img in enumerate(imgs):
            masks = {
                "random": coin_flips(np.full(img.shape, dens), np.random.default_rng(k)),
                "belhachmi": belhachmi(img, dens),
                "learned_raw": learned_mask(
                    img, dens, seed=k, samples=1, weights=str(weights), gamma=1.0, binarise="coin"
                ),
                "learned_1": learned_mask(
                    img, dens, seed=k, samples=1, weights=str(weights), binarise="coin"
                ),
                "learned_dither": learned_mask(
                    img, dens, samples=1, weights=str(weights), binarise="dither"
                ),
                f"learned_{samples}": learned_mask(
                    img, dens, seed=k, samples=samples, weights=str(weights), binarise="coin"
                ),
                f"learned_dither_{samples}": learned_mask(
                    img, dens, samples=samples, weights=str(weights), binarise="dither"
                ),
            }
            t = time.perf_counter()
            mask_probabilities(img, dens, weights=str(weights))
            acc.setdefault("net_ms", []).append(1000 * (time.perf_counter() - t))
            for name, m in masks.items():
                acc.setdefault(name, []).append(psnr(solve(img, m, solver="multigrid").u, img))
                acc.setdefault("density_" + name, []).append(float(m.mean()))
        row = {"density": dens, "images": len(imgs)}
        row.update({k: float(np.mean(v)) for k, v in acc.items()})
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    data = default_data_dir() / "bsds500"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(data / "train"), help="folder of training images")
    p.add_argument("--val-data", default=str(data / "val"), help="folder of validation images")
    p.add_argument("--out", default="runs/learned")
    p.add_argument("--steps", type=int, default=0, help="stop after N steps (0 = no limit)")
    p.add_argument("--minutes", type=float, default=0, help="stop after this training time")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--export", default=None, help="only export best/last checkpoint to PATH")
    p.add_argument("--evaluate", default=None, help="only evaluate the safetensors file PATH")
    p.add_argument(
        "--calibrate", default=None, help="only choose gamma for the safetensors file PATH"
    )
    p.add_argument("--eval-count", type=int, default=8, help="validation images to evaluate")
    p.add_argument("--crop", type=int, default=64)
    p.add_argument(
        "--zoom",
        type=float,
        default=1.0,
        help="magnify training crops by a log-uniform factor in [1, ZOOM] (smoother content)",
    )
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--alpha", type=float, default=0.01)
    p.add_argument("--eps", type=float, default=1e-4)
    p.add_argument(
        "--loss-scale",
        type=float,
        default=255.0,
        help="inpainting MSE is measured on images scaled to [0, loss-scale]",
    )
    p.add_argument("--densities", default=",".join(map(str, DEFAULT_DENSITIES)))
    p.add_argument(
        "--teacher",
        choices=("surrogate", "exact"),
        default="exact",
        help="surrogate: joint training with the inpainting U-Net (paper); exact: sparse LU "
        "solve with adjoint gradient",
    )
    p.add_argument(
        "--binarise",
        choices=("soft", "st"),
        default="soft",
        help="exact teacher: soft mask c (paper) or coin flips b ~ Bernoulli(c) with a "
        "straight-through gradient",
    )
    p.add_argument("--init", default=None, help="initialise the mask net from safetensors PATH")
    p.add_argument("--warmup", type=int, default=300, help="surrogate-only steps")
    p.add_argument("--base", type=int, default=8)
    p.add_argument("--scales", type=int, default=5)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--ckpt-minutes", type=float, default=4.0)
    p.add_argument("--val-minutes", type=float, default=8.0)
    p.add_argument("--val-count", type=int, default=16)
    p.add_argument("--val-crop", type=int, default=128)
    p.add_argument("--val-densities", default="0.03,0.05")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # the validation solver uses numba; with its default thread pool the shared OpenMP runtime
    # made every later torch op run multi-threaded (10x slower on a loaded 2-core machine)
    os.environ.setdefault("NUMBA_NUM_THREADS", str(args.threads))
    torch.set_num_threads(args.threads)
    if args.export:
        out = Path(args.out)
        src = out / "best.pt" if (out / "best.pt").is_file() else out / "last.pt"
        export(src, Path(args.export))
        print(f"exported {src} -> {args.export}")
        return
    if args.calibrate:
        calibrate_gamma(
            Path(args.calibrate),
            args.data,
            densities=tuple(float(x) for x in args.densities.split(",")),
        )
        return
    if args.evaluate:
        rows = evaluate_weights(
            Path(args.evaluate),
            args.val_data,
            count=args.eval_count,
            densities=tuple(float(x) for x in args.densities.split(",")),
        )
        Path(args.out).mkdir(parents=True, exist_ok=True)
        with open(Path(args.out) / f"eval_{Path(args.val_data).name}.json", "w") as fh:
            json.dump(rows, fh, indent=1)
        return
    Trainer(args).run()


if __name__ == "__main__":
    main()
