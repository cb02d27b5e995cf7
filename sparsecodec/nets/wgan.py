"""Networks of the mask WGAN (Peter 2022, Sec. 2, 3.1 and Fig. 1; building blocks of Vasata 2021).

* :class:`InpaintGenerator` ``g(r, c, Cf)`` -- hourglass of :class:`CBlock` (three parallel 5x5
  convolutions with dilations 1, 2, 5, ELU, concatenated, 2x2 max pooling) and :class:`TCBlock`
  (the same with transposed convolutions and 2x2 upsampling) with skip connections; the last
  TCBlock has no upsampling and a final 5x5 transposed convolution with hard sigmoid output.
  :meth:`InpaintGenerator.inpaint` composes the result by Eq. (1): ``u = (1 - c) g + c f``.
* :class:`MaskGenerator` ``m(r, f)`` -- same hourglass, last layer replaced by the binarisation
  block (Sec. 3.1): transposed convolution -> hard sigmoid -> hard rounding ``floor(c + 0.5)``
  with a straight-through (identity) gradient.
* :class:`Critic` ``d(u, c)`` -- FBlocks (5x5 stride-2 convolution + LeakyReLU) on the image
  concatenated with the mask; every weight matrix is normalised to unit 2-norm (Sec. 2).

Images are in [0, 1], shape ``(B, 3, H, W)``; masks ``(B, 1, H, W)``. ``H`` and ``W`` must be
multiples of :func:`InpaintGenerator.multiple` (``2 ** depth``); callers pad (see
``sparsecodec.inpainting.wgan_decoder``).

Weights are read only from safetensors files (no pickle), through the weights registry
:mod:`sparsecodec.nets.zoo` (packaged weights, ``$SPARSECODEC_WEIGHTS``, or a path).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import WeightsError

DILATIONS = (1, 2, 5)
KERNEL = 5


@dataclass(frozen=True)
class HourglassConfig:
    """Branch widths of the hourglass; a block outputs ``3 * width`` channels (three branches)."""

    down: tuple[int, ...] = (8, 16, 24, 32)
    up: tuple[int, ...] = (24, 16, 12, 8)
    last: int = 8
    image_channels: int = 3
    guide: bool = False  # generator only: diffusion-guided residual output (see InpaintGenerator)
    noise_skip: bool = False  # mask generator only: the binarisation block also sees r

    @property
    def depth(self) -> int:
        return len(self.down)


@dataclass(frozen=True)
class CriticConfig:
    widths: tuple[int, ...] = (32, 64, 96, 128)
    image_channels: int = 3
    slope: float = 0.2


class _Parallel(nn.Module):
    """Three parallel 5x5 (transposed) convolutions, dilations 1, 2, 5, ELU, concatenated."""

    def __init__(self, cin: int, width: int, transposed: bool) -> None:
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.branches = nn.ModuleList(
            conv(cin, width, KERNEL, padding=(KERNEL // 2) * d, dilation=d) for d in DILATIONS
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # convert the input once for the three branches, not in each: to the weights' memory
        # format (channels-last at inference) and to the autocast dtype (the branches would
        # cast to it anyway). The finest level's inputs arrive as float32 NCHW concatenations.
        w = self.branches[0].weight
        if w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous():
            x = x.contiguous(memory_format=torch.channels_last)
        if torch.is_autocast_enabled(x.device.type):
            x = x.to(torch.get_autocast_dtype(x.device.type))
        return torch.cat([F.elu(b(x)) for b in self.branches], dim=1)


class CBlock(nn.Module):
    """Down block: parallel dilated convolutions (1, 2, 5) + ELU, concat, 2x2 max pooling."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        self.par = _Parallel(cin, width, transposed=False)
        self.out_channels = 3 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(self.par(x), 2)


class TCBlock(nn.Module):
    """Up block: parallel dilated transposed convolutions + ELU, concat, 2x2 upsampling
    (omitted in the last block of the hourglass, Fig. 1 "-UpS")."""

    def __init__(self, cin: int, width: int, upsample: bool = True) -> None:
        super().__init__()
        self.par = _Parallel(cin, width, transposed=True)
        self.upsample = upsample
        self.out_channels = 3 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.par(x)
        return F.interpolate(y, scale_factor=2.0, mode="nearest") if self.upsample else y


