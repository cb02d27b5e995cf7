"""Tests of the learned diffusion masks (Alt, Peter & Weickert 2021): networks, binarisation,
safe weight loading and the joint training step."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsecodec.errors import OptionError, WeightsError  # noqa: E402
from sparsecodec.masks import learned  # noqa: E402
from sparsecodec.nets.unet import InpaintNet, MaskNet, UNet, rescale_to_density  # noqa: E402
from sparsecodec.training.diffusion_masks import (  # noqa: E402
    ExactDiffusion,
    exact_step,
    joint_step,
    laplacian,
    residual_loss,
)

REPO_WEIGHTS = Path(learned.__file__).resolve().parents[2] / "weights" / learned.DEFAULT_WEIGHTS


def _image(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = 128 + 60 * np.sin(x / 5.0) * np.cos(y / 7.0) + 40 * (x > w // 2)
    return np.clip(img + rng.normal(0, 3, (h, w)), 0, 255)


def _tiny_weights(tmp_path: Path) -> Path:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = MaskNet(base=4, scales=3, layers=1)
    path = tmp_path / "tiny.safetensors"
    meta = {"format": learned.FORMAT, "base": "4", "scales": "3", "layers": "1"}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path), metadata=meta)
    return path


@pytest.fixture(autouse=True)
def _clear_cache():
    learned._load_net.cache_clear()
    yield
    learned._load_net.cache_clear()


def test_unet_shapes_and_multiple():
    net = UNet(2, 3, base=4, scales=4, layers=1)
    assert net.multiple == 8
    out = net(torch.zeros(2, 2, 24, 40))
    assert out.shape == (2, 3, 24, 40)
    m = MaskNet(base=4, scales=3, layers=1)
    i = InpaintNet(base=4, scales=3, layers=1)
    f = torch.rand(3, 1, 16, 12)
    c = m(f, torch.tensor([0.02, 0.05, 0.1]))
    assert c.shape == f.shape
    assert i(f, c).shape == f.shape


@pytest.mark.parametrize("shape", [(1, 5, 17, 23), (2, 3, 2, 9), (1, 4, 1, 6), (1, 2, 8, 1)])
def test_replicate_conv_inference_path_matches_padded_conv(shape):
    """The inference path of ReplicateConv2d (zero-padded conv + recomputed border frame) equals
    PyTorch's replicate-padded convolution, channels-last or not, on odd and thin inputs."""
    from sparsecodec.nets.unet import ReplicateConv2d

    torch.manual_seed(1)
    conv = ReplicateConv2d(shape[1], 6)
    x = torch.randn(shape)
    ref = torch.nn.functional.conv2d(
        torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), conv.weight, conv.bias
    )
    with torch.no_grad():
        for t in (x, x.contiguous(memory_format=torch.channels_last)):
            assert torch.allclose(conv(t), ref, atol=1e-5, rtol=0)
    out = conv(x.requires_grad_())  # training path: autograd through the padded conv
    assert torch.allclose(out, ref, atol=1e-6) and out.requires_grad


def test_unet_inference_matches_training_path():
    """UNet without autograd (fast border-frame convolutions) gives the training-path output."""
    torch.manual_seed(2)
    net = UNet(2, 1, base=4, scales=3, layers=2)
    x = torch.randn(1, 2, 20, 12)
    with torch.no_grad():
        fast = net(x)
    slow = net(x)
    assert torch.allclose(fast, slow.detach(), atol=1e-5)


def test_rescale_to_density_caps_mean_only_when_exceeded():
    c = torch.stack([torch.full((1, 8, 8), 0.5), torch.full((1, 8, 8), 0.01)])
    d = torch.tensor([0.05, 0.05])
    r = rescale_to_density(c, d)
    assert r[0].mean().item() == pytest.approx(0.05, rel=1e-6)
    assert torch.equal(r[1], c[1])  # below the target: unchanged
    e = rescale_to_density(c, d, exact=True)  # exact: scaled up too
    assert e.mean(dim=(1, 2, 3)).tolist() == pytest.approx([0.05, 0.05], rel=1e-6)


