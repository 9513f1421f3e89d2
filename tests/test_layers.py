"""The layers the README promises, checked by import-linter on every test run: the engine
never imports the console, Textual or Rich; the console never imports DuckDB, Arrow or Spark
itself (contracts in pyproject.toml)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def lint_imports(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is part of the test extra"
    return subprocess.run([exe, "--no-cache", *args], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_import_contracts_are_kept():
    done = lint_imports()
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and "2 kept, 0 broken" in done.stdout


def test_a_console_module_importing_duckdb_breaks_the_contract(tmp_path):
    shutil.copytree(REPO / "engine", tmp_path / "engine")
    shutil.copytree(REPO / "tui", tmp_path / "tui")
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tui" / "sneaky.py").write_text("import duckdb\n")
    done = lint_imports(cwd=tmp_path)
    assert done.returncode != 0
    assert "tui.sneaky -> duckdb" in done.stdout
