"""Run the benchmarks: ``python -m benchmarks all --data DIR [--quick] [--jobs N]``.

    python -m benchmarks list                 # the known benchmarks and whether they exist
    python -m benchmarks all [--data DIR] [--quick] [--jobs N] [--only a,b] [--skip a,b]
    python -m benchmarks NAME [ARGS...]       # one benchmark, ARGS passed through

``all`` runs, in order, every benchmark module of :data:`BENCHMARKS` that exists in this
checkout, then any other ``benchmarks/*.py`` module. Each writes its results to
benchmarks/results/. ``rd`` and ``speed`` are called in-process through their ``main(argv)``;
the other modules are run as ``python -m benchmarks.NAME`` in a subprocess, and get
``--data``, ``--quick`` and ``--jobs`` only if their ``--help`` lists the option (so their own
interfaces need not change).

``--data DIR``: if DIR has a ``kodak`` subfolder it is taken as the data root (like
../shared/data) and every benchmark gets the folder it expects (``kodak`` for most, the root
for ``masks``, ``bsds500/val`` for ``semantic``; modules not in the table keep their default);
otherwise DIR is an image folder and is passed as it is to every benchmark taking ``--data``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: name -> (entry point "module:function" called with argv, or None: run as a subprocess;
#: data subfolder under the data root)
BENCHMARKS: dict[str, tuple[str | None, str]] = {
    "roundtrip": (None, "kodak"),
    "solvers": (None, "kodak"),
    "coding": (None, "kodak"),
    "masks": (None, ""),
    "wgan": (None, "kodak"),
    "semantic": (None, "bsds500/val"),
    "learned_masks": (None, "bsds500/val"),
    "speed": ("benchmarks.speed:main", "kodak"),
    "rd": ("benchmarks.rd:main", "kodak"),
}
NOT_BENCHMARKS = {"__init__", "__main__", "common"}


def discover() -> list[str]:
    """Benchmarks of the table that exist, then other modules of the benchmarks folder."""
    names = [n for n in BENCHMARKS if exists(n)]
    others = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py"))
    return names + [n for n in others if n not in BENCHMARKS and n not in NOT_BENCHMARKS]


def data_for(name: str, data: str | None) -> str | None:
    """The ``--data`` value for benchmark ``name`` (see the module docstring)."""
    if not data:
        return None
    if not (Path(data) / "kodak").is_dir():
        return data
    if name not in BENCHMARKS:
        return None
    sub = BENCHMARKS[name][1]
    return str(Path(data) / sub) if sub else data


def exists(name: str) -> bool:
    return (ROOT / "benchmarks" / f"{name}.py").is_file()


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    return env


def supported_options(name: str) -> set[str]:
    """Long options that ``python -m benchmarks.NAME --help`` mentions."""
    try:
        r = subprocess.run(
            [sys.executable, "-m", f"benchmarks.{name}", "--help"],
            cwd=ROOT,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        return set()
    return {w.strip("[],=") for w in r.stdout.split() if w.startswith("--")}


def argv_for(
    name: str, data: str | None, quick: bool, jobs: int | None, options: set[str] | None = None
) -> list[str]:
    """The arguments passed to benchmark ``name`` (only options it supports)."""
    opts = options if options is not None else supported_options(name)
    argv: list[str] = []
    if data and "--data" in opts:
        argv += ["--data", data]
    if quick and "--quick" in opts:
        argv.append("--quick")
    if jobs and "--jobs" in opts:
        argv += ["--jobs", str(jobs)]
    return argv


def run(name: str, argv: list[str]) -> int:
    """Run one benchmark with ``argv``; returns its exit status."""
    entry = BENCHMARKS.get(name, (None, ""))[0]
    if entry:
        mod, fn = entry.split(":")
        try:
            rc = getattr(importlib.import_module(mod), fn)(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
            if e.code and not isinstance(e.code, int):
                print(e.code, file=sys.stderr)
        return int(rc or 0)
    return subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *argv], cwd=ROOT, env=_env()
    ).returncode


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "list":
        for n in dict.fromkeys(list(BENCHMARKS) + discover()):
            e = BENCHMARKS.get(n, (None, ""))
            print(
                f"{n:10s} {'present' if exists(n) else 'missing'}{'' if e[0] else ' (subprocess)'}"
            )
        return 0
    if cmd != "all":
        if cmd not in BENCHMARKS and not exists(cmd):
            print(
                f"error: unknown benchmark {cmd!r} (see: python -m benchmarks list)",
                file=sys.stderr,
            )
            return 2
        return run(cmd, rest)
    ap = argparse.ArgumentParser(prog="python -m benchmarks all")
    ap.add_argument("--data", default=None, help="image folder passed to every benchmark")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--only", default=None, help="comma-separated benchmark names")
    ap.add_argument("--skip", default="", help="comma-separated benchmark names")
    args = ap.parse_args(rest)
    names = discover()
    if args.only:
        names = [n for n in names if n in args.only.split(",")]
    names = [n for n in names if n not in args.skip.split(",")]
    status = {}
    for n in names:
        a = argv_for(n, data_for(n, args.data), args.quick, args.jobs)
        print(f"== {n}: python -m benchmarks.{n} {' '.join(a)}", flush=True)
        t = time.perf_counter()
        status[n] = (run(n, a), time.perf_counter() - t)
    print(
        "\n".join(
            f"{n:10s} {'ok' if rc == 0 else f'FAILED ({rc})'}  {s:.0f} s"
            for n, (rc, s) in status.items()
        )
    )
    return 0 if all(rc == 0 for rc, _ in status.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
