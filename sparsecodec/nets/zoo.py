"""The weights registry ("zoo"): every trained network by name, with its file, architecture
and card, and the one place that finds and reads weights files.

The weights ship as package data: the subpackage ``sparsecodec.weights`` (built from the
repository's top-level ``weights/`` folder, see ``pyproject.toml``) found through
:mod:`importlib.resources`, so editable installs and wheels behave alike.

``SPARSECODEC_WEIGHTS`` has one meaning: a folder that *replaces* the packaged weights for every
lookup by name (and where the training scripts export); unset, the packaged weights are used.
A name is given without suffix (``"wgan_inpaint"``) or with ``.safetensors``; anything with a
folder part (``"run/best.safetensors"``, an absolute path) is a file path used as is.

Files are read with safetensors only (tensors and string metadata, no pickle, no code
execution). torch and safetensors are imported on first read only. Building the network of a
file by its architecture is :func:`sparsecodec.nets.models.load` (above this module and the
architectures, which read their files here).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import WeightsError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

ENV = "SPARSECODEC_WEIGHTS"
#: the ``format`` metadata of a mask U-Net weights file (``mask-unet`` architecture)
MASK_UNET_FORMAT = "sparsecodec-learned-mask-v1"
SUFFIX = ".safetensors"
PACKAGE = "sparsecodec.weights"


@dataclass(frozen=True)
class Entry:
    """One registered weights file: ``name`` (file ``name.safetensors``, card ``name.md``),
    ``architecture`` (``"mask-unet"``, ``"wgan"`` or ``"wgan-gp"``) and what it is."""

    name: str
    architecture: str
    summary: str

    @property
    def file(self) -> str:
        return self.name + SUFFIX

    @property
    def card(self) -> str:
        return self.name + ".md"


#: every weights file shipped with the package
ENTRIES: dict[str, Entry] = {
    e.name: e
    for e in (
        Entry("learned_masks", "mask-unet", "mask U-Net for diffusion masks (Alt et al. 2021)"),
        Entry("wgan_inpaint", "wgan", "WGAN inpainting generator, random masks (Peter 2022)"),
        Entry("wgan_mask_d05", "wgan", "mask WGAN at 5 % with its generator (Peter 2022)"),
        Entry("wgan_mask_d10", "wgan", "mask WGAN at 10 % with its generator (Peter 2022)"),
        Entry("wgan_mask_d20", "wgan", "mask WGAN at 20 % with its generator (Peter 2022)"),
        Entry("wgan_gp_32", "wgan-gp", "WGAN-GP prior for semantic inpainting (Vitoria 2019)"),
    )
}


def root() -> Traversable:
    """The folder names are looked up in: ``$SPARSECODEC_WEIGHTS`` if set, else the packaged
    weights (``importlib.resources.files("sparsecodec.weights")``)."""
    env = os.environ.get(ENV)
    if env:
        p = Path(env)
        if p.exists() and not p.is_dir():
            raise WeightsError(f"{ENV} must name a folder of weights files, got the file {p}")
        return p
    try:
        return resources.files(PACKAGE)
    except ModuleNotFoundError:
        raise WeightsError(
            f"the packaged weights ({PACKAGE}) are not installed; reinstall sparsecodec "
            f"(pip install .) or set {ENV} to a folder of weights files"
        ) from None


def export_dir() -> Path:
    """A writable-in-principle folder for exported weights: ``$SPARSECODEC_WEIGHTS`` or the
    packaged folder on disk (in an editable install, the repository's ``weights/``)."""
    r = root()
    if not isinstance(r, Path):
        raise WeightsError(f"the packaged weights are not a folder on disk; set {ENV}")
    return r


def is_path(name_or_path: str | Path) -> bool:
    """True if ``name_or_path`` is a file path rather than a registry name."""
    p = Path(name_or_path)
    return p.is_absolute() or len(p.parts) > 1


def locate(name_or_path: str | Path) -> Traversable:
    """The weights file of a name (in :func:`root`) or a path (as is); not checked to exist."""
    if is_path(name_or_path):
        return Path(name_or_path)
    name = str(name_or_path)
    if not name.endswith(SUFFIX):
        name += SUFFIX
    return root() / name


def available() -> list[str]:
    """Names of the weights files in :func:`root` (sorted)."""
    r = root()
    if not r.is_dir():
        return []
    return sorted(p.name[: -len(SUFFIX)] for p in r.iterdir() if p.name.endswith(SUFFIX))


def tag(name_or_path: str | Path) -> int:
    """Identity of a weights file stored in streams that need it: the first four bytes of its
    SHA-256 as a little-endian integer (so a stream made with other weights is refused, not
    decoded to different pixels). Raises WeightsError if the file is missing."""
    import hashlib

    t = locate(name_or_path)
    if not t.is_file():
        raise WeightsError(f"weights not found: {t}")
    return int.from_bytes(hashlib.sha256(t.read_bytes()).digest()[:4], "little")


def card(name: str) -> str:
    """The text of a registered weights file's card (data, training, measured quality)."""
    entry = ENTRIES.get(name)
    if entry is None:
        raise WeightsError(f"unknown weights {name!r}; registered: {', '.join(ENTRIES)}")
    return (root() / entry.card).read_text(encoding="utf-8")


@contextmanager
def _as_path(t: Traversable) -> Iterator[Path]:
    if isinstance(t, Path):
        yield t
    else:  # e.g. a zipped install: a temporary copy
        with resources.as_file(t) as p:
            yield Path(p)


def read(
    name_or_path: str | Path, what: str = "weights"
) -> tuple[dict[str, Any], dict[str, str], str]:
    """``(tensors, metadata, where)`` of a weights file (CPU torch tensors, the safetensors
    string metadata, the file's location for messages); ``what`` names the network in errors.

    Raises WeightsError if the file is missing, not a safetensors file, or corrupt.
    """
    from safetensors import safe_open

    t = locate(name_or_path)
    where = str(t)
    if not t.is_file():
        hint = "" if is_path(name_or_path) else f" (packaged weights, or the folder {ENV} names)"
        raise WeightsError(f"{what} not found: {where}{hint}")
    try:
        with _as_path(t) as p, safe_open(str(p), framework="pt", device="cpu") as fh:
            meta = dict(fh.metadata() or {})
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types on corrupt files
        raise WeightsError(f"cannot read {what} {where}: {exc}") from None
    return tensors, meta, where
