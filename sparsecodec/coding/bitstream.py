"""The sparsecodec container: header, mask payload, values payload, CRC32.

The mask payload is the quadtree split-flag code when the mask is a quadtree corner mask
(header flag ``FLAG_QUADTREE``), else the context-mixing mask coder.

The values payload codes every channel at every mask point, except for luma-preference colour
(a decoder parameter ``chroma_step`` k > 1): then it is ``luma_bytes`` u32, the luma values at
the mask, and the chroma values at the lattice points of the mask only
(:func:`sparsecodec.geometry.lattice_mask`); ``q[1:]`` off those points is unused and reads back
as 0.

``write_stream(header, mask, q)`` -> bytes and ``read_stream(data)`` -> (header, mask, q).
Every problem with the input bytes raises :class:`BitstreamError`; decoding work and memory are
bounded by the validated header (at most 2**26 pixels).
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from ..colour import has_chroma
from ..errors import BitstreamError, OptionError
from ..geometry import lattice_mask
from .header import CRC_SIZE, FLAG_QUADTREE, Header, parse_header
from .mask_coder import decode_mask, encode_mask
from .quadtree_coder import decode_quadtree, encode_quadtree
from .value_coder import decode_values, encode_values


def write_stream(header: Header, mask: np.ndarray, q: np.ndarray) -> bytes:
    """Serialise ``header`` (payload lengths are filled in), the mask and the values (C, N)."""
    m = np.asarray(mask)
    if m.shape != (header.height, header.width):
        raise OptionError(
            f"mask shape {m.shape} does not match header {header.height}x{header.width}"
        )
    q = np.asarray(q)
    if q.ndim != 2 or q.shape[0] != header.channels:
        raise OptionError(f"values must have shape ({header.channels}, N), got {q.shape}")
    # quadtree corner masks get their split-flag code, every other mask the context coder
    mask_payload = encode_quadtree(m)
    flags = header.flags & ~FLAG_QUADTREE
    if mask_payload is None:
        mask_payload = encode_mask(m)
    else:
        flags |= FLAG_QUADTREE
    values_payload = _encode_values(header, q, m)
    header = dataclasses.replace(
        header, flags=flags, mask_bytes=len(mask_payload), values_bytes=len(values_payload)
    )
    body = header.to_bytes() + mask_payload + values_payload
    return body + zlib.crc32(body).to_bytes(CRC_SIZE, "little")


def chroma_step(header: Header) -> int:
    """The chroma mask step of the stream (1: chroma is stored at every mask point). Only
    YCbCr colour streams have chroma: grey and RGB streams read as step 1 whatever they store."""
    if not has_chroma(header.channels, header.colour):
        return 1
    return int(header.decoder_params().get("chroma_step", 1))


def _encode_values(header: Header, q: np.ndarray, m: np.ndarray) -> bytes:
    step = chroma_step(header)
    if step == 1:
        return encode_values(q, header.levels, m)
    on = lattice_mask(m, step)[m]
    luma = encode_values(q[:1], header.levels[:1], m)
    chroma = encode_values(q[1:, on], header.levels[1:], lattice_mask(m, step))
    return len(luma).to_bytes(4, "little") + luma + chroma


def _decode_values(header: Header, payload: bytes, mask: np.ndarray) -> np.ndarray:
    step = chroma_step(header)
    if step == 1:
        return decode_values(payload, header.levels, mask, header.channels)
    if len(payload) < 4 or int.from_bytes(payload[:4], "little") > len(payload) - 4:
        raise BitstreamError("corrupt values payload (luma length)")
    n = int.from_bytes(payload[:4], "little")
    sub = lattice_mask(mask, step)
    q = np.zeros((header.channels, int(mask.sum())), np.int64)
    q[:1] = decode_values(payload[4 : 4 + n], header.levels[:1], mask, 1)
    q[1:, sub[mask]] = decode_values(payload[4 + n :], header.levels[1:], sub, 2)
    return q


def _split(data: bytes) -> tuple[Header, bytes, bytes]:
    """Validate the container (header, lengths, CRC) and return header and payloads."""
    data = bytes(data)
    header = parse_header(data)
    expected = header.size + header.mask_bytes + header.values_bytes + CRC_SIZE
    if len(data) < expected:
        raise BitstreamError(f"truncated stream ({len(data)} bytes, header announces {expected})")
    if len(data) > expected:
        raise BitstreamError(f"corrupt stream ({len(data) - expected} unexpected trailing bytes)")
    body = data[: expected - CRC_SIZE]
    crc = int.from_bytes(data[expected - CRC_SIZE : expected], "little")
    if zlib.crc32(body) != crc:
        raise BitstreamError("corrupt stream (CRC32 mismatch)")
    mask_payload = body[header.size : header.size + header.mask_bytes]
    values_payload = body[header.size + header.mask_bytes :]
    return header, mask_payload, values_payload


def read_stream(data: bytes) -> tuple[Header, np.ndarray, np.ndarray]:
    """Parse and decode a stream: (header, bool mask (H, W), int64 values (C, N))."""
    header, mask_payload, values_payload = _split(data)
    if header.flags & FLAG_QUADTREE:
        mask = decode_quadtree(mask_payload, header.height, header.width)
    else:
        mask = decode_mask(mask_payload, header.height, header.width)
    try:
        q = _decode_values(header, values_payload, mask)
    except OptionError as exc:  # cannot happen for a valid header; keep the error contract
        raise BitstreamError(f"corrupt stream ({exc})") from None
    return header, mask, q


def part_sizes(data: bytes) -> dict[str, int]:
    """Byte counts of the parts of a (validated) stream: header, mask, values, crc, total."""
    header, mask_payload, values_payload = _split(data)
    return {
        "header": header.size,
        "mask": len(mask_payload),
        "values": len(values_payload),
        "crc": CRC_SIZE,
        "total": len(bytes(data)),
    }
