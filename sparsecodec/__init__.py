"""sparsecodec: image compression by sparse inpainting.

Public API::

    data = sparsecodec.encode(image, density=0.05, mask="belhachmi")
    res = sparsecodec.encode_result(image, bpp=0.2)   # data, mask, reconstruction, stats
    image = sparsecodec.decode(data)          # bytes or the path of a stream file
    info = sparsecodec.describe(data)         # header fields and part sizes (``info``)
    mask = sparsecodec.make_mask(image, 0.05, strategy="belhachmi")
    u = sparsecodec.inpaint(image, mask, method="diffusion", solver="multigrid")
    g = sparsecodec.optimise_tonal(image, mask)
"""

from . import metrics
from . import pillow as _pillow  # noqa: F401  (registers the plugin: PIL.Image.open reads streams)
from .api import encode, encode_result, inpaint, make_mask, optimise_tonal
from .codec import EncodeResult, decode, describe, encode_image
from .errors import SparseCodecError

__version__ = "0.1.0"
__all__ = [
    "EncodeResult",
    "SparseCodecError",
    "decode",
    "describe",
    "encode",
    "encode_image",
    "encode_result",
    "inpaint",
    "make_mask",
    "metrics",
    "optimise_tonal",
]
