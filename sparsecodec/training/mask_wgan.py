"""Train the inpainting WGAN and the joint mask WGAN (Peter 2022, Eq. 1-4, Sec. 4.1).

Modes:

* ``--mode inpaint`` -- generator g and critic d on uniformly random masks whose density is
  drawn per sample from ``[--dmin, --dmax]`` (Table 2a "WGAN": inpainting of arbitrary masks).
  Losses: critic Eq. (2), generator Eq. (3) with ``alpha`` (0.005) and the MAE.
* ``--mode joint`` -- mask generator m, generator g and critic d, all updated every step; the
  mask loss is Eq. (4): ``| |b|_1 / N - D | + beta * MAE`` with ``beta = 1``.

Deviations for the CPU budget (joint mode with ``--guide``; each trains the mask generator
alone): ``--pretrain-mask`` (Eq. 4 with the exact diffusion inpainting of the binary mask) and
``--distill-mask`` (regress the binarisation block's pre-activation onto the weighted coin
flips of the learned diffusion-mask network for the same noise), usually with ``--noise-skip``
(the binarisation block also sees the noise, ``HourglassConfig.noise_skip``); and
``--freeze-mask`` (Eq. 2-3 train g and the critic on the masks of a fixed mask generator from
``--init-mask``; the generator the codec's ``wgan-joint`` decoder pairs with it).

Adam with learning rate 5e-5 (Sec. 4.1). Images: random colour crops (``--crop``) of a folder
(default ``../shared/data/bsds500/train`` relative to the repository), random flips, values
in [0, 1]. Validation: fixed crops of ``bsds500/val`` with random masks at 5 % and 10 %, PSNR
of the generator (Eq. 1) versus homogeneous diffusion inpainting.

Run ``python -m sparsecodec.training.mask_wgan --mode inpaint --out runs/wgan_inpaint
--minutes 90 --threads 1``; ``--resume`` continues from ``OUT/ckpt.pt``. Under ``torchrun``
(``WORLD_SIZE > 1``) gradients are averaged over processes with ``all_reduce``; rank 0 logs,
validates and checkpoints. Outputs in OUT: ``ckpt.pt`` (full state, every ``--ckpt-minutes``),
``log.csv``, ``val.csv``, ``last.safetensors`` and ``best.safetensors`` (exported networks).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from ..colour import LUMA_WEIGHTS
from ..inpainting.wgan_decoder import diffusion_guide
from ..nets.wgan import (
    Critic,
    CriticConfig,
    HourglassConfig,
    InpaintGenerator,
    MaskGenerator,
    binarise,
    load_bundle,
    save_bundle,
)
from .diffusion_masks import ExactDiffusion

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data"
# ``--loss mse``: the MSE is scaled to about the MAE's size at the errors of sparse masks (MAE
# ~0.05, MSE ~0.005 for data in [0, 1]) so that ``--alpha`` keeps its meaning.
MSE_SCALE = 10.0


# ----------------------------------------------------------------------------------- data


def load_folder(folder: Path, grey: bool = False) -> list[np.ndarray]:
    """All images of a folder as uint8 arrays (H, W, 3) (or (H, W, 1) if ``grey``)."""
    from PIL import Image

    exts = {".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff"}
    out = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in exts:
            with Image.open(p) as im:
                a = np.asarray(im.convert("L" if grey else "RGB"))
            out.append(a[..., None] if grey else a)
    if not out:
        raise SystemExit(f"no images in {folder}")
    return out


def random_crops(
    images: list[np.ndarray], n: int, size: int, rng: np.random.Generator, flips: bool = True
) -> torch.Tensor:
    """``n`` random ``size`` x ``size`` crops (with random flips) as float (n, C, size, size)."""
    batch = []
    for _ in range(n):
        a = images[rng.integers(len(images))]
        y = rng.integers(a.shape[0] - size + 1)
        x = rng.integers(a.shape[1] - size + 1)
        c = a[y : y + size, x : x + size]
        if flips and rng.random() < 0.5:
            c = c[:, ::-1]
        if flips and rng.random() < 0.5:
            c = c[::-1]
        batch.append(np.ascontiguousarray(c.transpose(2, 0, 1)))
    return torch.from_numpy(np.stack(batch).astype(np.float32) / 255.0)


def random_masks(n: int, size: int, dmin: float, dmax: float, gen: torch.Generator) -> torch.Tensor:
    """Uniformly random masks (n, 1, size, size), density drawn per sample in [dmin, dmax]."""
    d = dmin + (dmax - dmin) * torch.rand(n, 1, 1, 1, generator=gen)
    return (torch.rand(n, 1, size, size, generator=gen) < d).float()


def exact_random_mask(h: int, w: int, density: float, rng: np.random.Generator) -> np.ndarray:
    m = np.zeros(h * w, bool)
    m[rng.choice(h * w, max(1, round(density * h * w)), replace=False)] = True
    return m.reshape(h, w)


def diffusion_inpaint(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Homogeneous diffusion inpainting of an (H, W, C) image (the project's multigrid solver)."""
    return np.moveaxis(diffusion_guide(np.moveaxis(img, -1, 0), mask), 0, -1)


