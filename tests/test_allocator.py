"""The glibc heap setting applied for CPU network inference (sparsecodec.nets.allocator)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest


def _has_mallinfo2() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")  # glibc >= 2.33


pytestmark = pytest.mark.skipif(not _has_mallinfo2(), reason="needs glibc >= 2.33")

# Allocate and free a 16 MiB NumPy array, then report whether glibc served it with mmap
# (mallinfo2's hblkhd counts bytes in mmapped blocks while the array is alive).
PROBE = """
import ctypes, sys
import numpy as np

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "apply":
    from sparsecodec.nets.allocator import retain_freed_memory
    print("applied", retain_freed_memory())
before = libc.mallinfo2().hblkhd
a = np.ones(2 * 2**20)  # 16 MiB
print("mmapped", libc.mallinfo2().hblkhd - before >= a.nbytes)
"""


def _probe(mode: str, env: dict[str, str] | None = None) -> str:
    full = {**os.environ, **(env or {})}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=full, check=True
    )
    return out.stdout


def test_large_blocks_come_from_the_heap_once_applied():
    assert "mmapped True" in _probe("none")  # glibc default: a fresh mmap for 16 MiB
    out = _probe("apply", {"SPARSECODEC_KEEP_HEAP": "1"})
    assert "applied True" in out and "mmapped False" in out


def test_opt_out_by_environment():
    out = _probe("apply", {"SPARSECODEC_KEEP_HEAP": "0"})
    assert "applied False" in out and "mmapped True" in out
