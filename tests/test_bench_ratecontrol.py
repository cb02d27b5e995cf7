"""benchmarks/ratecontrol.py end to end on two tiny generated images."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmarks import ratecontrol


def _images(tmp_path):
    for i in range(2):
        y, x = np.mgrid[0:32, 0:40] / 32.0
        g = 110 + 70 * np.sin((4 + i) * x) * np.cos(3 * y) + 60 * ((x - 0.6) ** 2 + y**2 < 0.3)
        rgb = np.stack([g, 0.7 * g + 40 * x, 220 - 0.6 * g], axis=2)
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(tmp_path / f"t{i}.png")


def test_ratecontrol_benchmark_tiny(tmp_path):
    _images(tmp_path)
    out = tmp_path / "rc.md"
    ratecontrol.main(
        [
            "--data",
            str(tmp_path),
            "--targets",
            "0.8",
            "--mask",
            "belhachmi",
            "--no-tonal",
            "--out",
            str(out),
        ]
    )
    text = out.read_text()
    assert "4/4 within 3 %" in text  # 2 images x grey, colour
    rows = [r for r in text.splitlines() if r.startswith("| t")]
    assert len(rows) == 4
    for r in rows:
        bpp = float(r.split("|")[4])
        assert abs(bpp - 0.8) <= 0.03 * 0.8


def test_quality_control_benchmark_tiny(tmp_path):
    _images(tmp_path)
    out = tmp_path / "q.md"
    ratecontrol.main(
        ["--psnr", "--data", str(tmp_path), "--targets", "27", "--mask", "belhachmi"]
        + ["--no-tonal", "--out", str(out)]
    )
    text = out.read_text()
    assert "4/4 encodes reach their target" in text
    rows = [r.split("|") for r in text.splitlines() if r.startswith("| t")]
    assert len(rows) == 4
    for r in rows:  # the PSNR column is the decoded image's
        assert float(r[6]) >= 27.0 and int(r[4]) > 0
