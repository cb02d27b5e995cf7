"""Arithmetic precision of network inference: float32, or bfloat16 where the CPU has it.

bfloat16 autocast (weights and activations rounded to bfloat16, float32 accumulation in the
oneDNN convolutions) ran the mask U-Net 1.2-1.9x and the WGAN networks 1.15-1.5x faster on
the development machine's CPU (AVX512-BF16), and changed the PSNR of the resulting masks and
reconstructions by <= 0.01 dB (classic images, Kodak and bsds500/val crops; README, "Network
precision"). Without native support it is emulated and slower, so ``"auto"``
chooses it only where it is native.

Torch is imported inside the functions that need it (:func:`check_precision` does not).
"""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager
from typing import Any

from ..errors import OptionError

PRECISIONS = ("auto", "float32", "bfloat16")


def check_precision(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`, else an :class:`OptionError`."""
    if precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r} (choose from {', '.join(PRECISIONS)})")
    return precision


def native_bfloat16(device: Any = "cpu") -> bool:
    """True when ``device`` computes bfloat16 convolutions natively (CPU: AVX512-BF16 or AMX;
    CUDA: compute capability >= 8)."""
    import torch

    from .device import torch_device

    dev = torch_device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if dev.type != "cpu":
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, p, lambda: False)()) for p in probes)


def resolve_precision(precision: str, device: Any = "cpu") -> str:
    """``"float32"`` or ``"bfloat16"``: ``"auto"`` is bfloat16 where it is native."""
    if check_precision(precision) == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision


def autocast(precision: str, device: Any = "cpu") -> AbstractContextManager:
    """Context in which the networks run at ``precision`` (resolved as above)."""
    import torch

    if resolve_precision(precision, device) == "float32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
