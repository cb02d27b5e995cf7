"""Pillow plugin: ``PIL.Image.open("x.bin")`` reads sparsecodec streams.

Pillow has no automatic discovery of third-party plugins, so the plugin is registered when
this module is imported, which ``import sparsecodec`` does; ``import sparsecodec.pillow`` alone
is enough too. Streams are recognised by their magic bytes (``SPCD``), whatever the file name;
the extension ``.bin`` is not registered (it is not ours alone).

Opening reads and checks only the header (size, mode ``L`` or ``RGB``, the fields in
``im.info``); ``load()`` decodes the whole stream with :func:`sparsecodec.decode`, so the pixels
are exactly the codec's. A stream whose header is not valid raises
:class:`PIL.UnidentifiedImageError` at open, a corrupt or truncated payload raises ``OSError``
at load, both carrying the codec's one-line message; reads are bounded by the lengths the
validated header announces.
"""

from __future__ import annotations

from typing import IO, Any

from PIL import Image, ImageFile, UnidentifiedImageError

from .errors import SparseCodecError

FORMAT = "SPARSECODEC"
DESCRIPTION = "sparsecodec inpainting stream"
_CHUNK = 1 << 20
#: bytes read to parse the header: more than any header holds (fixed part, levels, decoder
#: parameters), so the plugin does not depend on the header layout
_HEADER_READ = 4096
#: ``sparsecodec.coding.header.MAGIC`` (a test ties them), here so that registering the plugin
#: and probing other files do not import the coder
MAGIC = b"SPCD"


def _accept(prefix: bytes) -> bool:
    return prefix[: len(MAGIC)] == MAGIC


def _read_at_most(fp: IO[bytes], n: int) -> bytes:
    """Up to ``n`` bytes of ``fp``, read in chunks (memory bounded by the file's real size)."""
    parts, got = [], 0
    while got < n:
        b = fp.read(min(_CHUNK, n - got))
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


class SparseCodecImageFile(ImageFile.ImageFile):
    """A sparsecodec stream as a Pillow image (read only)."""

    format = FORMAT
    format_description = DESCRIPTION

    def _open(self) -> None:
        from .coding.header import CRC_SIZE, parse_header

        assert self.fp is not None
        head = self.fp.read(_HEADER_READ)  # parse_header reads only what the header needs
        try:
            h = parse_header(head)
        except SparseCodecError as exc:
            raise UnidentifiedImageError(f"sparsecodec: {exc}") from None
        self._size = (h.width, h.height)
        self._mode = "L" if h.channels == 1 else "RGB"
        self.info.update(
            {
                "sparsecodec_version": h.version,
                "levels": h.levels,
                "mask_strategy": h.mask_strategy,
                "decoder": h.decoder,
                "colour": h.colour,
                "seed": h.seed,
                "flags": h.flags,
            }
        )
        # the decoder reads at most the announced length (+1 to detect trailing bytes)
        n = h.size + h.mask_bytes + h.values_bytes + CRC_SIZE
        self.tile = [ImageFile._Tile(FORMAT, (0, 0, *self.size), 0, (n,))]


class SparseCodecDecoder(ImageFile.PyDecoder):
    """Decodes a whole stream at once with :func:`sparsecodec.codec.decode`."""

    _pulls_fd = True

    def decode(self, buffer: bytes | Any) -> tuple[int, int]:
        from .codec import decode

        assert self.fd is not None and self.im is not None
        self.fd.seek(0)
        data = _read_at_most(self.fd, int(self.args[0]) + 1)
        try:
            pixels = decode(data)
        except SparseCodecError as exc:
            raise OSError(f"sparsecodec: {exc}") from None
        self.set_as_raw(pixels.tobytes())
        return -1, 0


def register() -> None:
    """Register the plugin with Pillow (idempotent)."""
    Image.register_open(FORMAT, SparseCodecImageFile, _accept)
    Image.register_decoder(FORMAT, SparseCodecDecoder)
    Image.register_mime(FORMAT, "image/x-sparsecodec")


register()
