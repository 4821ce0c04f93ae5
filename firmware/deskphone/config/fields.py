"""The config's typed readers: each takes a TOML table and a key, returns the checked value.

Every refusal is a `ConfigError` naming the key (with its table), the value and what was
expected, so a person editing the file before first boot can fix it without reading code.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from typing import Any

__all__ = [
    "ConfigError", "is_address", "read_bool", "read_choices", "read_float", "read_int",
    "read_str", "read_table", "refuse_unknown_keys",
]


class ConfigError(ValueError):
    """A configuration value is wrong; the message names key, value and what is expected."""

    def __init__(self, key: str, value: Any, expected: str, *, message: str | None = None) -> None:
        self.key, self.value, self.expected = key, value, expected
        super().__init__(message or f"config: {key} = {value!r}: expected {expected}")


def read_table(raw: dict[str, Any], key: str, where: str = "") -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key}", value, "a table [" + f"{where}{key}" + "]")
    return value


def read_str(t: dict[str, Any], key: str, where: str, default: str | None, *,
         pattern: str | None = None, what: str = "a string") -> str | None:
    value = t.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key}", value, what)
    if pattern is not None and not re.fullmatch(pattern, value):
        raise ConfigError(f"{where}.{key}", value, what)
    return value


def read_int(t: dict[str, Any], key: str, where: str, default: int, lo: int, hi: int) -> int:
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{where}.{key}", value, f"a whole number from {lo} to {hi}")
    return value


def read_float(t: dict[str, Any], key: str, where: str, default: float, lo: float,
               hi: float) -> float:
    value = t.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ConfigError(f"{where}.{key}", value, f"a number of seconds from {lo} to {hi}")
    return float(value)


def read_bool(t: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = t.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key}", value, "true or false")
    return value


def read_choices(t: dict[str, Any], key: str, where: str, default: tuple[str, ...],
             allowed: tuple[str, ...]) -> tuple[str, ...]:
    value = t.get(key, list(default))
    if (not isinstance(value, list) or not value
            or any(v not in allowed for v in value) or len(set(value)) != len(value)):
        raise ConfigError(f"{where}.{key}", value,
                          "a non-empty list without repeats of " + ", ".join(allowed))
    return tuple(value)


def is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def refuse_unknown_keys(t: dict[str, Any], where: str, known: set[str]) -> None:
    for key in t:
        if key not in known:
            # A typo is the usual cause: name the nearest key first (`registar` → `registrar`).
            nearest = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
            hint = f"did you mean {nearest[0]!r}? " if nearest else ""
            name = f"{where}.{key}" if where else key
            known_list = ", ".join(sorted(known))
            raise ConfigError(name, t[key], "one of the known keys: " + known_list,
                              message=f"config: {name}: unknown key; {hint}(expected one "
                                      f"of: {known_list})")