class _Hourglass(nn.Module):
    """CBlocks down, TCBlocks up with skip connections (concatenation), last TCBlock without
    upsampling; returns the features of the last block (the head is added by subclasses)."""

    def __init__(self, cin: int, cfg: HourglassConfig) -> None:
        super().__init__()
        if len(cfg.up) != len(cfg.down):
            raise ValueError("hourglass needs as many up as down blocks")
        self.cfg = cfg
        self.down = nn.ModuleList()
        skips = [cin]
        ch = cin
        for w in cfg.down:
            blk = CBlock(ch, w)
            self.down.append(blk)
            ch = blk.out_channels
            skips.append(ch)
        skips.pop()  # the bottleneck output is not a skip
        self.up = nn.ModuleList()
        for w in cfg.up:
            blk = TCBlock(ch, w, upsample=True)
            self.up.append(blk)
            ch = blk.out_channels + skips.pop()
        self.last = TCBlock(ch, cfg.last, upsample=False)
        self.features = self.last.out_channels

    @property
    def multiple(self) -> int:
        return 2**self.cfg.depth

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        h = x
        for blk in self.down:
            h = blk(h)
            skips.append(h)
        skips.pop()
        for blk in self.up:
            h = torch.cat([blk(h), skips.pop()], dim=1)
        return self.last(h)


