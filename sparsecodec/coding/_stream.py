"""Small helpers shared by the payload coders: varints and constriction word <-> byte packing."""

from __future__ import annotations

import numpy as np

from ..errors import BitstreamError


def write_varint(value: int) -> bytes:
    """Unsigned LEB128 encoding of ``value``."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data: bytes, pos: int = 0, limit: int = 2**40) -> tuple[int, int]:
    """Decode an unsigned LEB128 number at ``pos``; return (value, new position)."""
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise BitstreamError("truncated payload (incomplete number)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if value > limit:
            raise BitstreamError("corrupt payload (number out of range)")
        if not byte & 0x80:
            return value, pos
        shift += 7


def words_to_bytes(words: np.ndarray) -> bytes:
    """Serialise constriction's uint32 words, dropping trailing zero bytes of the last word."""
    raw = np.asarray(words, dtype="<u4").tobytes()
    if not raw:
        return raw
    end = len(raw)
    while end > len(raw) - 3 and raw[end - 1] == 0:
        end -= 1
    return raw[:end]


def bytes_to_words(data: bytes) -> np.ndarray:
    """Inverse of :func:`words_to_bytes` (zero-pads to whole 32-bit words)."""
    pad = (-len(data)) % 4
    return np.frombuffer(bytes(data) + b"\0" * pad, dtype="<u4").astype(np.uint32)