@pytest.mark.parametrize("density", [0.02, 0.05, 0.3])
def test_rescale_probabilities_hits_density(density):
    rng = np.random.default_rng(1)
    p = rng.random((37, 53)) ** 6  # very peaked: the rescaling saturates at 1 and redistributes
    q = learned.rescale_probabilities(p, density)
    assert q.mean() == pytest.approx(density, rel=1e-6)
    assert q.min() >= 0 and q.max() <= 1
    assert learned.rescale_probabilities(np.zeros((4, 4)), 0.1).mean() == pytest.approx(0.1)
    assert np.allclose(learned.rescale_probabilities(np.ones((4, 4)), 0.1), 0.1)


@pytest.mark.parametrize("shape", [(33, 47), (17, 5), (1, 9), (64, 64), (1, 1), (3, 3)])
def test_network_pass_odd_sizes(tmp_path, shape):
    path = _tiny_weights(tmp_path)
    c = learned.mask_probabilities(_image(*shape), 0.05, weights=str(path))
    assert c.shape == shape
    assert c.dtype == np.float64
    assert np.all((c >= 0) & (c <= 1))
    assert c.mean() <= 0.05 + 1e-6


def test_deterministic_binarisation_and_density(tmp_path):
    path = _tiny_weights(tmp_path)
    img = _image(61, 75)
    kw = {"samples": 1, "weights": str(path), "binarise": "coin", "refine": 0}
    a = learned.learned_mask(img, 0.05, seed=3, **kw)
    b = learned.learned_mask(img, 0.05, seed=3, **kw)
    c = learned.learned_mask(img, 0.05, seed=4, **kw)
    assert a.dtype == bool and a.shape == img.shape
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    n = img.size
    # binomial-like count: within 4 standard deviations of the target
    assert abs(a.sum() - 0.05 * n) <= 4 * np.sqrt(n * 0.05 * 0.95)


def test_best_of_samples_uses_real_solver(tmp_path):
    from sparsecodec.inpainting import solve

    path = _tiny_weights(tmp_path)
    img = _image(40, 48)
    best = learned.learned_mask(
        img, 0.05, seed=0, samples=3, weights=str(path), solver="cg", binarise="coin", refine=0
    )
    err_best = np.mean((solve(img, best, solver="cg").u - img) ** 2)
    # the candidates are the first three coin-flip draws of the same generator
    p = learned.rescale_probabilities(
        learned.mask_probabilities(img, 0.05, weights=str(path)), 0.05
    )
    rng = np.random.default_rng(0)
    errs = [
        np.mean((solve(img, m, solver="cg").u - img) ** 2)
        for m in (learned.coin_flips(p, rng) for _ in range(3))
    ]
    assert err_best == pytest.approx(min(errs), rel=1e-9)


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch " + str(_Boom.sentinel),))


def test_loading_weights_executes_no_code(tmp_path):
    # a pickle that would run a command when unpickled, disguised as a weight file
    _Boom.sentinel = tmp_path / "executed"
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"x": _Boom()}))
    with pytest.raises(WeightsError):
        learned.mask_probabilities(_image(16, 16), 0.05, weights=str(evil))
    assert not _Boom.sentinel.exists()


def test_missing_or_foreign_weights_raise(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSECODEC_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match="not found"):
        learned.learned_mask(_image(16, 16), 0.05)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / learned.DEFAULT_WEIGHTS))
    with pytest.raises(WeightsError):
        learned.learned_mask(_image(16, 16), 0.05)


def test_bad_options():
    with pytest.raises(OptionError):
        learned.learned_mask(_image(8, 8), 0.0)
    with pytest.raises(OptionError):
        learned.learned_mask(_image(8, 8), 0.05, samples=0)
    with pytest.raises(OptionError):
        learned.learned_mask(_image(8, 8), 0.05, bogus=1)


