"""Is the phone we reach the one the LAN announced? ZID checks for LAN calls (RFC 6189 §4.9).

DNS-SD announcements are unauthenticated (see routing/peers.py): each carries the phone's ZRTP
ZID, and the directory remembers the first ZID seen per extension. Two things are worth a
warning on the call screen:

* `new_zid` — the extension we dial is now announced with a different ZID than before: a new or
  reset phone, or someone else claiming the number. Nothing is proven; the SAS must be compared.
* `zid_mismatch` — ZRTP's peer ZID differs from the ZID announced for the extension we dialled:
  the party that did the key agreement is not the phone the LAN described (possible MITM).

And one on the idle screen: another phone announces our own extension.
"""

from __future__ import annotations

from dataclasses import dataclass

from deskphone.routing.dialplan import DialPlan
from deskphone.routing.discovery import LanDirectory


@dataclass(frozen=True)
class LanExpectation:
    """What the LAN said about the phone we called."""

    expected_zid: str | None  # hex, as announced
    zid_changed: bool


def expectation_for(dialplan: DialPlan | None, directory: LanDirectory | None,
                    target: str) -> LanExpectation | None:
    """The LAN's word on a dialled target, or None when it is not a LAN extension."""
    if dialplan is None or directory is None:
        return None
    try:
        route = dialplan.route(target)
    except Exception:  # noqa: BLE001 — an unroutable number simply has no LAN expectation
        return None
    zid = getattr(route, "expected_zid", None)
    if not zid:
        return None
    peer = next((p for p in directory.peers() if p.zid == zid), None)
    return LanExpectation(zid.lower(), bool(peer is not None and peer.zid_changed))


def expectation_after_redirect(directory: LanDirectory | None, current: LanExpectation | None,
                               contacts: tuple[str, ...]) -> LanExpectation | None:
    """A 3xx from the phone we dialled (call forwarding): when its one Contact is another phone
    of the LAN, that phone's announced ZID is what ZRTP must now find. Anything else keeps the
    dialled phone's expectation, so a redirect cannot be used to dodge the check."""
    if current is None or directory is None or len(contacts) != 1:
        return current
    user_host = contacts[0].split(":", 1)[-1].split(";", 1)[0]
    hostport = user_host.rsplit("@", 1)[-1].lower()
    peer = next((p for p in directory.peers()
                 if f"{p.host}:{p.port}".lower() == hostport), None)
    if peer is None or not peer.zid:
        return current
    return LanExpectation(peer.zid.lower(), peer.zid_changed)


def warnings_before_call(expectation: LanExpectation | None) -> list[str]:
    return ["new_zid"] if expectation is not None and expectation.zid_changed else []


def warning_after_zrtp(expectation: LanExpectation | None, peer_zid: bytes | None) -> str | None:
    """"zid_mismatch" when ZRTP's peer is not the phone announced for the number we dialled."""
    if expectation is None or expectation.expected_zid is None or peer_zid is None:
        return None
    return None if peer_zid.hex() == expectation.expected_zid else "zid_mismatch"


def lan_warning(directory: LanDirectory | None, own_extension: str) -> str:
    """Idle-screen text while another phone announces our extension; "" when none does."""
    if directory is None or not directory.own_extension_taken:
        return ""
    return f"ext {own_extension} also on LAN"
