"""Train the improved WGAN-GP prior for semantic inpainting (Vitoria et al. 2019, Sec. 3.1, 4).

WGAN value function Eq. (3) with the gradient penalty of Gulrajani et al. (2017):
critic loss ``D(G(z)) - D(x) + lambda (||grad D(x_hat)||_2 - 1)^2`` (``lambda = 10``, ``x_hat``
uniformly between real and fake), generator loss ``-D(G(z))``; ``n_critic = 5`` critic updates
per generator update (Gulrajani et al.; the paper gives no other value). Adam, learning rate
1e-4, betas (0, 0.9) (Sec. 4). Data: random colour crops of ``--data`` (default
``../shared/data/bsds500/train``) with random horizontal flips (Sec. 4); each batch is cropped at
a random scale in ``[--scale-min, --scale-max]`` times ``--size`` and resized to ``--size``
(antialiased), values mapped to [-1, 1].

Run ``python -m sparsecodec.training.wgan_gp --out runs/wgan_gp --minutes 30 --threads 1``.
Outputs in OUT: ``ckpt.pt`` (full state; ``--resume`` continues from it), ``loss.csv``
(generator step, seconds, critic loss, Wasserstein estimate, penalty, generator loss),
``wgan_gp_<size>.safetensors`` (exported G and D, written at every checkpoint) and
``samples_<step>.png`` (a fixed-z sample grid).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..nets.wgan_gp import Critic, Generator, GPConfig, save_wgan_gp
from .data import default_data_dir, list_images, load_image


class ScaledCrops:
    """Random square colour crops of a folder, random scale and horizontal flip, in [-1, 1]."""

    def __init__(
        self,
        folder: str | Path,
        size: int,
        scale: tuple[float, float] = (1.0, 2.0),
        seed: int = 0,
    ) -> None:
        files = list_images(folder)
        # keep uint8 in memory: 200 BSDS images are ~90 MB instead of ~370 MB as float32
        self.images = [np.round(load_image(f, grey=False) * 255.0).astype(np.uint8) for f in files]
        self.size = size
        self.scale = scale
        self.rng = np.random.default_rng(seed)

    def batch(self, n: int) -> torch.Tensor:
        """``(n, 3, size, size)`` float32 in [-1, 1]."""
        rng = self.rng
        s = float(rng.uniform(*self.scale))
        crops = []
        for _ in range(n):
            img = self.images[int(rng.integers(len(self.images)))]
            h, w = img.shape[:2]
            c = max(1, min(h, w, int(round(self.size * s))))
            y = int(rng.integers(h - c + 1))
            x = int(rng.integers(w - c + 1))
            crop = img[y : y + c, x : x + c]
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            crops.append(crop)
        t = torch.from_numpy(np.ascontiguousarray(np.stack(crops))).permute(0, 3, 1, 2).float()
        if t.shape[-1] != self.size:
            t = F.interpolate(
                t,
                size=(self.size, self.size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        return (t / 127.5 - 1.0).clamp(-1.0, 1.0)

    def state(self) -> str:
        return json.dumps(self.rng.bit_generator.state)

    def set_state(self, state: str) -> None:
        self.rng.bit_generator.state = json.loads(state)


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Gulrajani et al. (2017): ``mean((||grad_x D(x_hat)||_2 - 1)^2)``, ``x_hat`` on random
    points of the segments between real and fake samples."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    x_hat = (eps * real + (1.0 - eps) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


def save_grid(images: torch.Tensor, path: Path, cols: int = 8) -> None:
    """Save (N, 3, S, S) images in [-1, 1] as one PNG grid (2x nearest upscaling)."""
    from PIL import Image

    a = ((images.detach().cpu().clamp(-1, 1) + 1.0) * 127.5).round().byte().numpy()
    n, _, s, _ = a.shape
    rows = (n + cols - 1) // cols
    grid = np.full((rows * (s + 2), cols * (s + 2), 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * (s + 2) : r * (s + 2) + s, c * (s + 2) : c * (s + 2) + s] = a[i].transpose(1, 2, 0)
    Image.fromarray(grid).resize((grid.shape[1] * 2, grid.shape[0] * 2), Image.NEAREST).save(path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_dir() / "bsds500" / "train")
    ap.add_argument("--out", type=Path, default=Path("runs/wgan_gp"))
    ap.add_argument("--size", type=int, default=32, choices=(32, 64))
    ap.add_argument("--g-channels", default="128,64,32,16", help="generator widths 4..size")
    ap.add_argument("--d-channels", default="16,32,64", help="critic widths size..8")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--n-critic", type=int, default=5)
    ap.add_argument("--gp-weight", type=float, default=10.0)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--scale-min", type=float, default=1.0)
    ap.add_argument("--scale-max", type=float, default=2.0)
    ap.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget of this run")
    ap.add_argument("--max-steps", type=int, default=None, help="generator steps (total)")
    ap.add_argument("--ckpt-minutes", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    ints = lambda s: tuple(int(c) for c in s.split(","))  # noqa: E731
    cfg = GPConfig(
        size=args.size, g_channels=ints(args.g_channels), d_channels=ints(args.d_channels)
    )
    G, D = Generator(cfg).to(dev), Critic(cfg).to(dev)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.0, 0.9))
    data = ScaledCrops(args.data, args.size, (args.scale_min, args.scale_max), seed=args.seed)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "ckpt.pt"
    step, seconds = 0, 0.0
    if args.resume and ckpt.is_file():
        st = torch.load(ckpt, map_location=dev, weights_only=True)
        if json.loads(st["config"]) != json.loads(json.dumps(cfg.__dict__)):
            sys.exit("error: checkpoint architecture differs from the command-line options")
        G.load_state_dict(st["G"])
        D.load_state_dict(st["D"])
        opt_g.load_state_dict(st["opt_g"])
        opt_d.load_state_dict(st["opt_d"])
        data.set_state(st["data_rng"])
        torch.set_rng_state(st["torch_rng"])
        step, seconds = int(st["step"]), float(st["seconds"])
        print(f"resumed at generator step {step} ({seconds / 60:.1f} min trained)", flush=True)
    elif ckpt.is_file():
        sys.exit(f"error: {ckpt} exists; pass --resume or choose another --out")
    z_fixed = torch.randn(64, cfg.z_dim, generator=torch.Generator().manual_seed(1234)).to(dev)
    log_new = not (out / "loss.csv").is_file()
    logf = open(out / "loss.csv", "a", newline="")
    log = csv.writer(logf)
    if log_new:
        log.writerow(["step", "seconds", "d_loss", "wasserstein", "gp", "g_loss"])

    def checkpoint() -> None:
        torch.save(
            {
                "G": G.state_dict(),
                "D": D.state_dict(),
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "data_rng": data.state(),
                "torch_rng": torch.get_rng_state(),
                "step": step,
                "seconds": seconds,
                "config": json.dumps(cfg.__dict__),
            },
            out / "ckpt.tmp",
        )
        (out / "ckpt.tmp").replace(ckpt)
        meta = {
            "generator_steps": step,
            "train_minutes": f"{seconds / 60:.1f}",
            "n_critic": args.n_critic,
            "batch": args.batch,
            "lr": args.lr,
            "data": str(args.data),
            "scale": f"{args.scale_min}-{args.scale_max}",
        }
        save_wgan_gp(out / f"wgan_gp_{cfg.size}.safetensors", G, D, meta)
        with torch.no_grad():
            G.eval()
            save_grid(G(z_fixed), out / f"samples_{step:06d}.png")
            G.train()
        logf.flush()
        print(f"checkpoint at step {step} ({seconds / 60:.1f} min)", flush=True)

    t0 = time.monotonic()
    start_seconds = seconds
    last_ckpt = t0
    budget = args.minutes * 60.0
    while True:
        if args.max_steps is not None and step >= args.max_steps:
            break
        if time.monotonic() - t0 >= budget:
            break
        # critic: n_critic updates
        for _ in range(args.n_critic):
            real = data.batch(args.batch).to(dev)
            with torch.no_grad():
                fake = G(torch.randn(args.batch, cfg.z_dim, device=dev))
            d_real, d_fake = D(real).mean(), D(fake).mean()
            gp = gradient_penalty(D, real, fake)
            d_loss = d_fake - d_real + args.gp_weight * gp
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        # generator: one update
        for p in D.parameters():
            p.requires_grad_(False)
        g_loss = -D(G(torch.randn(args.batch, cfg.z_dim, device=dev))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        for p in D.parameters():
            p.requires_grad_(True)
        step += 1
        seconds = start_seconds + time.monotonic() - t0
        if step % 10 == 0 or step == 1:
            w = float((d_real - d_fake).detach())
            log.writerow(
                [
                    step,
                    f"{seconds:.1f}",
                    f"{d_loss.item():.4f}",
                    f"{w:.4f}",
                    f"{gp.item():.4f}",
                    f"{g_loss.item():.4f}",
                ]
            )
            if step % 50 == 0 or step == 1:
                print(f"step {step} {seconds:.0f}s W={w:.3f} gp={gp.item():.3f}", flush=True)
        if time.monotonic() - last_ckpt >= args.ckpt_minutes * 60.0:
            checkpoint()
            last_ckpt = time.monotonic()
    checkpoint()
    logf.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
