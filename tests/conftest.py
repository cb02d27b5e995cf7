import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

DATA = Path(
    os.environ.get("SPARSECODEC_DATA", Path(__file__).parents[1] / ".." / "shared" / "data")
)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"data folder {DATA} not present")
    return DATA


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def small_colour() -> np.ndarray:
    """A 48x40 crop of the embedded default image."""
    from sparsecodec.data import default_image

    return default_image()[200:248, 220:260].copy()
