"""Reading and writing images and files: PIL-based, atomic writes, one-line errors."""

from __future__ import annotations

import os
import stat
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .errors import ImageError, OutputError

MIN_SIZE = 1
MAX_PIXELS = 1 << 26


class ConversionWarning(UserWarning):
    """An input image was converted (alpha dropped, palette expanded, 16 bit reduced, values
    clipped) or looks mis-scaled ([0, 1] floats)."""


def to_array(img) -> np.ndarray:
    """Convert a PIL image to uint8 ``(H, W)`` grey or ``(H, W, 3)`` RGB, warning on conversion."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return np.asarray(img)
    if mode in ("1",):
        return np.asarray(img.convert("L"))
    if mode in ("I;16", "I;16B", "I;16L", "I", "I;16N"):
        warnings.warn("16-bit image reduced to 8 bits", ConversionWarning, stacklevel=3)
        a = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if a.max() > 255 else 255.0
        return np.clip(np.round(a * 255.0 / peak), 0, 255).astype(np.uint8)
    if mode == "F":
        warnings.warn("floating-point image clipped to [0, 255]", ConversionWarning, stacklevel=3)
        return np.clip(np.round(np.asarray(img)), 0, 255).astype(np.uint8)
    if mode in ("LA", "La"):
        warnings.warn("alpha channel dropped", ConversionWarning, stacklevel=3)
        return np.asarray(img.convert("L"))
    if mode == "P":
        rgb = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        what = "palette image expanded to RGB"
        if rgb.mode == "RGBA":
            what += ", alpha dropped"
            rgb = rgb.convert("RGB")
        warnings.warn(what, ConversionWarning, stacklevel=3)
        return np.asarray(rgb)
    if mode in ("RGBA", "RGBa"):
        warnings.warn("alpha channel dropped", ConversionWarning, stacklevel=3)
        return np.asarray(img.convert("RGB"))
    warnings.warn(f"{mode} image converted to RGB", ConversionWarning, stacklevel=3)
    return np.asarray(img.convert("RGB"))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read PNG, PGM/PPM, JPEG, TIFF or BMP as uint8 ``(H, W)`` or ``(H, W, 3)``."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise ImageError(f"cannot read image {str(path)!r}: no such file")
    if path.is_dir():
        raise ImageError(f"cannot read image {str(path)!r}: it is a directory")
    if path.stat().st_size == 0:
        raise ImageError(f"cannot read image {str(path)!r}: the file is empty")
    try:
        with warnings.catch_warnings():
            # the size limit is MAX_PIXELS below, checked before any pixel is decoded
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img_ctx = Image.open(path)
        with img_ctx as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageError(f"image {str(path)!r} is too large ({w}x{h} pixels)")
            img.load()
            a = to_array(img)
    except ImageError:
        raise
    except Image.DecompressionBombError:  # beyond twice PIL's own limit (> MAX_PIXELS)
        raise ImageError(
            f"image {str(path)!r} is too large (more than {MAX_PIXELS} pixels)"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ImageError(f"cannot read image {str(path)!r}: {msg}") from None
    check_image(a)
    return a


#: larger files are refused before reading: no sparsecodec stream comes near (the header
#: allows at most MAX_PIXELS pixels, whose values and mask code in far fewer bytes)
MAX_STREAM_BYTES = 1 << 28


def read_stream_file(path: str | os.PathLike) -> bytes:
    """The bytes of the stream file ``path``; a missing, unreadable, directory or oversized
    file raises :class:`~sparsecodec.errors.BitstreamError` with a one-line message."""
    from .errors import BitstreamError

    p = Path(path)
    if p.is_dir():
        raise BitstreamError(f"cannot read stream {str(p)!r}: it is a directory")
    if not p.is_file():
        raise BitstreamError(f"cannot read stream {str(p)!r}: no such file")
    if p.stat().st_size > MAX_STREAM_BYTES:
        raise BitstreamError(f"{str(p)!r} is too large to be a sparsecodec bitstream")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise BitstreamError(f"cannot read stream {str(p)!r}: {exc.strerror or exc}") from None


def check_numeric(a: np.ndarray, name: str = "image") -> np.ndarray:
    """``a`` as an array of booleans, integers or reals, else an :class:`ImageError` (object,
    string and complex arrays are refused, not silently cast)."""
    try:
        a = np.asarray(a)
    except (TypeError, ValueError):  # ragged nested sequences
        raise ImageError(f"{name} is not a rectangular array") from None
    if a.dtype.kind not in "biuf":
        raise ImageError(f"{name} must hold booleans, integers or reals, got dtype {a.dtype}")
    return a


def check_mask(mask: np.ndarray) -> np.ndarray:
    """``mask`` as a bool array if it is boolean or holds only 0 and 1, else an
    :class:`~sparsecodec.errors.OptionError` (a 0.5-valued mask is not silently all True)."""
    from .errors import OptionError

    m = check_numeric(mask, "mask")
    if m.dtype != np.bool_:
        if not np.isin(m, (0, 1)).all():
            raise OptionError("mask must be boolean (or hold only 0 and 1)")
        m = m.astype(bool)
    return m


def check_image(a: np.ndarray) -> np.ndarray:
    """Validate an image array: (H, W) or (H, W, 3), non-empty, finite, at most MAX_PIXELS."""
    a = check_numeric(a)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ImageError(f"expected an (H, W) grey or (H, W, 3) colour image, got {a.shape}")
    if a.shape[0] < MIN_SIZE or a.shape[1] < MIN_SIZE:
        raise ImageError(
            f"image is {a.shape[1]}x{a.shape[0]}: at least {MIN_SIZE}x{MIN_SIZE} is needed"
        )
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise ImageError(f"image is too large ({a.shape[1]}x{a.shape[0]} pixels)")
    if not np.issubdtype(a.dtype, np.integer) and not np.all(np.isfinite(a)):
        raise ImageError("image contains NaN or infinite values")
    return a


def warn_unit_range(a: np.ndarray, stacklevel: int = 3) -> bool:
    """Warn (and return True) for a float or boolean image whose values all lie within [0, 1]
    and are not all zero: sparsecodec reads grey levels 0..255, not scikit-image's [0, 1] float
    convention."""
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.integer) or not a.size:
        return False
    top = float(np.max(a))
    if not 0.0 < top <= 1.0:  # an all-black image is not a [0, 1] image
        return False
    warnings.warn(
        "image values lie within [0, 1]; sparsecodec reads grey levels 0..255 "
        "(multiply a [0, 1] float image by 255)",
        ConversionWarning,
        stacklevel=stacklevel,
    )
    return True


def to_uint8(a: np.ndarray) -> np.ndarray:
    """A checked image as uint8 grey levels 0..255: rounded and clipped, with a warning when
    values lie outside [0, 255] or (float, boolean) all within [0, 1]."""
    if a.dtype == np.uint8:
        return a
    unit = warn_unit_range(a, stacklevel=4)
    if not unit and a.size and (float(a.min()) < 0 or float(a.max()) > 255):
        warnings.warn("image values outside [0, 255] are clipped", ConversionWarning, stacklevel=3)
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def _umask() -> int:
    """The process umask, read without changing it where Linux shows it (``os.umask`` sets it
    for every thread while it is read)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def atomic_write_all(files: list[tuple[str | os.PathLike, bytes]]) -> None:
    """Write several files all or none: every ``(path, data)`` goes to a temporary file in its
    folder first, then all are renamed. A file that cannot be written raises
    :class:`~sparsecodec.errors.OutputError` and leaves no temporary file and no new output
    (should a rename fail after others succeeded, the outputs already renamed are removed).
    A file that is replaced keeps its permissions; new files get 0666 minus the umask."""
    temps: list[tuple[str, Path]] = []
    placed: list[Path] = []
    path = Path(".")
    try:
        for name, data in files:
            path = Path(name)
            folder = path.parent if str(path.parent) else Path(".")
            if not folder.is_dir():
                raise OutputError(
                    f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist"
                )
            if path.is_dir():
                raise OutputError(f"cannot write {str(path)!r}: it is a folder")
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except OSError:
                mode = 0o666 & ~_umask()
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
            temps.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            try:
                os.chmod(tmp, mode)
            except OSError:  # some file systems refuse chmod; the data matter more
                pass
        for tmp, path in temps:
            os.replace(tmp, path)
            placed.append(path)
    except OSError as exc:
        _remove([tmp for tmp, _ in temps] + placed)
        raise OutputError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    except BaseException:
        _remove([tmp for tmp, _ in temps] + placed)
        raise


def _remove(paths) -> None:
    for p in paths:
        if os.path.exists(p):
            os.unlink(p)


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write uint8 ``(H, W)`` or ``(H, W, 3)`` as PNG, or PGM/PPM for ``.pgm/.ppm/.pnm``,
    atomically."""
    atomic_write_all([(path, image_bytes(path, image))])


def image_bytes(path: str | os.PathLike, image: np.ndarray) -> bytes:
    """The file contents :func:`write_image` writes for ``image`` at ``path`` (format by the
    extension: PNG, or PGM/PPM for ``.pgm/.ppm/.pnm``)."""
    import io as _io

    from PIL import Image

    path = Path(path)
    ext = path.suffix.lower()
    fmt = {".png": "PNG", ".pgm": "PPM", ".ppm": "PPM", ".pnm": "PPM"}.get(ext)
    if fmt is None:
        raise ImageError(f"output {str(path)!r}: use a .png, .pgm or .ppm file name")
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(np.round(a), 0, 255).astype(np.uint8)
    if ext == ".pgm" and a.ndim == 3:
        raise ImageError(f"output {str(path)!r}: a colour image needs .ppm or .png")
    buf = _io.BytesIO()
    Image.fromarray(a).save(buf, format=fmt)
    return buf.getvalue()
