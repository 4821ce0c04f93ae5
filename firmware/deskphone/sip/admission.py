"""Who may open a server transaction while strangers flood the phone (RFC 3261 §8.2.7, §17.2).

stateless.py caps what remote parties hold: past the cap a new out-of-dialog request gets one
stateless answer (an INVITE 503 with Retry-After, §21.5.4) and nothing rings. With one cap for
everybody, a flood from many sources that keeps the table full also turns away the one genuine
INVITE in it: before authentication nothing in a request tells a caller from an attacker.

The source address does, a little. The phone has reason to know some addresses before any
request arrives: the registrars and outbound proxies its accounts REGISTER with (as the
transport resolved them), the LAN phones in its DNS-SD directory, and the peers of dialogs it
has (an answered or confirmed call, or one we placed). `ServerAdmission` gives requests from
those *known* sources a reserve of their own (`known_server_transactions`) on top of the
strangers' share (`max_server_transactions`), so strangers can fill only their share. Within the
strangers' share each source address may hold `max_server_transactions_per_source`, so one or a
few sources cannot take all of it either (a flood from many sources still can: that is what the
known reserve is for). A known source whose reserve is full falls back to the strangers' share.

Why this is sound: it changes only *which* request gets a stateful answer, never what a request
may do once answered (digest auth, the dialog rules and ZRTP's SAS still decide who is who), and
memory stays bounded by the sum of the two shares. The sets of known addresses come from the
call layer (`set_known`: registrars as resolved, the directory's peers), the core adds the
dialog peers it has; the core never resolves a name or opens a socket.

What it does not protect against: UDP source addresses can be forged. An attacker who sends
with the registrar's (or a LAN peer's) address as source fills the known reserve too, and then
genuine callers get the strangers' treatment again — 503 with Retry-After (§8.2.7, §21.5.4),
exactly what every stranger gets; the responses go to the forged address, not the attacker,
and stay one per request. Nor does it help a genuine caller the phone has never heard of: a
stranger's INVITE competes with the flood for the strangers' share, and its UAC retransmits
(Timer A) into whatever room a stranger's ended transaction leaves. TCP and TLS sources cannot
be forged this way; the known sets are the same for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from deskphone.sip.call import CallTable, SipCallState
from deskphone.sip.config import UaConfig
from deskphone.sip.table import TransactionTable

Key = tuple[str, str, str]
# Calls whose far end we have reason to know: it answered our INVITE path or we answered its
# INVITE (a dialog is up). A stranger's INVITE that is only ringing makes nobody known.
_DIALOG_STATES = (SipCallState.ANSWERED, SipCallState.CONFIRMED)
DIALOG_PEERS_TTL = 0.05  # seconds the set of dialog peers is reused (see _dialog_peers)


@dataclass(frozen=True)
class _Holder:
    host: str
    known: bool


class ServerAdmission:
    def __init__(self, config: Callable[[], UaConfig], call_table: CallTable,
                 table: TransactionTable) -> None:
        table.on_server_forgotten = self.released
        self._config = config  # read on each request: the UA's config can be replaced
        self._call_table = call_table
        self._known: dict[str, frozenset[str]] = {}  # group ("registrars", "lan") -> hosts
        self._holders: dict[Key, _Holder] = {}
        self._per_source: dict[str, int] = {}
        self._peers: frozenset[str] = frozenset()
        self._peers_at: float | None = None
        self.known_open = 0  # server transactions held by known sources in their reserve
        self.strangers_open = 0  # ... and by everybody else (per source: _per_source)

    # -- what the call layer tells us ----------------------------------------------------------
    def set_known(self, group: str, hosts: Iterable[str]) -> None:
        """Replace the addresses of one group of known sources (IP addresses as text; a name
        that is not an address never matches a datagram's source, so resolve it first)."""
        self._known[group] = frozenset(h.lower() for h in hosts if h)

    def known_hosts(self, now: float) -> set[str]:
        return set().union(*self._known.values(), self._dialog_peers(now))

    def is_known(self, host: str, now: float) -> bool:
        """Is `host` (a datagram's source IP) a source the phone has reason to know?"""
        host = host.lower()
        if any(host in group for group in self._known.values()):
            return True
        return host in self._dialog_peers(now)

    def _dialog_peers(self, now: float) -> frozenset[str]:
        # Asked per datagram under a flood (the transport's queue too): computed at most every
        # DIALOG_PEERS_TTL. A dialog a few ms old may count as a stranger's that long (its
        # requests then get the strangers' share, no worse than before it was up); one just
        # ended may count as known that long.
        if self._peers_at is None or not 0 <= now - self._peers_at < DIALOG_PEERS_TTL:
            self._peers = frozenset(
                call.addr[0].lower() for call in self._call_table.calls.values()
                if not call.ended and (call.state in _DIALOG_STATES or call.role == "uac"))
            self._peers_at = now
        return self._peers

    # -- the decision --------------------------------------------------------------------------
    def admit(self, key: Key, host: str, now: float) -> bool:
        """May a new out-of-dialog request from `host` open a server transaction (`key`)?
        If so it is counted until `released(key)`; if not, it gets a stateless answer."""
        config = self._config()
        host = host.lower()
        stranger_room = (self.strangers_open < config.max_server_transactions
                         and self._per_source.get(host, 0)
                         < config.max_server_transactions_per_source)
        known = False
        if self.known_open < config.known_server_transactions and self.is_known(host, now):
            known = True  # the reserve first: a known source leaves the strangers' share alone
        elif not stranger_room:
            return False
        holder = self._holders.pop(key, None)
        if holder is not None:
            self._release(holder)  # the same key again (a request that replaced its own)
        self._holders[key] = _Holder(host, known)
        if known:
            self.known_open += 1
        else:
            self.strangers_open += 1
            self._per_source[host] = self._per_source.get(host, 0) + 1
        return True

    def released(self, key: Key) -> None:
        """The server transaction `key` ended (the transaction table forgot it)."""
        holder = self._holders.pop(key, None)
        if holder is not None:
            self._release(holder)

    def _release(self, holder: _Holder) -> None:
        if holder.known:
            self.known_open -= 1
            return
        self.strangers_open -= 1
        left = self._per_source.get(holder.host, 1) - 1
        if left > 0:
            self._per_source[holder.host] = left
        else:
            self._per_source.pop(holder.host, None)  # no entry per source that left: bounded


__all__ = ["ServerAdmission"]
