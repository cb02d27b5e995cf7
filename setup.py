"""Package discovery that pyproject.toml cannot express: every ``sparsecodec*`` package found in
the tree, plus the package data ``sparsecodec.weights``, whose source is the repository's
top-level ``weights/`` folder (found at run time with importlib.resources; see
sparsecodec/nets/zoo.py). Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["sparsecodec", "sparsecodec.*"]), "sparsecodec.weights"],
    package_dir={"sparsecodec.weights": "weights"},
)
