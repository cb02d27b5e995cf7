"""Semantic inpainting (Vitoria et al. 2019): Eq. (5) weights, Eq. (7) gradient loss, Poisson
editing Eq. (9) against a SciPy sparse solve, windows, shapes and errors (tiny random nets)."""

from __future__ import annotations

import numpy as np
import pytest
from reference import spsolve_inpaint

from sparsecodec.errors import OptionError, WeightsError
from sparsecodec.inpainting import semantic as sem
from sparsecodec.inpainting.operators import laplacian

torch = pytest.importorskip("torch")


# ------------------------------------------------------------------------- Eq. (5) weights


def test_window_weights_single_hole() -> None:
    known = np.ones((15, 15), bool)
    known[7, 7] = False
    w = sem.window_weights(known)
    yy, xx = np.mgrid[:15, :15]
    near = (np.maximum(abs(yy - 7), abs(xx - 7)) <= 3) & known
    assert np.allclose(w[near], 1 / 49)
    assert np.all(w[~near] == 0)  # far pixels and the hole itself


def test_window_weights_border_and_brute_force() -> None:
    known = np.ones((9, 9), bool)
    known[0, 0] = False
    w = sem.window_weights(known)
    # pixel (0, 1): the 7x7 window cut at the border holds rows 0..3, cols 0..4 = 20 pixels
    assert w[0, 1] == pytest.approx(1 / 20)
    assert w[3, 3] == pytest.approx(1 / 49)
    assert w[0, 0] == 0
    rng = np.random.default_rng(1)
    known = rng.random((13, 10)) > 0.3
    w = sem.window_weights(known)
    ref = np.zeros(known.shape)
    H, W = known.shape
    for i in range(H):
        for j in range(W):
            if known[i, j]:
                win = known[max(0, i - 3) : i + 4, max(0, j - 3) : j + 4]
                ref[i, j] = (~win).sum() / win.size
    assert np.allclose(w, ref, atol=1e-12)


# --------------------------------------------------------------------- Eq. (6), (7) losses


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.array(a), dtype=torch.float64)


def test_stencils_choose_central_forward_backward() -> None:
    known = np.ones((3, 9), bool)
    known[:, [4, 6]] = False  # two missing columns
    st = sem.gradient_stencils(known)
    x = np.arange(9, dtype=np.float64)
    u = np.broadcast_to(x**2, (3, 9)).copy()
    gx, gy = sem.masked_gradient(_t(u), {k: _t(v) for k, v in st.items()})
    gx = gx.numpy()
    assert gx[1, 2] == pytest.approx(4.0)  # central: (9 - 1) / 2
    assert gx[1, 3] == pytest.approx(9 - 4)  # right neighbour missing -> backward
    assert gx[1, 5] == 0  # both neighbours missing -> no difference
    assert gx[1, 7] == pytest.approx(64 - 49)  # left neighbour missing -> forward
    assert gx[1, 0] == pytest.approx(1 - 0)  # image border -> forward
    assert gx[1, 8] == pytest.approx(64 - 49)  # image border -> backward
    assert np.allclose(gy.numpy(), 0)


def test_gradient_loss_on_ramps() -> None:
    H, W, C = 16, 20, 3
    yy, xx = np.mgrid[:H, :W].astype(np.float64)
    y = np.broadcast_to(2 * xx + 3 * yy, (C, H, W))[None]
    g = np.broadcast_to(5 * xx - 1 * yy + 7, (C, H, W))[None]
    known = np.ones((H, W), bool)
    known[4:12, 6:14] = False
    w = sem.window_weights(known)
    st = {k: _t(v) for k, v in sem.gradient_stencils(known).items()}
    loss = sem.gradient_loss(_t(g), _t(y), _t(known), _t(w), st).item()
    # every known pixel has a known neighbour along each axis, so all differences are exact:
    # |5 - 2| + |-1 - 3| = 7 per pixel and channel
    assert loss == pytest.approx(7 * C * w.sum(), rel=1e-12)
    closs = sem.contextual_loss(_t(g), _t(y), _t(known), _t(w)).item()
    assert closs == pytest.approx((w * np.abs(g - y)[0]).sum(), rel=1e-12)
    assert sem.gradient_loss(_t(y + 9.0), _t(y), _t(known), _t(w), st).item() == 0


# ------------------------------------------------------------------- Poisson editing Eq. (9)


def test_poisson_edit_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    H, W = 24, 19
    known = np.ones((H, W), bool)
    known[5:15, 4:12] = False
    known[18:22, 0:6] = False  # touches the image border
    gen = rng.uniform(0, 255, (3, H, W))
    vals = rng.uniform(0, 255, (3, H, W))
    out = sem.poisson_edit(gen, vals, known)
    for c in range(3):
        ref = spsolve_inpaint(vals[c], known, -laplacian(gen[c]))
        assert np.allclose(out[c], ref, atol=1e-5)
    grey = sem.poisson_edit(gen[0], vals[0], known, solver="cg")
    assert np.allclose(grey, spsolve_inpaint(vals[0], known, -laplacian(gen[0])), atol=1e-5)


def test_poisson_edit_removes_an_offset() -> None:
    rng = np.random.default_rng(4)
    truth = rng.uniform(0, 255, (20, 20))
    known = np.ones((20, 20), bool)
    known[6:14, 5:15] = False
    out = sem.poisson_edit(truth + 40.0, truth, known)  # right gradients, wrong intensities
    assert np.allclose(out, truth, atol=1e-5)


