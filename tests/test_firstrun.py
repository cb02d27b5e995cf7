"""The first-run compile notice (sparsecodec.firstrun): one line when the package's kernels
start compiling, nothing for other code or when the kernels are cached."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

numba = pytest.importorskip("numba")
from numba.core import event  # noqa: E402

from sparsecodec import firstrun  # noqa: E402


def _kernel(module: str):
    ns = {"__name__": module}
    exec("def f(x):\n    return x + 1\n", ns)
    return numba.njit(ns["f"])


@pytest.fixture
def notice(monkeypatch):
    monkeypatch.setattr(firstrun, "cached", lambda: False)
    monkeypatch.setattr(firstrun.atexit, "register", lambda fn: None)
    firstrun._state.clear()
    out = io.StringIO()
    firstrun.install(out)
    yield out
    event.unregister("numba:compile", firstrun._state["listener"])
    firstrun._state.clear()


def test_notice_on_the_packages_compiles_only(notice):
    _kernel("numpy_not_ours")(1)
    assert notice.getvalue() == ""
    assert _kernel("sparsecodec._fake_kernels")(1) == 2
    assert _kernel("sparsecodec._fake_kernels")(2.0) == 3.0
    text = notice.getvalue()
    assert text.startswith("sparsecodec: first run: compiling the Numba kernels")
    assert text.count("\n") == 1 and firstrun._state["n"] == 2
    firstrun._finish()
    assert notice.getvalue().splitlines()[-1].startswith("sparsecodec: compiled 2 kernels in")


def test_nothing_when_cached(monkeypatch):
    monkeypatch.setattr(firstrun, "cached", lambda: True)
    firstrun._state.clear()
    firstrun.install(io.StringIO())
    assert firstrun._state == {}


def test_cache_dir_is_numbas(monkeypatch, tmp_path):
    """firstrun looks where Numba's own cache locator puts a kernel's index."""
    from numba.core import caching, config

    from sparsecodec.inpainting import operators

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path))
    fn = operators.residual.py_func
    locator = caching.UserProvidedCacheLocator.from_function(fn, operators.__file__)
    source = str(Path(operators.__file__).absolute().parent)
    assert firstrun._cache_dir(source) == locator.get_cache_path()


def test_cached_looks_for_the_residual_index(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert not firstrun.cached()
    source = os.path.join(os.path.dirname(os.path.abspath(firstrun.__file__)), "inpainting")
    folder = Path(firstrun._cache_dir(source))
    folder.mkdir(parents=True)
    (folder / "operators.dot-152.py311.nbi").write_bytes(b"")
    assert not firstrun.cached()
    (folder / "operators.residual-70.py311.nbi").write_bytes(b"")
    assert firstrun.cached()
    assert firstrun.start_background_compile() is None  # nothing to compile


def test_no_background_process_inside_the_background_process(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))  # an empty cache: not cached
    monkeypatch.setenv(firstrun._WORKER_ENV, "1")
    assert firstrun.start_background_compile() is None


_WARM_COVERS_ENCODE = """
import numpy as np, sparsecodec
from sparsecodec import firstrun
from sparsecodec.coding import value_coder
from sparsecodec.inpainting import anisotropic, operators

def kernels():
    out = {}
    for mod in (value_coder, anisotropic, operators):
        for name, obj in vars(mod).items():
            if hasattr(obj, "signatures") and hasattr(obj, "py_func"):
                out[mod.__name__ + "." + name] = set(map(str, obj.signatures))
    return out

firstrun.warm()
before = kernels()
entries = ["coding.value_coder._advance", "coding.value_coder._advance_known",
           "inpainting.anisotropic._apply", "inpainting.anisotropic._residual",
           "inpainting.anisotropic._matvec_dot", "inpainting.operators.residual",
           "inpainting.operators.rhs_norm", "inpainting.operators.matvec_dot",
           "inpainting.operators.cg_update", "inpainting.operators.dot",
           "inpainting.operators.xpby"]  # (helpers inlined into them have no signatures)
assert all(before["sparsecodec." + k] for k in entries)
rng = np.random.default_rng(0)
img = (rng.random((48, 40, 3)) * 255).astype(np.uint8)
for kw in ({}, {"decoder": "diffusion"}):
    sparsecodec.decode(sparsecodec.encode(img, **kw))
sparsecodec.decode(sparsecodec.encode(img[..., 0]))
after = kernels()
new = {k: after[k] - before[k] for k in after if after[k] - before[k]}
assert not new, new
print("ok", len(before))
"""


def test_warm_compiles_every_signature_an_encode_uses_of_its_kernels():
    """The background process compiles exactly what the codec later calls: after warm(), an
    encode and decode (EED and diffusion, colour and grey) add no signature to the value coder,
    EED stencil or CG kernels (a fresh process, so no other test's calls count)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    run = subprocess.run(
        [sys.executable, "-c", _WARM_COVERS_ENCODE], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("ok")
