"""Mask WGAN (Peter 2022): blocks, binariser, critic normalisation, decoder and mask strategy.

All networks here are tiny and randomly initialised; nothing depends on the committed weights.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sparsecodec.errors import ImageError, OptionError, WeightsError  # noqa: E402
from sparsecodec.nets import wgan as W  # noqa: E402

TINY = W.HourglassConfig(down=(2, 3), up=(3, 2), last=2)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def weights(tmp_path, monkeypatch):
    """A weights folder with tiny random networks: wgan_inpaint, wgan_mask_d05, wgan_mask_d10."""
    from sparsecodec.inpainting import wgan_decoder

    torch.manual_seed(0)
    W.save_bundle(tmp_path / "wgan_inpaint.safetensors", W.InpaintGenerator(TINY))
    for name in ("wgan_mask_d05", "wgan_mask_d10"):
        W.save_bundle(
            tmp_path / f"{name}.safetensors", W.InpaintGenerator(TINY), W.MaskGenerator(TINY)
        )
    monkeypatch.setenv("SPARSECODEC_WEIGHTS", str(tmp_path))
    wgan_decoder._load.cache_clear()
    yield tmp_path
    wgan_decoder._load.cache_clear()


# ------------------------------------------------------------------------------ blocks


def test_block_shapes():
    x = torch.rand(2, 5, 16, 20)
    cb = W.CBlock(5, 4)
    assert cb(x).shape == (2, 12, 8, 10)  # three branches concatenated, 2x2 max pooling
    assert [b.dilation for b in cb.par.branches] == [(1, 1), (2, 2), (5, 5)]
    assert all(b.kernel_size == (5, 5) for b in cb.par.branches)
    assert W.TCBlock(5, 4)(x).shape == (2, 12, 32, 40)
    assert W.TCBlock(5, 4, upsample=False)(x).shape == (2, 12, 16, 20)
    assert isinstance(W.TCBlock(5, 4).par.branches[0], torch.nn.ConvTranspose2d)


def test_generator_shape_range_and_eq1():
    g = W.InpaintGenerator(TINY)
    f = torch.rand(2, 3, 8, 12)
    c = (torch.rand(2, 1, 8, 12) < 0.3).float()
    r = torch.rand(2, 3, 8, 12)
    out = g(r, c, c * f)
    assert out.shape == (2, 3, 8, 12)
    assert out.min() >= 0 and out.max() <= 1  # hard sigmoid
    u = g.inpaint(f, c, r)
    known = c.expand_as(f).bool()
    assert torch.equal(u[known], f[known])  # Eq. (1)
    assert torch.equal(u[~known], out[~known])
    assert g.multiple == 4


def test_binariser_forward_binary_and_straight_through():
    c = torch.tensor([0.0, 0.2, 0.49, 0.5, 0.51, 0.9, 1.0], requires_grad=True)
    b = W.binarise(c)
    assert b.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]  # floor(c + 0.5)
    (b * torch.arange(7.0)).sum().backward()
    assert c.grad.tolist() == list(range(7))  # identity gradient

    m = W.MaskGenerator(TINY)
    bm, cm = m(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    assert bm.shape == (1, 1, 8, 8)
    assert set(bm.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(bm, torch.floor(cm + 0.5))
    bm.mean().backward()
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert grads and any(gr.abs().sum() > 0 for gr in grads)  # gradient reaches the network


def test_critic_weights_unit_norm():
    d = W.Critic(W.CriticConfig(widths=(4, 6)))
    convs = [mod for mod in d.modules() if isinstance(mod, W.NormConv2d)]
    assert len(convs) == 3
    assert convs[0].stride == (2, 2) and convs[0].kernel_size == (5, 5)
    u, c = torch.rand(2, 3, 16, 16), torch.rand(2, 1, 16, 16)
    before = d(u, c)
    assert before.shape == (2,)
    with torch.no_grad():
        for i, conv in enumerate(convs):
            conv.weight.mul_(3.0 + 4 * i)  # rescaling the raw weights changes nothing
            sv = torch.linalg.svdvals(conv.normalised_weight().flatten(1))
            assert abs(sv[0].item() - 1.0) < 1e-5  # unit 2-norm of the weight matrix
    assert torch.allclose(d(u, c), before, atol=1e-5)
    # the effective weight, not the raw one, is used in the forward pass
    x = torch.rand(1, 4, 16, 16)
    ref = torch.nn.functional.conv2d(x, convs[0].normalised_weight(), convs[0].bias, 2, 2)
    assert torch.allclose(convs[0](x), ref, atol=1e-6)


# ------------------------------------------------------------------------------ weights


def test_weights_safetensors_only(tmp_path, monkeypatch):
    monkeypatch.setenv("SPARSECODEC_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match="not found"):
        W.load_bundle("wgan_inpaint")
    g = W.InpaintGenerator(TINY)
    torch.save(g.state_dict(), tmp_path / "pickled.safetensors")  # a pickle, not safetensors
    with pytest.raises(WeightsError, match="cannot read"):
        W.load_bundle(tmp_path / "pickled.safetensors")
    W.save_bundle(tmp_path / "wgan_inpaint.safetensors", g, meta={"steps": 3})
    b = W.load_bundle("wgan_inpaint")
    assert b.mask_generator is None and b.meta["steps"] == "3"
    for k, v in g.state_dict().items():
        assert torch.equal(b.generator.state_dict()[k], v)
    # wrong architecture in the metadata -> clear error, not a traceback
    from safetensors.torch import load_file, save_file

    t = load_file(tmp_path / "wgan_inpaint.safetensors")
    bad = '{"down": [2, 4], "up": [3, 2], "last": 2, "image_channels": 3}'
    save_file(t, tmp_path / "bad.safetensors", metadata={"g_config": bad})
    with pytest.raises(WeightsError, match="do not match"):
        W.load_bundle(tmp_path / "bad.safetensors")


# ------------------------------------------------------------------------------ decoder


@pytest.mark.parametrize("shape", [(1, 1), (17, 33), (9, 6, 3), (5, 7, 1)])
def test_decoder_any_size_deterministic(weights, shape):
    from sparsecodec.inpainting.wgan_decoder import wgan_inpaint

    rng = np.random.default_rng(0)
    im = rng.random(shape) * 255
    mask = rng.random(shape[:2]) < 0.3
    mask.flat[0] = True
    u = wgan_inpaint(im, mask, seed=7)
    assert u.shape == im.shape and u.dtype == np.float64
    assert u.min() >= 0 and u.max() <= 255
    assert np.array_equal(u, wgan_inpaint(im, mask, seed=7))  # same seed -> identical
    assert np.array_equal(u[mask], im[mask])
    if (~mask).sum() > 3:
        assert not np.array_equal(u, wgan_inpaint(im, mask, seed=8))  # noise matters
    # values off the mask are ignored
    im2 = im.copy()
    im2[~mask] = 0
    assert np.array_equal(u, wgan_inpaint(im2, mask, seed=7))


def test_decoder_bad_input(weights, tmp_path):
    from sparsecodec.inpainting.wgan_decoder import wgan_inpaint

    with pytest.raises(OptionError):
        wgan_inpaint(np.zeros((4, 4)), np.ones((4, 5), bool))
    with pytest.raises(ImageError):
        wgan_inpaint(np.zeros((4, 4, 2)), np.ones((4, 4), bool))
    with pytest.raises(WeightsError, match="not found"):
        wgan_inpaint(np.zeros((4, 4)), np.ones((4, 4), bool), model="nonexistent")


def test_tiles_blend_to_partition_of_unity(monkeypatch):
    """Tiled processing of a pointwise function reproduces the one-pass result exactly."""
    monkeypatch.setattr(W, "MAX_PIXELS", 16)
    monkeypatch.setattr(W, "TILE", 16)
    monkeypatch.setattr(W, "OVERLAP", 4)
    x = torch.rand(1, 2, 40, 56)
    y = torch.rand(1, 1, 40, 56)

    def fn(a, b):
        return a * 2 + b

    assert torch.allclose(W.run_tiled(fn, [x, y], 2), fn(x, y), atol=1e-6)


def test_decoder_tiled_large_image(weights, monkeypatch):
    from sparsecodec.inpainting.wgan_decoder import wgan_inpaint

    monkeypatch.setattr(W, "MAX_PIXELS", 256)
    monkeypatch.setattr(W, "TILE", 16)
    monkeypatch.setattr(W, "OVERLAP", 4)
    rng = np.random.default_rng(1)
    im = rng.random((37, 45, 3)) * 255
    mask = rng.random((37, 45)) < 0.1
    u = wgan_inpaint(im, mask, seed=1)
    assert u.shape == im.shape and np.isfinite(u).all()
    assert np.array_equal(u, wgan_inpaint(im, mask, seed=1))


# ------------------------------------------------------------------------------ masks


def test_mask_strategy(weights):
    from sparsecodec.masks.wgan import choose_model, wgan_mask

    assert choose_model(0.04) == "wgan_mask_d05"
    assert choose_model(0.3) == "wgan_mask_d10"
    rng = np.random.default_rng(2)
    luma = rng.random((23, 31)) * 255
    for density in (0.02, 0.1, 0.5):
        b = wgan_mask(luma, density, seed=3)
        assert b.dtype == bool and b.shape == luma.shape
        assert b.sum() == round(density * luma.size)
        assert np.array_equal(b, wgan_mask(luma, density, seed=3))
    colour = rng.random((23, 31, 3)) * 255
    bc = wgan_mask(luma, 0.1, seed=3, colour=colour)
    assert bc.sum() == round(0.1 * luma.size)
    with pytest.raises(ImageError):
        wgan_mask(luma, 0.1, colour=colour[:5])
    with pytest.raises(OptionError):
        wgan_mask(luma, 0.0)
    with pytest.raises(OptionError, match="unknown option"):
        wgan_mask(luma, 0.1, samples=4)  # a learned-mask option is refused, not ignored
    with pytest.raises(OptionError, match="precision"):
        wgan_mask(luma, 0.1, precision="half")


def test_mask_strategy_no_weights(tmp_path, monkeypatch):
    from sparsecodec.masks.wgan import wgan_mask

    monkeypatch.setenv("SPARSECODEC_WEIGHTS", str(tmp_path))
    with pytest.raises(WeightsError, match="no mask WGAN weights"):
        wgan_mask(np.zeros((8, 8)), 0.1)


def test_adjust_count_keeps_confident_pixels():
    from sparsecodec.masks.wgan import adjust_count

    c = np.array([[0.9, 0.6, 0.1], [0.4, 0.55, 0.0]])
    b = c >= 0.5
    assert adjust_count(b, c, 2, 0).tolist() == [[True, True, False], [False, False, False]]
    assert adjust_count(b, c, 4, 0).tolist() == [[True, True, False], [True, True, False]]
    assert adjust_count(b, c, 3, 0).sum() == 3


# ------------------------------------------------------------------------------ misc


def test_lazy_torch_import():
    code = (
        "import sys, sparsecodec, sparsecodec.masks.wgan, sparsecodec.inpainting.wgan_decoder;"
        "assert 'torch' not in sys.modules, 'torch imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _tiny_training_args(tmp_path, seed: int) -> list[str]:
    """Command-line arguments of a tiny mask_wgan run on 2 random 40x48 colour images."""
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(2):
        Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(data / f"{i}.png")
    common = ["--data", str(data), "--val", str(data), "--crop", "16", "--batch", "2"]
    return common + ["--val-n", "2", "--width-scale", "0.25", "--threads", "1"]


def test_training_smoke(tmp_path):
    """Two steps of each mode on a tiny synthetic folder, then resume and export."""
    from sparsecodec.training.mask_wgan import main

    common = _tiny_training_args(tmp_path, 0)
    out = tmp_path / "inp"
    main(["--mode", "inpaint", "--out", str(out), "--max-steps", "2", *common])
    main(["--mode", "inpaint", "--out", str(out), "--max-steps", "3", "--resume", *common])
    ck = torch.load(out / "ckpt.pt", weights_only=False)
    assert ck["step"] == 3
    g = W.load_bundle(out / "last.safetensors").generator
    assert g is not None
    outj = tmp_path / "joint"
    main(
        [
            "--mode",
            "joint",
            "--out",
            str(outj),
            "--max-steps",
            "2",
            "--density",
            "0.1",
            "--init-generator",
            str(out / "last.safetensors"),
            *common,
        ]
    )
    b = W.load_bundle(outj / "best.safetensors")
    assert b.generator is not None and b.mask_generator is not None


# ------------------------------------------------------------------- guided generator

GUIDED = W.HourglassConfig(down=(2, 3), up=(3, 2), last=2, guide=True)


def _perturb_head(g: W.InpaintGenerator, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))


def test_guided_generator_starts_at_diffusion():
    """Zero-initialised head: the untrained guided generator returns the HD inpainting h."""
    from sparsecodec.inpainting.wgan_decoder import diffusion_guide

    torch.manual_seed(3)
    g = W.InpaintGenerator(GUIDED)
    assert g.guided and not W.InpaintGenerator(TINY).guided
    f = torch.rand(2, 3, 12, 16)
    c = (torch.rand(2, 1, 12, 16) < 0.2).float()
    c[:, :, 0, 0] = 1.0
    h = torch.stack(
        [torch.from_numpy(diffusion_guide(f[i].double().numpy(), c[i, 0] > 0)) for i in range(2)]
    ).float()
    u = g.inpaint(f, c, torch.rand(2, 3, 12, 16), h)
    unknown = (c == 0).expand_as(f)
    assert torch.allclose(u[unknown], h[unknown], atol=1e-6)
    assert torch.equal(u[~unknown], f[~unknown])  # Eq. (1)
    with pytest.raises(ValueError, match="diffusion"):
        g(torch.rand(1, 3, 8, 8), c[:1, :, :8, :8], torch.rand(1, 3, 8, 8))
    _perturb_head(g)  # a trained head corrects h
    u2 = g.inpaint(f, c, torch.rand(2, 3, 12, 16), h)
    assert not torch.allclose(u2[unknown], h[unknown], atol=1e-3)


def test_guided_weights_roundtrip(tmp_path):
    torch.manual_seed(4)
    g = W.InpaintGenerator(GUIDED)
    _perturb_head(g)
    W.save_bundle(tmp_path / "guided.safetensors", g)
    b = W.load_bundle(tmp_path / "guided.safetensors")
    assert b.generator.cfg == GUIDED and b.generator.guided
    for k, v in g.state_dict().items():
        assert torch.equal(b.generator.state_dict()[k], v)
    args = [torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8), torch.rand(1, 3, 8, 8)]
    h = torch.rand(1, 3, 8, 8)
    assert torch.equal(b.generator(*args, h), g.eval()(*args, h))
    # weights saved before the option (no "guide" key) load as unguided generators
    from safetensors.torch import load_file, save_file

    W.save_bundle(tmp_path / "old.safetensors", W.InpaintGenerator(TINY))
    t = load_file(tmp_path / "old.safetensors")
    old = '{"down": [2, 3], "up": [3, 2], "last": 2, "image_channels": 3}'
    save_file(t, tmp_path / "old2.safetensors", metadata={"g_config": old})
    assert not W.load_bundle(tmp_path / "old2.safetensors").generator.guided


@pytest.fixture
def guided_weights(tmp_path, monkeypatch):
    """A weights folder whose wgan_inpaint is an untrained guided generator; returns a function
    that perturbs (trains) it in place on disk."""
    from sparsecodec.inpainting import wgan_decoder

    torch.manual_seed(5)
    path = tmp_path / "wgan_inpaint.safetensors"
    W.save_bundle(path, W.InpaintGenerator(GUIDED))
    monkeypatch.setenv("SPARSECODEC_WEIGHTS", str(tmp_path))
    wgan_decoder._load.cache_clear()

    def perturb() -> None:
        g = W.load_bundle(path).generator
        _perturb_head(g, 1)
        W.save_bundle(path, g)
        wgan_decoder._load.cache_clear()

    yield perturb
    wgan_decoder._load.cache_clear()


@pytest.mark.parametrize("shape", [(20, 27, 3), (13, 9)])
def test_guided_decoder_equals_hd_then_deterministic(guided_weights, shape):
    import sparsecodec
    from sparsecodec.inpainting.wgan_decoder import wgan_inpaint

    rng = np.random.default_rng(6)
    im = rng.random(shape) * 255
    mask = rng.random(shape[:2]) < 0.15
    mask.flat[0] = True
    hd = sparsecodec.inpaint(im, mask, method="diffusion", tol=1e-9)
    u = wgan_inpaint(im, mask, seed=2)
    assert np.abs(u - hd).max() < 1e-3  # untrained guided generator = diffusion (float32)
    guided_weights()
    u1 = wgan_inpaint(im, mask, seed=2)
    assert np.abs(u1 - hd).max() > 0.1
    assert np.array_equal(u1, wgan_inpaint(im, mask, seed=2))  # deterministic
    assert np.array_equal(u1[mask], im[mask])
    im2 = im.copy()
    im2[~mask] = 0
    assert np.array_equal(u1, wgan_inpaint(im2, mask, seed=2))  # off-mask values ignored


def test_guided_decoder_tiled(guided_weights, monkeypatch):
    """h is computed once on the whole image; tiling the network keeps the result close to HD
    for the untrained generator and deterministic after training."""
    import sparsecodec
    from sparsecodec.inpainting.wgan_decoder import wgan_inpaint

    monkeypatch.setattr(W, "MAX_PIXELS", 256)
    monkeypatch.setattr(W, "TILE", 16)
    monkeypatch.setattr(W, "OVERLAP", 4)
    rng = np.random.default_rng(7)
    im = rng.random((37, 45, 3)) * 255
    mask = rng.random((37, 45)) < 0.1
    hd = sparsecodec.inpaint(im, mask, method="diffusion", tol=1e-9)
    assert np.abs(wgan_inpaint(im, mask, seed=1) - hd).max() < 1e-3
    guided_weights()
    u = wgan_inpaint(im, mask, seed=1)
    assert np.array_equal(u, wgan_inpaint(im, mask, seed=1))


def test_guided_codec_roundtrip(guided_weights):
    """The encoder's predicted reconstruction is exactly the decoder's (guided generator)."""
    from sparsecodec.codec import decode, encode_image

    guided_weights()
    rng = np.random.default_rng(8)
    im = (rng.random((24, 30, 3)) * 255).astype(np.uint8)
    res = encode_image(im, density=0.1, mask="random", decoder="wgan", seed=5)
    assert np.array_equal(decode(res.data), np.asarray(res.reconstruction))


def test_joint_decoder_uses_the_mask_models_generator(weights):
    """--mask wgan --decoder wgan writes the wgan-joint decoder: the generator bundled with the
    mask model of the mask's density rebuilds the image, in the encoder and the decoder alike;
    other masks keep wgan_inpaint."""
    from sparsecodec.codec import decode, describe, encode_image
    from sparsecodec.decoders import DECODERS
    from sparsecodec.masks.wgan import joint_model

    rng = np.random.default_rng(9)
    im = (rng.random((24, 30, 3)) * 255).astype(np.uint8)
    res = encode_image(im, density=0.1, mask="wgan", decoder="wgan", seed=4, tonal=False)
    assert describe(res.data)["decoder"] == "wgan-joint"
    assert res.stats["decoder"] == "wgan-joint"
    out = decode(res.data)
    assert np.array_equal(out, np.asarray(res.reconstruction))
    assert joint_model(res.mask) == "wgan_mask_d10"
    plain = encode_image(im, density=0.1, mask=res.mask, decoder="wgan", seed=4, tonal=False)
    assert describe(plain.data)["decoder"] == "wgan"  # a custom mask keeps wgan_inpaint
    assert not np.array_equal(decode(plain.data), out)  # the two generators differ
    explicit = encode_image(im, 0.1, mask="random", decoder="wgan-joint", seed=4, tonal=False)
    assert describe(explicit.data)["decoder"] == "wgan-joint"
    assert np.array_equal(decode(explicit.data), np.asarray(explicit.reconstruction))
    assert DECODERS["wgan-joint"].id == 2


def test_training_smoke_guided(tmp_path):
    """--guide trains a guided generator (HD at step 0) and initialises the joint mode."""
    from sparsecodec.training.mask_wgan import main

    common = _tiny_training_args(tmp_path, 0) + ["--guide"]
    out = tmp_path / "inp"
    main(["--mode", "inpaint", "--out", str(out), "--max-steps", "2", *common])
    import csv

    row = next(csv.DictReader(open(out / "val.csv")))
    assert abs(float(row["psnr_g_0.05"]) - float(row["psnr_hd_0.05"])) < 1e-3  # step 0 = HD
    g = W.load_bundle(out / "last.safetensors").generator
    assert g is not None and g.guided
    outj = tmp_path / "joint"
    init = ["--init-generator", str(out / "last.safetensors")]
    main(
        [
            "--mode",
            "joint",
            "--out",
            str(outj),
            "--max-steps",
            "2",
            "--density",
            "0.1",
            *init,
            *common,
        ]
    )
    b = W.load_bundle(outj / "best.safetensors")
    assert b.generator.guided and b.mask_generator is not None


def test_training_pretrain_mask_updates_only_the_mask_generator(tmp_path):
    """--pretrain-mask: Eq. (4) with exact diffusion; g stays as initialised, m learns."""
    from sparsecodec.training.mask_wgan import main

    common = _tiny_training_args(tmp_path, 1) + ["--guide"]
    inp = tmp_path / "inp"
    main(["--mode", "inpaint", "--out", str(inp), "--max-steps", "1", *common])
    joint = tmp_path / "joint"
    main(["--mode", "joint", "--out", str(joint), "--max-steps", "1", "--density", "0.1",
          "--init-generator", str(inp / "last.safetensors"), *common])  # fmt: skip
    start = joint / "last.safetensors"
    out = tmp_path / "pre"
    init = ["--init-generator", str(start), "--init-mask", str(start), "--lr", "1e-2"]
    main(["--mode", "joint", "--pretrain-mask", "--out", str(out), "--max-steps", "3",
          "--density", "0.1", *init, *common])  # fmt: skip
    b0 = W.load_bundle(start)
    ck = torch.load(out / "ckpt.pt", weights_only=False)
    assert ck["step"] == 3
    g0, m0 = b0.generator.state_dict(), b0.mask_generator.state_dict()
    assert all(torch.equal(v, g0[k]) for k, v in ck["g"].items())  # g is not trained
    assert not all(torch.equal(v, m0[k]) for k, v in ck["m"].items())  # m is
    import csv

    rows = list(csv.DictReader(open(out / "val.csv")))
    assert "mask_val_loss_hd" in rows[0] and len(rows) == 2  # step 0 and the end
    with pytest.raises(SystemExit):  # needs the guided generator
        main(["--mode", "joint", "--pretrain-mask", "--out", str(out), "--max-steps", "1",
              *common[:-1]])  # fmt: skip


def test_training_freeze_mask_updates_only_the_generator(tmp_path):
    """--freeze-mask: Eq. (2)-(3) on the fixed mask generator's masks; m stays bit-identical,
    g and the critic learn, the checkpoint resumes; it needs --init-mask."""
    from sparsecodec.training.mask_wgan import main

    common = _tiny_training_args(tmp_path, 1) + ["--guide"]
    joint = tmp_path / "joint"
    main(["--mode", "joint", "--out", str(joint), "--max-steps", "1", "--density", "0.1",
          *common])  # fmt: skip
    start = joint / "last.safetensors"
    out = tmp_path / "fit"
    args = ["--mode", "joint", "--freeze-mask", "--init-mask", str(start), "--init-generator",
            str(start), "--out", str(out), "--density", "0.1", "--lr", "1e-2", *common]  # fmt: skip
    main([*args, "--max-steps", "2"])
    main([*args, "--max-steps", "3", "--resume"])
    b0 = W.load_bundle(start)
    ck = torch.load(out / "ckpt.pt", weights_only=False)
    assert ck["step"] == 3 and "opt_m" not in ck
    g0, m0 = b0.generator.state_dict(), b0.mask_generator.state_dict()
    assert all(torch.equal(v, m0[k]) for k, v in ck["m"].items())  # m is not trained
    assert not all(torch.equal(v, g0[k]) for k, v in ck["g"].items())  # g is
    rows = csv_rows(out / "log.csv")
    assert rows[-1][5] == "0.00000"  # no mask-generator loss
    with pytest.raises(SystemExit):  # needs the mask generator to start from
        main(["--mode", "joint", "--freeze-mask", "--out", str(out), "--max-steps", "1",
              *common])  # fmt: skip


def test_noise_skip_threshold_init_gives_the_random_mask(tmp_path):
    """init_threshold: with the trunk part of the head zeroed, b = [r_0 < D] exactly, and the
    noise-skip configuration survives a save/load round trip."""
    from dataclasses import replace

    m = W.MaskGenerator(replace(TINY, noise_skip=True))
    with pytest.raises(ValueError):
        W.MaskGenerator(TINY).init_threshold(0.1)
    m.init_threshold(0.1)
    with torch.no_grad():
        m.head.weight[: m.features] = 0.0
    r, f = torch.rand(2, 3, 16, 12), torch.rand(2, 3, 16, 12)
    b, c = m(r, f)
    assert torch.equal(b, (r[:, :1] < 0.1).float())
    assert torch.allclose(c, torch.nn.functional.hardsigmoid(12.0 * (0.1 - r[:, :1])), atol=1e-6)
    W.save_bundle(tmp_path / "m.safetensors", None, m)
    m2 = W.load_bundle(tmp_path / "m.safetensors").mask_generator
    assert m2.cfg.noise_skip
    assert torch.equal(m2(r, f)[1], c)


def test_training_distill_mask_fits_the_teacher(tmp_path):
    """--distill-mask trains only m towards the teacher's coin flips r_0 < p (fewer wrong pixels
    after training); it needs --guide and excludes --pretrain-mask."""
    from safetensors.torch import save_file

    from sparsecodec.masks import learned
    from sparsecodec.nets.unet import MaskNet
    from sparsecodec.training.mask_wgan import main

    torch.manual_seed(0)
    teacher = tmp_path / "teacher.safetensors"
    net = MaskNet(4, 2, 1)
    meta = {"format": learned.FORMAT, "base": "4", "scales": "2", "layers": "1"}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(teacher), metadata=meta)
    learned._load_net.cache_clear()
    common = _tiny_training_args(tmp_path, 2) + ["--guide"]
    out = tmp_path / "distill"
    args = ["--mode", "joint", "--distill-mask", str(teacher), "--noise-skip", "--out", str(out),
            "--density", "0.1", "--lr", "3e-3", *common]  # fmt: skip
    main([*args, "--max-steps", "1"])
    first = [float(r[4]) for r in csv_rows(out / "log.csv")]
    g1 = W.load_bundle(out / "last.safetensors").generator.state_dict()
    main([*args, "--max-steps", "60", "--resume"])
    rows = csv_rows(out / "log.csv")
    assert rows[-1][0] == "60"
    late = [float(r[4]) for r in rows[-3:]]  # column "mae" = fraction of pixels != teacher
    assert np.mean(late) < first[0]
    b = W.load_bundle(out / "last.safetensors")
    assert b.mask_generator.cfg.noise_skip and b.generator.guided
    assert all(torch.equal(v, g1[k]) for k, v in b.generator.state_dict().items())  # g fixed
    with pytest.raises(SystemExit):
        main([*args, "--pretrain-mask", "--max-steps", "1"])


def csv_rows(path):
    import csv

    return list(csv.reader(open(path)))[1:]


def test_mask_strategy_noise_skip_model(tmp_path):
    """A noise-skip mask model whose trunk is silenced returns uniformly random masks of its
    density D (raw), seeded and exact in count after adjustment."""
    from dataclasses import replace

    from sparsecodec.masks.wgan import wgan_mask

    m = W.MaskGenerator(replace(TINY, noise_skip=True))
    m.init_threshold(0.2)
    with torch.no_grad():
        m.head.weight[: m.features] = 0.0
    path = tmp_path / "wgan_mask_d20.safetensors"
    W.save_bundle(path, W.InpaintGenerator(TINY), m)
    luma = np.random.default_rng(0).random((64, 64)) * 255
    raw = wgan_mask(luma, 0.2, seed=1, model=str(path), exact=False)
    assert abs(raw.mean() - 0.2) < 0.03
    assert not np.array_equal(raw, wgan_mask(luma, 0.2, seed=2, model=str(path), exact=False))
    b = wgan_mask(luma, 0.05, seed=1, model=str(path), refine=0)
    assert b.sum() == round(0.05 * luma.size) and np.all(raw[b])  # kept: the most confident
    # default: 60 % of the points from the generator (its most confident), the rest densified
    d = wgan_mask(luma, 0.05, seed=1, model=str(path))
    assert d.sum() == b.sum()
    first = round(0.6 * b.sum())
    assert np.all(raw[d & b]) and (d & b).sum() >= first


def test_decoder_precision_is_stored_and_obeyed(weights):
    """The encoder's precision of the WGAN generator is stored in the stream (FLAG_BFLOAT16)
    and the decoder computes with it: the encoder's reconstruction equals the decoder's in
    both precisions, and the two precisions rebuild different images from the same data."""
    from sparsecodec.codec import decode, describe, encode_image
    from sparsecodec.coding.header import FLAG_BFLOAT16, parse_header
    from sparsecodec.nets.precision import resolve_precision

    rng = np.random.default_rng(3)
    im = (rng.random((40, 48, 3)) * 255).astype(np.uint8)
    mask = rng.random((40, 48)) < 0.1
    out = {}
    for p in ("float32", "bfloat16", "auto"):
        res = encode_image(im, 0.1, mask=mask, decoder="wgan", seed=2, precision=p)
        stored = resolve_precision(p)
        assert describe(res.data)["precision"] == stored
        assert bool(parse_header(res.data).flags & FLAG_BFLOAT16) == (stored == "bfloat16")
        out[p] = decode(res.data)
        assert np.array_equal(out[p], np.asarray(res.reconstruction))
    assert not np.array_equal(out["float32"], out["bfloat16"])
    hd = encode_image(im, 0.1, mask=mask, precision="bfloat16")
    assert describe(hd.data)["precision"] is None  # the diffusion decoder has no precision
    assert not parse_header(hd.data).flags & FLAG_BFLOAT16


def test_training_mse_without_critic(tmp_path):
    """--alpha 0 --loss mse: the generator learns from the squared error alone; the critic is
    never updated (its weights stay as initialised) and the logged critic loss is 0."""
    import csv

    from sparsecodec.training.mask_wgan import main

    common = _tiny_training_args(tmp_path, 1) + ["--guide", "--alpha", "0", "--loss", "mse"]
    out = tmp_path / "mse"
    main(["--mode", "inpaint", "--out", str(out), "--max-steps", "1", "--lr", "1e-3", *common])
    d0 = {k: v.clone() for k, v in torch.load(out / "ckpt.pt", weights_only=False)["d"].items()}
    g0 = W.load_bundle(out / "last.safetensors").generator.state_dict()
    main(["--mode", "inpaint", "--out", str(out), "--max-steps", "4", "--resume", *common])
    ck = torch.load(out / "ckpt.pt", weights_only=False)
    assert ck["step"] == 4 and ck["args"]["loss"] == "mse"
    assert all(torch.equal(d0[k], v) for k, v in ck["d"].items())
    g1 = W.load_bundle(out / "last.safetensors").generator.state_dict()
    assert any(not torch.equal(g0[k], g1[k]) for k in g0)
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert rows and all(float(r["loss_d"]) == 0.0 for r in rows)
    # the logged generator loss is the scaled MSE, not the MAE
    assert any(abs(float(r["loss_g"]) - float(r["mae"])) > 1e-6 for r in rows)


@pytest.mark.parametrize("decoder", ["wgan", "wgan-joint"])
def test_stream_refuses_other_weights(weights, tmp_path, decoder):
    """A network stream stores the identity of its weights (nets.zoo.tag, the first 4 bytes of
    the file's SHA-256); after the weights change, decoding fails with a clear message instead
    of rebuilding other pixels; the CLI reports it in one line."""
    import hashlib

    from click.testing import CliRunner

    from sparsecodec.cli import cli
    from sparsecodec.codec import decode, describe, encode_image
    from sparsecodec.errors import WeightsError
    from sparsecodec.inpainting import wgan_decoder
    from sparsecodec.nets import zoo

    im = (np.random.default_rng(3).random((24, 32, 3)) * 255).astype(np.uint8)
    res = encode_image(im, 0.1, mask="random", decoder=decoder, seed=1, tonal=False)
    name = "wgan_inpaint" if decoder == "wgan" else "wgan_mask_d10"
    digest = hashlib.sha256((weights / f"{name}.safetensors").read_bytes()).digest()
    assert zoo.tag(name) == int.from_bytes(digest[:4], "little")
    assert describe(res.data)["decoder"] == decoder
    assert np.array_equal(decode(res.data), np.asarray(res.reconstruction))
    torch.manual_seed(9)  # other weights under the same name
    W.save_bundle(weights / f"{name}.safetensors", W.InpaintGenerator(TINY), W.MaskGenerator(TINY))
    wgan_decoder._load.cache_clear()
    with pytest.raises(WeightsError, match="stream made with other"):
        decode(res.data)
    (tmp_path / "s.bin").write_bytes(res.data)
    r = CliRunner().invoke(cli, ["decode", str(tmp_path / "s.bin"), "-o", str(tmp_path / "o.png")])
    assert r.exit_code != 0 and "stream made with other" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "o.png").exists()