def batch_guide(f: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Diffusion inpainting ``h`` of each crop of ``f`` (B, C, H, W) from the binary masks ``b``
    (B, 1, H, W), computed per crop in numpy with the project's solver; a detached input of the
    guided generator (the mask generator gets gradients through g's other inputs)."""
    fn = f.detach().cpu().double().numpy()
    bn = b.detach().cpu().numpy()[:, 0] > 0.5
    out = np.stack([diffusion_guide(fn[i], bn[i]) for i in range(len(fn))])
    return torch.from_numpy(out).float().to(f.device)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


class Validator:
    """Fixed validation crops + random masks; diffusion baseline computed once."""

    def __init__(self, folder: Path, n: int, size: int, densities=(0.05, 0.10)) -> None:
        rng = np.random.default_rng(1234)
        imgs = load_folder(folder)
        self.f = random_crops(imgs, n, size, rng, flips=False)  # (n,3,s,s) in [0,1]
        self.densities = densities
        self.masks = {
            d: torch.from_numpy(
                np.stack([exact_random_mask(size, size, d, rng) for _ in range(n)])[:, None]
            ).float()
            for d in densities
        }
        gen = torch.Generator().manual_seed(99)
        self.r = torch.rand(self.f.shape, generator=gen)
        ref = (self.f.numpy() * 255).transpose(0, 2, 3, 1)
        self.ref = ref
        self.baseline = {}
        self.guides = {}
        for d in densities:
            self.guides[d] = batch_guide(self.f, self.masks[d])
            u = self.guides[d].numpy().transpose(0, 2, 3, 1) * 255.0
            vals = [psnr(ref[i], np.clip(u[i], 0, 255)) for i in range(n)]
            self.baseline[d] = float(np.mean(vals))

    @torch.no_grad()
    def __call__(
        self, g: InpaintGenerator, m: MaskGenerator | None, device: str, density: float
    ) -> dict[str, float]:
        g.eval()
        res: dict[str, float] = {}
        f = self.f.to(device)
        r = self.r.to(device)
        for d in self.densities:
            h = self.guides[d].to(device) if g.guided else None
            u = g.inpaint(f, self.masks[d].to(device), r, h).cpu().numpy().transpose(0, 2, 3, 1)
            res[f"psnr_g_{d:g}"] = float(
                np.mean([psnr(self.ref[i], u[i] * 255) for i in range(len(u))])
            )
            res[f"psnr_hd_{d:g}"] = self.baseline[d]
        if m is not None:
            m.eval()
            b, _ = m(torch.flip(r, dims=(2,)), f)
            h = batch_guide(f, b) if g.guided else None
            u = g.inpaint(f, b, r, h).cpu().numpy().transpose(0, 2, 3, 1)
            res["mask_density"] = float(b.mean())
            if h is not None:  # the mask generator's masks with plain diffusion inpainting
                uh = h.cpu().numpy().transpose(0, 2, 3, 1)
                res["psnr_m_hd"] = float(
                    np.mean([psnr(self.ref[i], np.clip(uh[i], 0, 1) * 255) for i in range(len(uh))])
                )
                # Eq. (4) (beta = 1) with diffusion in place of g: the --pretrain-mask loss
                mae_hd = float(np.mean(np.abs(np.clip(uh, 0, 1) - self.ref / 255)))
                res["mask_val_loss_hd"] = abs(float(b.mean()) - density) + mae_hd
            res["psnr_mg"] = float(np.mean([psnr(self.ref[i], u[i] * 255) for i in range(len(u))]))
            mae = float(np.mean(np.abs(u - self.ref / 255)))
            res["mask_val_loss"] = abs(float(b.mean()) - density) + mae  # Eq. (4), beta = 1
            m.train()
        g.train()
        return res


# ------------------------------------------------------------------------------- training


def _allreduce_grads(params, world: int) -> None:
    import torch.distributed as dist

    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def _params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def export(run: Path, name: str, which: str = "best") -> Path:
    """Copy ``run/<which>.safetensors`` to ``<name>.safetensors`` in the weights folder
    (:func:`sparsecodec.nets.zoo.export_dir`) and write a card ``<name>.md`` from the run's
    config, metadata and validation log."""
    from ..nets.zoo import export_dir

    bundle = load_bundle(run / f"{which}.safetensors")
    meta = dict(bundle.meta)
    dest = export_dir() / f"{name}.safetensors"
    save_bundle(dest, bundle.generator, bundle.mask_generator, meta)
    val = json.loads(meta.get("val", "{}"))
    cfg = json.loads((run / "config.json").read_text())
    rows = list(csv.DictReader(open(run / "val.csv"))) if (run / "val.csv").exists() else []
    g, m = bundle.generator, bundle.mask_generator
    lines = [
        f"# {name}",
        "",
        "Mask WGAN networks (Peter 2022, architecture after Vasata et al. 2021), see",
        "`sparsecodec/nets/wgan.py`; trained with `sparsecodec/training/mask_wgan.py`.",
        "",
        f"- mode: `{cfg['mode']}`"
        + (
            f", target density D = {cfg['density']}"
            if cfg["mode"] == "joint"
            else f", random masks with density uniform in [{cfg['dmin']}, {cfg['dmax']}]"
        ),
        f"- data: `{cfg['data']}` (random {cfg['crop']}x{cfg['crop']} colour crops, flips)",
        f"- batch {cfg['batch']}, Adam lr {cfg['lr']}, alpha {cfg['alpha']}, beta {cfg['beta']}",
        f"- reconstruction term of Eq. (3): {cfg.get('loss', 'mae').upper()}"
        + (" (deviation from the paper's MAE)" if cfg.get("loss") == "mse" else "")
        + ("; alpha 0: no adversarial term, the critic is not trained" if not cfg["alpha"] else ""),
        f"- exported weights ({which} checkpoint): steps {meta.get('steps')}, training wall time "
        f"{int(meta.get('train_seconds', 0)) / 60:.0f} min (CPU, 1 thread, shared machine)",
    ]
    if g is not None:
        lines.append(f"- generator: {g.cfg}, {_params(g)} parameters")
        if g.guided:
            lines.append(
                "- diffusion-guided generator (deviation from the paper): g also receives the "
                "homogeneous diffusion inpainting h of the known data and outputs "
                "hardsigmoid(6 (h - 1/2) + head(trunk(r, c, Cf, h))) with a zero-initialised "
                "head, so training starts from HD and learns a correction"
            )
    if cfg.get("adjoint"):
        lines.append(
            "- `--adjoint` (deviation from the paper): the diffusion guide h is differentiated "
            "w.r.t. the binary mask (exact sparse solve + adjoint, "
            "`training.diffusion_masks.ExactDiffusion`), so the mask generator's loss Eq. (4) "
            "also sees how its points change the diffusion inpainting"
        )
    if cfg.get("pretrain_mask"):
        lines.append(
            "- `--pretrain-mask` (deviation from the paper): only the mask generator was trained"
            " in this run, on Eq. (4) with the MAE of the exact diffusion inpainting from its"
            " binary masks (sparse solve + adjoint, straight-through binariser) in place of g's"
            " output; g and the critic are the initial ones"
        )
    if cfg.get("distill_mask") not in (None, "None", ""):
        lines.append(
            "- `--distill-mask` (deviation from the paper): only the mask generator was trained"
            " in this run, to reproduce the weighted coin flips r_0 < p of the learned"
            f" diffusion-mask network `{Path(cfg['distill_mask']).name}` (Alt et al. 2021) at"
            " density D for the same noise (MSE between the binarisation block's pre-activation"
            " z / 12 and p - r_0)"
        )
    if cfg.get("freeze_mask"):
        lines.append(
            "- `--freeze-mask` (deviation from the paper): the critic and g were trained by"
            " Eq. (2)-(3) on the masks of the fixed mask generator from `--init-mask`; the mask"
            " generator was not updated in this run"
        )
    if cfg.get("noise_skip"):
        lines.append(
            "- `--noise-skip` (deviation from the paper): the binarisation block's transposed"
            " convolution also receives the noise r - 1/2, so the mask generator can threshold"
            " the noise against an image-dependent level"
        )
    if cfg.get("init_generator") not in (None, "None"):
        lines.append(f"- generator initialised from `{cfg['init_generator']}`")
    if cfg.get("init_mask") not in (None, "None"):
        lines.append(f"- mask generator initialised from `{cfg['init_mask']}`")
    if m is not None:
        lines.append(f"- mask generator: {m.cfg}, {_params(m)} parameters")
    lines += [
        "",
        "Validation (fixed crops of bsds500/val, uniformly random masks, PSNR in dB):",
        "",
        "| | " + " | ".join(k for k in val if k not in ("step", "seconds")) + " |",
        "|---" * (1 + sum(k not in ("step", "seconds") for k in val)) + "|",
        "| exported | "
        + " | ".join(f"{v:.3f}" for k, v in val.items() if k not in ("step", "seconds"))
        + " |",
        "",
    ]
    if rows:
        hd = f"{float(rows[0]['psnr_hd_0.05']):.2f} / {float(rows[0]['psnr_hd_0.1']):.2f}"
        joint = "psnr_mg" in rows[0]
        with_hd = joint and "psnr_m_hd" in rows[0]
        lines += [
            "Validation history (step: generator PSNR at 5 % / 10 % on random masks, HD "
            f"{hd}"
            + ("; mask generator + generator PSNR, mask density" if joint else "")
            + ("; mask generator + HD PSNR" if with_hd else "")
            + "):",
            "",
        ]
        lines += [
            f"- {r['step']}: {float(r['psnr_g_0.05']):.2f} / {float(r['psnr_g_0.1']):.2f}"
            + (f"; {float(r['psnr_mg']):.2f}, {float(r['mask_density']):.4f}" if joint else "")
            + (f"; {float(r['psnr_m_hd']):.2f}" if with_hd and r.get("psnr_m_hd") else "")
            for r in rows
        ]
    (export_dir() / f"{name}.md").write_text("\n".join(lines) + "\n")
    import hashlib

    index = {
        "weights": dest.name,
        "card": f"{name}.md",
        "bytes": dest.stat().st_size,
        "sha256": hashlib.sha256(dest.read_bytes()).hexdigest(),
        "format": "safetensors",
    }
    (export_dir() / f"{name}.json").write_text(json.dumps(index, indent=2) + "\n")
    print(f"exported {dest}")
    return dest


def _gan_step(g, d, m, opt_g, opt_d, opt_m, f, gen, a, world):
    """One step of Eq. (2)-(4): critic, generator and (joint mode) mask generator."""
    dev = f.device
    r_g = torch.rand(f.shape, generator=gen).to(dev)
    if m is None:
        b = random_masks(a.batch, a.crop, a.dmin, a.dmax, gen).to(dev)
    else:
        r_m = torch.rand(f.shape, generator=gen).to(dev)
        if a.freeze_mask:  # g and the critic learn m's masks, m stays fixed
            with torch.no_grad():
                b, _ = m(r_m, f)
            m = None
        else:
            b, _ = m(r_m, f)
    if g.guided and a.adjoint and m is not None:
        h = ExactDiffusion.apply(b, f)  # gradient reaches b, hence m (straight through)
    else:
        h = batch_guide(f, b) if g.guided else None
    u = g.inpaint(f, b, r_g, h)

    # Eq. (2): critic, conditioned on the mask (skipped when Eq. (3) gives it no weight).
    if a.alpha > 0:
        loss_d = (d(u.detach(), b.detach()) - d(f, b.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        if world > 1:
            _allreduce_grads(d.parameters(), world)
        opt_d.step()
    else:
        loss_d = torch.zeros(())

    # Eq. (3): generator; Eq. (4): mask generator. ``--loss mse`` replaces Eq. (3)'s MAE by
    # the mean squared error (the codec's quality measure is PSNR).
    mae = (f - u).abs().mean()
    rec = ((f - u) ** 2).mean() * MSE_SCALE if a.loss == "mse" else mae
    loss_g = rec - a.alpha * d(u, b).mean() if a.alpha > 0 else rec
    opt_g.zero_grad(set_to_none=True)
    dens = b.mean(dim=(1, 2, 3))
    if m is not None:
        loss_m = (dens - a.density).abs().mean() + a.beta * mae
        gp = list(g.parameters())
        mp = list(m.parameters())
        grads_g = torch.autograd.grad(loss_g, gp, retain_graph=True)
        grads_m = torch.autograd.grad(loss_m, mp)
        for p, gr in zip(gp, grads_g, strict=True):
            p.grad = gr
        opt_m.zero_grad(set_to_none=True)
        for p, gr in zip(mp, grads_m, strict=True):
            p.grad = gr
        if world > 1:
            _allreduce_grads(mp, world)
        opt_m.step()
    else:
        loss_g.backward()
        loss_m = torch.zeros(())
    if world > 1:
        _allreduce_grads(g.parameters(), world)
    opt_g.step()
    return loss_d, loss_g, mae, loss_m, dens


def _update_mask_generator(m, opt_m, loss_m, world) -> None:
    """One Adam step of the mask generator alone (gradients averaged over processes)."""
    opt_m.zero_grad(set_to_none=True)
    loss_m.backward()
    if world > 1:
        _allreduce_grads(m.parameters(), world)
    opt_m.step()


def _mask_step(m, opt_m, f, gen, a, world):
    """``--pretrain-mask``: Eq. (4) with the MAE of the exact diffusion inpainting from the binary
    mask (adjoint gradient through the straight-through binariser) instead of g's output."""
    b, _ = m(torch.rand(f.shape, generator=gen).to(f.device), f)
    h = ExactDiffusion.apply(b, f)
    dens = b.mean(dim=(1, 2, 3))
    mae = (f - h).abs().mean()
    loss_m = (dens - a.density).abs().mean() + a.beta * mae
    _update_mask_generator(m, opt_m, loss_m, world)
    zero = torch.zeros(())
    return zero, zero, mae, loss_m, dens


def _distill_step(m, opt_m, f, gen, a, world, teacher):
    """``--distill-mask``: warm start of the mask generator (not in the paper). The target is
    the weighted coin flip ``r_0 < p`` of the learned diffusion-mask network's probabilities
    ``p`` (Alt et al. 2021, ``weights/learned_masks``) at density D for the same noise ``r``,
    as the pre-activation ``z* = 12 (p - r_0)`` of the binarisation block (``z >= 0`` iff
    ``r_0 <= p``; the parametrisation of ``MaskGenerator.init_threshold``); loss: mean squared
    error of ``z / 12`` (no saturation of the hard sigmoid, so every pixel gives a gradient)."""
    r = torch.rand(f.shape, generator=gen).to(f.device)
    with torch.no_grad():
        y = sum(w * f[:, i : i + 1] for i, w in enumerate(LUMA_WEIGHTS)).contiguous()
        dens_t = torch.full((f.shape[0],), a.density, device=f.device)
        p = teacher(y, dens_t)
        target = (r[:, :1] < p).float()
    z = m.logits(r, f)
    loss_m = (z / 12.0 - (p - r[:, :1])).square().mean()
    b = binarise(torch.nn.functional.hardsigmoid(z.detach()))
    _update_mask_generator(m, opt_m, loss_m, world)
    zero = torch.zeros(())
    return zero, zero, (b - target).abs().mean(), loss_m, b.mean(dim=(1, 2, 3))


def _limit_threads(n: int) -> None:
    """Use ``n`` compute threads in torch and in numba (the diffusion baseline's solver)."""
    torch.set_num_threads(n)
    if "numba" in sys.modules:
        import numba

        numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    else:
        os.environ.setdefault("NUMBA_NUM_THREADS", str(n))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=("inpaint", "joint"), default="inpaint")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "bsds500" / "train")
    ap.add_argument("--val", type=Path, default=DEFAULT_DATA / "bsds500" / "val")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=60.0, help="wall-time budget of this run")
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--alpha", type=float, default=0.005, help="critic weight in Eq. (3)")
    ap.add_argument("--beta", type=float, default=1.0, help="MAE weight in Eq. (4)")
    ap.add_argument(
        "--loss",
        choices=("mae", "mse"),
        default="mae",
        help="reconstruction term of Eq. (3): the paper's MAE, or the mean squared error",
    )
    ap.add_argument("--density", type=float, default=0.10, help="target D of Eq. (4) (joint)")
    ap.add_argument("--dmin", type=float, default=0.03)
    ap.add_argument("--dmax", type=float, default=0.20)
    ap.add_argument(
        "--init-generator",
        type=Path,
        default=None,
        help="safetensors file whose generator initialises g (joint mode)",
    )
    ap.add_argument(
        "--init-mask",
        type=Path,
        default=None,
        help="safetensors file whose mask generator initialises m (joint mode)",
    )
    ap.add_argument("--width-scale", type=float, default=1.0)
    ap.add_argument(
        "--guide",
        action="store_true",
        help="diffusion-guided generator (HourglassConfig(guide=True); not in the paper)",
    )
    ap.add_argument(
        "--adjoint",
        action="store_true",
        help="joint mode with --guide: differentiate the diffusion guide w.r.t. the mask (exact "
        "solve + adjoint, training.diffusion_masks.ExactDiffusion), so the mask generator learns "
        "from the real diffusion error too (not in the paper)",
    )
    ap.add_argument(
        "--pretrain-mask",
        action="store_true",
        help="joint mode with --guide: train only the mask generator, with Eq. (4)'s MAE taken "
        "of the exact diffusion inpainting from its binary masks (adjoint gradient, straight "
        "through); g and the critic stay fixed (not in the paper)",
    )
    ap.add_argument(
        "--distill-mask",
        type=Path,
        nargs="?",
        const="learned_masks",
        default=None,
        help="joint mode with --guide: train only the mask generator to reproduce the weighted "
        "coin flips of a learned diffusion-mask network (default weights/learned_masks) for the "
        "same noise; g and the critic stay fixed (not in the paper)",
    )
    ap.add_argument(
        "--freeze-mask",
        action="store_true",
        help="joint mode with --init-mask: Eq. (2)-(3) train the critic and g on the masks of "
        "the fixed mask generator (m is not updated; not in the paper, which updates all three)",
    )
    ap.add_argument(
        "--noise-skip",
        action="store_true",
        help="the mask generator's binarisation block also sees the noise r "
        "(HourglassConfig(noise_skip=True); not in the paper)",
    )
    ap.add_argument("--ckpt-minutes", type=float, default=4.0)
    ap.add_argument("--val-minutes", type=float, default=8.0)
    ap.add_argument("--val-n", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--export",
        metavar="NAME",
        default=None,
        help="no training: copy OUT/best.safetensors to the weights folder as NAME",
    )
    ap.add_argument(
        "--export-from",
        choices=("best", "last"),
        default="best",
        help="with --export: the best validation checkpoint or the last one",
    )
    a = ap.parse_args(argv)
    if (a.adjoint or a.pretrain_mask or a.distill_mask) and not (a.guide and a.mode == "joint"):
        ap.error("--adjoint, --pretrain-mask and --distill-mask need --mode joint and --guide")
    if a.pretrain_mask and a.distill_mask:
        ap.error("--pretrain-mask and --distill-mask are separate runs")
    if a.freeze_mask and (a.mode != "joint" or a.init_mask is None):
        ap.error("--freeze-mask needs --mode joint and --init-mask")
    if a.freeze_mask and (a.pretrain_mask or a.distill_mask or a.adjoint):
        ap.error("--freeze-mask trains g only: no --pretrain-mask, --distill-mask or --adjoint")
    if a.export:
        export(a.out, a.export, a.export_from)
        return

    _limit_threads(a.threads)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if a.device.startswith("cuda") else "gloo")
        if a.device.startswith("cuda"):
            a.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    dev = a.device
    t_start = time.time()
    a.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = a.out / "ckpt.pt"

    s = a.width_scale
    hcfg = HourglassConfig()
    hcfg = HourglassConfig(
        down=tuple(max(2, round(w * s)) for w in hcfg.down),
        up=tuple(max(2, round(w * s)) for w in hcfg.up),
        last=max(2, round(hcfg.last * s)),
    )
    gcfg = replace(hcfg, guide=bool(a.guide))
    g = InpaintGenerator(gcfg).to(dev)
    d = Critic(CriticConfig()).to(dev)
    mcfg = replace(hcfg, noise_skip=bool(a.noise_skip))
    m = MaskGenerator(mcfg).to(dev) if a.mode == "joint" else None
    if a.init_generator is not None and not (a.resume and ckpt_path.exists()):
        src = load_bundle(a.init_generator).generator
        if src is None or src.cfg != gcfg:
            raise SystemExit("--init-generator: no generator of the same architecture")
        g.load_state_dict(src.state_dict())
    if a.init_mask is not None and m is not None and not (a.resume and ckpt_path.exists()):
        src_m = load_bundle(a.init_mask).mask_generator
        if src_m is None or src_m.cfg != mcfg:
            raise SystemExit("--init-mask: no mask generator of the same architecture")
        m.load_state_dict(src_m.state_dict())
    if m is not None and a.noise_skip and a.init_mask is None:
        m.init_threshold(a.density)  # starts from uniformly random masks of density D
    opt_g = torch.optim.Adam(g.parameters(), lr=a.lr)
    opt_d = torch.optim.Adam(d.parameters(), lr=a.lr)
    opt_m = torch.optim.Adam(m.parameters(), lr=a.lr) if m is not None else None
    if a.freeze_mask:
        m.requires_grad_(False)
        opt_m = None

    step, trained_seconds, best = 0, 0.0, -1e9
    rng = np.random.default_rng(a.seed * 1000 + rank)
    gen = torch.Generator().manual_seed(a.seed * 1000 + rank + 1)
    if a.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=dev, weights_only=False)
        g.load_state_dict(ck["g"])
        d.load_state_dict(ck["d"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        if m is not None:
            m.load_state_dict(ck["m"])
        if opt_m is not None:
            opt_m.load_state_dict(ck["opt_m"])
        step, trained_seconds, best = ck["step"], ck["seconds"], ck["best"]
        for opt in (opt_g, opt_d, opt_m):
            for group in opt.param_groups if opt is not None else ():
                group["lr"] = a.lr  # the command line wins over the checkpoint
        rng = np.random.default_rng([a.seed, rank, step])
        gen.manual_seed(a.seed * 1000 + rank + 1 + step)
        if rank == 0:
            print(f"resumed at step {step} ({trained_seconds / 60:.1f} min trained)", flush=True)

    teacher = None
    if a.distill_mask:
        from ..masks.learned import _load_net
        from ..nets import zoo

        teacher = _load_net(str(zoo.locate(a.distill_mask)), dev)[0]
    images = load_folder(a.data)
    validator = Validator(a.val, a.val_n, a.crop) if rank == 0 else None
    meta = {
        "mode": a.mode,
        "data": str(a.data),
        "crop": a.crop,
        "batch": a.batch * world,
        "lr": a.lr,
        "alpha": a.alpha,
        "beta": a.beta,
        "loss": a.loss,
        "density": a.density if a.mode == "joint" else f"{a.dmin}-{a.dmax} random",
        "guide": bool(a.guide),
        "adjoint": bool(a.adjoint),
        "pretrain_mask": bool(a.pretrain_mask),
        "distill_mask": str(a.distill_mask) if a.distill_mask else "",
        "noise_skip": bool(a.noise_skip),
        "freeze_mask": bool(a.freeze_mask),
        "init_mask": str(a.init_mask) if a.init_mask else "",
    }
    (a.out / "config.json").write_text(json.dumps({**meta, **vars(a)}, default=str, indent=1))

    log_new = not (a.out / "log.csv").exists()
    log_f = open(a.out / "log.csv", "a", newline="") if rank == 0 else None
    log = csv.writer(log_f) if log_f else None
    if log and log_new:
        log.writerow(["step", "seconds", "loss_d", "loss_g", "mae", "loss_m", "density"])

    def checkpoint(final: bool = False, val: dict | None = None) -> None:
        if rank != 0:
            return
        state = {
            "g": g.state_dict(),
            "d": d.state_dict(),
            "opt_g": opt_g.state_dict(),
            "opt_d": opt_d.state_dict(),
            "step": step,
            "seconds": trained_seconds + (time.time() - t_run),
            "best": best,
            "args": vars(a),
        }
        if m is not None:
            state["m"] = m.state_dict()
        if opt_m is not None:
            state["opt_m"] = opt_m.state_dict()
        torch.save(state, ckpt_path.with_suffix(".tmp"))
        os.replace(ckpt_path.with_suffix(".tmp"), ckpt_path)
        md = {**meta, "steps": step, "train_seconds": round(state["seconds"])}
        if val:
            md["val"] = json.dumps(val)
        save_bundle(a.out / "last.safetensors", g, m, md)

    def validate() -> None:
        nonlocal best
        if validator is None:
            return
        res = validator(g, m, dev, a.density)
        res.update(step=step, seconds=round(trained_seconds + time.time() - t_run))
        new = not (a.out / "val.csv").exists()
        with open(a.out / "val.csv", "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(res))
            if new:
                w.writeheader()
            w.writerow(res)
        print("val", json.dumps(res), flush=True)
        if a.pretrain_mask or a.distill_mask:
            score = -res["mask_val_loss_hd"]
        elif a.freeze_mask:
            score = res["psnr_mg"]
        elif m is not None:
            score = -res["mask_val_loss"]
        else:
            score = float(np.mean([v for k, v in res.items() if k.startswith("psnr_g_")]))
        if score > best:
            best = score
            md = {**meta, "steps": step, "train_seconds": res["seconds"], "val": json.dumps(res)}
            save_bundle(a.out / "best.safetensors", g, m, md)
        checkpoint(val=res)

    t_run = time.time()
    budget = a.minutes * 60 - (t_run - t_start)
    last_ckpt = last_val = time.time()
    if step == 0:
        validate()
    g.train()
    d.train()
    while True:
        elapsed = time.time() - t_run
        stop = elapsed > budget or (a.max_steps and step >= a.max_steps)
        if world > 1:
            flag = torch.tensor([float(stop)], device=dev)
            torch.distributed.all_reduce(flag)
            stop = bool(flag.item())
        if stop:
            break
        f = random_crops(images, a.batch, a.crop, rng).to(dev)
        if a.pretrain_mask:
            loss_d, loss_g, mae, loss_m, dens = _mask_step(m, opt_m, f, gen, a, world)
        elif teacher is not None:
            loss_d, loss_g, mae, loss_m, dens = _distill_step(m, opt_m, f, gen, a, world, teacher)
        else:
            loss_d, loss_g, mae, loss_m, dens = _gan_step(g, d, m, opt_g, opt_d, opt_m, f, gen,
                                                          a, world)  # fmt: skip
        step += 1

        if log and (step % 10 == 0 or step == 1):
            log.writerow(
                [
                    step,
                    round(trained_seconds + time.time() - t_run, 1),
                    f"{loss_d.item():.5f}",
                    f"{loss_g.item():.5f}",
                    f"{mae.item():.5f}",
                    f"{loss_m.item():.5f}",
                    f"{dens.mean().item():.4f}",
                ]
            )
            log_f.flush()
        now = time.time()
        if now - last_val > a.val_minutes * 60:
            validate()
            last_val = last_ckpt = time.time()
        elif now - last_ckpt > a.ckpt_minutes * 60:
            checkpoint()
            last_ckpt = now
    validate()
    if log_f:
        log_f.close()
    if rank == 0:
        print(
            f"done: {step} steps, {(trained_seconds + time.time() - t_run) / 60:.1f} min",
            flush=True,
        )
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
