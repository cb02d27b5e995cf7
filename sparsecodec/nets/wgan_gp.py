"""Improved WGAN-GP of Vitoria, Sintes & Ballester (2019), Sec. 3.1 and Fig. 3.

* :class:`Generator` ``G(z)``: a 128-d standard normal ``z`` -> one linear map reshaped to a
  ``4 x 4 x C0`` tensor (no other fully connected layer) -> residual up-blocks (ReLU, nearest
  2x upsampling, two 3x3 convolutions; 1x1-convolution shortcut) -> ReLU, 3x3 convolution, tanh.
  Output ``(B, 3, S, S)`` in [-1, 1].
* :class:`Critic` ``D(x)``: residual down-blocks (3x3 convolutions, ReLU, 2x2 mean pooling) with
  layer normalisation (``GroupNorm`` with one group = normalisation over C, H, W per sample; no
  batch normalisation, since the gradient penalty is per sample) -> ReLU -> the last 4 x 4
  feature map flattened and projected to one scalar (the only linear layer).

The paper uses 64x64 images and 512 channels at 4x4; the defaults here (32x32, 128 channels at
4x4) are scaled down for a CPU training budget (see ``weights/wgan_gp_32.md``).

Weights are read only from safetensors files, through the weights registry
:mod:`sparsecodec.nets.zoo`: generator tensors ``g.*``, critic tensors ``d.*``, the architecture
in the metadata key ``config`` (JSON).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError

DEFAULT_MODEL = "wgan_gp_32"


@dataclass(frozen=True)
class GPConfig:
    """Architecture of the generator/critic pair.

    ``g_channels``: widths at resolutions 4, 8, ..., ``size`` (generator); ``d_channels``:
    widths of the critic blocks at resolutions ``size``, ``size/2``, ..., 8 -> output 4x4.
    """

    size: int = 32
    z_dim: int = 128
    g_channels: tuple[int, ...] = (128, 64, 32, 16)
    d_channels: tuple[int, ...] = (16, 32, 64)

    def __post_init__(self) -> None:
        n = self.size.bit_length() - 1
        if self.size < 8 or 1 << n != self.size:
            raise ValueError(f"size must be a power of two >= 8, got {self.size}")
        if len(self.g_channels) != n - 1:
            raise ValueError(f"g_channels needs {n - 1} entries for size {self.size}")
        if len(self.d_channels) != n - 2:
            raise ValueError(f"d_channels needs {n - 2} entries for size {self.size}")

    @staticmethod
    def from_json(text: str) -> GPConfig:
        d = json.loads(text)
        return GPConfig(
            size=int(d["size"]),
            z_dim=int(d["z_dim"]),
            g_channels=tuple(int(c) for c in d["g_channels"]),
            d_channels=tuple(int(c) for c in d["d_channels"]),
        )


class UpBlock(nn.Module):
    """Residual block ``x + F(x)`` at twice the resolution (ReLU, upsample, conv, ReLU, conv)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(x, scale_factor=2.0, mode="nearest")
        h = self.conv1(F.interpolate(F.relu(x), scale_factor=2.0, mode="nearest"))
        h = self.conv2(F.relu(h))
        return self.skip(up) + h


class DownBlock(nn.Module):
    """Residual block at half the resolution with layer normalisation (no batch norm).

    ``first``: the block on the raw image (no normalisation/activation before its first conv).
    """

    def __init__(self, cin: int, cout: int, first: bool = False) -> None:
        super().__init__()
        self.first = first
        self.norm1 = nn.Identity() if first else nn.GroupNorm(1, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(1, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(self.norm1(x))
        h = self.conv1(h)
        h = self.conv2(F.relu(self.norm2(h)))
        return F.avg_pool2d(h, 2) + self.skip(F.avg_pool2d(x, 2))


class Generator(nn.Module):
    """``G(z)``: z (B, z_dim) -> image (B, 3, size, size) in [-1, 1] (tanh)."""

    def __init__(self, cfg: GPConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or GPConfig()
        ch = self.cfg.g_channels
        self.linear = nn.Linear(self.cfg.z_dim, ch[0] * 16)
        self.blocks = nn.Sequential(*[UpBlock(a, b) for a, b in zip(ch[:-1], ch[1:], strict=True)])
        self.out = nn.Conv2d(ch[-1], 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.linear(z).view(z.shape[0], self.cfg.g_channels[0], 4, 4)
        h = self.blocks(h)
        return torch.tanh(self.out(F.relu(h)))


class Critic(nn.Module):
    """``D(x)``: image (B, 3, size, size) in [-1, 1] -> (B,) real-valued scores."""

    def __init__(self, cfg: GPConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or GPConfig()
        ch = (3,) + self.cfg.d_channels
        pairs = zip(ch[:-1], ch[1:], strict=True)
        blocks = [DownBlock(a, b, first=i == 0) for i, (a, b) in enumerate(pairs)]
        self.blocks = nn.Sequential(*blocks)
        self.norm = nn.GroupNorm(1, ch[-1])
        self.project = nn.Linear(ch[-1] * 16, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.norm(self.blocks(x)))
        return self.project(h.flatten(1)).squeeze(1)


# --------------------------------------------------------------------------- weights I/O


def save_wgan_gp(
    path: str | Path, generator: Generator, critic: Critic, meta: dict[str, Any] | None = None
) -> None:
    """Write generator (``g.*``) and critic (``d.*``) weights as safetensors (atomically)."""
    from safetensors.torch import save_file

    tensors = {f"g.{k}": v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
    tensors.update(
        {f"d.{k}": v.detach().cpu().contiguous() for k, v in critic.state_dict().items()}
    )
    md = {k: str(v) for k, v in (meta or {}).items()}
    md["config"] = json.dumps(asdict(generator.cfg))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=md)
    os.replace(tmp, path)


def load_wgan_gp(
    name_or_path: str | Path = DEFAULT_MODEL, device: str = "cpu"
) -> tuple[Generator, Critic, dict[str, str]]:
    """Load ``(G, D, metadata)`` in eval mode from a safetensors file (name or path)."""
    from . import zoo
    from .device import torch_device

    device = torch_device(device)
    tensors, meta, p = zoo.read(name_or_path, "semantic-inpainting WGAN-GP weights")
    try:
        cfg = GPConfig.from_json(meta["config"])
        g, d = Generator(cfg), Critic(cfg)
        g.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("g.")})
        d.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("d.")})
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"WGAN-GP weights {p} do not match the architecture: {msg}") from None
    return g.to(device).eval(), d.to(device).eval(), meta
