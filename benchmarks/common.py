"""Shared helpers of the benchmark scripts: data folder, image lists, Markdown tables."""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_DATA = Path(os.environ.get("SPARSECODEC_DATA", ROOT.parent / "shared" / "data"))


def images(folder: Path, pattern: str = "*.png", limit: int | None = None) -> list[Path]:
    files = sorted(Path(folder).glob(pattern))
    if not files:
        sys.exit(f"error: no images matching {pattern!r} in {folder}")
    return files[:limit] if limit else files


def load(path: Path, grey: bool = False) -> np.ndarray:
    from sparsecodec.colour import luma
    from sparsecodec.io import read_image

    a = read_image(path)
    if grey and a.ndim == 3:
        a = np.clip(np.round(luma(a)), 0, 255).astype(np.uint8)
    return a


def table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def machine() -> str:
    import numba

    load = ""
    if hasattr(os, "getloadavg"):
        load = ", load average at the end of the run {:.1f} / {:.1f} / {:.1f}".format(
            *os.getloadavg()
        )
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, NumPy {np.__version__}, "
        f"Numba {numba.__version__}{load}"
    )


def command() -> str:
    return "python -m benchmarks." + Path(sys.argv[0]).stem + " " + " ".join(sys.argv[1:])


def network_precisions() -> list[str]:
    """Precisions to time the networks at: the default (``auto``) of this machine first, then
    float32 if that is not the default (``sparsecodec.nets.precision``)."""
    from sparsecodec.nets.precision import resolve_precision

    default = resolve_precision("auto")
    return [default] + (["float32"] if default != "float32" else [])


def code_hash(wgan: bool = True) -> str:
    """Hash of the sparsecodec sources and weight files (cached points depend on them).

    ``wgan=False`` leaves out the WGAN modules and weights (files named ``*wgan*``): points of
    configurations that use neither the WGAN mask nor the WGAN decoder do not depend on them.
    """
    h = hashlib.sha1()
    pkg = ROOT / "sparsecodec"
    for p in sorted(pkg.rglob("*.py")):
        if "training" in p.relative_to(pkg).parts or (not wgan and "wgan" in p.name):
            continue
        h.update(str(p.relative_to(pkg)).encode())
        h.update(p.read_bytes())
    for p in sorted((ROOT / "weights").glob("*.safetensors")):
        if not wgan and "wgan" in p.name:
            continue
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]
