"""Load the stand-alone scripts in boot/ (not a package: they are installed into the image)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
BOOT = REPO / "boot"
HW = REPO / "hw"


def load(path: Path, name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def unit_entries(path: Path) -> dict[str, list[str]]:
    """'Section.Key' -> values in order (unit files repeat keys; configparser cannot)."""
    entries: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        entries.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return entries


def unit_value(path: Path, key: str, default: str | None = None) -> str:
    """The last value of 'Section.Key' (what systemd uses for single-valued settings)."""
    values = unit_entries(path).get(key)
    if not values:
        if default is None:
            raise KeyError(f"{path.name} sets no {key}")
        return default
    return values[-1]
