"""The Pillow plugin (sparsecodec.pillow): PIL.Image.open reads streams after `import
sparsecodec`; pixels are exactly sparsecodec.decode's; bad streams raise Pillow's error types
with the codec's message."""

from __future__ import annotations

import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import sparsecodec
from sparsecodec.coding.header import MAGIC, parse_header
from sparsecodec.pillow import MAGIC as PLUGIN_MAGIC


@pytest.fixture(scope="module")
def streams(small_colour):
    grey = small_colour.mean(axis=2).astype(np.uint8)
    return {
        "RGB": sparsecodec.encode(small_colour, 0.1, tonal=False),
        "L": sparsecodec.encode(grey, 0.1, mask="belhachmi", tonal=False),
    }


def _write(tmp_path, data, name="x.bin"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_magic_is_the_headers():
    assert PLUGIN_MAGIC == MAGIC


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_open_size_mode_pixels(tmp_path, streams, mode, small_colour):
    small_h, small_w = small_colour.shape[:2]
    data = streams[mode]
    with Image.open(_write(tmp_path, data)) as im:
        assert im.format == "SPARSECODEC" and im.mode == mode
        assert im.size == (small_w, small_h)
        assert im.info["sparsecodec_version"] == data[4]
        pixels = np.asarray(im)
    ref = sparsecodec.decode(data)
    assert pixels.dtype == np.uint8 and pixels.shape == ref.shape
    assert np.array_equal(pixels, ref)


def test_detected_by_magic_not_name(tmp_path, streams):
    with Image.open(_write(tmp_path, streams["L"], "no_extension")) as im:
        assert im.format == "SPARSECODEC"
        im.load()


def test_registered_by_import_sparsecodec(tmp_path, streams):
    p = _write(tmp_path, streams["L"])
    code = f"import sparsecodec, PIL.Image; im = PIL.Image.open({str(p)!r}); print(im.format)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "SPARSECODEC"


def _recrc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


def test_corrupt_streams_raise_pillow_errors_with_the_codecs_message(tmp_path, streams):
    data = streams["RGB"]
    # forged header (unknown version; a 16384x16384 size whose payload lengths are a lie)
    bad_version = data[:4] + b"\x09" + data[5:]
    with pytest.raises(UnidentifiedImageError, match="sparsecodec: unsupported format version"):
        Image.open(_write(tmp_path, bad_version))
    huge = bytearray(data)
    huge[5:9] = (16384).to_bytes(2, "little") * 2
    with pytest.raises(UnidentifiedImageError, match="exceeds"):
        Image.open(_write(tmp_path, bytes(huge)))
    # header fine, payload broken: open works, load fails with the codec's message (a length
    # field announcing 4 GiB is read in bounded chunks, not allocated)
    lie = bytearray(data)
    lie[18:22] = (2**32 - 1).to_bytes(4, "little")
    cases = {
        "header announces": bytes(lie),
        "truncated": data[:-7],
        "CRC32 mismatch": data[:-1] + bytes([data[-1] ^ 1]),
        "trailing": data + b"\0",
    }
    for what, bad in cases.items():
        with Image.open(_write(tmp_path, bad)) as im:
            assert im.size == (40, 48)
            with pytest.raises(OSError, match=f"sparsecodec: .*{what}"):
                im.load()
    # forged streams (valid header and CRC, random payloads): the plugin fails exactly when
    # the codec does, with its message, else gives the codec's pixels
    rng = np.random.default_rng(5)
    head = parse_header(data).size
    for _ in range(6):
        body = bytearray(data[:-4])
        body[head:] = rng.integers(0, 256, len(body) - head, dtype=np.uint8).tobytes()
        forged = _recrc(bytes(body))
        try:
            ref = sparsecodec.decode(forged)
        except sparsecodec.SparseCodecError as exc:
            with Image.open(_write(tmp_path, forged)) as im, pytest.raises(OSError) as got:
                im.load()
            assert str(got.value) == f"sparsecodec: {exc}"
        else:
            with Image.open(_write(tmp_path, forged)) as im:
                assert np.array_equal(np.asarray(im), ref)


def test_other_files_still_open(tmp_path, small_colour):
    p = tmp_path / "x.png"
    Image.fromarray(small_colour).save(p)
    with Image.open(p) as im:
        assert im.format == "PNG"
    with pytest.raises(UnidentifiedImageError):
        Image.open(_write(tmp_path, b"SPC not ours"))
