"""Crop datasets for training: a folder of images, random square crops with flips, grey or colour.

Shared by the training scripts (learned masks, WGAN inpainting). Images are decoded once with
Pillow and kept in memory as float32 in [0, 1]; batches are numpy arrays ``(N, C, S, S)`` so the
module itself does not need torch (``RandomCrops.torch_batch`` imports it lazily).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm")


def default_data_dir() -> Path:
    """``../shared/data`` relative to the repository root (the folder holding ``sparsecodec``)."""
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def list_images(folder: str | Path) -> list[Path]:
    """Sorted image files directly inside ``folder``; raises ImageError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"data folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageError(f"no images found in {folder}")
    return files


def load_image(path: str | Path, grey: bool) -> np.ndarray:
    """Decode an image to float32 in [0,1]: (H,W) luma (ITU-R 601) when ``grey``, else (H,W,3)."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L" if grey else "RGB")
        return np.asarray(im, dtype=np.float32) / 255.0


def _to_chw(img: np.ndarray) -> np.ndarray:
    return img[None] if img.ndim == 2 else np.moveaxis(img, -1, 0)


def _pad_to(img: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad a (C,H,W) image so both spatial sides are at least ``size``."""
    ph = max(0, size - img.shape[1])
    pw = max(0, size - img.shape[2])
    if ph or pw:
        img = np.pad(img, ((0, 0), (0, ph), (0, pw)), mode="symmetric")
    return img


class RandomCrops:
    """Random ``size`` x ``size`` crops from a folder of images, with random flips.

    ``images`` is a folder or a list of image files; ``max_images`` limits how many are loaded.
    ``zoom > 1`` magnifies each crop by a log-uniform factor in [1, zoom]: a window of side
    ``round(size / s)`` is resampled (cubic spline, clipped to [0, 1]) to ``size``, which mimics
    images with smoother content per pixel than the training set (e.g. Kodak vs BSDS500).
    ``batch(n)`` returns float32 ``(n, C, size, size)`` in [0,1] with C = 1 (grey) or 3.
    The generator is seeded, so a run is reproducible; ``state``/``set_state`` support resuming.
    """

    def __init__(
        self,
        images: str | Path | list[Path],
        size: int,
        *,
        grey: bool = True,
        flips: bool = True,
        seed: int = 0,
        max_images: int | None = None,
        zoom: float = 1.0,
    ) -> None:
        files = list_images(images) if isinstance(images, (str, Path)) else list(images)
        if max_images is not None:
            files = files[:max_images]
        if size < 1:
            raise ValueError("crop size must be positive")
        if not zoom >= 1.0:
            raise ValueError("zoom must be >= 1")
        self.size = size
        self.zoom = float(zoom)
        self.flips = flips
        self.grey = grey
        self.images = [_pad_to(_to_chw(load_image(f, grey)), size) for f in files]
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.images)

    def crop(self) -> np.ndarray:
        """One random crop (C, size, size)."""
        img = self.images[int(self.rng.integers(len(self.images)))]
        s = self.size
        if self.zoom > 1.0:
            s = max(2, round(s / np.exp(self.rng.uniform(0.0, np.log(self.zoom)))))
        y = int(self.rng.integers(img.shape[1] - s + 1))
        x = int(self.rng.integers(img.shape[2] - s + 1))
        c = img[:, y : y + s, x : x + s]
        if s != self.size:
            from scipy.ndimage import zoom

            z = self.size / s
            c = np.clip(zoom(c, (1, z, z), order=3, mode="reflect", grid_mode=True), 0.0, 1.0)
            c = c.astype(np.float32, copy=False)
        if self.flips:
            if self.rng.random() < 0.5:
                c = c[:, :, ::-1]
            if self.rng.random() < 0.5:
                c = c[:, ::-1, :]
        return c

    def batch(self, n: int) -> np.ndarray:
        """``n`` random crops stacked to (n, C, size, size) float32."""
        return np.ascontiguousarray(np.stack([self.crop() for _ in range(n)]))

    def torch_batch(self, n: int, device: Any = "cpu") -> Any:
        """Like :meth:`batch` but a torch tensor on ``device``."""
        import torch

        return torch.from_numpy(self.batch(n)).to(device)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


def val_crops(
    images: str | Path | list[Path], size: int, count: int, *, grey: bool = True
) -> np.ndarray:
    """Deterministic validation crops (count, C, size, size): centre crops of the first
    ``count`` images (cycling with shifted offsets when ``count`` exceeds the number of images)."""
    files = list_images(images) if isinstance(images, (str, Path)) else list(images)
    out = []
    for i in range(count):
        img = _pad_to(_to_chw(load_image(files[i % len(files)], grey)), size)
        rounds = i // len(files)
        h, w = img.shape[1:]
        y = (h - size) // 2
        x = (w - size) // 2
        # later rounds take crops shifted towards the corners, still deterministic
        if rounds:
            y = (y + rounds * size // 2) % (h - size + 1)
            x = (x + rounds * size // 2) % (w - size + 1)
        out.append(img[:, y : y + size, x : x + size])
    return np.ascontiguousarray(np.stack(out))
