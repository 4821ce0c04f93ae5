"""The validated table of phones announced on the LAN (sans-IO core of discovery).

Everything here comes from the network, unauthenticated: mDNS (RFC 6762) has no security, so
any host on the segment can announce anything. The table therefore
- validates every field (extension digits, display name characters and length, ZID shape,
  port range, address family and kind) and drops what does not fit, counting it;
- rate-limits how many announcements it accepts (token bucket), so a flood costs bounded work;
- caps its size and evicts the entry seen longest ago, so a flood costs bounded memory;
- never lets a stranger silently take over an extension: two instances claiming one extension
  are `conflicts`; a peer announcing an extension that was known under a different ZID is
  flagged `zid_changed` (the ZRTP ZID is what the SAS cache trusts: RFC 6189 §4.9).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SERVICE_TYPE = "_sip._udp.local."
TXT_VERSION = "1"
_EXTENSION = re.compile(r"[0-9]{1,15}\Z")          # E.164-length digits only
_ZID = re.compile(r"[0-9a-f]{24}\Z")                # RFC 6189 §4.2: ZID is 96 bits
MAX_NAME_CHARS = 32
MAX_INSTANCE_BYTES = 63                             # RFC 6763 §4.1.1


@dataclass(frozen=True)
class Peer:
    extension: str
    host: str
    port: int
    zid: str
    name: str
    instance: str
    last_seen: float
    zid_changed: bool = False


@dataclass
class DiscoveryStats:
    accepted: int = 0
    rejected: Counter[str] | None = None
    rate_limited: int = 0
    evicted: int = 0

    def __post_init__(self) -> None:
        if self.rejected is None:
            self.rejected = Counter()


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return value


class PeerTable:
    def __init__(self, own_extension: str, own_zid: str, own_instance: str = "",
                 max_peers: int = 128, rate_per_second: float = 20.0, burst: int = 40,
                 family: int | None = None) -> None:
        self.own_extension = own_extension
        self.own_zid = own_zid.lower()
        self.own_instance = own_instance
        self.max_peers = max_peers
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.family = family                     # 4 or 6: the family our interface speaks
        self._by_instance: OrderedDict[str, Peer] = OrderedDict()   # oldest first
        self._known_zids: OrderedDict[str, str] = OrderedDict()     # extension -> first ZID
        self._tokens = float(burst)
        self._refilled_at: float | None = None
        self.own_extension_taken_by: str | None = None
        self.stats = DiscoveryStats()

    # --- queries ---------------------------------------------------------------------------

    def peers(self) -> list[Peer]:
        return list(self._by_instance.values())

    def lookup(self, extension: str) -> Peer | None:
        """The peer for an extension; None when unknown or when two instances claim it."""
        matches = [p for p in self._by_instance.values() if p.extension == extension]
        return matches[0] if len(matches) == 1 else None

    @property
    def conflicts(self) -> dict[str, list[str]]:
        """Extensions announced by more than one instance: extension -> instance names."""
        claims: dict[str, list[str]] = {}
        for peer in self._by_instance.values():
            claims.setdefault(peer.extension, []).append(peer.instance)
        return {ext: names for ext, names in claims.items() if len(names) > 1}

    @property
    def zid_changes(self) -> list[Peer]:
        return [p for p in self._by_instance.values() if p.zid_changed]

    def free_extension(self, preferred: str) -> str:
        """`preferred` if nobody announces it, else the next free number of the same length."""
        if not _EXTENSION.match(preferred):
            raise ValueError(f"extension {preferred!r}: expected 1-15 digits")
        taken = {p.extension for p in self._by_instance.values()}
        width = len(preferred)
        for offset in range(10**width):
            candidate = str((int(preferred) + offset) % 10**width).zfill(width)
            if candidate not in taken:
                return candidate
        raise ValueError(f"every {width}-digit extension is taken on this LAN")

    # --- updates ---------------------------------------------------------------------------

    def _allow(self, now: float) -> bool:
        if self._refilled_at is not None:
            elapsed = max(0.0, now - self._refilled_at)
            self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate_per_second)
        self._refilled_at = now
        if self._tokens < 1.0:
            self.stats.rate_limited += 1
            return False
        self._tokens -= 1.0
        return True

    def _reject(self, reason: str) -> bool:
        assert self.stats.rejected is not None
        self.stats.rejected[reason] += 1
        return False

    def observe(self, instance: str, addresses: Iterable[str], port: int | None,
                properties: Mapping[Any, Any], now: float) -> bool:
        """An announcement resolved from the network. True when the table changed."""
        if not self._allow(now):
            return False
        label = instance.removesuffix("." + SERVICE_TYPE)
        if not label or len(label.encode("utf-8", "replace")) > MAX_INSTANCE_BYTES:
            return self._reject("instance")
        if instance == self.own_instance:
            return False
        props = {_text(k): _text(v) for k, v in properties.items()}
        if props.get("v") not in (None, TXT_VERSION):
            return self._reject("version")
        extension = props.get("ext") or ""
        if not _EXTENSION.match(extension):
            return self._reject("extension")
        zid = (props.get("zid") or "").lower()
        if not _ZID.match(zid):
            return self._reject("zid")
        name = props.get("name") or ""
        if len(name) > MAX_NAME_CHARS or any(not ch.isprintable() for ch in name):
            return self._reject("name")
        if port is None or not 1 <= port <= 65535:
            return self._reject("port")
        host = self._pick_address(addresses)
        if host is None:
            return self._reject("address")
        if zid == self.own_zid:
            return self._reject("own zid")     # someone replaying our announcement
        known = self._known_zids.get(extension)
        zid_changed = known is not None and known != zid
        if known is None:
            self._known_zids[extension] = zid
            while len(self._known_zids) > 4 * self.max_peers:
                self._known_zids.popitem(last=False)
        peer = Peer(extension, host, port, zid, name, instance, now, zid_changed)
        previous = self._by_instance.pop(instance, None)
        self._by_instance[instance] = peer                  # most recently seen last
        while len(self._by_instance) > self.max_peers:
            self._by_instance.popitem(last=False)
            self.stats.evicted += 1
        if extension == self.own_extension:
            self.own_extension_taken_by = instance
        self.stats.accepted += 1
        return previous is None or previous != peer

    def remove(self, instance: str) -> bool:
        peer = self._by_instance.pop(instance, None)
        if peer is not None and self.own_extension_taken_by == instance:
            self.own_extension_taken_by = None
        return peer is not None

    def _pick_address(self, addresses: Iterable[str]) -> str | None:
        for text in addresses:
            try:
                address = ipaddress.ip_address(text)
            except ValueError:
                continue
            if self.family is not None and address.version != self.family:
                continue
            if address.is_multicast or address.is_unspecified or (
                address.version == 4 and str(address) == "255.255.255.255"
            ):
                continue
            return str(address)
        return None
