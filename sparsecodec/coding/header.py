"""Fixed-size header of a sparsecodec bitstream.

Layout (little endian)::

    magic "SPCD" | version u8 | width u16 | height u16 | channels u8 | colour u8
    | mask_strategy u8 | decoder u8 | flags u8 | seed u32 | mask_bytes u32 | values_bytes u32
    | (levels - 1) u8 per channel | params_bytes u8 | decoder parameters (params_bytes)

followed by the mask payload, the values payload and a CRC32 (zlib) of everything before it.
The decoder parameter block (version 5) holds the fields the decoder declares in its registry
entry (:attr:`sparsecodec.decoders.Decoder.stream_params`, e.g. EED's contrast parameter and
presmoothing); it is empty for decoders without parameters and its length must equal the
declared one. Every field is range-checked on reading, so a forged block cannot ask for a huge
Gaussian kernel or a degenerate diffusivity.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import BitstreamError, OptionError

MAGIC = b"SPCD"
FORMAT_VERSION = 5
MAX_SIDE = 16384
MAX_PIXELS = 2**26
_FIXED = struct.Struct("<4sBHHBBBBBIII")
FIXED_SIZE = _FIXED.size
CRC_SIZE = 4
#: flag bits
FLAG_TONAL = 1
#: the mask payload is a quadtree split-flag code (``quadtree_coder``), not the context coder
FLAG_QUADTREE = 2
#: the WGAN decoders run their generator in bfloat16 (the encoder's choice; unset: float32)
FLAG_BFLOAT16 = 4
KNOWN_FLAGS = FLAG_TONAL | FLAG_QUADTREE | FLAG_BFLOAT16


@dataclass(frozen=True)
class Header:
    """Everything the decoder needs besides the two payloads.

    ``colour``: a colour mode id (:data:`sparsecodec.colour.COLOUR_MODES`: 0 = RGB or grey
    stored as is, 1 = YCbCr). ``decoder``: a decoder id (:data:`sparsecodec.decoders.DECODERS`:
    0 = diffusion, 1 = WGAN, 2 = WGAN joint). ``mask_strategy``: a strategy id
    (:data:`sparsecodec.masks.STRATEGIES`, 255 = a given mask). ``levels``: quantisation levels
    per channel. ``mask_bytes``/``values_bytes`` are filled in by
    :func:`sparsecodec.coding.bitstream.write_stream`.
    """

    width: int
    height: int
    channels: int
    levels: tuple[int, ...]
    colour: int = 0
    mask_strategy: int = 0
    decoder: int = 0
    seed: int = 0
    flags: int = 0
    mask_bytes: int = 0
    values_bytes: int = 0
    params: bytes = b""
    version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(int(v) for v in self.levels))
        object.__setattr__(self, "params", bytes(self.params))
        problem = _problem(self)
        if problem:
            raise OptionError(f"invalid header: {problem}")

    @property
    def size(self) -> int:
        """Number of header bytes (without payloads and CRC)."""
        return FIXED_SIZE + self.channels + 1 + len(self.params)

    def to_bytes(self) -> bytes:
        """Serialise the header (payloads and CRC are appended by the bitstream writer)."""
        fixed = _FIXED.pack(
            MAGIC,
            self.version,
            self.width,
            self.height,
            self.channels,
            self.colour,
            self.mask_strategy,
            self.decoder,
            self.flags,
            self.seed,
            self.mask_bytes,
            self.values_bytes,
        )
        levels = bytes(v - 1 for v in self.levels)
        return fixed + levels + bytes([len(self.params)]) + bytes(self.params)

    def decoder_params(self) -> dict:
        """The decoder's parameters read from :attr:`params` (empty for decoders without)."""
        from ..decoders import decoder_by_id

        dec = decoder_by_id(self.decoder)
        return dec.unpack_params(self.params) if dec is not None else {}


def _problem(h: Header) -> str | None:
    """Describe the first invalid field of ``h`` or return None."""
    if h.version != FORMAT_VERSION:
        return (
            f"unsupported format version {h.version} "
            f"(this sparsecodec reads version {FORMAT_VERSION})"
        )
    if not (1 <= h.width <= MAX_SIDE and 1 <= h.height <= MAX_SIDE):
        return f"image size {h.width}x{h.height} outside [1, {MAX_SIDE}]"
    if h.width * h.height > MAX_PIXELS:
        return f"image size {h.width}x{h.height} exceeds {MAX_PIXELS} pixels"
    if h.channels not in (1, 3):
        return f"channels must be 1 or 3, got {h.channels}"
    if len(h.levels) != h.channels:
        return f"{len(h.levels)} quantisation levels given for {h.channels} channels"
    if any(not 2 <= v <= 256 for v in h.levels):
        return f"quantisation levels {h.levels} outside [2, 256]"
    for name in ("colour", "mask_strategy", "decoder", "flags"):
        if not 0 <= getattr(h, name) <= 255:
            return f"{name} must fit in one byte, got {getattr(h, name)}"
    if h.flags & ~KNOWN_FLAGS & 0xFF:
        return f"unknown flag bits {h.flags & ~KNOWN_FLAGS:#04x}"
    for name in ("seed", "mask_bytes", "values_bytes"):
        if not 0 <= getattr(h, name) < 2**32:
            return f"{name} must fit in 32 bits, got {getattr(h, name)}"
    from ..decoders import decoder_by_id

    dec = decoder_by_id(h.decoder)
    if dec is not None:
        return dec.params_problem(bytes(h.params))
    if h.params:
        return f"parameters given for unknown decoder id {h.decoder}"
    return None


def parse_header(data: bytes) -> Header:
    """Read and validate the header at the start of ``data`` (payloads/CRC are not checked).

    Raises :class:`BitstreamError` with a one-line message on any problem.
    """
    data = bytes(data[: FIXED_SIZE + 3 + 1 + 255])
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BitstreamError("not a sparsecodec stream (bad magic bytes)")
    if len(data) < len(MAGIC) + 1:
        raise BitstreamError("truncated stream (header incomplete)")
    version = data[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise BitstreamError(
            f"unsupported format version {version} (this sparsecodec reads version "
            f"{FORMAT_VERSION})"
        )
    if len(data) < FIXED_SIZE:
        raise BitstreamError("truncated stream (header incomplete)")
    fields = _FIXED.unpack(data[:FIXED_SIZE])
    (_, _, width, height, channels, colour, strategy, decoder, flags, seed, mbytes, vbytes) = fields
    if channels not in (1, 3):
        raise BitstreamError(f"corrupt header: channels must be 1 or 3, got {channels}")
    if len(data) < FIXED_SIZE + channels:
        raise BitstreamError("truncated stream (header incomplete)")
    levels = tuple(b + 1 for b in data[FIXED_SIZE : FIXED_SIZE + channels])
    at = FIXED_SIZE + channels
    if len(data) < at + 1 or len(data) < at + 1 + data[at]:
        raise BitstreamError("truncated stream (header incomplete)")
    params = data[at + 1 : at + 1 + data[at]]
    try:
        return Header(
            width=width,
            height=height,
            channels=channels,
            levels=levels,
            colour=colour,
            mask_strategy=strategy,
            decoder=decoder,
            seed=seed,
            flags=flags,
            mask_bytes=mbytes,
            values_bytes=vbytes,
            params=params,
            version=version,
        )
    except OptionError as exc:
        raise BitstreamError(
            f"corrupt header: {str(exc).removeprefix('invalid header: ')}"
        ) from None
