"""The firmware wheel is the firmware: no test, demo or bench tooling ships to the phone.

The image build installs the wheel built from `firmware/` (boot/build-image.sh); this builds the
same wheel and reads its file list.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# What moved to tools/deskphone_tools and must never come back into the firmware package.
TOOLING = ("testnet/", "peers/", "harness.py", "bench.py", "demo.py", "media_bench", "zrtp_bench")


def test_firmware_wheel_has_no_test_or_bench_tooling(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    str(REPO / "firmware"), "-w", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("deskphone-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    modules = [n for n in names if n.startswith("deskphone/")]
    assert "deskphone/app.py" in modules and "deskphone/zrtp/session.py" in modules
    shipped_tooling = [n for n in modules if any(part in n for part in TOOLING)]
    assert shipped_tooling == []
    assert not any(n.startswith("deskphone_tools/") for n in names)
