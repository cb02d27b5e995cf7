"""The weights registry (sparsecodec.nets.zoo): every committed weights file is registered with
an architecture and a card, matches its index (weights/NAME.json: size and SHA-256), and is
found through importlib.resources; SPARSECODEC_WEIGHTS replaces the packaged folder."""

from __future__ import annotations

import hashlib
import json
import pickle
from importlib import resources
from pathlib import Path

import pytest

from sparsecodec.errors import WeightsError
from sparsecodec.nets import models, zoo

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
INDEXES = sorted(WEIGHTS.glob("*.json"))


@pytest.fixture(autouse=True)
def _packaged(monkeypatch):
    monkeypatch.delenv(zoo.ENV, raising=False)


@pytest.mark.parametrize("index", INDEXES, ids=[p.stem for p in INDEXES])
def test_index_matches_weight_file(index):
    entry = json.loads(index.read_text())
    path = WEIGHTS / entry["weights"]
    data = path.read_bytes()
    assert len(data) == entry["bytes"]
    assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert (WEIGHTS / entry["card"]).is_file()


def test_every_weight_file_is_indexed():
    indexed = {json.loads(p.read_text())["weights"] for p in INDEXES}
    assert indexed == {p.name for p in WEIGHTS.glob("*.safetensors")}


def test_zoo_lists_every_weights_file_and_each_entry_has_a_card():
    on_disk = sorted(p.stem for p in WEIGHTS.glob("*.safetensors"))
    assert on_disk and zoo.available() == on_disk == sorted(zoo.ENTRIES)
    for name, e in zoo.ENTRIES.items():
        assert e.architecture in ("mask-unet", "wgan", "wgan-gp")
        assert (WEIGHTS / e.card).is_file() and (WEIGHTS / e.file).is_file()
        assert zoo.card(name).startswith("#")  # the card's title
        assert json.loads((WEIGHTS / f"{name}.json").read_text())["card"] == e.card


def test_packaged_weights_found_through_importlib_resources():
    r = zoo.root()
    assert r == resources.files("sparsecodec.weights")
    packaged = Path(str(zoo.locate("wgan_inpaint")))
    assert packaged.read_bytes() == (WEIGHTS / "wgan_inpaint.safetensors").read_bytes()
    assert zoo.locate("wgan_inpaint.safetensors") == zoo.locate("wgan_inpaint")


def test_env_folder_replaces_the_packaged_weights(monkeypatch, tmp_path):
    monkeypatch.setenv(zoo.ENV, str(tmp_path))
    assert zoo.root() == tmp_path and zoo.available() == []
    assert zoo.locate("learned_masks") == tmp_path / "learned_masks.safetensors"
    with pytest.raises(WeightsError, match="not found"):
        zoo.read("learned_masks")
    (tmp_path / "x.safetensors").write_bytes(b"")
    assert zoo.available() == ["x"]
    monkeypatch.setenv(zoo.ENV, str(tmp_path / "x.safetensors"))  # a file is not a folder
    with pytest.raises(WeightsError, match="must name a folder"):
        zoo.root()


def test_paths_are_used_as_is(tmp_path):
    p = tmp_path / "run" / "best.safetensors"
    assert zoo.locate(p) == p and zoo.locate(str(p)) == p
    assert zoo.is_path("run/best.safetensors") and not zoo.is_path("wgan_inpaint")


def test_read_refuses_pickles_and_garbage(tmp_path):
    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(WeightsError, match="cannot read"):
        zoo.read(evil)
    with pytest.raises(WeightsError, match="unknown weights"):
        zoo.card("nope")


def test_load_dispatches_by_architecture():
    pytest.importorskip("torch")
    net, meta = models.load("learned_masks")
    assert meta["format"] == "sparsecodec-learned-mask-v1" and hasattr(net, "forward")
    assert models.load("wgan_inpaint").generator is not None
    g, d, meta = models.load("wgan_gp_32")
    assert "config" in meta