# ------------------------------------------------------------------------------ windows


def test_hole_windows_cover_each_hole_once() -> None:
    rng = np.random.default_rng(5)
    H, W = 70, 90
    known = np.ones((H, W), bool)
    for _ in range(6):
        y, x = rng.integers(0, H - 8), rng.integers(0, W - 8)
        known[y : y + rng.integers(2, 12), x : x + rng.integers(2, 12)] = False
    wins = sem.hole_windows(known, 32)
    cover = np.zeros((H, W), int)
    for y0, y1, x0, x1, holes in wins:
        assert min(y1 - y0, x1 - x0) >= 32
        assert not holes[:y0].any() and not holes[y1:].any()
        assert not holes[:, :x0].any() and not holes[:, x1:].any()
        # the window border is known unless it is the image border (Poisson data)
        inner = np.zeros((H, W), bool)
        inner[y0:y1, x0:x1] = True
        edge = inner.copy()
        edge[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1] = False
        img_edge = np.zeros((H, W), bool)
        img_edge[[0, -1], :] = img_edge[:, [0, -1]] = True
        assert not (edge & ~known & ~img_edge).any()
        cover += holes
    assert np.array_equal(cover, (~known).astype(int))
    assert sem.hole_windows(np.ones((5, 5), bool), 32) == []


# ------------------------------------------------------------------- end to end (tiny nets)


@pytest.fixture()
def tiny_weights(tmp_path, monkeypatch):
    from sparsecodec.nets.wgan_gp import Critic, Generator, GPConfig, save_wgan_gp

    torch.manual_seed(0)
    cfg = GPConfig(size=8, g_channels=(8, 4), d_channels=(4,))
    save_wgan_gp(tmp_path / "wgan_gp_32.safetensors", Generator(cfg), Critic(cfg))
    monkeypatch.setenv("SPARSECODEC_WEIGHTS", str(tmp_path))
    sem._models.cache_clear()
    yield tmp_path
    sem._models.cache_clear()


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3), (5, 6, 3), (12, 9, 1)])
def test_semantic_inpaint_shapes(tiny_weights, shape) -> None:
    rng = np.random.default_rng(6)
    img = rng.uniform(0, 255, shape)
    known = np.ones(shape[:2], bool)
    known[2:4, 1:5] = False
    out = sem.semantic_inpaint(img, known, iterations=4, progress=False)
    assert out.shape == img.shape[:2] if len(shape) == 3 and shape[2] == 1 else img.shape
    ref = img[..., 0] if len(shape) == 3 and shape[2] == 1 else img
    assert np.array_equal(out[known], ref[known])
    assert np.all((out >= 0) & (out <= 255))
    again = sem.semantic_inpaint(img, known, iterations=4, progress=False, poisson=False)
    assert np.array_equal(
        again, sem.semantic_inpaint(img, known, iterations=4, progress=False, poisson=False)
    )


def test_latent_optimisation_lowers_the_loss(tiny_weights) -> None:
    G, D = sem._models("wgan_gp_32", "cpu")
    rng = np.random.default_rng(7)
    y = rng.uniform(-1, 1, (3, 8, 8))
    known = np.ones((8, 8), bool)
    known[2:6, 2:6] = False
    _, hist = sem.optimise_latent(G, D, y, known, iterations=40, eta=0.0)
    assert min(hist[-5:]) < hist[0]


def test_errors(tmp_path, monkeypatch) -> None:
    img = np.zeros((10, 10))
    known = np.ones((10, 10), bool)
    assert np.array_equal(sem.semantic_inpaint(img, known, progress=False), img)  # no holes
    with pytest.raises(OptionError):
        sem.semantic_inpaint(img, np.zeros((10, 10), bool), progress=False)
    with pytest.raises(OptionError):
        sem.semantic_inpaint(img, np.ones((9, 10), bool), progress=False)
    with pytest.raises(OptionError):
        sem.semantic_inpaint(img, known, iterations=-1, progress=False)
    known[3, 3] = False
    with pytest.raises(OptionError, match="device"):
        sem.semantic_inpaint(img, known, progress=False, device="nonsense")
    monkeypatch.setenv("SPARSECODEC_WEIGHTS", str(tmp_path))
    sem._models.cache_clear()
    with pytest.raises(WeightsError, match="not found"):
        sem.semantic_inpaint(img, known, progress=False)
    sem._models.cache_clear()


def test_training_runs_and_resumes(tmp_path) -> None:
    from PIL import Image

    from sparsecodec.nets.wgan_gp import load_wgan_gp
    from sparsecodec.training.wgan_gp import main

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(8)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(data / f"{i}.png")
    out = tmp_path / "run"
    args = [
        "--data",
        str(data),
        "--out",
        str(out),
        "--batch",
        "2",
        "--n-critic",
        "1",
        "--g-channels",
        "8,8,4,4",
        "--d-channels",
        "4,4,8",
    ]
    assert main(args + ["--max-steps", "1"]) == 0
    assert main(args + ["--max-steps", "2", "--resume"]) == 0
    rows = (out / "loss.csv").read_text().splitlines()
    assert rows[0].startswith("step") and rows[1].startswith("1,")
    g, d, meta = load_wgan_gp(out / "wgan_gp_32.safetensors")
    assert meta["generator_steps"] == "2"
    assert g(torch.zeros(1, 128)).shape == (1, 3, 32, 32)
