"""Bitstream of sparsecodec: quantisation, header, mask and value entropy coders, container."""

from ..quantise import dequantise, quantise
from .bitstream import part_sizes, read_stream, write_stream
from .header import FLAG_TONAL, FORMAT_VERSION, MAX_PIXELS, MAX_SIDE, Header, parse_header
from .mask_coder import decode_mask, encode_mask
from .value_coder import decode_values, encode_values

__all__ = [
    "FLAG_TONAL",
    "FORMAT_VERSION",
    "MAX_PIXELS",
    "MAX_SIDE",
    "Header",
    "decode_mask",
    "decode_values",
    "dequantise",
    "encode_mask",
    "encode_values",
    "parse_header",
    "part_sizes",
    "quantise",
    "read_stream",
    "write_stream",
]
