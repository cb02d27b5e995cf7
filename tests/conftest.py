import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

DATA = Path(
    os.environ.get("SPARSECODEC_DATA", Path(__file__).parents[1] / ".." / "shared" / "data")
)


#: the reason of every skip for want of the data folder (counted in the summary)
NO_DATA = f"data folder {DATA} not present"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(NO_DATA)
    return DATA


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """One line saying how many tests were skipped because the data folder is missing."""
    skipped = terminalreporter.stats.get("skipped", [])
    n = sum(1 for r in skipped if isinstance(r.longrepr, tuple) and NO_DATA in r.longrepr[2])
    if n:
        terminalreporter.write_line(
            f"{n} test(s) skipped: {NO_DATA} (set SPARSECODEC_DATA to the folder with kodak, "
            "bsds500 and classic to run them)",
            yellow=True,
        )


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def small_colour() -> np.ndarray:
    """A 48x40 crop of the embedded default image."""
    from sparsecodec.data import default_image

    return default_image()[200:248, 220:260].copy()