def test_laplacian_reflecting_boundaries():
    u = torch.rand(1, 1, 9, 11, dtype=torch.float64)
    a = laplacian(u)
    # Neumann Laplacian: symmetric with constants in its null space -> entries sum to zero
    assert abs(a.sum().item()) < 1e-10
    assert torch.allclose(laplacian(torch.full((1, 1, 5, 5), 3.0)), torch.zeros(1, 1, 5, 5))
    # interior value equals the 5-point stencil
    i, j = 4, 5
    ref = u[0, 0, i - 1, j] + u[0, 0, i + 1, j] + u[0, 0, i, j - 1] + u[0, 0, i, j + 1]
    assert a[0, 0, i, j].item() == pytest.approx((ref - 4 * u[0, 0, i, j]).item())
    # corner: the two mirrored neighbours equal the pixel itself
    ref = u[0, 0, 1, 0] + u[0, 0, 0, 1] - 2 * u[0, 0, 0, 0]
    assert a[0, 0, 0, 0].item() == pytest.approx(ref.item())


def test_residual_loss_zero_for_exact_solution():
    from sparsecodec.inpainting import solve

    img = _image(12, 14)
    rng = np.random.default_rng(0)
    mask = rng.random(img.shape) < 0.2
    u = solve(img, mask, solver="cg", tol=1e-12).u
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))[None, None]  # noqa: E731
    assert residual_loss(t(u / 255), t(img / 255), t(mask)).item() < 1e-14
    assert residual_loss(t(img / 255), t(img / 255), t(mask)).item() > 1e-6


def test_training_step_runs_and_loss_decreases():
    torch.manual_seed(0)
    m = MaskNet(base=4, scales=3, layers=1)
    i = InpaintNet(base=4, scales=3, layers=1)
    opt_m = torch.optim.Adam(m.parameters(), lr=5e-3)
    opt_i = torch.optim.Adam(i.parameters(), lr=5e-3)
    f = torch.from_numpy(_image(32, 32)[None, None] / 255).float()
    d = torch.tensor([0.05])
    hist = [joint_step(m, i, opt_m, opt_i, f, d) for _ in range(12)]
    for h in hist:
        assert all(np.isfinite(v) for v in h.values())
        assert h["c_mean"] <= 0.05 + 1e-6
    assert hist[-1]["res"] < hist[0]["res"]
    assert hist[-1]["loss_m"] < hist[0]["loss_m"]


@pytest.mark.skipif(not REPO_WEIGHTS.is_file(), reason="no committed learned-mask weights")
def test_committed_weights_give_target_density():
    img = _image(70, 90)
    m = learned.learned_mask(img, 0.05, seed=0, samples=1)
    assert m.shape == img.shape
    assert abs(m.mean() - 0.05) < 0.02


def test_dithering_keeps_the_density_on_flat_probabilities():
    # constant probabilities: plain error diffusion loses about a quarter of the points at 2 %
    p = np.full((64, 64), 0.02)
    assert learned.dither(p).mean() < 0.95 * 0.02
    for d in (0.02, 0.05, 0.1):
        for k in (0, 5):
            m = learned.dither_to_density(np.full((64, 64), d), k, d)
            assert abs(m.mean() - d) <= learned.DITHER_COUNT_TOLERANCE * d


def test_exact_diffusion_matches_solver_and_gradient():
    from sparsecodec.inpainting import solve

    img = _image(10, 12)
    mask = np.random.default_rng(2).random(img.shape) < 0.2
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float64))[None, None]  # noqa: E731
    u = ExactDiffusion.apply(t(mask), t(img))[0, 0].numpy()
    assert np.allclose(u, solve(img, mask, solver="cg", tol=1e-12).u, atol=1e-6)
    torch.manual_seed(0)
    c = (torch.rand(2, 1, 5, 6, dtype=torch.float64) * 0.5 + 0.05).requires_grad_()
    f = torch.rand(2, 1, 5, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda c: ExactDiffusion.apply(c, f), (c,))


