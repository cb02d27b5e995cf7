"""Load any registered network by name: the weights registry (:mod:`sparsecodec.nets.zoo`)
says which architecture a file holds, the architecture's module builds the network.

This module sits above the registry and the architectures (each of which reads its file
through :func:`sparsecodec.nets.zoo.read`), so none of them imports another; torch is
imported with the architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import zoo


def load(name: str | Path, device: str = "cpu") -> Any:
    """The network(s) of a registered or exported weights file, by architecture: a
    ``(MaskNet, metadata)`` pair (``mask-unet``), a ``WGANBundle`` (``wgan``) or a
    ``(Generator, Critic, metadata)`` triple (``wgan-gp``); names not in
    :data:`sparsecodec.nets.zoo.ENTRIES` are taken as ``wgan`` bundles."""
    entry = zoo.ENTRIES.get(Path(str(name)).name.removesuffix(zoo.SUFFIX))
    arch = entry.architecture if entry else "wgan"
    if arch == "mask-unet":
        from .unet import load_mask_net

        return load_mask_net(name, device)
    if arch == "wgan-gp":
        from .wgan_gp import load_wgan_gp

        return load_wgan_gp(name, device)
    from .wgan import load_bundle

    return load_bundle(name, device)
