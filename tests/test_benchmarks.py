"""Benchmark machinery (benchmarks/rd.py, speed.py, __main__.py) on tiny generated images."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import __main__ as bench_main
from benchmarks import rd, speed


@pytest.fixture(autouse=True)
def _one_numba_thread():
    """Serial Numba kernels: on a busy 2-core machine each parallel region of the solver can
    cost milliseconds of thread wake-up, which dominates on the tiny test images."""
    import numba

    n = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(n)


def _curve(rates, offset=0.0, scale=1.0):
    """A smooth concave RD curve ``q = 30 + 6 log2(rate / scale) + offset``."""
    return [(r, 30.0 + 6.0 * math.log2(r / scale) + offset) for r in rates]


def test_front_keeps_pareto_points():
    pts = [
        (0.1, 20.0),
        (0.2, 25.0),
        (0.2, 24.0),
        (0.3, 25.5),
        (0.4, 29.0),
        (0.35, 22.0),
        (0.8, 30.0),
        (0.05, 21.0),
        (1.0, float("inf")),
    ]
    h = rd.rd_front(pts)
    rates = [r for r, _ in h]
    qs = [q for _, q in h]
    assert rates == sorted(rates) and all(b > a for a, b in zip(qs, qs[1:], strict=False))
    # dominated: (0.1, 20) by (0.05, 21), (0.2, 24) by (0.2, 25), (0.35, 22) by (0.3, 25.5);
    # (0.3, 25.5) lies below the chord (0.2, 25)-(0.4, 29) but is a real operating point
    assert h == [(0.05, 21.0), (0.2, 25.0), (0.3, 25.5), (0.4, 29.0), (0.8, 30.0)]


def test_interpolate_and_mean_at():
    c = [(0.1, 20.0), (0.4, 30.0)]
    assert rd.interpolate(c, 0.2) == pytest.approx(25.0)  # midpoint in log rate
    assert rd.interpolate(c, 0.05) is None and rd.interpolate(c, 0.5) is None
    m, k = rd.mean_at([c, [(0.1, 10.0), (0.4, 20.0)]], 0.2)
    assert m == pytest.approx(20.0) and k == 2
    m, k = rd.mean_at([c, [(0.3, 10.0), (0.4, 20.0)]], 0.2)
    assert m is None and k == 1


def test_bjontegaard_on_shifted_curves():
    rates = [0.05, 0.1, 0.2, 0.4, 0.8]
    anchor = _curve(rates)
    # the same curve at half the rate: -50 % rate; 6 dB per octave -> +6 dB
    better = [(r / 2, q) for r, q in _curve(rates)]
    assert rd.bd_rate(anchor, better) == pytest.approx(-50.0, abs=1e-6)
    assert rd.bd_psnr(anchor, better) == pytest.approx(6.0, abs=1e-6)
    worse = _curve(rates, offset=-1.5)
    assert rd.bd_psnr(anchor, worse) == pytest.approx(-1.5, abs=1e-6)
    assert rd.bd_rate(anchor, worse) == pytest.approx(100 * (2 ** (1.5 / 6) - 1), abs=1e-6)
    disjoint = [(r * 100, q + 100) for r, q in anchor]
    assert rd.bd_psnr(anchor, disjoint) is None and rd.bd_rate(anchor, disjoint) is None


def test_bjontegaard_sign_on_partly_overlapping_curves_of_different_shape():
    # anchor: straight in log rate; test: 3 dB below it wherever both exist, but convex and
    # sampled over a lower rate range (the situation of a sparse codec against JPEG)
    anchor = _curve([0.1, 0.2, 0.4, 0.8])
    test = [
        (r, 30.0 + 6.0 * math.log2(r) - 3.0 - 2.0 * (math.log2(r) + 2.0) ** 2 / 8)
        for r in (0.03, 0.06, 0.12, 0.25, 0.35)
    ]
    worse_everywhere = all(q < 30.0 + 6.0 * math.log2(r) for r, q in test)
    assert worse_everywhere
    assert rd.bd_psnr(anchor, test) < -3.0 + 1e-9
    assert rd.bd_rate(anchor, test) > 0


def test_compare_runs_reports_the_shift(tmp_path):
    def run(offset):
        pts = lambda d: [{"bpp": b, "psnr": 20 + 10 * b + d} for b in (0.05, 0.1, 0.2)]  # noqa: E731
        raw = {"grey": {"x/eed": {"a.png": pts(offset), "b.png": pts(offset)},
                        "jp2": {"a.png": pts(1.0), "b.png": pts(1.0)}}}  # fmt: skip
        return {"raw": raw}

    (tmp_path / "old.json").write_text(json.dumps(run(0.0)))
    (tmp_path / "new.json").write_text(json.dumps(run(0.25)))
    table = rd.compare_runs(tmp_path / "old.json", tmp_path / "new.json")
    row = [r for r in table.splitlines() if "x/eed" in r][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "2" and cells[3] == "-1.00 dB" and cells[4] == "-0.75 dB"
    assert cells[7] == "+0.25 dB"


def test_per_image_bd_against_a_configuration(tmp_path):
    pts = lambda d: [{"bpp": b, "psnr": 20 + 10 * b + d} for b in (0.05, 0.1, 0.2)]  # noqa: E731
    raw = {"colour": {"x/eed": {"a.png": pts(0.0), "b.png": pts(0.0)},
                      "x/eed:k=8": {"a.png": pts(0.5), "b.png": pts(-0.1)}}}  # fmt: skip
    (tmp_path / "run.json").write_text(json.dumps({"raw": raw}))
    lines = rd.per_image_bd(tmp_path / "run.json", "x/eed").splitlines()
    rows = {r.split("|")[1].strip(): r.split("|")[2].strip() for r in lines if r.startswith("| ")}
    assert rows["a.png"] == "+0.50" and rows["b.png"] == "-0.10"
    assert rows["mean"] == "**+0.20**"


def test_recommend_respects_time_limit():
    def cfg(t):
        return {"encode_s_median": t, "front_points": {}}

    def bd(v):
        return {"jpeg": {"bd_rate": v}}

    summary = {
        "grey": {
            "configs": {"a/diffusion": cfg(2.0), "b/diffusion": cfg(30.0), "c/diffusion": cfg(5.0)},
            "bd": {"a/diffusion": bd(-10.0), "b/diffusion": bd(-40.0), "c/diffusion": bd(-20.0)},
        }
    }
    rec = rd.recommend(summary, max_encode_s=10.0, ref="jpeg")
    assert rec["config"] == "c/diffusion" and rec["bd_rate"] == pytest.approx(-20.0)
    assert [r[0] for r in rec["rejected"]] == ["b/diffusion"]
    assert rd.recommend(summary, max_encode_s=1.0, ref="jpeg")["config"] is None
    # against a sparsecodec anchor, the anchor scores 0 % and wins if every other is worse
    anchor = {"a/diffusion": cfg(2.0), "b/diffusion": cfg(3.0), "c/diffusion": cfg(30.0)}
    bds = {
        "a/diffusion": {},
        "b/diffusion": {"a/diffusion": {"bd_rate": 12.0}},
        "c/diffusion": {"a/diffusion": {"bd_rate": -30.0}},
    }
    rec = rd.recommend({"grey": {"configs": anchor, "bd": bds}}, 10.0, ref="a/diffusion")
    assert rec["config"] == "a/diffusion" and rec["bd_rate"] == 0.0
    assert rec["per_kind"]["grey"][0] == "a/diffusion"


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tiny")
    for i in range(2):
        y, x = np.mgrid[0:40, 0:40] / 40.0
        g = 120 + 80 * np.sin((5 + i) * x) * np.cos(3 * y) + 50 * ((x - 0.5) ** 2 + y**2 < 0.2)
        rgb = np.stack([g, 0.8 * g + 30 * x, 200 - 0.5 * g], axis=2)
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(d / f"im{i}.png")
    return d


def test_rd_end_to_end_and_cache(tiny_data, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache.jsonl"
    argv = [
        "--data",
        str(tiny_data),
        "--jobs",
        "1",
        "--configs",
        "belhachmi/diffusion,jpeg",
        "--densities",
        "0.05,0.1,0.2,0.4",
        "--levels",
        "16,64",
        "--out-dir",
        str(out),
        "--cache",
        str(cache),
        "--no-progress",
    ]
    assert rd.main(argv) == 0
    res = json.loads((out / "rd.json").read_text())
    for kind in ("grey", "colour"):
        S = res["summary"][kind]
        assert S["images"] == ["im0.png", "im1.png"]
        pts = res["raw"][kind]["belhachmi/diffusion"]["im0.png"]
        assert len(pts) == 8  # 4 densities x 2 levels
        for p in pts:  # rate is the real size of the bitstream
            assert p["bpp"] == pytest.approx(8 * p["bytes"] / 1600)
            assert 5 < p["psnr"] < 60 and 0 < p["ssim"] <= 1
        # more points and finer quantisation cost more bytes
        by = {(p["density"], p["levels"]): p["bytes"] for p in pts}
        assert by[(0.4, 64)] > by[(0.05, 64)] and by[(0.2, 64)] > by[(0.2, 16)]
        jp = res["raw"][kind]["jpeg"]["im0.png"]
        assert [p["quality"] for p in jp] == list(rd.STANDARD["jpeg"][1])
        assert jp[-1]["psnr"] > jp[0]["psnr"] and jp[-1]["bytes"] > jp[0]["bytes"]
        hull = S["configs"]["belhachmi/diffusion"]["psnr_front"]["im0.png"]
        assert [h[1] for h in hull] == sorted(h[1] for h in hull)
        assert set(S["bd"]["belhachmi/diffusion"]) == {"jpeg"}
    md = (out / "rd.md").read_text()
    assert "BD-rate" in md and "belhachmi/diffusion" in md and "Choice of the default" in md
    assert (out / "rd_grey.png").stat().st_size > 1000 and (out / "rd_colour.png").is_file()
    # second run: everything comes from the cache and gives the same points
    n_lines = len(cache.read_text().splitlines())
    assert rd.main(argv) == 0
    assert len(cache.read_text().splitlines()) == n_lines
    assert json.loads((out / "rd.json").read_text())["raw"] == res["raw"]


def test_rd_configs_and_select():
    names, notes = rd.sparsecodec_configs(slow=False)
    assert "belhachmi/diffusion" in names and "belhachmi+tonal/diffusion" in names
    assert not any(n.startswith(("ps/", "nlpe/", "ps+", "nlpe+")) for n in names)
    assert rd.parse_config("belhachmi+tonal/diffusion") == ("belhachmi", True, "diffusion")
    assert rd.parse_config("quadtree.centres+tonal/eed") == ("quadtree", True, "eed")
    assert rd.mask_flags("quadtree.centres+tonal/eed") == {"centres": True}
    assert rd.mask_flags("quadtree+tonal/eed:chroma_step=4") == {}
    assert rd.select(names + ["jpeg"], "belhachmi*,jpeg") == [
        n for n in names if n.startswith("belhachmi")
    ] + ["jpeg"]
    assert rd.probe("nonexistent/diffusion") is not None
    # every listed EED configuration encodes the probe image (chroma steps need colour)
    for name in names:
        if name.startswith("quadtree") and name.partition("/")[2].startswith("eed"):
            assert rd.probe(name) is None, name


def test_standard_codecs_real_sizes():
    img = rd._test_image(48, colour=True)
    for codec, q in (("jpeg", 50), ("jp2", 0.5), ("webp", 50)):
        data = rd.encode_standard(img, codec, q)
        rec = rd.decode_standard(data, grey=False)
        assert rec.shape == img.shape and len(data) > 20
    big = rd._test_image(128, colour=True)
    data = rd.encode_standard(big, "jp2", 0.5)
    assert 0.2 < 8 * len(data) / 128**2 < 0.5 * 1.2  # the rate target is honoured (+ headers)


def test_speed_tiny(tmp_path):
    argv = [
        "--data",
        str(tmp_path / "none"),
        "--sizes",
        "24x24,32x40",
        "--densities",
        "0.1",
        "--strategies",
        "random,belhachmi",
        "--repeats",
        "1",
        "--out-dir",
        str(tmp_path),
    ]
    assert speed.main(argv) == 0
    res = json.loads((tmp_path / "speed.json").read_text())
    assert {(r[0], r[2]) for r in res["mask_s"]} == {
        ("24x24", "random"),
        ("24x24", "belhachmi"),
        ("40x32", "random"),
        ("40x32", "belhachmi"),
    }
    assert all(r[3] > 0 for r in res["mask_s"] + res["decode_s"])
    assert {r[2] for r in res["decode_s"]} >= {"diffusion multigrid", "diffusion CG"}
    md = (tmp_path / "speed.md").read_text()
    assert "speed-up" in md and "generated test image" in md


def test_main_registry(capsys, tmp_path):
    root = tmp_path / "data"
    (root / "kodak").mkdir(parents=True)
    assert bench_main.data_for("rd", str(root)) == str(root / "kodak")
    assert bench_main.data_for("masks", str(root)) == str(root)
    assert bench_main.data_for("rd", str(root / "kodak")) == str(root / "kodak")  # image folder
    assert "rd" in bench_main.discover() and "common" not in bench_main.discover()
    assert bench_main.exists("rd") and bench_main.exists("speed")
    opts = {"--data", "--quick"}
    assert bench_main.argv_for("x", "/d", True, 2, opts) == ["--data", "/d", "--quick"]
    assert bench_main.argv_for("x", "/d", True, 2, set()) == []
    assert bench_main.argv_for("x", None, False, 2, {"--jobs"}) == ["--jobs", "2"]
    assert bench_main.main(["list"]) == 0
    assert "rd" in capsys.readouterr().out
    assert bench_main.main(["no-such-benchmark"]) == 2


def test_wgan_benchmark_tiny(tiny_data, tmp_path, monkeypatch):
    """benchmarks/wgan.py end to end on 16x16 crops with tiny random networks, then the cache."""
    torch = pytest.importorskip("torch")
    from benchmarks import wgan as bench_wgan
    from sparsecodec.inpainting import wgan_decoder
    from sparsecodec.nets import wgan as W

    cfg = W.HourglassConfig(down=(2, 3), up=(3, 2), last=2)
    torch.manual_seed(0)
    wdir = tmp_path / "weights"
    W.save_bundle(wdir / "wgan_inpaint.safetensors", W.InpaintGenerator(cfg))
    W.save_bundle(wdir / "wgan_mask_d10.safetensors", W.InpaintGenerator(cfg), W.MaskGenerator(cfg))
    monkeypatch.setenv("SPARSECODEC_WEIGHTS", str(wdir))
    wgan_decoder._load.cache_clear()
    out, cache = tmp_path / "res" / "wgan.md", tmp_path / "cache.npz"
    argv = ["--data", str(tiny_data), "--sizes", "16", "--count", "2", "--kodak", "1"]
    argv += ["--densities", "0.05,0.1", "--nlpe-cycles", "0.5", "--repeats", "1"]
    argv += ["--grid-rows", "1", "--cache", str(cache), "--out", str(out)]
    assert bench_wgan.main(argv) == 0
    md = out.read_text()
    for name in ("random + HD", "random + WGAN", "Belhachmi + HD", "PS + HD", "PS+NLPE + HD"):
        assert f"| {name} |" in md
    # mask-WGAN only where a mask model exists (10 %), never at 5 %
    row = next(r for r in md.splitlines() if r.startswith("| mask-WGAN + WGAN |"))
    assert row.split("|")[2].strip() == "-" and row.split("|")[3].strip() != "-"
    assert "Kodak full size (1: im0)" in md and "Run times" in md and "vs PS+NLPE" in md
    assert "Targets (issue 27)" in md and out.with_suffix(".png").stat().st_size > 1000
    # the networks are timed at the default precision and, if that is not float32, at float32
    from benchmarks.common import network_precisions

    precisions = network_precisions()
    assert f"default precision `auto`, {precisions[0]} on this machine" in md
    assert ("| inpaint: WGAN (wgan_inpaint), float32 |" in md) == (len(precisions) == 2)
    assert "| mask: mask-WGAN |" in md
    # PS / NLPE masks come from the cache on a second run: identical tables
    cached = dict(np.load(cache))
    assert len(cached) == 2 * 2 * 2 * 2  # 2 crops x 2 densities x (ps, nlpe) x (mask, time)
    assert bench_wgan.main(argv) == 0
    again = dict(np.load(cache))
    assert all(np.array_equal(cached[k], again[k]) for k in cached)

    def quality(text: str) -> list[str]:
        # "Machine:" holds the wall time; the cache paragraph appears on the second run only
        text = re.sub(r"PS / PS\+NLPE masks and their run times: .*\n\n", "", text)
        lines = text.split("## Run times")[0].splitlines()
        return [s for s in lines if not s.startswith("Machine:")]

    assert quality(out.read_text()) == quality(md)
    assert "from `--cache`" not in md and "8 taken from `--cache`" in out.read_text()
    wgan_decoder._load.cache_clear()


def test_chroma_analysis_ranks_factors():
    """A factor whose curve needs 20 % fewer bits everywhere gets BD-rate -20 % against f = 1."""
    from benchmarks import chroma

    rows = []
    for img in ("a", "b"):
        for k, q in enumerate((24.0, 26.0, 28.0, 30.0)):
            bpp = 0.1 * 1.5**k
            rows.append(dict(image=img, f=1.0, bpp=bpp, psnr=q, d=0, L=0))
            rows.append(dict(image=img, f=2.0, bpp=0.8 * bpp, psnr=q, d=0, L=0))
    s = chroma.analyse(rows, (1.0, 2.0))
    assert s["images"] == ["a", "b"]
    assert abs(s["factors"][1.0]["bd_rate"]) < 1e-9
    assert abs(s["factors"][2.0]["bd_rate"] + 20.0) < 1e-6
    assert s["factors"][2.0]["wins"] == 2 and s["factors"][1.0]["wins"] == 0
    assert "| 2 |" in chroma.report(
        s, dict(command="c", machine="m", seconds=1.0, densities=(0.1,), luma=(8,))
    )


def test_learned_masks_benchmark_tiny(tmp_path):
    """The learned-vs-PS benchmark on two generated crops: every method at every density, the
    target table computed from the per-crop figures."""
    import argparse

    pytest.importorskip("torch")
    from benchmarks import learned_masks as lm

    y, x = np.mgrid[0:48, 0:48]
    crops = np.stack([128 + 60 * np.sin(x / (4.0 + k)) * np.cos(y / 5.0) for k in range(2)])
    methods = {k: lm.METHODS[k] for k in ("Belhachmi", lm.REFERENCE, lm.LEARNED)}
    res = lm.run(crops, [0.05], methods)
    assert set(res) == {(m, 0.05) for m in methods}
    assert all(len(v) == 2 for v in res.values())
    for vals in res.values():
        for p, secs, kept in vals:
            assert 5 < p < 80 and secs >= 0 and abs(kept - 0.05) < 0.01
    args = argparse.Namespace(count=2, size=48, data="generated")
    md = lm.report(res, [0.05], methods, args)
    gap = np.mean([a[0] - b[0] for a, b in zip(res[(lm.LEARNED, 0.05)], res[("PS", 0.05)],
                                                strict=True)])  # fmt: skip
    assert f"{gap:+.2f}" in md and "| PS |" in md