def test_exact_diffusion_channels_share_the_mask():
    """K channels with one mask: each channel equals its own solve, the gradient w.r.t. c is
    the sum of the per-channel gradients (the mask WGAN's differentiable diffusion guide)."""
    torch.manual_seed(1)
    c = (torch.rand(2, 1, 5, 6, dtype=torch.float64) * 0.5 + 0.05).requires_grad_()
    f = torch.rand(2, 3, 5, 6, dtype=torch.float64)
    w = torch.rand(2, 3, 5, 6, dtype=torch.float64)
    u = ExactDiffusion.apply(c, f)
    (g_all,) = torch.autograd.grad((u * w).sum(), c)
    g_sum = torch.zeros_like(c)
    for k in range(3):
        uk = ExactDiffusion.apply(c, f[:, k : k + 1])
        assert torch.allclose(u[:, k : k + 1], uk, atol=1e-12)
        g_sum += torch.autograd.grad((uk * w[:, k : k + 1]).sum(), c)[0]
    assert torch.allclose(g_all, g_sum, atol=1e-10)
    assert torch.autograd.gradcheck(lambda c: ExactDiffusion.apply(c, f), (c,))
    # an all-zero binary mask stays solvable: the inpainting is the mean of the data
    z = ExactDiffusion.apply(torch.zeros(1, 1, 4, 5, dtype=torch.float64), f[:1, :, :4, :5])
    assert torch.allclose(
        z, f[:1, :, :4, :5].mean(dim=(2, 3), keepdim=True).expand_as(z), atol=1e-4
    )


def test_exact_training_step_runs_and_loss_decreases():
    torch.manual_seed(0)
    m = MaskNet(base=4, scales=3, layers=1)
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    f = torch.from_numpy(_image(32, 32)[None, None] / 255).float()
    d = torch.tensor([0.05])
    hist = [exact_step(m, opt, f, d) for _ in range(10)]
    assert all(np.isfinite(v) for h in hist for v in h.values())
    assert hist[-1]["loss_m"] < hist[0]["loss_m"]


def test_dither_binarisation_is_deterministic(tmp_path):
    path = _tiny_weights(tmp_path)
    img = _image(48, 52)
    a = learned.learned_mask(img, 0.05, seed=1, weights=str(path), binarise="dither")
    b = learned.learned_mask(img, 0.05, seed=2, weights=str(path), binarise="dither")
    assert np.array_equal(a, b)
    assert abs(a.mean() - 0.05) < 0.01
    with pytest.raises(OptionError):
        learned.learned_mask(img, 0.05, weights=str(path), binarise="nope")


def test_dither_orientations_and_best_of_samples(tmp_path):
    from sparsecodec.inpainting import solve
    from sparsecodec.masks.belhachmi import floyd_steinberg

    path = _tiny_weights(tmp_path)
    img = _image(40, 48)
    p = learned.rescale_probabilities(
        learned.mask_probabilities(img, 0.05, weights=str(path)) ** 0.75, 0.05
    )
    # orientation (transpose, flip rows, flip columns): dither the mapped p, map back
    for k, (t, a, b) in enumerate(learned.ORIENTATIONS):
        q = p.T if t else p
        q = q[::-1] if a else q
        q = q[:, ::-1] if b else q
        m = floyd_steinberg(np.ascontiguousarray(q))
        m = m[:, ::-1] if b else m
        m = m[::-1] if a else m
        assert np.array_equal(learned.dither(p, k), m.T if t else m), k
    # the candidates: each orientation re-dithered if its count misses by more than 5 %
    masks = [learned.dither_to_density(p, k, 0.05) for k in range(8)]
    assert len({m.tobytes() for m in masks}) == 8  # eight different masks
    assert all(abs(m.mean() - 0.05) <= 0.05 * 0.05 for m in masks)
    # best of 3: the first three orientations, judged by the real inpainting error
    kw = {"weights": str(path), "solver": "cg", "gamma": 0.75, "binarise": "dither", "refine": 0}
    best = learned.learned_mask(img, 0.05, samples=3, **kw)
    errs = [np.mean((solve(img, m, solver="cg").u - img) ** 2) for m in masks[:3]]
    err_best = np.mean((solve(img, best, solver="cg").u - img) ** 2)
    assert err_best == pytest.approx(min(errs), rel=1e-9)
    # more samples than orientations: all eight, deterministic, independent of the seed
    a = learned.learned_mask(img, 0.05, samples=20, seed=1, **kw)
    assert any(np.array_equal(a, m) for m in masks)
    assert np.array_equal(a, learned.learned_mask(img, 0.05, samples=8, seed=2, **kw))


