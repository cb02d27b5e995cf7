"""The committed weight files match their indexes (weights/NAME.json: size and SHA-256) and
each has its card."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
INDEXES = sorted(WEIGHTS.glob("*.json"))


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
