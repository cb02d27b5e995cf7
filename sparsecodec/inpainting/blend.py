"""Cross-validated blend of a learned inpainting with homogeneous diffusion.

A learned inpainting (semantic inpainting, Vitoria et al. 2019; a WGAN generator) can be worse
than plain diffusion on an image its prior does not fit. The method can measure that itself,
without the ground truth of the hole: hide a band of *known* pixels around each hole, inpaint
the enlarged hole with both methods, and see which one predicts the hidden band better. Per
hole (connected component of the missing pixels) the blend

    u = d + w (s - d),   w = clip(<f - d_p, s_p - d_p>_B / |s_p - d_p|^2_B, 0, 1),

is the least-squares weight of the probe results ``s_p`` (learned) and ``d_p`` (diffusion) on the
band ``B`` (``f`` the known values there), applied to the results ``s`` and ``d`` of the real
hole. ``w = 0`` falls back to diffusion, ``w = 1`` keeps the learned result; ``w`` is set to 0
where the blend lowers the band's squared error by less than ``min_gain`` (a confidence gate).
For a Poisson-edited result ``s`` (Eq. 9 of Vitoria et al.) the blend is exactly Poisson editing
with the guidance field scaled by ``w``, since that solve is linear in its guidance. Diffusion is
the one solver core (:func:`sparsecodec.inpainting.solve`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

PROBE_WIDTH = 8  # band of known pixels hidden around each hole (pixels, chessboard distance)
# the learned result is used only where it lowers the band's squared error by at least this
# share; below it the probe is too weak a witness and the hole falls back to diffusion
MIN_GAIN = 0.05


@dataclass(frozen=True)
class BlendResult:
    """Blended image, the weight of the learned result per hole, and the hole labels."""

    image: np.ndarray
    weights: np.ndarray  # (n_holes,), in [0, 1]
    labels: np.ndarray  # (H, W) int, 0 = known, j + 1 = hole j


def diffusion_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Homogeneous diffusion inpainting of an (H, W) or (H, W, C) image from ``known``."""
    from .solve import solve

    a = np.asarray(image, dtype=np.float64)
    f = a if a.ndim == 2 else np.moveaxis(a, -1, 0)
    u = solve(f, known, solver="multigrid", tol=1e-8).u
    return u if a.ndim == 2 else np.moveaxis(u, 0, -1)


def probe_band(known: np.ndarray, width: int = PROBE_WIDTH) -> tuple[np.ndarray, np.ndarray]:
    """The probe mask (``known`` without a band of ``width`` pixels around the holes) and the
    band itself. If hiding the band would leave no known pixel, the band is empty."""
    from scipy.ndimage import binary_dilation

    k = np.asarray(known, dtype=bool)
    grown = binary_dilation(~k, structure=np.ones((3, 3), bool), iterations=max(0, int(width)))
    band = k & grown
    if not (k & ~band).any():
        band = np.zeros_like(k)
    return k & ~band, band


def hole_labels(known: np.ndarray) -> tuple[np.ndarray, int]:
    """Connected components (8-neighbourhood) of the missing pixels: labels 1..n, 0 = known."""
    from scipy.ndimage import label

    lab, n = label(~np.asarray(known, dtype=bool), structure=np.ones((3, 3), int))
    return lab, int(n)


def nearest_hole(labels: np.ndarray) -> np.ndarray:
    """For every pixel, the label of the nearest hole pixel (Euclidean)."""
    from scipy.ndimage import distance_transform_edt

    if not (labels > 0).any():
        return labels.copy()
    _, (iy, ix) = distance_transform_edt(labels == 0, return_indices=True)
    return labels[iy, ix]


def blend_weights(
    f: np.ndarray,
    learned: np.ndarray,
    diffusion: np.ndarray,
    band: np.ndarray,
    owner: np.ndarray,
    n: int,
    min_gain: float = MIN_GAIN,
) -> np.ndarray:
    """Least-squares weight in [0, 1] of ``learned`` against ``diffusion`` on the band pixels of
    each hole (``owner``: the hole each pixel belongs to), summed over channels; 0 where the
    weighted blend lowers the band's squared error by less than the share ``min_gain``."""
    e = (f - diffusion).reshape(f.shape[0], f.shape[1], -1)
    t = (learned - diffusion).reshape(e.shape)
    num = np.zeros(n + 1)
    den = np.zeros(n + 1)
    lab = owner[band]
    np.add.at(num, lab, (e[band] * t[band]).sum(axis=1))
    np.add.at(den, lab, (t[band] ** 2).sum(axis=1))
    err = np.zeros(n + 1)
    np.add.at(err, lab, (e[band] ** 2).sum(axis=1))
    w = np.clip(np.where(den > 1e-12, num / np.maximum(den, 1e-12), 0.0), 0.0, 1.0)
    # squared band error of the blend: err - 2 w num + w^2 den
    gain = np.where(err > 1e-12, (2 * w * num - w * w * den) / np.maximum(err, 1e-12), 0.0)
    w = np.where(gain >= min_gain, w, 0.0)
    return w[1:]


def cross_validated_blend(
    image: np.ndarray,
    known: np.ndarray,
    learned: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    width: int = PROBE_WIDTH,
    min_gain: float = MIN_GAIN,
) -> BlendResult:
    """Blend ``learned(image, known)`` with diffusion inpainting, per hole, by the weight that
    best predicts a hidden band of known pixels (module docstring).

    Parameters
    ----------
    image : (H, W) or (H, W, C) array; values in the holes are ignored.
    known : (H, W) bool, True = known pixel.
    learned : the learned inpainting, called twice (probe mask, then ``known``).
    width : band width in pixels; 0 disables the probe (``w = 1``, the learned result).
    min_gain : confidence gate, the least relative reduction of the band error for ``w > 0``.

    Returns
    -------
    BlendResult with the blended image (known pixels unchanged) and the weight of each hole.
    """
    a = np.asarray(image, dtype=np.float64)
    k = np.asarray(known, dtype=bool)
    labels, n = hole_labels(k)
    s = np.asarray(learned(a, k), dtype=np.float64)
    if n == 0:
        return BlendResult(s, np.zeros(0), labels)
    probe, band = probe_band(k, width)
    if width <= 0 or not band.any():
        return BlendResult(s, np.ones(n), labels)
    d = diffusion_fill(a, k)
    s_p = np.asarray(learned(a, probe), dtype=np.float64)
    d_p = diffusion_fill(a, probe)
    w = blend_weights(a, s_p, d_p, band, nearest_hole(labels), n, min_gain)
    wmap = np.concatenate([[0.0], w])[labels]
    if a.ndim == 3:
        wmap = wmap[..., None]
    out = d + wmap * (s - d)
    out = np.where((labels == 0) if a.ndim == 2 else (labels == 0)[..., None], a, out)
    return BlendResult(out, w, labels)
