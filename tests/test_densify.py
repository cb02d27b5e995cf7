"""Error-driven densification (sparsecodec.masks.densify)."""

import numpy as np
import pytest

from sparsecodec.errors import OptionError
from sparsecodec.masks.densify import _add_points, densify


def _image(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return 128 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + 20 * (x > w // 2)


def test_count_and_containment():
    img = _image(40, 50)
    start = np.zeros(img.shape, bool)
    start[::9, ::9] = True
    out = densify(img, start, 120, rounds=4)
    assert out.dtype == bool and out.shape == img.shape
    assert out.sum() == 120
    assert np.all(out[start])
    assert np.array_equal(out, densify(img, start, 120, rounds=4))  # deterministic


def test_points_go_where_the_error_is():
    # a flat image with one bright square far from the only known pixel: the first added
    # points land in or next to the square, where the diffusion error is
    img = np.zeros((32, 32))
    img[20:24, 20:24] = 255.0
    start = np.zeros(img.shape, bool)
    start[2, 2] = True
    out = densify(img, start, 5, rounds=1, sigma=0.0)
    added = np.argwhere(out & ~start)
    assert len(added) == 4
    assert np.all((added >= 19) & (added <= 24))


def test_non_maximum_suppression_and_fill_up():
    err = np.zeros((9, 9))
    err[4, 4], err[4, 5], err[0, 0] = 3.0, 2.0, 1.0
    m = np.zeros((9, 9), bool)
    out = _add_points(err, m, 2, spacing=2)
    # (4, 5) is suppressed by its larger neighbour (4, 4); (0, 0) is the next maximum
    assert out[4, 4] and out[0, 0] and not out[4, 5]
    # more points than local maxima: the remaining ones by error
    full = _add_points(err, m, 81, spacing=2)
    assert full.all()


def test_lowers_the_error_against_random_points():
    from sparsecodec.inpainting import solve

    img = _image(48, 48)
    rng = np.random.default_rng(0)
    start = np.zeros(img.shape, bool)
    start.flat[rng.choice(img.size, 40, replace=False)] = True
    dense = densify(img, start, 115)
    rand = start.copy()
    rest = np.flatnonzero(~rand)
    rand.flat[rng.choice(rest, 75, replace=False)] = True
    err = [np.mean((solve(img, m, tol=1e-9).u - img) ** 2) for m in (dense, rand)]
    assert err[0] < err[1]


def test_bad_arguments():
    img = _image(10, 10)
    m = np.zeros(img.shape, bool)
    m[0, 0] = m[5, 5] = True
    with pytest.raises(OptionError):
        densify(img, m, 1)  # fewer than the start mask
    with pytest.raises(OptionError):
        densify(img, m, 101)
    with pytest.raises(OptionError):
        densify(img[0], m[0], 3)
    empty = densify(img, np.zeros(img.shape, bool), 3)  # starts from one centre pixel
    assert empty.sum() == 3