def test_calibrated_gamma_lookup():
    meta = {"gamma_coin_0.02": "0.5", "gamma_coin_0.1": "1.0", "gamma_dither_0.05": "0.75"}
    assert learned.calibrated_gamma(meta, 0.025) == 0.5
    assert learned.calibrated_gamma(meta, 0.08) == 1.0
    assert learned.calibrated_gamma(meta, 0.05, "dither") == 0.75
    assert learned.calibrated_gamma({}, 0.05) == 1.0


def test_straight_through_step_uses_binary_masks_and_passes_gradients(monkeypatch):
    # --binarise st: the teacher sees a 0/1 mask drawn from c, the gradient reaches the net
    seen = []
    forward = ExactDiffusion.forward

    def spy(ctx, c, f):
        seen.append(c.detach().clone())
        return forward(ctx, c, f)

    monkeypatch.setattr(ExactDiffusion, "forward", staticmethod(spy))
    torch.manual_seed(0)
    m = MaskNet(base=4, scales=3, layers=1)
    before = [p.detach().clone() for p in m.parameters()]
    opt = torch.optim.SGD(m.parameters(), lr=1e-3)
    f = torch.from_numpy(_image(32, 32)[None, None] / 255).float()
    g = torch.Generator().manual_seed(1)
    rec = exact_step(m, opt, f, torch.tensor([0.1]), binarise="st", generator=g)
    assert np.isfinite(rec["loss_m"]) and len(seen) == 1
    b = seen[0]
    assert set(torch.unique(b).tolist()) <= {0.0, 1.0} and 0 < b.mean().item() < 0.3
    assert any(not torch.equal(p0, p) for p0, p in zip(before, m.parameters(), strict=True))


def test_precision_names_and_resolution():
    from sparsecodec.nets.precision import check_precision, native_bfloat16, resolve_precision

    assert resolve_precision("float32") == "float32"
    assert resolve_precision("bfloat16") == "bfloat16"
    assert resolve_precision("auto") == ("bfloat16" if native_bfloat16("cpu") else "float32")
    with pytest.raises(OptionError, match="precision"):
        check_precision("float16")
    with pytest.raises(OptionError, match="precision"):
        learned.learned_mask(_image(20, 20), 0.05, precision="half")


@pytest.mark.skipif(not REPO_WEIGHTS.is_file(), reason="no committed learned-mask weights")
def test_bfloat16_pass_is_close_to_float32():
    """The bfloat16 network pass (autocast) really runs in bfloat16 (the probabilities differ)
    and stays close to the float32 pass: correlation > 0.98, mean absolute difference below
    15 % of the density, and masks of the same seed inpaint to PSNRs within 0.2 dB."""
    from sparsecodec.inpainting import solve

    img = _image(96, 128)
    c32 = learned.mask_probabilities(img, 0.05, precision="float32")
    c16 = learned.mask_probabilities(img, 0.05, precision="bfloat16")
    diff = np.abs(c16 - c32)
    assert diff.max() > 0
    assert diff.mean() < 0.15 * 0.05
    assert np.corrcoef(c16.ravel(), c32.ravel())[0, 1] > 0.98
    psnr = []
    for p in ("float32", "bfloat16"):
        u = solve(img, learned.learned_mask(img, 0.05, seed=1, samples=4, precision=p)).u
        psnr.append(10 * np.log10(255**2 / np.mean((u - img) ** 2)))
    assert abs(psnr[0] - psnr[1]) < 0.2


