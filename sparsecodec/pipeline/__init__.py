"""The stages of the codec, one module each; :mod:`sparsecodec.codec` composes them.

Encoding: :mod:`.masking` (image -> mask) -> :mod:`.values` (colour transform, tonal
optimisation, quantisation -> stored values) -> :mod:`sparsecodec.coding` (header, mask and
values -> bitstream). Decoding: :mod:`sparsecodec.coding` (bitstream -> header, mask, values)
-> :mod:`.values` (dequantise) -> :mod:`.decoding` (the registered decoder inpaints the image).
"""
