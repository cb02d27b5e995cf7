"""Registry of mask strategies.

A strategy is a function ``fn(image, density, *, seed=0, **options) -> bool array`` where
``image`` is a float64 ``(H, W)`` array (grey or luma, range [0, 255]) and the result is the
``(H, W)`` boolean inpainting mask (True = pixel stored). Each strategy has a stable numeric id
written into the bitstream header. Modules are imported lazily so that heavy dependencies
(torch) load only when the strategy is used.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import OptionError
from ..registry import Registry


@dataclass(frozen=True)
class MaskStrategy:
    name: str
    id: int
    module: str
    function: str
    description: str
    colour: bool = False  # the function also takes ``colour=`` (the (H, W, 3) image)
    slow: bool = False  # stochastic optimisation: seconds to minutes per image
    network: bool = False  # a torch network: also takes ``device=`` and ``precision=``
    #: the corners of a square subdivision: its points on a lattice of step 2**j are the
    #: subdivision cut at squares of that side (luma-preference chroma, ``chroma_step``)
    subdivision: bool = False

    def load(self) -> Callable[..., np.ndarray]:
        """The strategy function (imports its module)."""
        return getattr(importlib.import_module(self.module, __name__), self.function)

    def options(self) -> tuple[str, ...]:
        """The options the strategy declares: the keyword-only parameters of its function
        (besides ``seed``), and the names in its ``forwarded_options`` attribute (options it
        passes on to the functions it composes, as ``nlpe`` does to PS and NLPE)."""
        fn = self.load()
        params = inspect.signature(fn).parameters.values()
        own = tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name != "seed")
        extra = tuple(getattr(fn, "forwarded_options", ()))
        return own + tuple(k for k in extra if k not in own)

    def check(self, options: dict) -> None:
        """Refuse options the strategy does not declare, before any work is done."""
        known = set(self.options())
        check_options(self.name, {k: v for k, v in options.items() if k not in known})

    def make(self, image: np.ndarray, density: float, *, seed: int = 0, **options) -> np.ndarray:
        """The strategy's mask of ``image`` (float64 ``(H, W)``) at ``density``; unknown
        options raise :class:`~sparsecodec.errors.OptionError` before the strategy runs."""
        self.check(options)
        return self.load()(image, density, seed=seed, **options)


#: the mask strategies by name; ids are in every bitstream, so they must stay stable
STRATEGIES: Registry[MaskStrategy] = Registry("mask strategy")


def register(
    name: str,
    id: int,
    module: str,
    function: str,
    description: str,
    *,
    colour: bool = False,
    slow: bool = False,
    network: bool = False,
    subdivision: bool = False,
) -> MaskStrategy:
    """Add a strategy to the registry (ids must stay stable: they are in every bitstream)."""
    return STRATEGIES.add(
        MaskStrategy(name, id, module, function, description, colour, slow, network, subdivision)
    )


def check_options(strategy: str, options: dict) -> None:
    """Refuse options a strategy does not know (every strategy calls this with its leftovers)."""
    if options:
        raise OptionError(f"unknown option(s) for the {strategy} mask: {', '.join(options)}")


def get(name: str) -> MaskStrategy:
    """The registered strategy ``name``, or an :class:`~sparsecodec.errors.OptionError`."""
    return STRATEGIES.entry(name)


def by_id(id: int) -> MaskStrategy | None:
    """The strategy with header id ``id``, or None (a given mask has id 255)."""
    return STRATEGIES.by_id(id)


register("random", 0, ".random", "random_mask", "uniformly random pixels (seeded)")
register(
    "belhachmi",
    1,
    ".belhachmi",
    "belhachmi_mask",
    "Laplacian magnitude of the presmoothed image, Floyd-Steinberg dithered",
)
register(
    "learned",
    3,
    ".learned",
    "learned_mask",
    "mask U-Net of Alt, Peter & Weickert (2021), best of N dithered or coin-flip binarisations",
    network=True,
)
register(
    "wgan",
    4,
    ".wgan",
    "wgan_mask",
    "mask generator of the mask WGAN (Peter 2022)",
    colour=True,
    network=True,
)
register(
    "ps", 5, ".ps", "ps_mask", "probabilistic sparsification (Mainberger et al. 2011)", slow=True
)
register(
    "nlpe",
    6,
    ".nlpe",
    "nlpe_mask",
    "probabilistic sparsification + nonlocal pixel exchange (Mainberger et al. 2011)",
    slow=True,
)
register(
    "quadtree",
    7,
    ".quadtree",
    "quadtree_mask",
    "corner points of an adaptive quadtree split by inpainting error (cheap to code)",
    subdivision=True,
)
