"""The first run after an install: a notice while Numba compiles, and a second compiling process.

Numba compiles each kernel on its first call and caches the machine code (``cache=True``) in
``__pycache__`` beside the sources (or under ``$NUMBA_CACHE_DIR``); later processes load it.
The first encode after an install therefore spends about half a minute compiling.

* :func:`install` registers a listener of Numba's compile events that prints one line on stderr
  when the first kernel of the package starts compiling, a progress line (count and seconds)
  while kernels compile on a terminal, and a last line with the number of kernels and the time
  spent. Nothing is printed when the kernels are cached.
* :func:`start_background_compile` starts ``python -m sparsecodec.firstrun`` beside the first
  ``encode``/``decode`` on a machine with two or more cores: it runs :func:`warm`, which
  compiles the kernels an encode needs last (the value coder, the EED stencil, the CG
  updates) on tiny problems while the command compiles the multigrid kernels it needs first,
  and writes them to the same cache, where the command then finds them.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import subprocess
import sys
import time

_PACKAGE = __name__.rpartition(".")[0]
#: set in the background compiling process (it starts no other)
_WORKER_ENV = "SPARSECODEC_FIRSTRUN_WORKER"
_state: dict = {}


def _cache_dir(source_dir: str) -> str:
    """Where Numba caches the kernels of the modules in ``source_dir``: ``__pycache__`` beside
    them, or with ``$NUMBA_CACHE_DIR`` Numba's per-folder subdirectory of it (its
    ``UserProvidedCacheLocator``: the folder name and the SHA-1 of its absolute path)."""
    root = os.environ.get("NUMBA_CACHE_DIR")
    if not root:
        return os.path.join(source_dir, "__pycache__")
    digest = hashlib.sha1(source_dir.encode()).hexdigest()
    return os.path.join(root, f"{os.path.basename(source_dir)}_{digest}")


def cached() -> bool:
    """Whether the solver's kernels look compiled already (a cheap check that imports nothing:
    the cache index of one kernel, ``inpainting/operators.py``'s ``residual``)."""
    if os.environ.get("NUMBA_DISABLE_JIT"):
        return True
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inpainting")
    try:
        names = os.listdir(_cache_dir(source))
    except OSError:
        return False
    return any(n.startswith("operators.residual-") and n.endswith(".nbi") for n in names)


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
                    "(about half a minute, once; cached for later runs)\n"
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


def start_background_compile() -> subprocess.Popen | None:
    """Start ``python -m sparsecodec.firstrun`` (:func:`warm`) unless the kernels look cached,
    the machine has one core, or this is that process already. Its output is discarded; it
    ends by itself (with ``NUMBA_NUM_THREADS=1``) and is left to finish after the command."""
    if os.environ.get(_WORKER_ENV) or (os.cpu_count() or 1) < 2 or cached():
        return None
    env = dict(os.environ, **{_WORKER_ENV: "1", "NUMBA_NUM_THREADS": "1"})
    try:
        return subprocess.Popen(
            [sys.executable, "-m", __name__],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    except OSError:  # no second process: the command compiles everything itself
        return None


def warm() -> None:
    """Compile (or load from the cache) the kernels an encode calls last, on tiny problems with
    the argument types the codec passes: the value coder (:mod:`sparsecodec.coding.value_coder`,
    encode and decode), the EED stencil and its CG (:func:`~sparsecodec.inpainting.anisotropic.
    eed_solve`, :func:`~sparsecodec.inpainting.anisotropic.eed_apply`) and plain CG
    (:func:`~sparsecodec.inpainting.solve.solve`), in that order, the reverse of an encode's."""
    import numpy as np

    from .coding.value_coder import decode_values, encode_values
    from .inpainting.anisotropic import eed_apply, eed_solve, eed_tensor
    from .inpainting.solve import Preconditioner, solve

    mask = np.zeros((8, 8), bool)
    mask[::3, ::3] = True
    levels = [12, 18, 18]
    q = (np.arange(3 * int(mask.sum())) % 12).reshape(3, -1)
    decode_values(encode_values(q, levels, mask), levels, mask, 3)
    f = np.linspace(0.0, 255.0, 3 * 64).reshape(3, 8, 8)
    tensor = eed_tensor(f, lam=2.0, sigma=1.0)
    eed_solve(f, mask, tensor, preconditioner=Preconditioner(mask, "cg"), maxiter=3)
    eed_apply(f, tensor)
    solve(f, mask, solver="cg", maxiter=3)


if __name__ == "__main__":
    warm()
