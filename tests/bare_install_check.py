"""Check that a plain ``pip install biodata-cache`` (no extras) can build, publish and read through intake.

Run by ``make bare-install-check`` (part of ``make test``):

1. copies the working tree (without ``.venv``, ``.git`` and build output) to a temporary folder,
2. creates a fresh virtual environment there and runs ``pip install --quiet .`` with NO extras
   (pip's configured index: PyPI by default),
3. in that environment publishes a tiny store from the bundled sample
   (``biodata-cache build --source sample --root <tmp>/store``), opens it with
   ``intake.open_catalog(<tmp>/store/catalog.yaml)``, reads ``latest.asset_basics`` and
   ``latest.qc(subject_id=...)``, and calls the one-liners ``biodata_cache.qc()`` and ``asset_basics()``.

It exits non-zero with the failing step's output when anything fails. It is a script, not a pytest test,
because it installs packages into a new environment (about a minute, most of it pip).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parent.parent
SKIP = {".venv", ".git", "build", "dist", "demo-store", "__pycache__", ".pytest_cache", ".ruff_cache"}

# Runs inside the bare environment. Extras must be absent, so the check proves the base dependencies.
CHECK = r"""
import importlib.util
import os
import subprocess
import sys
import warnings

root = sys.argv[1]
extras = [m for m in ("dask", "aind_data_access_api", "duckdb", "moto") if importlib.util.find_spec(m)]
assert not extras, f"the bare environment has extras installed: {extras}"

subprocess.run(["biodata-cache", "--root", root, "build", "--source", "sample", "--no-progress"], check=True)

import intake

warnings.filterwarnings("ignore", message="Shell command not executed")
cat = intake.open_catalog(os.path.join(root, "catalog.yaml"))
basics = cat.latest.asset_basics.read()
assert len(basics) > 0, "asset_basics read through intake is empty"
subject = sorted(basics["subject_id"].dropna())[0]
metrics = cat.latest.qc(subject_id=subject).read()
assert set(metrics["subject_id"]) <= {subject}, f"qc(subject_id={subject!r}) read other subjects"

os.environ["BIODATA_CACHE_ROOT"] = root
import biodata_cache

assert len(biodata_cache.asset_basics()) == len(basics)
assert len(biodata_cache.qc(subject)) == len(metrics)
print(f"bare install: {len(basics)} assets; qc of subject {subject}: {len(metrics)} rows")
"""


def _run(command: list[str], what: str, **kwargs: Any) -> None:
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    took = time.monotonic() - started
    if result.returncode != 0:
        sys.stderr.write(f"bare-install check FAILED at: {what} ({took:.0f}s)\n$ {' '.join(command)}\n")
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-8000:])
        raise SystemExit(1)
    print(f"bare-install check: {what} ok ({took:.0f}s)")
    if result.stdout.strip():
        print(result.stdout.strip()[-2000:])


def main() -> None:
    """Install the package with no extras into a fresh environment and use it there."""
    with tempfile.TemporaryDirectory(prefix="bdc-bare-") as folder:
        work = Path(folder)
        source = work / "src"
        shutil.copytree(
            REPOSITORY,
            source,
            ignore=lambda _dir, names: [n for n in names if n in SKIP or n.endswith(".egg-info")],
        )
        venv = work / "venv"
        _run([sys.executable, "-m", "venv", str(venv)], "create a fresh venv")
        python = venv / "bin" / "python"
        _run([str(python), "-m", "pip", "install", "--quiet", str(source)], "pip install . (no extras)")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BIODATA_CACHE_", "PYTHON"))}
        env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        _run(
            [str(python), "-c", CHECK, str(work / "store")], "build, intake and one-liners", env=env, cwd=work
        )


if __name__ == "__main__":
    main()
