"""U-Net used by the learned mask generator and its surrogate inpainting network.

Architecture of Alt, Peter & Weickert (2021, Sec. 3): ``scales`` resolution levels with ``layers``
3x3 convolutions per level, ``base`` channels on the finest level doubling on every coarser
level, max-pool down-sampling, bilinear up-sampling + 1x1 conv, and skip connections. With
``base=10, scales=5, layers=3`` the network has about 9e5 parameters as in the paper.

This module imports torch; import it only where a network is needed.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


class ReplicateConv2d(nn.Conv2d):
    """3x3 convolution with replicate padding (no zero border the mask network could use to
    locate the image edge).

    Without autograd (inference) it avoids PyTorch's full-size padded copy: a zero-padded
    convolution of the whole input, then the one-pixel output frame recomputed from thin
    replicate-padded strips (the same sums, so equal up to float rounding; about 2.5x faster on
    this CPU for a 512x512 channels-last input). Training uses the plain padded convolution.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(c_in, c_out, 3, padding=1, padding_mode="replicate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.shape[-2] < 2 or x.shape[-1] < 2:
            return super().forward(x)
        w, b = self.weight, self.bias
        if torch.is_autocast_enabled(x.device.type):  # cast once, not in each of the 5 convs
            dt = torch.get_autocast_dtype(x.device.type)
            x, w, b = x.to(dt), w.to(dt), b.to(dt)
        y = F.conv2d(x, w, b, padding=1)
        y[..., :1, :] = F.conv2d(F.pad(x[..., :2, :], (1, 1, 1, 0), mode="replicate"), w, b)
        y[..., -1:, :] = F.conv2d(F.pad(x[..., -2:, :], (1, 1, 0, 1), mode="replicate"), w, b)
        y[..., :1] = F.conv2d(F.pad(x[..., :2], (1, 0, 1, 1), mode="replicate"), w, b)
        y[..., -1:] = F.conv2d(F.pad(x[..., -2:], (0, 1, 1, 1), mode="replicate"), w, b)
        return y


def _block(c_in: int, c_out: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for i in range(layers):
        mods.append(ReplicateConv2d(c_in if i == 0 else c_out, c_out))
        mods.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*mods)


class UNet(nn.Module):
    """Plain U-Net; input height and width must be multiples of ``multiple`` (= 2**(scales-1)).

    Encoder level ``k`` has ``base * 2**k`` channels; the decoder mirrors it. The output is the
    raw last convolution (no activation); callers add sigmoid / residual connections.
    """

    def __init__(
        self, in_channels: int, out_channels: int, base: int = 10, scales: int = 5, layers: int = 3
    ) -> None:
        super().__init__()
        if scales < 1 or layers < 1 or base < 1:
            raise ValueError("scales, layers and base must be positive")
        self.config = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "base": base,
            "scales": scales,
            "layers": layers,
        }
        ch = [base * 2**k for k in range(scales)]
        self.enc = nn.ModuleList()
        c_prev = in_channels
        for c in ch:
            self.enc.append(_block(c_prev, c, layers))
            c_prev = c
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for k in range(scales - 2, -1, -1):
            self.up.append(nn.Conv2d(ch[k + 1], ch[k], 1))
            self.dec.append(_block(2 * ch[k], ch[k], layers))
        self.head = nn.Conv2d(ch[0], out_channels, 1)

    @property
    def multiple(self) -> int:
        """Height and width of the input must be divisible by this number."""
        return 2 ** (self.config["scales"] - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for k, block in enumerate(self.enc):
            if k > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        skips.pop()
        for up, block in zip(self.up, self.dec, strict=True):
            # bilinear up-sampling and 1x1 conv: no stride-2 periodic (checkerboard) patterns,
            # which the mask network otherwise exploits to emit image-independent grids. Both
            # are linear and the bilinear weights sum to 1, so they commute: the conv runs first,
            # on 4x fewer pixels, and the up-sampling on half the channels.
            x = F.interpolate(up(x), scale_factor=2.0, mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skips.pop()], dim=1))
        return self.head(x)


