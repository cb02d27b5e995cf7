"""The sparsecodec container: header, mask payload, values payload, CRC32.

The mask payload is the quadtree split-flag code when the mask is a quadtree corner mask
(header flag ``FLAG_QUADTREE``), else the context-mixing mask coder.

``write_stream(header, mask, q)`` -> bytes and ``read_stream(data)`` -> (header, mask, q).
Every problem with the input bytes raises :class:`BitstreamError`; decoding work and memory are
bounded by the validated header (at most 2**26 pixels).
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np

from ..errors import BitstreamError, OptionError
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
    values_payload = encode_values(q, header.levels, m)
    header = dataclasses.replace(
        header, flags=flags, mask_bytes=len(mask_payload), values_bytes=len(values_payload)
    )
    body = header.to_bytes() + mask_payload + values_payload
    return body + zlib.crc32(body).to_bytes(CRC_SIZE, "little")


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
        q = decode_values(values_payload, header.levels, mask, header.channels)
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