class InpaintGenerator(_Hourglass):
    """Inpainting generator ``g(r, c, Cf)`` (Sec. 2); inputs noise r (3 channels), mask c (1) and
    known data Cf (3), output in [0, 1] through a hard sigmoid.

    With ``cfg.guide`` (a deviation from the paper, for CPU-budget training) the generator also
    receives the homogeneous diffusion inpainting ``h`` of the known data (3 more channels) and
    returns ``hardsigmoid(6 (h - 1/2) + head(trunk(r, c, Cf, h)))``. The head is zero-initialised,
    so an untrained guided generator reproduces ``h`` (for ``h`` in [0, 1]) and training only
    learns a correction to diffusion inpainting."""

    def __init__(self, cfg: HourglassConfig | None = None) -> None:
        cfg = cfg or HourglassConfig()
        k = cfg.image_channels
        super().__init__(2 * k + 1 + (k if cfg.guide else 0), cfg)
        self.head = nn.ConvTranspose2d(self.features, k, KERNEL, padding=KERNEL // 2)
        if cfg.guide:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def guided(self) -> bool:
        return self.cfg.guide

    def forward(
        self,
        r: torch.Tensor,
        c: torch.Tensor,
        known: torch.Tensor,
        h: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if not self.cfg.guide:
            return F.hardsigmoid(self.head(self.trunk(torch.cat([r, c, known], dim=1))))
        if h is None:
            raise ValueError("a guided generator needs the diffusion inpainting h")
        h = h.detach()
        corr = self.head(self.trunk(torch.cat([r, c, known, h], dim=1)))
        return F.hardsigmoid(6.0 * (h - 0.5) + corr)

    def inpaint(
        self,
        f: torch.Tensor,
        c: torch.Tensor,
        r: torch.Tensor,
        h: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Eq. (1): ``u = (I - C) g(r, c, Cf[, h]) + Cf``."""
        known = c * f
        return (1.0 - c) * self(r, c, known, h) + known


class _BinariseSTE(torch.autograd.Function):
    """Hard rounding ``floor(c + 0.5)`` forward; identity (linear) gradient backward (Sec. 3.1)."""

    @staticmethod
    def forward(ctx: Any, c: torch.Tensor) -> torch.Tensor:
        return torch.floor(c + 0.5)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad


def binarise(c: torch.Tensor) -> torch.Tensor:
    """Exactly binary in the forward pass, straight-through gradient in the backward pass."""
    return _BinariseSTE.apply(c)


class MaskGenerator(_Hourglass):
    """Mask generator ``m(r, f)`` (Sec. 3.2): hourglass whose last layer is the binarisation
    block (transposed conv to one channel -> hard sigmoid -> hard rounding, Sec. 3.1).
    Returns ``(b, c)``: the binary mask and the confidence before rounding.

    With ``cfg.noise_skip`` (a deviation from the paper) the binarisation block's transposed
    convolution also receives the noise ``r - 1/2`` directly, so the generator can threshold
    the noise against an image-dependent level (a learned, translation-invariant dithering)
    instead of reconstructing pixel-level noise through the hourglass."""

    def __init__(self, cfg: HourglassConfig | None = None) -> None:
        cfg = cfg or HourglassConfig()
        k = cfg.image_channels
        super().__init__(2 * k, cfg)
        cin = self.features + (k if cfg.noise_skip else 0)
        self.head = nn.ConvTranspose2d(cin, 1, KERNEL, padding=KERNEL // 2)

    def logits(self, r: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """Output of the binarisation block's transposed convolution (before the hard sigmoid)."""
        z = self.trunk(torch.cat([r, f], dim=1))
        if self.cfg.noise_skip:
            z = torch.cat([z, r - 0.5], dim=1)
        return self.head(z)

    def forward(self, r: torch.Tensor, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = F.hardsigmoid(self.logits(r, f))
        return binarise(c), c

    @torch.no_grad()
    def init_threshold(self, density: float, slope: float = 12.0) -> None:
        """``noise_skip`` only: set the noise part of the binarisation block so that the
        untrained generator returns the uniformly random mask ``r_0 < density`` (head output
        ``slope * (density - r_0)`` plus the small contribution of the random trunk weights)."""
        if not self.cfg.noise_skip:
            raise ValueError("init_threshold needs a mask generator with noise_skip")
        w = self.head.weight  # (in, out, k, k) for a transposed convolution
        w[self.features :] = 0.0
        w[self.features, 0, KERNEL // 2, KERNEL // 2] = -slope
        self.head.bias.fill_(slope * (density - 0.5))


class NormConv2d(nn.Conv2d):
    """Convolution whose weight matrix (``out x in*k*k``) is normalised to unit 2-norm
    (largest singular value, computed exactly each call), Sec. 2 after [30]: this bounds the
    critic's Lipschitz constant as the Wasserstein distance requires."""

    def normalised_weight(self) -> torch.Tensor:
        v = self.weight
        sigma = torch.linalg.matrix_norm(v.flatten(1), ord=2).clamp_min(1e-12)
        return v / sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.normalised_weight(), self.bias)


class Critic(nn.Module):
    """Critic ``d(u, c)``: FBlocks (5x5 stride-2 conv + LeakyReLU) on image and mask, then a
    1x1 convolution to one channel averaged over space. All weight matrices have unit 2-norm."""

    def __init__(self, cfg: CriticConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or CriticConfig()
        self.cfg = cfg
        ch = cfg.image_channels + 1
        self.blocks = nn.ModuleList()
        for w in cfg.widths:
            self.blocks.append(NormConv2d(ch, w, KERNEL, stride=2, padding=KERNEL // 2))
            ch = w
        self.out = NormConv2d(ch, 1, 1)

    def forward(self, u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        h = torch.cat([u, c], dim=1)
        for conv in self.blocks:
            h = F.leaky_relu(conv(h), self.cfg.slope)
        return self.out(h).mean(dim=(1, 2, 3))


# --------------------------------------------------------------------------- weights I/O


@dataclass
class WGANBundle:
    """Networks loaded from one weights file plus its metadata."""

    generator: InpaintGenerator | None = None
    mask_generator: MaskGenerator | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def _cfg_from(meta: dict[str, str], key: str) -> HourglassConfig:
    d = json.loads(meta[key])
    return HourglassConfig(
        down=tuple(d["down"]),
        up=tuple(d["up"]),
        last=int(d["last"]),
        image_channels=int(d["image_channels"]),
        guide=bool(d.get("guide", False)),  # absent in weights saved before the option
        noise_skip=bool(d.get("noise_skip", False)),
    )


def save_bundle(
    path: str | Path,
    generator: InpaintGenerator | None,
    mask_generator: MaskGenerator | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    """Write generator (``g.*``) and/or mask generator (``m.*``) weights as safetensors."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    md: dict[str, str] = {k: str(v) for k, v in (meta or {}).items()}
    if generator is not None:
        tensors.update(
            {f"g.{k}": v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}
        )
        md["g_config"] = json.dumps(asdict(generator.cfg))
    if mask_generator is not None:
        tensors.update(
            {
                f"m.{k}": v.detach().cpu().contiguous()
                for k, v in mask_generator.state_dict().items()
            }
        )
        md["m_config"] = json.dumps(asdict(mask_generator.cfg))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=md)
    os.replace(tmp, path)


def load_bundle(name_or_path: str | Path, device: str = "cpu") -> WGANBundle:
    """Load networks from a safetensors file (a name in the weights registry,
    :mod:`sparsecodec.nets.zoo`, or a path)."""
    from . import zoo
    from .device import torch_device

    device = torch_device(device)
    tensors, meta, p = zoo.read(name_or_path, "WGAN weights")
    bundle = WGANBundle(meta=meta)
    try:
        if "g_config" in meta:
            g = InpaintGenerator(_cfg_from(meta, "g_config"))
            g.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("g.")})
            bundle.generator = g.to(device).eval()
        if "m_config" in meta:
            m = MaskGenerator(_cfg_from(meta, "m_config"))
            m.load_state_dict({k[2:]: v for k, v in tensors.items() if k.startswith("m.")})
            bundle.mask_generator = m.to(device).eval()
    except (RuntimeError, KeyError, ValueError) as exc:
        msg = str(exc).splitlines()[0]
        raise WeightsError(f"WGAN weights {p} do not match the architecture: {msg}") from None
    if bundle.generator is None and bundle.mask_generator is None:
        raise WeightsError(f"WGAN weights {p} hold no generator")
    return bundle


# ------------------------------------------------------------------------ any-size inference

MAX_PIXELS = 1 << 20  # larger (padded) images are processed in overlapping tiles
TILE = 512
OVERLAP = 64


def pad_to_multiple(a: np.ndarray, multiple: int) -> np.ndarray:
    """Mirror-pad the two leading axes of ``a`` at the bottom/right to a multiple of
    ``multiple`` (symmetric reflection, works for any size including 1 pixel)."""
    h, w = a.shape[:2]
    ph, pw = (-h) % multiple, (-w) % multiple
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (a.ndim - 2)
    return np.pad(a, pad, mode="symmetric") if ph or pw else a


def _ramp(n: int, lo: bool, hi: bool) -> torch.Tensor:
    i = torch.arange(n, dtype=torch.float32) + 0.5
    w = torch.ones(n)
    if lo:
        w = torch.minimum(w, i / OVERLAP)
    if hi:
        w = torch.minimum(w, (n - i) / OVERLAP)
    return w


def _starts(n: int) -> list[int]:
    if n <= TILE:
        return [0]
    out = list(range(0, n - TILE, TILE - OVERLAP))
    return out + [n - TILE]


def run_tiled(fn: Any, inputs: list[torch.Tensor], out_channels: int) -> torch.Tensor:
    """Apply a fully convolutional ``fn(*inputs) -> (1, out_channels, H, W)`` to inputs of
    shape ``(1, C, H, W)`` (H, W multiples of 16 and of the tile step). Small images go in
    one pass; large ones in ``TILE``-sized tiles overlapping by ``OVERLAP`` pixels, blended
    with linear ramps (partition of unity) so that no seams appear."""
    _, _, h, w = inputs[0].shape
    if h * w <= MAX_PIXELS:
        return fn(*inputs).float()  # float32 also when run under a bfloat16 autocast
    out = torch.zeros(1, out_channels, h, w, device=inputs[0].device)
    acc = torch.zeros(1, 1, h, w, device=inputs[0].device)
    ys, xs = _starts(h), _starts(w)
    for y in ys:
        th = min(TILE, h)
        wy = _ramp(th, y > 0, y + th < h)
        for x in xs:
            tw = min(TILE, w)
            wx = _ramp(tw, x > 0, x + tw < w)
            wt = (wy[:, None] * wx[None, :]).to(out.device)
            tile = fn(*(t[:, :, y : y + th, x : x + tw] for t in inputs)).float()
            out[:, :, y : y + th, x : x + tw] += tile * wt
            acc[:, :, y : y + th, x : x + tw] += wt
    return out / acc
