"""Layer independence (STYLE §2.7): contracts in pyproject.toml, checked by import-linter."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    lint_imports = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(lint_imports).exists():
        pytest.fail("import-linter is not installed (pip install -e '.[dev]')")
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_rlx2_does_not_import_torch():
    code = "import sys, rlx2; assert 'torch' not in sys.modules, 'import rlx2 pulled in torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
