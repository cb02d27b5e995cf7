"""The registries (sparsecodec.registry, .decoders, .colour, .masks) and what reads them: header
ids, API checks, describe, the CLI's choices; adding a decoder is one entry."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import sparsecodec
from sparsecodec import masks
from sparsecodec.colour import COLOUR_MODES
from sparsecodec.decoders import DECODERS, register_decoder
from sparsecodec.errors import OptionError
from sparsecodec.registry import Registry


def test_ids_are_the_format():
    # ids are in every bitstream: changing one breaks old files
    assert {d.name: d.id for d in DECODERS.values()} == {
        "diffusion": 0,
        "wgan": 1,
        "wgan-joint": 2,
        "eed": 3,
    }
    assert {c.name: c.id for c in COLOUR_MODES.values()} == {"rgb": 0, "ycbcr": 1}
    assert {s.name: s.id for s in masks.STRATEGIES.values()} == {
        "random": 0,
        "belhachmi": 1,
        "learned": 3,
        "wgan": 4,
        "ps": 5,
        "nlpe": 6,
        "quadtree": 7,
    }
    assert [d.name for d in DECODERS.values() if d.tonal] == ["diffusion", "eed"]
    assert DECODERS["wgan"].for_mask("wgan").name == "wgan-joint"
    assert DECODERS["wgan"].for_mask("quadtree").name == "wgan"


def test_registry_refuses_duplicates_and_names_the_choices():
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Thing:
        name: str
        id: int

    r = Registry("thing")
    r.add(Thing("a", 0))
    r.add(Thing("b", 1))
    for bad in (Thing("a", 2), Thing("c", 1), Thing("d", 256)):
        with pytest.raises(ValueError):
            r.add(bad)
    assert r.entry("b").id == 1 and r.by_id(0).name == "a" and r.by_id(9) is None
    with pytest.raises(OptionError, match=r"^unknown thing 'x' \(choose from a, b\)$"):
        r.entry("x")
    with pytest.raises(OptionError, match="unknown thing"):
        r.entry(np.zeros(2))  # unhashable: still the one-line option error
    with pytest.raises(ValueError, match="header parameter"):
        register_decoder("bad", 250, "x", "y", "z", params=("colour",))
    assert "bad" not in DECODERS


def test_api_checks_read_the_registries(small_colour):
    for kw, msg in (
        ({"decoder": "eedx"}, "unknown decoder 'eedx' (choose from diffusion, wgan, wgan-joint"),
        ({"colour": "lab"}, "unknown colour space 'lab' (choose from rgb, ycbcr)"),
    ):
        with pytest.raises(OptionError) as exc:
            sparsecodec.encode(small_colour, 0.1, "random", **kw)
        assert str(exc.value).startswith(msg)
    with pytest.raises(OptionError, match="unknown mask strategy 'dots'"):
        sparsecodec.make_mask(small_colour, 0.1, "dots")


def mean_decode(values, mask, header):
    """A decoder for the test below: every pixel gets the mean of the stored values."""
    from sparsecodec.pipeline.values import image_space

    means = values[:, mask].mean(axis=1)
    return image_space(np.broadcast_to(means[:, None, None], values.shape).copy(), header.colour)


def test_a_new_decoder_is_one_registry_entry(small_colour):
    register_decoder("mean", 200, "test_registries", "mean_decode", "mean of the stored values")
    try:
        res = sparsecodec.encode_image(small_colour, 0.1, "random", decoder="mean", levels=256)
        out = sparsecodec.decode(res.data)
        np.testing.assert_array_equal(out, res.reconstruction)
        assert len(np.unique(out.reshape(-1, 3), axis=0)) == 1  # one colour everywhere
        info = sparsecodec.describe(res.data)
        assert info["decoder"] == "mean" and info["tonal"] is False and info["precision"] is None
    finally:
        del DECODERS["mean"]
    with pytest.raises(sparsecodec.SparseCodecError, match="unknown decoder id 200"):
        sparsecodec.decode(res.data)
    assert sparsecodec.describe(res.data)["decoder"] == "200"


def test_cli_choices_are_the_registries():
    from sparsecodec.cli import cli

    params = {p.name: p for p in cli.commands["encode"].params}
    assert list(params["decoder"].type.choices) == list(DECODERS)
    assert list(params["colour"].type.choices) == list(COLOUR_MODES)
    assert sorted(params["strategy"].type.choices) == sorted(masks.STRATEGIES)


def test_strategies_declare_their_options():
    from sparsecodec.masks.nlpe import PS_OPTIONS, REFINE_OPTIONS, nlpe_refine
    from sparsecodec.masks.ps import ps_mask

    def keyword_only(fn):
        ps = inspect.signature(fn).parameters.values()
        return {p.name for p in ps if p.kind is p.KEYWORD_ONLY}

    # nlpe forwards by name lists: they must match the signatures they forward to
    assert set(REFINE_OPTIONS) == keyword_only(nlpe_refine) - {
        "cycles",
        "seed",
        "candidates",
        "exchanges",
        "progress",
        "error_window",
    }
    assert set(PS_OPTIONS) <= keyword_only(ps_mask)
    opts = masks.get("nlpe").options()
    assert set(PS_OPTIONS) | set(REFINE_OPTIONS) <= set(opts) and "seed" not in opts
    assert masks.get("belhachmi").options() == ("sigma",)
    assert "samples" in masks.get("learned").options()


@pytest.mark.parametrize("strategy", ["random", "belhachmi", "ps", "nlpe", "quadtree"])
def test_unknown_strategy_options_fail_before_work(strategy, monkeypatch):
    entry = masks.get(strategy)
    declared = entry.options()
    module = __import__(entry.load().__module__, fromlist=["_"])
    calls = []
    monkeypatch.setattr(masks.MaskStrategy, "options", lambda self: declared)
    monkeypatch.setattr(module, entry.function, lambda *a, **k: calls.append(k))
    with pytest.raises(OptionError, match=f"unknown option\\(s\\) for the {strategy} mask: bogus"):
        sparsecodec.make_mask(np.zeros((8, 8)), 0.2, strategy, bogus=1)
    assert calls == []  # the strategy never ran
    sparsecodec.make_mask(np.zeros((8, 8)), 0.2, strategy, seed=3)
    assert calls == [{"seed": 3}]  # the spy does see a valid call
