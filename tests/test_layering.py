"""The package layering in pyproject.toml ([tool.importlinter]) holds: no lower layer imports a
higher one, imports inside functions included, and every top-level module has a layer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is a dev dependency (pip install -e '.[dev]')")

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    # import-linter puts the current directory first on sys.path, so this checks this checkout's ragft.
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())", "--no-cache", "--no-logo", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, f"import contracts broken:\n{run.stdout}\n{run.stderr}"
    assert "BROKEN" not in run.stdout and "1 kept, 0 broken" in run.stdout, run.stdout
