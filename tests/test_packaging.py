"""Packaging: a wheel built from the tracked sources holds every module and weights file, and,
installed into a fresh virtual environment outside the checkout, finds its weights through
importlib.resources."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


_PROBE = r"""
import sys
from pathlib import Path
import sparsecodec
from sparsecodec.nets import models, zoo
from sparsecodec.masks.wgan import available_models
site = Path(sys.argv[1]).resolve()
assert Path(sparsecodec.__file__).resolve().is_relative_to(site), sparsecodec.__file__
assert Path(str(zoo.root())).resolve().is_relative_to(site), zoo.root()
assert zoo.available() == sorted(zoo.ENTRIES), zoo.available()
for name in zoo.ENTRIES:
    zoo.card(name)
net, meta = models.load("learned_masks")
assert models.load("wgan_inpaint").generator is not None
assert sorted(available_models()) == [0.05, 0.1, 0.2]
print("ok")
"""


def test_wheel_install_finds_its_weights(tmp_path):
    pytest.importorskip("torch")
    # build from a copy of the sources (an in-tree build would write build/ into the checkout)
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc")
    for d in ("sparsecodec", "weights"):
        shutil.copytree(ROOT / d, src / d, ignore=skip)
    for f in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / f, src / f)
    files = [p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()]
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("sparsecodec-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {f for f in files if f.startswith("sparsecodec/") and f.endswith(".py")}
    want |= {"sparsecodec/" + f for f in files if f.startswith("weights/")}
    assert want <= names, sorted(want - names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # the dependencies come from this environment (no index): a path entry, not its .pth files
    (site / "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [*pip, "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPARSECODEC_WEIGHTS")}
    out = subprocess.run(
        [py, "-c", _PROBE, str(site)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    blocks = re.findall(r"```sh\n(.*?)\n *```", readme, flags=re.S)
    install_and_test = [b.strip() for b in blocks if b.strip().endswith("python -m pytest")]
    assert len(install_and_test) == 1 and install_and_test[0] in ci
    assert len(readme.splitlines()) <= 200


def test_readme_links_exist():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme):
        if "://" not in target:
            assert (ROOT / target).exists(), target
