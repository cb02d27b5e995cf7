"""Windowed solves of the solver core (sparsecodec.inpainting.local) against SciPy and solve()."""

import numpy as np
import pytest
from reference import spsolve_inpaint

from sparsecodec.errors import SolverError
from sparsecodec.inpainting import solve
from sparsecodec.inpainting.local import solve_window


def _case(rng, H, W, d):
    f = rng.uniform(0, 255, (H, W))
    m = rng.random((H, W)) < d
    m[0, 0] = True
    return f, m


@pytest.mark.parametrize(
    "H,W,d,box",
    [
        (24, 31, 0.1, (5, 17, 3, 20)),  # interior window
        (24, 31, 0.05, (0, 9, 20, 31)),  # touching the image border (reflecting there)
        (16, 16, 0.2, (0, 16, 0, 16)),  # the whole image
        (1, 40, 0.1, (0, 1, 10, 30)),  # a single row
    ],
)
def test_window_solve_matches_spsolve_on_the_window(rng, H, W, d, box):
    f, m = _case(rng, H, W, d)
    x0 = rng.uniform(0, 255, (H, W))  # the data held fixed outside the window
    y0, y1, c0, c1 = box
    inside = np.zeros((H, W), dtype=bool)
    inside[y0:y1, c0:c1] = True
    # Reference: the window's unknowns solved with the mask and everything outside as data.
    ref = spsolve_inpaint(np.where(m, f, x0), m | ~inside)
    out = solve_window(f, m, box, x0=x0, tol=1e-12, maxiter=5000)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    np.testing.assert_array_equal(out[~inside], np.where(m, f, x0)[~inside])


def test_whole_image_window_equals_global_solve(rng):
    f, m = _case(rng, 40, 37, 0.05)
    out = solve_window(f, m, (0, 40, 0, 37), tol=1e-12, maxiter=5000)
    np.testing.assert_allclose(out, solve(f, m, tol=1e-10, maxiter=5000).u, atol=1e-5)


def test_window_solve_refuses_bad_boxes(rng):
    f, m = _case(rng, 8, 8, 0.2)
    for box in [(0, 9, 0, 8), (3, 3, 0, 8), (-1, 4, 0, 4)]:
        with pytest.raises(SolverError):
            solve_window(f, m, box)
