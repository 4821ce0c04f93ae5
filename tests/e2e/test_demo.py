"""`make demo` (`python -m deskphone_tools.demo`): the whole secure call, start to finish, exits 0 only if it worked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from deskphone_tools.harness import unique_extensions


def test_demo_runs_and_saves_every_screen(tmp_path: Path) -> None:
    png = tmp_path / "screens"
    ext_a, ext_b = unique_extensions(2)  # other phones on this machine may hold 201/202
    proc = subprocess.run([sys.executable, "-m", "deskphone_tools.demo", "--png", str(png),
                           "--extensions", ext_a, ext_b],
                          check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "OK: secure call with matching SAS" in proc.stdout
    assert "Both screens read the same SAS" in proc.stdout
    shots = sorted(p.name for p in png.glob("*.png"))
    assert len(shots) == 12 and shots[0].startswith("01-A-")
    assert all(all(c.isalnum() or c in "-." for c in name) for name in shots)
