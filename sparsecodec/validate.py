"""Checks of user-supplied option values for the public functions.

Each returns the value in its canonical type or raises
:class:`~sparsecodec.errors.OptionError` with a one-line message, so that a wrong option never
surfaces as a ``TypeError`` or ``ValueError`` from deep inside NumPy or the solver.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from numbers import Integral, Real

from .errors import OptionError

#: the range of quantisation levels per channel
MIN_LEVELS = 2
MAX_LEVELS = 256


def _scalar(value: object) -> object:
    """The Python number inside a 0-d array or tensor (``np.array(0.1)``); else ``value``."""
    if getattr(value, "shape", None) == () and hasattr(value, "item"):
        return value.item()
    return value


def check_density(density: object) -> float:
    """A mask density: a real number in (0, 1]."""
    density = _scalar(density)
    if isinstance(density, bool) or not isinstance(density, Real):
        raise OptionError(f"density must be a number in (0, 1], got {density!r}")
    d = float(density)
    if not 0.0 < d <= 1.0:
        raise OptionError(f"density must be in (0, 1], got {density!r}")
    return d


def check_seed(seed: object) -> int:
    """A random seed: an integer in [0, 2**32) (it is stored in the bitstream header); a
    float with an integer value (``3.0``) is taken as that integer."""
    seed = _scalar(seed)
    if isinstance(seed, Real) and not isinstance(seed, Integral) and float(seed).is_integer():
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed < 2**32:
        raise OptionError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    return int(seed)


def check_positive(value: object, name: str) -> float:
    """A finite real number > 0 (tolerances, step sizes, rate and quality targets)."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise OptionError(f"{name} must be a positive finite number, got {value!r}")
    if not value > 0:
        raise OptionError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


def check_count(value: object, name: str, minimum: int = 1) -> int:
    """An integer >= ``minimum`` (iteration caps, sample counts)."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise OptionError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_keywords(fn: Callable, options: dict, what: str, filled: tuple[str, ...] = ()) -> None:
    """Refuse keywords that ``fn`` (which receives ``options``) does not take, and those it
    does take but the caller fills itself: ``fn``'s positional parameters and ``filled``."""
    params = inspect.signature(fn).parameters
    positional = {
        n for n, p in params.items() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    taken = [k for k in options if k in positional or k in filled]
    if taken:
        raise OptionError(f"option(s) {', '.join(taken)} cannot be given to {what}")
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    unknown = [k for k in options if k not in params]
    if unknown:
        raise OptionError(f"unknown option(s) for {what}: {', '.join(unknown)}")


def check_levels(levels: int) -> int:
    """Return ``levels`` as an int, or raise :class:`OptionError` if not in [2, 256]."""
    try:
        value = int(levels)
    except (TypeError, ValueError):
        raise OptionError(f"quantisation levels must be an integer, got {levels!r}") from None
    if value != levels or not MIN_LEVELS <= value <= MAX_LEVELS:
        raise OptionError(
            f"quantisation levels must be an integer in [{MIN_LEVELS}, {MAX_LEVELS}],"
            f" got {levels!r}"
        )
    return value
