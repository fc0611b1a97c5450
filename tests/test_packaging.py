"""``pip install .`` builds the wheel without leaving anything in the source tree, and
the wheel carries the files the server needs at run time besides its modules."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("server", "client_sdk", "scheduler", "wire")


def test_building_the_wheel_leaves_the_source_tree_clean(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    after = sorted(p.relative_to(source) for p in source.rglob("*"))
    assert after == before, "the build wrote into the source tree"

    (wheel,) = (tmp_path / "dist").glob("witnesslink-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "server/console/templates/caseload.html",
        "server/console/static/console.js",
        "server/console/locales/ro/LC_MESSAGES/console.po",
        "client_sdk/py.typed",
        "wire/py.typed",
        "server/storage/migrations.py",
    ):
        assert needed in names, needed
