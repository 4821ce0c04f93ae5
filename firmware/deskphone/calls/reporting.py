"""What the call layer reports to the app, in three reads of different cost and rate.

* `info()` — everything `deskphone ctl state` shows of the call layer: SIP (listen address and
  counters, sip_setup.py), the accounts, the LAN peers, the followed network, the current call
  (call_media.py), the other calls and the conference mix. It walks every part, and it is read
  every 100 ms while a script waits on a state, so it reads no file.
* `media_summary()` — the call-quality figures the app posts once a second during a call
  (codec, the RTP/RTCP counters of RFC 3550 §6.4, the ICE path): only the current stream, never
  the whole `info()` (issue 19).
* `lan_directory()` — the LAN phones for the contacts, each marked with whether the ZRTP cache
  holds its announced ZID as SAS-verified (RFC 6189 §4.9): a cache read, hence not in `info`.

Nothing here holds state or changes any: it reads the manager's parts through `ReportHost`.
Reported are names, states and counters only — never keys, the SAS, or SDP.
"""

from __future__ import annotations

from typing import Any, Protocol

from deskphone.calls import call_ice
from deskphone.calls.accounts import AccountManager
from deskphone.calls.call import ActiveCall
from deskphone.calls.call_media import call_info
from deskphone.calls.conference import CallConference
from deskphone.calls.network import NetworkFollower
from deskphone.calls.other_calls import OtherCalls
from deskphone.calls.routes import Routes
from deskphone.calls.sip_setup import sip_info
from deskphone.config import Config
from deskphone.sip.transport import SipEndpoint
from deskphone.zrtp.writer import CacheWriter

ZID_BYTES = 12  # RFC 6189 §4.9: a ZID is 96 bits


class ReportHost(Protocol):
    """What the reports read of the call layer (calls/manager.py)."""

    config: Config
    endpoint: SipEndpoint | None
    accounts: AccountManager | None
    routes: Routes | None
    network: NetworkFollower | None
    cache: CacheWriter | None
    others: OtherCalls
    conference: CallConference

    @property
    def current(self) -> ActiveCall | None: ...


class CallLayerReport:
    def __init__(self, host: ReportHost) -> None:
        self.host = host

    def media_summary(self) -> dict[str, Any] | None:
        """The current call's codec, counters and path; None without media."""
        call = self.host.current
        if call is None or call.media is None or call.negotiated is None:
            return None
        stats = call.media.stats
        codec = call.negotiated.codec
        return {"codec": codec.name if codec else None,
                "packets_received": stats.packets_received, "lost": stats.lost,
                "jitter_ms": stats.jitter_ms, "rtt_ms": stats.rtt_ms,
                "path": call_ice.path_label(call) if call.ice is not None else ""}

    def info(self) -> dict[str, Any]:
        host = self.host
        info: dict[str, Any] = {"sip": None, "lan_peers": []}
        if host.endpoint is not None:
            info.update(sip_info(host.endpoint, host.config))
        if host.accounts is not None:
            info["accounts"] = host.accounts.info()
        if host.routes is not None:
            info["lan_peers"], info["lan_hosts"] = host.routes.lan_peers(), host.routes.lan_hosts()
        if host.network is not None:
            info["network"] = host.network.info()
        if host.current is not None:
            info.update(call_info(host.current))
        info["other_calls"] = host.others.info()
        info["mixer"] = host.conference.info()  # the conference mixed here, if any
        return info

    def lan_directory(self) -> list[dict[str, Any]]:
        routes = self.host.routes
        return routes.lan_directory(self._zid_verified) if routes is not None else []

    def _zid_verified(self, zid_hex: str) -> bool:
        """Whether the ZRTP cache holds `zid_hex` (a LAN peer's announced ZID) as SAS-verified."""
        try:
            zid = bytes.fromhex(zid_hex)
        except ValueError:
            return False
        cache = self.host.cache
        secrets = cache.lookup(zid) if cache is not None and len(zid) == ZID_BYTES else None
        return secrets is not None and secrets.verified
