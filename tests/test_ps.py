"""PS on the solver core's fused CG: density, determinism (seed, threads), both solver paths."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from test_stochastic import mse_of, smooth_image

from sparsecodec.masks.ps import ps_mask


@pytest.mark.parametrize("p,q", [(1.0, 0.05), (0.5, 1.0), (0.1, 0.05)])
def test_ps_reaches_the_density_for_any_fractions(p, q):
    # p = 1 draws every mask pixel as a candidate (the step that drops pixels at random): the
    # earlier code never removed them there and returned the full mask.
    f = smooth_image(16, 20)
    mask = ps_mask(f, 0.1, p=p, q=q, seed=2)
    assert mask.sum() == round(0.1 * f.size)


def test_ps_same_mask_for_a_seed_and_any_thread_count():
    f = smooth_image(40, 36)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = ps_mask(f, 0.06, seed=11)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = ps_mask(f, 0.06, seed=11)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, many)
    assert np.array_equal(one, ps_mask(f, 0.06, seed=11))
    assert not np.array_equal(one, ps_mask(f, 0.06, seed=12))


def test_ps_fused_cg_and_multigrid_paths_give_masks_of_equal_quality():
    f = smooth_image(48, 40)
    fast = ps_mask(f, 0.08, seed=4)
    mg = ps_mask(f, 0.08, seed=4, solver="multigrid", solve_tol=1e-6)
    assert fast.sum() == mg.sum() == round(0.08 * f.size)
    assert mse_of(f, fast) < 1.1 * mse_of(f, mg)


def test_ps_speed_benchmark_tiny(tmp_path):
    from PIL import Image

    from benchmarks import ps_speed

    (tmp_path / "classic").mkdir()
    Image.fromarray(smooth_image(24, 20).astype(np.uint8)).save(tmp_path / "classic" / "t.png")
    js, out = tmp_path / "r.json", tmp_path / "r.md"
    argv = ["--data", str(tmp_path), "--images", "t", "--repeats", "1", "--out", str(out)]
    ps_speed.main([*argv, "--json", str(js)])
    ps_speed.main([*argv, "--results", str(js), "--baseline", str(js), "--note", "n."])
    text = out.read_text()
    assert "| t | 24x20 | 19 |" in text and "1.00x" in text and "+0.00 %" in text
