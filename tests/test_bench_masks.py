"""CI-speed test of benchmarks/masks.py with learned masks, on tiny generated images."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from benchmarks import masks as bench  # noqa: E402
from sparsecodec.io import write_image  # noqa: E402
from sparsecodec.masks.learned import weights_path  # noqa: E402

pytestmark = pytest.mark.skipif(
    not weights_path().is_file(), reason="learned-mask weights not available"
)


@pytest.fixture(autouse=True)
def _restore_threads():
    """The benchmark sets torch / Numba thread counts; restore them for the other tests."""
    import numba
    import torch

    nt, nn = torch.get_num_threads(), numba.get_num_threads()
    yield
    torch.set_num_threads(nt)
    numba.set_num_threads(nn)


def _data(root: Path) -> Path:
    (root / "classic").mkdir(parents=True)
    (root / "kodak").mkdir()
    g = bench.generated_image(32)
    write_image(root / "classic" / "tiny.png", np.round(g).astype(np.uint8))
    rgb = np.stack([g[:24], g[:24, ::-1], g[8:]], axis=-1)
    write_image(root / "kodak" / "kodim01.png", np.round(rgb).astype(np.uint8))
    return root


def _rows(md: str, section: str) -> list[list[str]]:
    """Body rows of the first Markdown table after the heading ``section``."""
    lines = md.split(section, 1)[1].splitlines()
    start = next(i for i, s in enumerate(lines) if s.startswith("|"))
    rows = []
    for s in lines[start + 2 :]:
        if not s.startswith("|"):
            break
        rows.append([c.strip() for c in s.strip("|").split("|")])
    return rows


def test_masks_benchmark_learned_rows(tmp_path):
    data = _data(tmp_path / "data")
    out, cache = tmp_path / "res" / "masks.md", tmp_path / "cache.npz"
    argv = ["--data", str(data), "--classic", "tiny", "--densities", "5,10"]
    argv += ["--nlpe-cycles", "0.5", "--kodak", "1", "--kodak-ps-densities", "10"]
    argv += ["--samples", "2", "--net-size", "32", "--net-repeats", "1"]
    argv += ["--cache", str(cache), "--out", str(out)]
    bench.main(argv)
    md = out.read_text()
    rows = _rows(md, "## All rows")
    got = {(r[0], r[2], r[3].split(" (")[0]) for r in rows}
    for d in ("5 %", "10 %"):
        for m in ("Belhachmi", "PS", "PS+NLPE", "learned"):
            assert ("tiny", d, m) in got
        assert ("kodim01", d, "learned") in got and ("kodim01", d, "Belhachmi") in got
    assert ("kodim01", "10 %", "PS") in got and ("kodim01", "5 %", "PS") not in got
    for r in rows:  # kept %, MSE, PSNR, MSE +tonal, PSNR +tonal are finite numbers
        assert all(math.isfinite(float(v)) for v in r[4:9])
        assert all(math.isfinite(float(t)) for t in r[9].split(" / "))
    summary = _rows(md, "## Summary")
    assert {r[0] for r in summary} >= {"learned", "learned + tonal", "PS+NLPE + tonal"}
    assert all(math.isfinite(float(c.split(" (")[0])) for r in summary for c in r[1:])
    speed = _rows(md, "## Mask-generation time")
    assert {(r[0], r[1]) for r in speed} >= {("classic", "5 %"), ("Kodak", "10 %")}
    assert all(r[-1].endswith("x") for r in speed if r[0] == "classic")
    assert "| learned mask >= 1000x faster than PS+NLPE (CPU) | classic (1) | 5 % |" in md
    assert "**Network pass**" in md and "Targets of issue 5" in md
    from benchmarks.common import network_precisions

    for prec in network_precisions():  # one timing line per precision, the default marked
        assert f"- {prec}{' (default)' if prec == network_precisions()[0] else ''}: **" in md
    assert "Partial results" not in md

    # PS / NLPE masks come from the cache on a second run: identical quality columns
    stored = dict(np.load(cache))
    assert len(stored) == 2 * 2 * 2 + 2 * 2  # tiny: 2 densities x (PS, NLPE); kodim01: 10 %
    bench.main(argv)
    md2 = out.read_text()
    assert "PS / NLPE masks and their times were read from the cache" in md2
    again = _rows(md2, "## All rows")
    assert [r[:9] for r in again if r[3] != "learned"] == [r[:9] for r in rows if r[3] != "learned"]


def test_masks_benchmark_rejects_unknown_method(tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--methods", "belhachmi,nope", "--out", str(tmp_path / "x.md")])


def test_targets_pair_images():
    # the learned-vs-reference difference is a mean over the images that have both methods
    def rec(image, m, psnr):
        return {"set": "Kodak", "d": 0.05, "m": m, "image": image, "psnr": psnr, "psnr_t": psnr}

    recs = [rec("a", "learned", 30.0), rec("b", "learned", 20.0), rec("a", "ps", 29.0)]
    recs += [rec("a", "belhachmi", 28.0), rec("b", "belhachmi", 19.5)]
    assert bench.paired(recs, "Kodak", 0.05, "learned", "ps", "psnr") == (1.0, 1)
    assert bench.paired(recs, "Kodak", 0.05, "learned", "belhachmi", "psnr") == (1.25, 2)
    diff, n = bench.paired(recs, "Kodak", 0.1, "learned", "ps", "psnr")
    assert n == 0 and math.isnan(diff)
    md = "\n".join(bench.targets(recs, ["Kodak"], [0.05]))
    assert "| learned >= PS | Kodak (1) | 5 % | +1.00 dB | yes |" in md
    assert "| learned >= Belhachmi + 1 dB | Kodak (2) | 5 % | +1.25 dB | yes |" in md


def test_masks_benchmark_kodak_ps_count(tmp_path):
    # --kodak-ps-count 1: PS / NLPE only on the first Kodak image, the others get the fast methods
    data = _data(tmp_path / "data")
    rgb = np.round(np.stack([bench.generated_image(24, seed=s) for s in (1, 2, 3)], -1))
    write_image(data / "kodak" / "kodim02.png", rgb.astype(np.uint8))
    out = tmp_path / "masks.md"
    argv = ["--data", str(data), "--classic", "", "--densities", "10", "--kodak", "2"]
    argv += ["--kodak-ps-count", "1", "--nlpe-cycles", "0.5", "--kodak-nlpe-cycles", "0.5"]
    argv += ["--methods", "belhachmi,ps,learned", "--samples", "1", "--net-size", "0"]
    bench.main(argv + ["--out", str(out)])
    md = out.read_text()
    got = {(r[0], r[3]) for r in _rows(md, "## All rows")}
    assert got == {(n, m) for n in ("kodim01", "kodim02") for m in ("Belhachmi", "learned")} | {
        ("kodim01", "PS")
    }
    assert "PS / NLPE only on the first 1 image(s)" in md
    assert "| learned >= PS | Kodak (1) | 10 % |" not in md  # PS target only at <= 5 %
    assert "| learned >= Belhachmi + 1 dB | Kodak (2) | 10 % |" in md
