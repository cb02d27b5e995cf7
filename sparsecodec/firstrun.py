"""A notice while Numba compiles the package's kernels (the first run after an install).

Numba compiles each kernel on its first call and caches the machine code (``cache=True``) in
``__pycache__`` beside the sources (or under ``$NUMBA_CACHE_DIR``); later processes load it.
The first encode after an install therefore spends about a minute compiling. :func:`install`
registers a listener of Numba's compile events that prints one line on stderr when the first
kernel of the package starts compiling, a progress line (count and seconds) while kernels
compile on a terminal, and a last line with the number of kernels and the time spent. Nothing
is printed when the kernels are cached.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from pathlib import Path

_PACKAGE = __name__.rpartition(".")[0]
_state: dict = {}


def cached() -> bool:
    """Whether the solver's kernels look compiled already (a cheap check that imports nothing:
    the cache index of one kernel in the source tree's ``__pycache__``)."""
    if os.environ.get("NUMBA_CACHE_DIR") or os.environ.get("NUMBA_DISABLE_JIT"):
        return bool(os.environ.get("NUMBA_DISABLE_JIT"))
    pyc = Path(__file__).resolve().parent / "inpainting" / "__pycache__"
    return any(pyc.glob("operators.residual-*.nbi"))


def install(stream=None) -> None:
    """Register the compile notice (once per process) unless the kernels look cached."""
    if _state or cached():
        return
    from numba.core import event

    out = stream if stream is not None else sys.stderr
    tty = bool(getattr(out, "isatty", lambda: False)())
    _state.update(out=out, n=0, depth=0, t0=None)

    class _Notice(event.Listener):
        def on_start(self, ev: event.Event) -> None:
            _state["depth"] += 1
            fn = getattr(ev.data.get("dispatcher"), "py_func", None)
            if not getattr(fn, "__module__", "").startswith(_PACKAGE + "."):
                return
            if _state["t0"] is None:
                _state["t0"] = time.perf_counter()
                out.write(
                    "sparsecodec: first run: compiling the Numba kernels "
                    "(about a minute, once; cached for later runs)\n"
                )
                atexit.register(_finish)
            _state["n"] += 1
            if tty:  # a progress line while compiling, cleared when the kernel is done
                dt = time.perf_counter() - _state["t0"]
                out.write(f"\r  kernels compiled: {_state['n']} ({dt:.0f} s)\033[K")
            out.flush()

        def on_end(self, ev: event.Event) -> None:
            _state["depth"] -= 1
            if tty and _state["depth"] == 0 and _state["t0"] is not None:
                out.write("\r\033[K")
                out.flush()

    _state["listener"] = _Notice()
    event.register("numba:compile", _state["listener"])


def _finish() -> None:
    dt = time.perf_counter() - _state["t0"]
    _state["out"].write(f"sparsecodec: compiled {_state['n']} kernels in {dt:.0f} s\n")
    _state["out"].flush()
