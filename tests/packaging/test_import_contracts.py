"""The import contracts of .importlinter hold (layers one way, no cycle anywhere, phone/ sans-IO,
the call layer below the app). `make lint` runs the same check; here it also fails `make test`.

The graph counts every import statement: inside functions and under TYPE_CHECKING too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), "import-linter is in tools[dev]: make .venv/.installed"
    result = subprocess.run([str(lint_imports), "--config", str(REPO / ".importlinter"),
                             "--no-cache"], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
