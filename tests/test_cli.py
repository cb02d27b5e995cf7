import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from sparsecodec.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def png(tmp_path, small_colour):
    p = tmp_path / "in.png"
    Image.fromarray(small_colour).save(p)
    return p


def _fails_cleanly(result, out_path=None):
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    msg = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert len(msg) >= 1 and "Error" in result.output
    if out_path is not None:
        assert not out_path.exists()
        assert not [p for p in out_path.parent.iterdir() if p.name.endswith(".tmp")]


def test_encode_decode_info_roundtrip(runner, png, tmp_path):
    out = tmp_path / "a.bin"
    rec = tmp_path / "rec.png"
    r = runner.invoke(
        cli,
        [
            "encode",
            str(png),
            "-d",
            "0.1",
            "-o",
            str(out),
            "--save-recon",
            str(rec),
            "--save-mask",
            str(tmp_path / "m.png"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    import json

    stats = json.loads(r.output)
    dec = tmp_path / "dec.png"
    r = runner.invoke(cli, ["decode", str(out), "-o", str(dec)])
    assert r.exit_code == 0, r.output
    a = np.asarray(Image.open(dec))
    np.testing.assert_array_equal(a, np.asarray(Image.open(rec)))
    from sparsecodec.metrics import psnr

    assert abs(psnr(np.asarray(Image.open(png)), a) - stats["psnr"]) < 0.01
    r = runner.invoke(cli, ["info", str(out)])
    assert r.exit_code == 0 and "bits_per_mask_point" in r.output
    assert "precision" not in r.output  # only WGAN decoders have one
    assert Image.open(tmp_path / "m.png").size == (40, 48)


@pytest.mark.parametrize("mode", ["RGBA", "P", "I;16", "LA"])
def test_converted_inputs_warn(runner, tmp_path, small_colour, mode):
    img = Image.fromarray(small_colour)
    if mode == "I;16":
        img = Image.fromarray(small_colour[..., 0].astype(np.uint16) * 257)
    else:
        img = img.convert(mode)
    p = tmp_path / "x.png"
    img.save(p)
    r = runner.invoke(cli, ["encode", str(p), "-d", "0.1", "-o", str(tmp_path / "x.bin")])
    assert r.exit_code == 0, r.output
    assert "warning:" in r.output


@pytest.mark.parametrize("fmt", ["PPM", "JPEG", "TIFF", "BMP"])
def test_input_formats(runner, tmp_path, small_colour, fmt):
    p = tmp_path / f"x.{fmt.lower()}"
    Image.fromarray(small_colour).save(p, format=fmt)
    r = runner.invoke(cli, ["encode", str(p), "-d", "0.1", "-o", str(tmp_path / "x.bin")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["decode", str(tmp_path / "x.bin"), "-o", str(tmp_path / "y.ppm")])
    assert r.exit_code == 0 and Image.open(tmp_path / "y.ppm").size == (40, 48)


def test_bad_images(runner, tmp_path):
    out = tmp_path / "o.bin"
    _fails_cleanly(
        runner.invoke(cli, ["encode", str(tmp_path / "missing.png"), "-o", str(out)]), out
    )
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _fails_cleanly(runner.invoke(cli, ["encode", str(empty), "-o", str(out)]), out)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all" * 10)
    _fails_cleanly(runner.invoke(cli, ["encode", str(junk), "-o", str(out)]), out)
    # header sizes beyond MAX_PIXELS (PIL's warning range and its DecompressionBombError
    # range): refused before any pixel is decoded; and a PNG cut inside its image data
    for side in (9000, 20000):
        bomb = tmp_path / f"bomb{side}.png"
        bomb.write_bytes(_png_bytes(side, side))
        res = runner.invoke(cli, ["encode", str(bomb), "-o", str(out)])
        _fails_cleanly(res, out)
        assert "too large" in res.output
    cut = tmp_path / "cut.png"
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8)).save(buf, "png")
    cut.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _fails_cleanly(runner.invoke(cli, ["encode", str(cut), "-o", str(out)]), out)


def _png_bytes(width: int, height: int) -> bytes:
    """A small grey PNG file whose header announces ``width x height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("shape", [(1, 1), (7, 30), (30, 2, 3)])
def test_tiny_image_round_trip(runner, tmp_path, shape):
    """Any non-empty image codes: a 1x1 pixel, thin strips."""
    src, out, dec = tmp_path / "tiny.png", tmp_path / "t.bin", tmp_path / "t.png"
    img = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    Image.fromarray(img).save(src)
    assert runner.invoke(cli, ["encode", str(src), "-d", "0.2", "-o", str(out)]).exit_code == 0
    assert runner.invoke(cli, ["decode", str(out), "-o", str(dec)]).exit_code == 0
    assert np.asarray(Image.open(dec)).shape == shape


@pytest.mark.parametrize("d", ["0", "-0.5", "1.01", "abc"])
def test_bad_density(runner, png, tmp_path, d):
    out = tmp_path / "o.bin"
    _fails_cleanly(runner.invoke(cli, ["encode", str(png), "-d", d, "-o", str(out)]), out)


def test_bad_options(runner, png, tmp_path):
    out = tmp_path / "o.bin"
    _fails_cleanly(runner.invoke(cli, ["encode", str(png), "--mask", "nope", "-o", str(out)]), out)
    _fails_cleanly(runner.invoke(cli, ["encode", str(png), "--quant", "1", "-o", str(out)]), out)
    bad = ["encode", str(png), "--precision", "half", "-o", str(out)]
    _fails_cleanly(runner.invoke(cli, bad), out)
    bad = ["encode", str(png), "--binarise", "threshold", "-o", str(out)]
    _fails_cleanly(runner.invoke(cli, bad), out)
    r = runner.invoke(cli, ["encode", str(png), "--binarise", "coin", "-o", str(out)])
    _fails_cleanly(r, out)  # the default mask is not learned: the option would be ignored
    assert "--binarise applies to --mask learned only" in r.output
    rgb = ["encode", str(png), "--colour", "rgb", "--chroma-quant", "20", "-o", str(out)]
    r = runner.invoke(cli, rgb)  # RGB has no chroma channels: refused, not ignored
    _fails_cleanly(r, out)
    assert "YCbCr" in r.output


@pytest.mark.parametrize(
    "args",
    [
        ["--mask", "learned", "--device", "nonsense"],  # not a device name
        ["--mask", "learned", "--device", "meta"],  # holds no data
        ["--mask", "wgan", "--device", "cuda:7"],  # no such GPU (or no CUDA at all)
        ["--bpp", "inf"],
        ["--bpp", "nan"],
        ["--psnr", "nan"],
        ["--psnr", "inf"],
    ],
)
def test_bad_device_and_targets(runner, png, tmp_path, args):
    """A device torch cannot use and non-finite rate/quality targets: one line, no output."""
    out = tmp_path / "o.bin"
    r = runner.invoke(cli, ["encode", str(png), *args, "-o", str(out)])
    _fails_cleanly(r, out)
    assert ("device" in r.output) if "--device" in args else ("finite" in r.output)


def test_bad_bitstreams(runner, png, tmp_path):
    good = tmp_path / "g.bin"
    assert runner.invoke(cli, ["encode", str(png), "-d", "0.1", "-o", str(good)]).exit_code == 0
    data = good.read_bytes()
    rng = np.random.default_rng(0)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    # header claiming a 16384 x 16384 image with a valid CRC
    huge = bytearray(data)
    struct.pack_into("<HH", huge, 5, 16384, 16384)
    huge[-4:] = struct.pack("<I", zlib.crc32(bytes(huge[:-4])))
    cases = {
        "truncated.bin": data[: len(data) // 2],
        "corrupt.bin": bytes(flipped),
        "random.bin": rng.integers(0, 256, 500).astype(np.uint8).tobytes(),
        "empty.bin": b"",
        "huge.bin": bytes(huge),
    }
    for name, blob in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        out = tmp_path / (name + ".png")
        _fails_cleanly(runner.invoke(cli, ["decode", str(p), "-o", str(out)]), out)
        r = runner.invoke(cli, ["info", str(p)])
        assert r.exit_code != 0 and "Traceback" not in r.output


def test_subprocess_help_and_error(tmp_path):
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "sparsecodec", "--help"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "encode" in r.stdout
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"xyz")
    r = subprocess.run(
        [sys.executable, "-m", "sparsecodec", "decode", str(bad), "-o", str(tmp_path / "o.png")],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert not (tmp_path / "o.png").exists()


def test_inpaint_command_diffusion_and_errors(runner, tmp_path, small_colour):
    from reference import spsolve_inpaint

    dmg = tmp_path / "d.png"
    Image.fromarray(small_colour[..., 1]).save(dmg)
    holes = np.zeros(small_colour.shape[:2], np.uint8)
    holes[10:30, 5:25] = 255
    hp = tmp_path / "h.png"
    Image.fromarray(holes).save(hp)
    out = tmp_path / "o.png"
    r = runner.invoke(cli, ["inpaint", str(dmg), "--holes", str(hp), "-o", str(out)])
    assert r.exit_code == 0, r.output
    got = np.asarray(Image.open(out)).astype(float)
    ref = spsolve_inpaint(small_colour[..., 1].astype(float), holes == 0)
    assert np.abs(got - np.clip(np.round(ref), 0, 255)).max() <= 1
    # size mismatch, empty hole set
    small = tmp_path / "s.png"
    Image.fromarray(holes[:20]).save(small)
    o2 = tmp_path / "o2.png"
    _fails_cleanly(
        runner.invoke(cli, ["inpaint", str(dmg), "--holes", str(small), "-o", str(o2)]), o2
    )
    none = tmp_path / "n.png"
    Image.fromarray(np.zeros_like(holes)).save(none)
    _fails_cleanly(
        runner.invoke(cli, ["inpaint", str(dmg), "--holes", str(none), "-o", str(o2)]), o2
    )


def test_old_format_version_refused(runner, tmp_path):
    # a real format-version-2 stream (tests/test_coding.py::test_old_format_versions_are_refused)
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    old = tmp_path / "old.bin"
    shutil.copy(Path(__file__).parent / "data" / "v3_stream.bin", old)
    out = tmp_path / "x.png"
    r = runner.invoke(cli, ["decode", str(old), "-o", str(out)])
    _fails_cleanly(r, out)
    assert "unsupported format version 3 (this sparsecodec reads version 5)" in r.output
    cmd = [sys.executable, "-m", "sparsecodec", "decode", str(old), "-o", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode != 0 and not out.exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "version 3" in lines[0] and "version 5" in lines[0], r.stderr
    assert r.stdout == ""


def test_encode_help_states_the_real_defaults(runner, png, tmp_path):
    # the help text must name the defaults the encoder really uses (it once said "learned" and
    # 0.05 after the defaults had become quadtree at 6 %)
    import json

    from sparsecodec import codec

    text = " ".join(runner.invoke(cli, ["encode", "--help"]).output.split())
    assert f"(default {codec.DEFAULT_DENSITY})" in text
    assert f"(default: {codec.DEFAULT_MASK})" in text
    assert f"(default {codec.DEFAULT_LEVELS};" in text
    r = runner.invoke(cli, ["encode", str(png), "-o", str(tmp_path / "a.bin"), "--json"])
    assert r.exit_code == 0, r.output
    stats = json.loads(r.output)
    assert stats["mask"] == codec.DEFAULT_MASK
    assert abs(stats["density"] - codec.DEFAULT_DENSITY) < 0.01
    assert stats["decoder"] == codec.DEFAULT_DECODER and stats["input"] == str(png)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_unwritable_outputs_fail_cleanly_and_write_nothing(runner, png, tmp_path):
    # /proc refuses new files even for root: an OSError while writing must be one line
    r = runner.invoke(cli, ["encode", str(png), "-o", "/proc/sparsecodec-test.bin", "-q"])
    _fails_cleanly(r)
    assert "cannot write" in r.output
    # an auxiliary output that fails (late, or by its extension) leaves no bitstream behind
    out = tmp_path / "a.bin"
    for recon in ("/proc/sparsecodec-test.png", str(tmp_path / "r.pgm")):
        r = runner.invoke(cli, ["encode", str(png), "-o", str(out), "--save-recon", recon, "-q"])
        _fails_cleanly(r, out)
    r = runner.invoke(cli, ["encode", str(png), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["decode", str(out), "-o", "/proc/sparsecodec-test.png"])
    _fails_cleanly(r)


def test_outputs_get_the_usual_permissions(runner, png, tmp_path):
    umask = os.umask(0o022)
    try:
        out = tmp_path / "a.bin"
        r = runner.invoke(cli, ["encode", str(png), "-o", str(out), "-q"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(cli, ["decode", str(out), "-o", str(tmp_path / "d.png"), "-q"])
        assert r.exit_code == 0, r.output
    finally:
        os.umask(umask)
    for p in (out, tmp_path / "d.png"):
        assert p.stat().st_mode & 0o777 == 0o644


def test_replaced_outputs_keep_their_permissions(runner, png, tmp_path):
    out = tmp_path / "a.bin"
    out.write_bytes(b"old")
    out.chmod(0o600)
    r = runner.invoke(cli, ["encode", str(png), "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:4] != b"old" and out.stat().st_mode & 0o777 == 0o600


def test_write_all_leaves_nothing_when_one_target_fails(tmp_path, monkeypatch):
    from sparsecodec.errors import OutputError
    from sparsecodec.io import atomic_write_all

    (tmp_path / "folder").mkdir()
    first = tmp_path / "first.bin"
    with pytest.raises(OutputError, match="folder"):
        atomic_write_all([(first, b"x"), (tmp_path / "folder", b"y")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]
    # a rename that fails after another succeeded takes the renamed output back
    target = tmp_path / "sub" / "b.bin"
    (tmp_path / "sub").mkdir()
    target.mkdir()  # a folder appearing at the target between the checks and the rename
    real_is_dir = Path.is_dir
    monkeypatch.setattr(Path, "is_dir", lambda p: p != target and real_is_dir(p))
    with pytest.raises(OutputError):
        atomic_write_all([(first, b"x"), (target, b"y")])
    monkeypatch.undo()
    assert not first.exists()
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["b.bin"] and target.is_dir()


def test_help_imports_neither_numba_nor_torch():
    """`sparsecodec --help` stays fast: the CLI module and the package import no heavy module
    (Numba alone costs about 0.2 s, torch seconds)."""
    import subprocess
    import sys

    code = (
        "import sys, sparsecodec, sparsecodec.cli;"
        "heavy = [m for m in ('numba', 'torch', 'scipy') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
