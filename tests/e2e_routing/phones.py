"""Phone processes with extensions no other test on this host uses (mDNS on loopback is shared:
two tests announcing "202" at once would make each other's extension a conflict)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

from deskphone_tools.harness import PhoneProcess, lan_config


def unique_extensions(count: int) -> list[str]:
    base = 50000 + secrets.randbelow(40000) * 10
    return [str(base + i) for i in range(count)]


@contextlib.contextmanager
def phones(root: Path, specs: list[tuple[str, str, str]]) -> Iterator[list[PhoneProcess]]:
    """Start phones from (name, extension, extra config); stop them all on the way out."""
    started: list[PhoneProcess] = []
    try:
        for name, extension, extra in specs:
            phone = PhoneProcess(name, extension, root / name.lower(),
                                 lan_config(extension, name, extra=extra))
            phone.start()
            started.append(phone)
        yield started
    finally:
        for phone in started:
            phone.stop()


def see_each_other(group: list[PhoneProcess], timeout: float = 15.0) -> None:
    for phone in group:
        for other in group:
            if other is not phone and other.extension != phone.extension:
                phone.wait(timeout, lan_peers=f"~{other.extension}")
