"""The torch device the networks run on, checked before any weights are moved to it."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ..errors import OptionError


@lru_cache(maxsize=16)
def torch_device(device: Any = "cpu") -> Any:
    """``torch.device(device)`` if tensors can be allocated there, else an :class:`OptionError`
    (an unparsable name, CUDA requested from a CPU-only build, a device index that does not
    exist). Cached: the check allocates a tensor on the device once per device name. On the
    CPU it also keeps freed activation memory in the heap (:mod:`.allocator`)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise OptionError(f"invalid torch device {device!r}: {exc}") from None
    try:
        torch.zeros(1, device=dev).cpu()  # allocation and a copy back (a meta device fails)
    except (RuntimeError, AssertionError, TypeError, ValueError, NotImplementedError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OptionError(f"torch device {device!r} is not available: {msg}") from None
    if dev.type == "cpu":
        from .allocator import retain_freed_memory

        retain_freed_memory()
    return dev
