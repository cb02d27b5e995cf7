"""Tests of sparsecodec.coding: quantisation, mask/value coders, header and container."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import struct
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

# keep hypothesis' cache files out of the repository
os.environ.setdefault(
    "HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "sparsecodec-hypothesis")
)
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sparsecodec.coding import (
    FORMAT_VERSION,
    Header,
    decode_mask,
    decode_values,
    dequantise,
    encode_mask,
    encode_values,
    parse_header,
    part_sizes,
    quantise,
    read_stream,
    write_stream,
)
from sparsecodec.errors import BitstreamError, OptionError

FUZZ_EXAMPLES = int(os.environ.get("SPARSECODEC_FUZZ_EXAMPLES", "200"))


def entropy_floor_bits(mask: np.ndarray) -> float:
    """i.i.d. floor: total bits H(d) * H * W of a mask of density d."""
    d = mask.mean()
    return mask.size * float(-(d * np.log2(d) + (1 - d) * np.log2(1 - d)))


def random_mask(shape, density, seed=0):
    return np.random.default_rng(seed).random(shape) < density


def small_stream(channels=1, seed=0, shape=(9, 13), levels=None):
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < 0.3
    mask[0, 0] = True
    levels = levels or (16,) * channels
    q = np.stack([rng.integers(0, L, mask.sum()) for L in levels])
    header = Header(
        width=shape[1], height=shape[0], channels=channels, levels=levels, seed=seed, flags=1
    )
    return write_stream(header, mask, q), header, mask, q


def with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "little")


# ----------------------------------------------------------------------------- quantisation


def test_quantise_known_values():
    v = np.array([0.0, 8.4, 8.6, 127.5, 254.9, 255.0, 300.0, -5.0])
    q = quantise(v, 16)
    assert q.tolist() == [0, 0, 1, 8, 15, 15, 15, 0]
    assert np.allclose(dequantise(np.array([0, 1, 15]), 16), [0.0, 17.0, 255.0])


@pytest.mark.parametrize("levels", [2, 3, 17, 64, 255, 256])
def test_quantise_roundtrip_error_bounded(levels):
    v = np.linspace(0, 255, 1001)
    q = quantise(v, levels)
    assert q.min() == 0 and q.max() == levels - 1
    assert np.abs(dequantise(q, levels) - v).max() <= 255 / (levels - 1) / 2 + 1e-9
    assert np.array_equal(quantise(dequantise(q, levels), levels), q)


@pytest.mark.parametrize("levels", [0, 1, 257, 2.5, "x"])
def test_quantise_rejects_bad_levels(levels):
    with pytest.raises(OptionError):
        quantise(np.zeros(3), levels)


# ----------------------------------------------------------------------------- mask coder

MASK_CASES = [
    ((1, 1), 1.0),
    ((1, 50), 0.2),
    ((50, 1), 0.2),
    ((1, 1000), 0.05),
    ((8, 8), 0.1),
    ((8, 8), 0.5),
    ((17, 31), 0.02),
    ((33, 65), 0.3),
    ((64, 48), 0.9),
    ((100, 100), 0.05),
]


@pytest.mark.parametrize(("shape", "density"), MASK_CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_mask_roundtrip(shape, density, seed):
    mask = random_mask(shape, density, seed)
    data = encode_mask(mask)
    out = decode_mask(data, *shape)
    assert out.dtype == bool and out.shape == shape
    assert np.array_equal(out, mask)


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (40, 30)])
def test_mask_trivial_masks(shape):
    for mask in (np.zeros(shape, bool), np.ones(shape, bool)):
        data = encode_mask(mask)
        assert len(data) <= 4
        assert np.array_equal(decode_mask(data, *shape), mask)
    single = np.zeros(shape, bool)
    single[shape[0] // 2, shape[1] - 1] = True
    assert np.array_equal(decode_mask(encode_mask(single), *shape), single)


def test_mask_accepts_01_arrays_and_rejects_others():
    m = random_mask((10, 10), 0.3).astype(np.uint8)
    assert np.array_equal(decode_mask(encode_mask(m), 10, 10), m.astype(bool))
    with pytest.raises(OptionError):
        encode_mask(np.full((4, 4), 2))
    with pytest.raises(OptionError):
        encode_mask(np.zeros(5, bool))


def test_mask_random_near_iid_floor():
    mask = random_mask((256, 256), 0.05, seed=3)
    bits = 8 * len(encode_mask(mask))
    assert bits < 1.04 * entropy_floor_bits(mask)


def floyd_steinberg(density: np.ndarray) -> np.ndarray:
    g = density.astype(np.float64).copy()
    h, w = g.shape
    out = np.zeros((h, w), bool)
    for y in range(h):
        for x in range(w):
            out[y, x] = g[y, x] >= 0.5
            e = g[y, x] - out[y, x]
            if x + 1 < w:
                g[y, x + 1] += e * 7 / 16
            if y + 1 < h:
                if x > 0:
                    g[y + 1, x - 1] += e * 3 / 16
                g[y + 1, x] += e * 5 / 16
                if x + 1 < w:
                    g[y + 1, x + 1] += e / 16
    return out


def test_mask_structure_beats_iid_floor():
    # a dithered density ramp (like Belhachmi masks) has spatial structure a context coder
    # must exploit: varying local density and blue-noise spacing
    xx = np.mgrid[0:120, 0:160][1]
    mask = floyd_steinberg(0.02 + 0.1 * (xx / 160) ** 2)
    data = encode_mask(mask)
    assert np.array_equal(decode_mask(data, *mask.shape), mask)
    assert 8 * len(data) < 0.9 * entropy_floor_bits(mask)


def test_mask_logistic_tables_are_pinned():
    # the mixer's squash/stretch tables are built at import from +, -, *, / only; their exact
    # integers are part of the format (a platform-dependent table would break decoding)
    from sparsecodec.coding import mask_coder

    sq, st = mask_coder._SQUASH, mask_coder._STRETCH
    assert np.all(np.diff(sq) >= 0) and np.all(np.diff(st) >= 0)
    assert hashlib.sha256(sq.astype("<i8").tobytes()).hexdigest()[:16] == "ae1dd3553cfe4b19"
    assert hashlib.sha256(st.astype("<i2").tobytes()).hexdigest()[:16] == "1c0932ce56c07f4a"


def test_mask_truncated_payload_raises():
    # every cut that removes coded bytes (not just the implied trailing zeros the encoder may
    # drop) raises; the few cuts within that slack decode, but never to the original mask
    from sparsecodec.coding.mask_coder import _SLACK

    mask = random_mask((40, 50), 0.1, seed=7)
    data = encode_mask(mask)
    assert len(data) > 2 * _SLACK
    for n in range(len(data) - _SLACK):
        with pytest.raises(BitstreamError):
            decode_mask(data[:n], 40, 50)
    for n in range(len(data) - _SLACK, len(data)):
        try:
            out = decode_mask(data[:n], 40, 50)
        except BitstreamError:
            continue
        assert out.sum() == mask.sum() and not np.array_equal(out, mask)
    assert np.array_equal(decode_mask(data, 40, 50), mask)


def test_decode_mask_garbage_raises_or_decodes():
    from sparsecodec.coding._stream import read_varint, write_varint

    # the point count comes first: 0 and H*W need no payload, more than H*W is corrupt
    assert not decode_mask(b"\x00", 12, 20).any()
    assert decode_mask(write_varint(240), 12, 20).all()
    for bad in (b"", b"\x80", b"\xff\xff\xff\xff\x0f"):  # empty, unfinished, > 240 points
        with pytest.raises(BitstreamError):
            decode_mask(bad, 12, 20)
    # random payloads: a one-line codec error, or a mask with exactly the announced count
    rng = np.random.default_rng(5)
    for n in range(1, 60):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        try:
            out = decode_mask(data, 12, 20)
        except BitstreamError as exc:
            assert "\n" not in str(exc)
            continue
        assert out.dtype == bool and int(out.sum()) == read_varint(data, 0)[0]


# ----------------------------------------------------------------------------- value coder


@pytest.mark.parametrize("levels", [(2,), (7,), (64,), (256,), (16, 16, 16), (256, 5, 64)])
@pytest.mark.parametrize("shape", [(1, 40), (8, 8), (31, 45)])
def test_values_roundtrip(levels, shape):
    rng = np.random.default_rng(len(levels) * 100 + shape[0])
    mask = rng.random(shape) < 0.25
    mask[-1, -1] = True
    n = int(mask.sum())
    q = np.stack([rng.integers(0, L, n) for L in levels])
    data = encode_values(q, levels, mask)
    out = decode_values(data, levels, mask, len(levels))
    assert out.shape == q.shape
    assert np.array_equal(out, q)


@pytest.mark.parametrize("levels", [(9,), (64, 96, 96)])
def test_values_encoder_chunks_give_the_same_bytes(levels, monkeypatch):
    # The encoder computes the tables of many batches per compiled call (the values are known)
    # and hands runs of equal L to constriction at once; the bytes must not depend on where the
    # chunks end. chunk=1 ends a chunk after every batch or two.
    from sparsecodec.coding import value_coder

    rng = np.random.default_rng(7)
    mask = rng.random((40, 57)) < 0.2
    q = np.stack([rng.integers(0, L, int(mask.sum())) for L in levels])
    data = encode_values(q, levels, mask)
    monkeypatch.setattr(value_coder._Coder.run_known, "__defaults__", (1,))
    assert encode_values(q, levels, mask) == data
    assert np.array_equal(decode_values(data, levels, mask, len(levels)), q)


def test_values_smooth_image_beats_iid():
    h, w = 96, 128
    yy, xx = np.mgrid[0:h, 0:w]
    img = 127.5 + 100 * np.sin(xx / 17.0) * np.cos(yy / 23.0)
    mask = random_mask((h, w), 0.1, seed=2)
    rgb = np.stack([img, 0.8 * img + 20, 255 - img])[:, mask]
    levels = (64, 64, 64)
    q = np.stack([quantise(rgb[c], 64) for c in range(3)])
    data = encode_values(q, levels, mask)
    assert np.array_equal(decode_values(data, levels, mask, 3), q)
    iid = 0.0
    for c in range(3):
        _, counts = np.unique(q[c], return_counts=True)
        p = counts / counts.sum()
        iid += -(counts * np.log2(p)).sum()
    assert 8 * len(data) < 0.6 * iid


def test_values_validation():
    mask = random_mask((6, 6), 0.5)
    n = int(mask.sum())
    with pytest.raises(OptionError):
        encode_values(np.zeros((1, n + 1), int), (16,), mask)
    with pytest.raises(OptionError):
        encode_values(np.full((1, n), 16), (16,), mask)
    with pytest.raises(OptionError):
        encode_values(np.zeros((2, n), int), (16,), mask)
    with pytest.raises(OptionError):
        encode_values(np.zeros((1, n), int), (1,), mask)
    assert encode_values(np.zeros((1, 0), int), (16,), np.zeros((3, 3), bool)) == b""


# ----------------------------------------------------------------------------- container


@pytest.mark.parametrize("channels", [1, 3])
def test_stream_roundtrip(channels):
    levels = (32,) if channels == 1 else (32, 8, 256)
    data, header, mask, q = small_stream(channels, seed=4, shape=(23, 41), levels=levels)
    h2, m2, q2 = read_stream(data)
    assert np.array_equal(m2, mask) and np.array_equal(q2, q)
    assert dataclasses.replace(h2, mask_bytes=0, values_bytes=0) == header
    sizes = part_sizes(data)
    assert sizes["header"] + sizes["mask"] + sizes["values"] + sizes["crc"] == len(data)
    assert sizes["header"] == h2.size and sizes["mask"] == h2.mask_bytes


def test_stream_all_header_fields_preserved():
    mask = np.zeros((5, 7), bool)
    mask[2, 3] = True
    header = Header(
        width=7, height=5, channels=3, levels=(2, 100, 256), colour=1, mask_strategy=200,
        decoder=1, seed=2**32 - 1, flags=1, params=(0xDEADBEEF).to_bytes(4, "little"),
    )  # fmt: skip
    h2, m2, q2 = read_stream(write_stream(header, mask, np.array([[1], [99], [255]])))
    assert (h2.colour, h2.mask_strategy, h2.decoder, h2.seed, h2.flags, h2.levels) == (
        1, 200, 1, 2**32 - 1, 1, (2, 100, 256),
    )  # fmt: skip
    assert h2.decoder_params() == {"weights": 0xDEADBEEF}
    assert q2.tolist() == [[1], [99], [255]] and np.array_equal(m2, mask)


def test_unknown_flag_bits_are_refused():
    with pytest.raises(OptionError, match="unknown flag bits"):
        Header(width=4, height=3, channels=1, levels=(16,), flags=0x80)
    data = bytearray(small_stream()[0])
    data[13] |= 0x80  # the flags byte of the fixed header
    with pytest.raises(BitstreamError, match="corrupt header: unknown flag bits 0x80"):
        read_stream(bytes(data))


def test_stream_empty_mask():
    header = Header(width=4, height=3, channels=1, levels=(16,))
    h2, m2, q2 = read_stream(write_stream(header, np.zeros((3, 4), bool), np.zeros((1, 0), int)))
    assert not m2.any() and q2.shape == (1, 0)


def test_bad_magic():
    data, *_ = small_stream()
    with pytest.raises(BitstreamError, match="magic"):
        read_stream(b"XPCD" + data[4:])
    with pytest.raises(BitstreamError, match="magic"):
        read_stream(b"")


def test_unknown_version_message():
    data, *_ = small_stream()
    bad = with_crc(data[:4] + bytes([7]) + data[5:-4])
    with pytest.raises(BitstreamError) as info:
        read_stream(bad)
    msg = str(info.value)
    assert f"unsupported format version 7 (this sparsecodec reads version {FORMAT_VERSION})" in msg
    assert "\n" not in msg


def test_crc_detects_every_single_bit_flip_in_payload():
    data, *_ = small_stream()
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 1 << (i % 8)
        with pytest.raises(BitstreamError):
            read_stream(bytes(flipped))


def test_truncation_at_every_prefix_and_trailing_bytes():
    data, *_ = small_stream(channels=3)
    for n in range(len(data)):
        with pytest.raises(BitstreamError):
            read_stream(data[:n])
    with pytest.raises(BitstreamError, match="trailing"):
        read_stream(data + b"\0")


def _raw_header(width, height, channels=1, levels=(16,), mbytes=0, vbytes=0):
    fields = (FORMAT_VERSION, width, height, channels, 0, 0, 0, 0, 0, mbytes, vbytes)
    fixed = struct.pack("<4sBHHBBBBBIII", b"SPCD", *fields)
    return fixed + bytes(v - 1 for v in levels)


@pytest.mark.parametrize(
    ("width", "height", "channels", "pattern"),
    [
        (0, 10, 1, "size"),
        (10, 0, 1, "size"),
        (16385, 1, 1, "size"),
        (16384, 16384, 1, "exceeds"),
        (10, 10, 2, "channels"),
    ],
)
def test_absurd_dimensions(width, height, channels, pattern):
    levels = (16,) * channels
    stream = with_crc(_raw_header(width, height, channels, levels) + b"\0")
    with pytest.raises(BitstreamError, match=pattern):
        read_stream(stream)


def test_payload_lengths_must_match():
    stream = with_crc(_raw_header(10, 10, mbytes=2**32 - 1, vbytes=5))
    with pytest.raises(BitstreamError, match="truncated"):
        read_stream(stream)


def test_header_constructor_validates():
    with pytest.raises(OptionError):
        Header(width=0, height=4, channels=1, levels=(16,))
    with pytest.raises(OptionError):
        Header(width=4, height=4, channels=3, levels=(16,))
    with pytest.raises(OptionError):
        Header(width=4, height=4, channels=1, levels=(300,))
    with pytest.raises(OptionError):
        Header(width=4, height=4, channels=1, levels=(16,), seed=-1)
    h = Header(width=4, height=4, channels=1, levels=(16,))
    assert parse_header(h.to_bytes()) == h


def test_write_stream_rejects_mismatched_inputs():
    header = Header(width=4, height=3, channels=1, levels=(16,))
    with pytest.raises(OptionError):
        write_stream(header, np.zeros((4, 3), bool), np.zeros((1, 0), int))
    with pytest.raises(OptionError):
        write_stream(header, np.ones((3, 4), bool), np.zeros((3, 12), int))


def _golden_input():
    """A fixed mask and values built without a random generator (stable across versions)."""
    yy, xx = np.mgrid[0:40, 0:56]
    mask = ((yy * 131 + xx * 71 + (yy * xx) % 13) * 2654435761 % 97) < 9
    mask |= np.abs(xx - 2 * yy) < 1
    k = np.arange(int(mask.sum()))
    q = np.stack([(k * 7 + (k * k) % 11) % 64, (k * 3) % 17 + 20, 40 - (k % 9)])
    header = Header(width=56, height=40, channels=3, levels=(64, 64, 64), colour=1, seed=3)
    return header, mask, q


def test_value_neighbourhood_widens_on_sparse_masks():
    # format 4: search half width round(2.1 / sqrt(d)) clipped to [8, 16]
    from sparsecodec.coding.value_coder import _Coder

    for density, radius in ((0.002, 16), (0.02, 15), (0.05, 9), (0.1, 8), (0.5, 8)):
        mask = np.zeros((100, 100), bool)
        mask.flat[:: int(round(1 / density))] = True
        assert _Coder(mask, [16]).radius == radius, density
    # points 12 columns apart (beyond the old width 8) round trip at that width
    mask = np.zeros((60, 120), bool)
    mask[::6, ::12] = True
    q = (np.arange(int(mask.sum()))[None] * 7) % 32
    data = encode_values(q, (32,), mask)
    assert np.array_equal(decode_values(data, (32,), mask, 1), q)


def test_golden_stream_is_stable():
    # The exact bytes are part of format version 5: if this fails, the entropy models changed
    # and FORMAT_VERSION must be bumped (old files would no longer decode). The CRC32 of the
    # body (without the trailing CRC: the CRC of a whole stream is a constant residue) and a
    # SHA-256 prefix pin every byte.
    assert FORMAT_VERSION == 5
    header, mask, q = _golden_input()
    data = write_stream(header, mask, q)
    digest = hashlib.sha256(data).hexdigest()[:16]
    assert (len(data), zlib.crc32(data[:-4]), digest) == (603, 56814390, "f9038689961fca95")
    # version 5 only added the (here empty) decoder parameter block: the payloads are the
    # bytes of the version-4 stream of the same input (tests/data/v4_stream.bin)
    v4 = OLD_STREAMS[4][0].read_bytes()
    n = header.size  # version-5 header: the v4 header and one length byte
    assert data[n - 1] == 0 and v4[5 : n - 1] == data[5 : n - 1] and v4[n - 1 : -4] == data[n:-4]
    _, m2, q2 = read_stream(data)
    assert np.array_equal(m2, mask) and np.array_equal(q2, q)


OLD_STREAMS = {
    # real streams of earlier format versions (32x24 crop of cameraman, Belhachmi mask at 10 %):
    # version 1 was written before the format-2 mask coder, version 2 before the quadtree
    # mask code of version 3, version 3 before the density-adaptive value neighbourhood of
    # version 4
    1: (Path(__file__).parent / "data" / "v1_stream.bin", 124),
    2: (Path(__file__).parent / "data" / "v2_stream.bin", 112),
    3: (Path(__file__).parent / "data" / "v3_stream.bin", 96),
    # version 4 (the golden input of test_golden_stream_is_stable), before the decoder
    # parameter block of version 5
    4: (Path(__file__).parent / "data" / "v4_stream.bin", 602),
}


@pytest.mark.parametrize("version", sorted(OLD_STREAMS))
def test_old_format_versions_are_refused(version):
    path, size = OLD_STREAMS[version]
    data = path.read_bytes()
    assert data[:5] == b"SPCD" + bytes([version]) and len(data) == size
    for call in (read_stream, part_sizes, parse_header):
        with pytest.raises(BitstreamError) as info:
            call(data)
        assert str(info.value) == (
            f"unsupported format version {version} (this sparsecodec reads version "
            f"{FORMAT_VERSION})"
        )


# ----------------------------------------------------------------------------- fuzzing


def _quadtree_stream() -> bytes:
    """A stream whose mask is a quadtree corner mask (quadtree split-flag mask payload)."""
    from sparsecodec.masks.quadtree import corner_mask, root_blocks, split_blocks

    blocks = root_blocks(19, 23, 8)
    kids, _ = split_blocks(blocks[::2], 19, 23)
    mask = corner_mask(np.concatenate([blocks[1::2], kids]), 19, 23)
    q = (np.arange(int(mask.sum())) * 5 % 32)[None]
    return write_stream(Header(width=23, height=19, channels=1, levels=(32,)), mask, q)


_FUZZ_STREAMS = [
    small_stream(1, seed=1)[0],
    small_stream(3, seed=2, shape=(12, 7))[0],
    _quadtree_stream(),
]


def _decode_or_error(data: bytes) -> None:
    start = time.perf_counter()
    try:
        header, mask, q = read_stream(data)
        assert mask.shape == (header.height, header.width)
        assert q.shape == (header.channels, int(mask.sum()))
    except BitstreamError as exc:
        assert "\n" not in str(exc)
    assert time.perf_counter() - start < 5.0


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    which=st.integers(0, len(_FUZZ_STREAMS) - 1),
    edits=st.lists(
        st.tuples(st.sampled_from(["set", "insert", "delete"]), st.integers(0, 10**6),
                  st.integers(0, 255)),
        min_size=1, max_size=4,
    ),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
    fix_crc=st.booleans(),
)  # fmt: skip
def test_fuzz_mutated_streams(which, edits, cut, fix_crc):
    data = bytearray(_FUZZ_STREAMS[which])
    for op, pos, value in edits:
        pos %= len(data) + 1
        if op == "insert":
            data.insert(pos, value)
        elif pos < len(data):
            if op == "set":
                data[pos] = value
            else:
                del data[pos]
    if cut is not None and data:
        del data[cut % len(data) :]
    if fix_crc and len(data) > 4:
        # re-seal so that the payload decoders themselves see the corrupted bytes
        data = bytearray(with_crc(bytes(data[:-4])))
    _decode_or_error(bytes(data))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None)
@given(payload=st.binary(max_size=300), height=st.integers(1, 30), width=st.integers(1, 30))
def test_fuzz_random_payloads_with_valid_header(payload, height, width):
    # a valid header with a random payload split: exercises both entropy decoders directly
    split = len(payload) // 3
    header = _raw_header(width, height, 3, (256, 7, 33), split, len(payload) - split)
    _decode_or_error(with_crc(header + payload))