def density_channel(density: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Constant input plane encoding the target density: log10(d) + 1.5 (≈ 0 for 3 %)."""
    d = density.reshape(-1, 1, 1, 1).to(torch.float32)
    return (torch.log10(d) + 1.5).expand(-1, 1, *shape)


def rescale_to_density(c: torch.Tensor, density: torch.Tensor, exact: bool = False) -> torch.Tensor:
    """Scale each mask down so its mean does not exceed the target density (Alt et al. 2021).

    ``c`` is (N,1,H,W) in [0,1]; masks with mean <= density are left unchanged unless ``exact``,
    which scales every mask to mean = density (clipped at 1).
    """
    d = density.reshape(-1, 1, 1, 1).to(c.dtype)
    mean = c.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    if exact:
        return (c * (d / mean)).clamp(max=1.0)
    return c * (d / torch.maximum(mean, d))


class MaskNet(nn.Module):
    """Density-conditioned mask network M: c = rescale(sigmoid(UNet([f, density plane]) + logit d)).

    ``f`` is (N,1,H,W) grey in [0,1]; ``density`` is (N,) in (0,1]. Returns the non-binary
    confidence c in [0,1] with mean = density (up to clipping at 1).
    """

    def __init__(self, base: int = 10, scales: int = 5, layers: int = 3) -> None:
        super().__init__()
        self.unet = UNet(2, 1, base, scales, layers)

    @property
    def multiple(self) -> int:
        return self.unet.multiple

    def probabilities(self, f: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
        x = torch.cat([f - 0.5, density_channel(density, f.shape[-2:])], dim=1)
        # offset logit(d): an untrained network starts at mean ~ d instead of a saturated 0.5
        d = density.reshape(-1, 1, 1, 1).to(f.dtype)
        return torch.sigmoid(self.unet(x) + torch.log(d / (1 - d)))

    def forward(self, f: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
        # exact: also scaled *up* to the density. With the paper's cap only, the mask collapsed
        # to all zeros (saturated sigmoid, no gradient) early in our CPU training runs.
        return rescale_to_density(self.probabilities(f, density), density, exact=True)


class InpaintNet(nn.Module):
    """Surrogate inpainting network I(f, c) (Alt et al. 2021): predicts u from image and mask.

    The network predicts a correction: u = f + UNet([f, c]), so that u = f on known pixels is
    easy to learn.
    """

    def __init__(self, base: int = 10, scales: int = 5, layers: int = 3) -> None:
        super().__init__()
        self.unet = UNet(2, 1, base, scales, layers)

    @property
    def multiple(self) -> int:
        return self.unet.multiple

    def forward(self, f: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return f + self.unet(torch.cat([f - 0.5, c], dim=1))


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def load_mask_net(name_or_path: str | Path, device: str = "cpu") -> tuple[MaskNet, dict[str, str]]:
    """``(MaskNet in eval mode, metadata)`` of a mask U-Net weights file (a name in the weights
    registry, :mod:`sparsecodec.nets.zoo`, or a path), on ``device`` in channels-last layout.

    Raises WeightsError if the file is missing, not a mask U-Net file or does not match.
    """
    from ..errors import WeightsError
    from . import zoo
    from .device import torch_device

    dev = torch_device(device)
    state, meta, p = zoo.read(name_or_path, "learned-mask weights")
    if meta.get("format") != zoo.MASK_UNET_FORMAT:
        raise WeightsError(f"{p} is not a learned-mask weight file (format {meta.get('format')})")
    try:
        net = MaskNet(int(meta["base"]), int(meta["scales"]), int(meta["layers"]))
        net.load_state_dict(state)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"weights {p} do not match the mask network: {exc}") from None
    # channels-last (NHWC) tensors: the CPU convolutions run about 1.7x faster than NCHW
    net = net.to(dev, memory_format=torch.channels_last)
    return net.eval(), dict(meta)
