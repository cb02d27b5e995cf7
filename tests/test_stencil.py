"""One stencil: the torch mirror used for training equals the solver core's Laplacian/residual."""

import numpy as np
import pytest
from reference import neumann_laplacian

torch = pytest.importorskip("torch")

from sparsecodec.inpainting import operators as ops  # noqa: E402
from sparsecodec.training.diffusion_masks import laplacian, residual_loss  # noqa: E402


@pytest.mark.parametrize("shape", [(13, 17), (1, 9), (8, 1), (2, 2)])
def test_torch_laplacian_equals_core(rng, shape):
    u = rng.uniform(0, 1, (3, *shape))
    ref = ops.laplacian(u)
    got = laplacian(torch.from_numpy(u)[None]).numpy()[0]
    np.testing.assert_allclose(got, ref, atol=1e-6)
    got32 = laplacian(torch.from_numpy(u).float()[None]).numpy()[0]
    np.testing.assert_allclose(got32, ref, atol=1e-6)
    # The core's Numba residual kernel (A u on unknown pixels) and its sparse matrix agree.
    known = (rng.random(shape) < 0.3).astype(np.uint8)
    out = np.empty_like(u)
    ops.residual(u, known, np.zeros((1, 1, 1)), False, out)
    np.testing.assert_allclose(out, np.where(known[None] == 1, 0.0, ref), atol=1e-12)
    A = ops.laplacian_matrix(*shape)
    np.testing.assert_allclose((A @ u[0].ravel()).reshape(shape), ref[0], atol=1e-12)
    assert abs(A - neumann_laplacian(*shape)).max() == 0


def test_torch_residual_loss_equals_core_residual(rng):
    f = rng.uniform(0, 1, (1, 1, 12, 10))
    u = rng.uniform(0, 1, (1, 1, 12, 10))
    c = (rng.random((1, 1, 12, 10)) < 0.2).astype(np.float64)
    loss = residual_loss(torch.from_numpy(u), torch.from_numpy(f), torch.from_numpy(c)).item()
    # Core: C (u - f) on the mask, -(A u) elsewhere (the residual kernel's A u, sign irrelevant).
    out = np.empty((1, 12, 10))
    ops.residual(u[0], c[0, 0].astype(np.uint8), np.zeros((1, 1, 1)), False, out)
    r = c[0] * (u[0] - f[0]) - out
    assert loss == pytest.approx(float(np.mean(r * r)), rel=1e-6, abs=1e-12)
