"""Format version 5: the decoder parameter block of the header and luma-preference values."""

from __future__ import annotations

import numpy as np
import pytest

from sparsecodec.coding import Header, parse_header, read_stream, write_stream
from sparsecodec.coding.header import FIXED_SIZE
from sparsecodec.decoders import get_decoder
from sparsecodec.errors import BitstreamError, OptionError
from sparsecodec.geometry import lattice_mask

EED = get_decoder("eed")


def _eed_header(channels=1, **params) -> Header:
    p = {"lam": 2.5, "sigma": 1.0, "diffusivity": "charbonnier", "chroma_step": 1, **params}
    return Header(
        width=23,
        height=19,
        channels=channels,
        levels=(32,) * channels,
        colour=1 if channels == 3 else 0,
        decoder=EED.id,
        params=EED.pack_params(p),
    )


def test_parameter_block_round_trips_as_quantised():
    h = _eed_header(lam=3.14159, sigma=0.77, diffusivity="exponential", chroma_step=1)
    back = parse_header(h.to_bytes())
    assert back.decoder_params() == {
        "lam": round(3.14159 * 256) / 256,
        "sigma": round(0.77 * 32) / 32,
        "diffusivity": "exponential",
        "chroma_step": 1,
    }
    # what the encoder predicts with is what the decoder reads
    assert EED.stream_params[0].quantised(3.14159) == back.decoder_params()["lam"]
    # decoders without parameters have an empty block: one length byte
    plain = Header(width=4, height=3, channels=1, levels=(8,))
    assert plain.size == FIXED_SIZE + 1 + 1 and plain.decoder_params() == {}


@pytest.mark.parametrize(
    "params, message",
    [
        ({"lam": 0.0}, "lam must lie in"),
        ({"lam": 1e6}, "lam must lie in"),
        ({"lam": float("nan")}, "lam must be a finite number"),
        ({"lam": "big"}, "lam must be a finite number"),
        ({"sigma": 4.5}, "sigma must lie in"),
        ({"sigma": -1}, "sigma must lie in"),
        ({"diffusivity": "perona"}, "unknown diffusivity"),
        ({"chroma_step": 0}, "chroma_step must lie in"),
        ({"chroma_step": 17}, "chroma_step must lie in"),
        ({"beta": 1}, "unknown option(s) for the eed decoder: beta"),
    ],
)
def test_bad_parameters_are_refused(params, message):
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _eed_header(**params)


def _forge(header: Header, block: bytes) -> bytes:
    """Header bytes of ``header`` with its parameter block replaced by ``block``."""
    raw = header.to_bytes()
    at = FIXED_SIZE + header.channels
    return raw[:at] + bytes([len(block)]) + block


@pytest.mark.parametrize(
    "block, message",
    [
        (b"", "5-byte parameter block, got 0 bytes"),
        (b"\x00" * 7, "5-byte parameter block, got 7 bytes"),
        (b"\x00\x02\x20\x00", "5-byte parameter block, got 4 bytes"),
        (b"\x00\x00\x20\x00\x01", "parameter lam out of range"),  # lam = 0
        (b"\x00\x02\x81\x00\x01", "parameter sigma out of range"),  # sigma 129/32 > 4
        (b"\x00\x02\x20\x02\x01", "parameter diffusivity out of range"),
        (b"\x00\x02\x20\x00\x00", "parameter chroma_step out of range"),
        (b"\x00\x02\x20\x00\x11", "parameter chroma_step out of range"),
    ],
)
def test_forged_parameter_blocks_are_refused(block, message):
    raw = _forge(_eed_header(), block)
    with pytest.raises(BitstreamError) as info:
        parse_header(raw)
    assert message in str(info.value)


def test_truncated_parameter_block_is_refused():
    raw = _eed_header().to_bytes()
    for cut in range(FIXED_SIZE, len(raw)):
        with pytest.raises(BitstreamError, match="truncated stream"):
            parse_header(raw[:cut])


def test_parameters_for_a_decoder_without_them_are_refused():
    h = Header(width=4, height=3, channels=1, levels=(8,))
    raw = _forge(h, b"\x01")
    with pytest.raises(BitstreamError, match="0-byte parameter block, got 1 bytes"):
        parse_header(raw)


def test_lattice_mask_known_values():
    m = np.ones((5, 7), bool)
    sub = lattice_mask(m, 3)
    rows, cols = np.nonzero(sub)
    assert set(rows) == {0, 3, 4} and set(cols) == {0, 3, 6}
    assert sub.sum() == 9
    assert np.array_equal(lattice_mask(m, 1), m)
    m[3, 3] = False
    assert not lattice_mask(m, 3)[3, 3] and lattice_mask(m, 3).sum() == 8


def _luma_pref_stream(step: int):
    from sparsecodec.masks.quadtree import corner_mask, root_blocks, split_blocks

    blocks = root_blocks(19, 23, 8)
    kids, _ = split_blocks(blocks[::2], 19, 23)
    mask = corner_mask(np.concatenate([blocks[1::2], kids]), 19, 23)
    n = int(mask.sum())
    q = np.stack([np.arange(n) * 5 % 32, np.arange(n) * 3 % 32, 31 - np.arange(n) % 32])
    q[1:, ~lattice_mask(mask, step)[mask]] = 0  # unused chroma values read back as 0
    header = _eed_header(channels=3, chroma_step=step)
    return write_stream(header, mask, q), mask, q


@pytest.mark.parametrize("step", [1, 2, 4, 8])
def test_luma_preference_values_round_trip(step):
    data, mask, q = _luma_pref_stream(step)
    header, m2, q2 = read_stream(data)
    assert np.array_equal(m2, mask) and np.array_equal(q2, q)
    assert header.decoder_params()["chroma_step"] == step


def test_luma_preference_stream_truncations_and_flips_fail_cleanly():
    data, _, _ = _luma_pref_stream(4)
    for cut in range(0, len(data), 3):
        with pytest.raises(BitstreamError):
            read_stream(data[:cut])
    for i in range(0, len(data) - 4, 5):
        bad = bytearray(data)
        bad[i] ^= 0x41
        with pytest.raises(BitstreamError):
            read_stream(bytes(bad))
