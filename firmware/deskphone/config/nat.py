"""[nat]: the STUN and TURN servers ICE gathers candidates from (RFC 8445 §5.1.1).

With neither configured the phone gathers host candidates only and sends nothing to any server,
so a LAN phone behaves exactly as it did before ICE existed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from deskphone.config.fields import ConfigError, read_str, refuse_unknown_keys

__all__ = ["STUN_PORT", "NatConfig", "TurnServerConfig", "parse_nat"]


@dataclass(frozen=True)
class TurnServerConfig:
    host: str
    port: int
    transport: str  # "udp" or "tcp" (RFC 7065 ?transport=)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"turn:{host}:{self.port}?transport={self.transport}"


@dataclass(frozen=True)
class NatConfig:
    """[nat]: the STUN and TURN servers ICE gathers from. Empty: host candidates only."""

    stun: tuple[str, int] | None = None
    turn: tuple[TurnServerConfig, ...] = ()
    turn_user: str | None = None
    turn_password: str | None = field(default=None, repr=False)  # never in a log or repr

    @property
    def configured(self) -> bool:
        return self.stun is not None or bool(self.turn)


STUN_PORT = 3478  # RFC 8489 §18.6 (and TURN's, RFC 8656 §18)
_HOST = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,252}[A-Za-z0-9])?)"
_STUN_EXPECTED = 'host[:port] or stun:host[:port], e.g. "stun.example.org:3478"'
_TURN_EXPECTED = ('a TURN URI turn:host[:port][?transport=udp|tcp] (RFC 7065), e.g. '
                  '"turn:turn.example.org:3478?transport=udp"')


def _port(key: str, value: str, text: str | None) -> int:
    if text is None:
        return STUN_PORT
    port = int(text)
    if not 1 <= port <= 65535:
        raise ConfigError(key, value, "a port from 1 to 65535")
    return port


def _stun_server(value: Any) -> tuple[str, int]:
    if not isinstance(value, str):
        raise ConfigError("nat.stun", value, _STUN_EXPECTED)
    m = re.fullmatch(rf"(?:stun:)?{_HOST}(?::(\d{{1,5}}))?", value)
    if not m:
        raise ConfigError("nat.stun", value, _STUN_EXPECTED)
    return m.group(1).strip("[]"), _port("nat.stun", value, m.group(2))


def _turn_server(value: Any, key: str) -> TurnServerConfig:
    if not isinstance(value, str):
        raise ConfigError(key, value, _TURN_EXPECTED)
    m = re.fullmatch(rf"turn:{_HOST}(?::(\d{{1,5}}))?(?:\?transport=(udp|tcp))?", value)
    if not m:
        if value.startswith("turns:"):
            raise ConfigError(key, value, "turn: (TURN over TLS, turns:, is not supported)")
        raise ConfigError(key, value, _TURN_EXPECTED)
    return TurnServerConfig(m.group(1).strip("[]"), _port(key, value, m.group(2)),
                            m.group(3) or "udp")


def parse_nat(t: dict[str, Any]) -> NatConfig:
    refuse_unknown_keys(t, "nat", {"stun", "turn", "turn_user", "turn_password"})
    stun = _stun_server(t["stun"]) if "stun" in t else None
    turn_raw = t.get("turn", [])
    if isinstance(turn_raw, str):
        turn_raw = [turn_raw]
    if not isinstance(turn_raw, list):
        raise ConfigError("nat.turn", turn_raw, "a TURN URI or a list of them")
    turn = tuple(_turn_server(v, f"nat.turn[{i}]") for i, v in enumerate(turn_raw))
    if len(set(turn)) != len(turn):
        raise ConfigError("nat.turn", turn_raw, "each TURN URI listed once")
    user = read_str(t, "turn_user", "nat", None, pattern=r"[^\x00-\x1f\x7f]{1,128}",
                what="a TURN user name (1-128 printable characters)")
    password = t.get("turn_password")
    # The password's value never goes into an error message: the key and the rule only.
    if password is not None and (not isinstance(password, str)
                                 or not re.fullmatch(r"[^\x00-\x1f\x7f]{1,256}", password)):
        raise ConfigError("nat.turn_password", "(hidden)", "1-256 printable characters")
    if turn and (user is None or password is None):
        missing = "nat.turn_user" if user is None else "nat.turn_password"
        raise ConfigError(missing, None, "the TURN long-term credentials (RFC 8489 §9.2) when "
                          "nat.turn is set")
    if not turn and (user is not None or password is not None):
        key = "nat.turn_user" if user is not None else "nat.turn_password"
        raise ConfigError(key, user if user is not None else "(hidden)",
                          "to be set only together with nat.turn")
    return NatConfig(stun=stun, turn=turn, turn_user=user, turn_password=password)