@pytest.mark.skipif(not REPO_WEIGHTS.is_file(), reason="no committed learned-mask weights")
@pytest.mark.parametrize("binarise", ["dither", "coin"])
def test_cli_learned_mask_round_trip(tmp_path, binarise):
    from click.testing import CliRunner

    import sparsecodec
    from sparsecodec.cli import cli
    from sparsecodec.io import read_image, write_image

    img = np.round(_image(48, 64)).astype(np.uint8)
    src, out, dec = tmp_path / "in.png", tmp_path / "o.bin", tmp_path / "d.png"
    write_image(src, img)
    args = ["encode", str(src), "-d", "0.05", "--mask", "learned", "--samples", "2"]
    r = CliRunner().invoke(cli, args + ["--binarise", binarise, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert CliRunner().invoke(cli, ["decode", str(out), "-o", str(dec)]).exit_code == 0
    # the stored mask is the API's mask for the same options
    mask = sparsecodec.make_mask(img, 0.05, strategy="learned", samples=2, binarise=binarise)
    from sparsecodec.coding import read_stream

    _, stored, _ = read_stream(out.read_bytes())
    assert np.array_equal(stored, mask)
    assert read_image(dec).shape == img.shape


def test_random_crops_zoom_magnifies_a_ramp(tmp_path):
    """``zoom``: each crop is a magnified window, so a horizontal ramp of slope 1/W keeps its
    direction and gets a slope in [1/(W zoom), 1/W]; zoom = 1 draws exactly the plain crops."""
    from PIL import Image

    from sparsecodec.training.data import RandomCrops

    w = 255
    ramp = np.tile(np.arange(w, dtype=np.uint8), (200, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    plain = RandomCrops(tmp_path, 32, seed=3, flips=False).batch(4)
    same = RandomCrops(tmp_path, 32, seed=3, flips=False, zoom=1.0).batch(4)
    np.testing.assert_array_equal(plain, same)
    crops = RandomCrops(tmp_path, 32, seed=3, flips=False, zoom=3.0).batch(16)
    assert crops.shape == (16, 1, 32, 32) and crops.dtype == np.float32
    slopes = np.diff(crops[:, 0, 8:24, 8:24], axis=2).mean(axis=(1, 2)) * 255.0
    assert np.all(slopes <= 1.0 + 1e-3) and np.all(slopes >= 1.0 / 3.0 - 1e-3)
    assert slopes.min() < 0.9  # some crops were magnified
    np.testing.assert_allclose(np.diff(crops[:, 0, 8:24, 8:24], axis=1), 0.0, atol=1e-6)
    with pytest.raises(ValueError):
        RandomCrops(tmp_path, 32, zoom=0.5)


def test_refined_mask_has_the_exact_count_and_beats_the_network_alone(tmp_path):
    """Densification (the default) completes the network's share of the points to exactly
    round(d * H * W) and lowers the real inpainting error against the unrefined mask of the
    same count; it is deterministic."""
    from sparsecodec.inpainting import solve

    path = _tiny_weights(tmp_path)
    img = _image(64, 72)
    n = round(0.05 * img.size)
    a = learned.learned_mask(img, 0.05, weights=str(path))
    assert a.sum() == n
    assert np.array_equal(a, learned.learned_mask(img, 0.05, weights=str(path)))
    plain = learned.learned_mask(img, 0.05, weights=str(path), refine=0, samples=1)
    err = [np.mean((solve(img, m, tol=1e-9).u - img) ** 2) for m in (a, plain)]
    assert abs(int(plain.sum()) - n) <= 0.05 * n
    assert err[0] < err[1]
    with pytest.raises(OptionError):
        learned.learned_mask(img, 0.05, weights=str(path), refine=-1)
    with pytest.raises(OptionError):
        learned.learned_mask(img, 0.05, weights=str(path), start=0.0)
