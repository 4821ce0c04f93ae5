"""Simulated phones with a registrar account, as processes driven through their control sockets
(deskphone_tools.harness.PhoneProcess)."""

from __future__ import annotations

from pathlib import Path

from deskphone_tools.harness import PhoneProcess

# Keypad numbers a person dials; the dial plan turns them into user names at the registrar.
DIALPLAN_USERS = {"201": "alice", "202": "bob", "203": "carol"}  # carol has no account: 404


def account_phone(root: Path, user: str, extension: str, registrars: list[str], *,
                  expires: int = 600, probe_seconds: float = 120.0,
                  timeout_seconds: float = 8.0, media_ports: tuple[int, int] | None = None,
                  extra: str = "", sip: str = "") -> PhoneProcess:
    """A phone whose account `office` registers `user` (password `<user>pw`) with `registrars`,
    primary first; numbers 201-203 call alice, bob and carol through the account."""
    domain = registrars[0]
    rules = "".join(f"""
[[dialplan.rules]]
match = "{number}"
to = "sip:{name}@{domain}"
via = "office"
""" for number, name in DIALPLAN_USERS.items())
    media = ""
    if media_ports is not None:
        media = f"\n[media]\nport_min = {media_ports[0]}\nport_max = {media_ports[1]}\n"
    listed = ", ".join(f'"{r}"' for r in registrars)
    text = f"""
[identity]
user = "{user}"
extension = "{extension}"
display_name = "{user.title()}"

[sip]
listen = "udp:127.0.0.1:0"
{sip}

[devices]
mode = "sim"

[discovery]
enabled = false

[[accounts]]
name = "office"
user = "{user}"
password = "{user}pw"
registrars = [{listed}]
expires = {expires}
failover_probe_seconds = {probe_seconds}
failover_timeout_seconds = {timeout_seconds}
{media}{extra}{rules}"""
    return PhoneProcess(user, extension, root / user, text)
