"""The first-run compile notice (sparsecodec.firstrun): one line when the package's kernels
start compiling, nothing for other code or when the kernels are cached."""

from __future__ import annotations

import io

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
