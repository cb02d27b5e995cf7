"""Exception types of sparsecodec.

Every failure the user can cause (bad file, bad option, corrupt bitstream) raises a subclass of
:class:`SparseCodecError`; the CLI prints its message on one line and exits non-zero.
"""


class SparseCodecError(Exception):
    """Base class of all errors that sparsecodec reports to the user."""


class BitstreamError(SparseCodecError):
    """A bitstream is truncated, corrupt, of an unknown version, or violates a sanity cap."""


class ImageError(SparseCodecError):
    """An image cannot be read, is empty, too small, or of an unsupported kind."""


class OptionError(SparseCodecError):
    """An option value is out of range or unknown (e.g. density outside (0, 1])."""


class SolverError(SparseCodecError):
    """The inpainting system is ill-posed (e.g. an empty mask) or a solver failed."""


class OutputError(SparseCodecError):
    """An output file cannot be written (missing or read-only folder, disk full, ...)."""


class WeightsError(SparseCodecError):
    """Network weights are missing or do not match the architecture."""
