"""The call layer: SIP signalling, SDP offer/answer, the media stream and ZRTP, for one phone.

The phone state machine asks for calls (place, answer, hang up...) and hears back phone events
(ringing, answered, secured...). In between, this module drives three sans-IO cores — the SIP user
agent, one ZRTP session per call, and the SDP offer/answer — with the sockets and timers of the
one event loop, and opens the call's media stream.

Security rules enforced here (RFC 6189 §4.6, §8.1):
* no audio leaves the phone until ZRTP has handed SRTP keys to the media stream, unless ZRTP has
  failed and the settings allow the call to continue NOT SECURE;
* the peer's `a=zrtp-hash` from its SDP is handed to ZRTP, which checks the Hello against it;
* media always goes straight to the peer's address from its SDP, never through a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import sys
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deskphone.phone import events as pev
from deskphone.sdp import LocalMedia, Negotiated, OfferAnswer, SdpError
from deskphone.sip import events as sev

if TYPE_CHECKING:
    from deskphone.app import PhoneApp

log = logging.getLogger(__name__)

EARLY_ZRTP_PACKETS = 8  # ZRTP packets kept while the answer is on its way
FRAME_BYTES_PER_KHZ = 40  # 20 ms of S16LE mono is 40 bytes per kHz of sample rate


class ToneMixingPort:
    """The handset as the media stream sees it, with the phone's tones mixed into playback."""

    def __init__(self, app: PhoneApp) -> None:
        self.app = app
        self.audio = app.devices.audio
        self.rate = self.audio.rate

    def capture_frame(self) -> bytes:
        frame: bytes = self.audio.capture_frame()
        return frame

    def play_frame(self, pcm: bytes) -> None:
        tone = self.app.tone_frame()
        if tone is not None and len(tone) == len(pcm):
            pcm = mix_s16(pcm, tone)
        self.audio.play_frame(pcm)

    def close(self) -> None:  # the app owns the device
        pass


def mix_s16(a: bytes, b: bytes) -> bytes:
    """Sum two S16LE frames with saturation (tones are rare in a call: plain Python is enough)."""
    x, y = array("h", a), array("h", b)
    if sys.byteorder != "little":
        x.byteswap()
        y.byteswap()
    out = array("h", (max(-32768, min(32767, p + q)) for p, q in zip(x, y, strict=True)))
    if sys.byteorder != "little":
        out.byteswap()
    return out.tobytes()


@dataclass
class ActiveCall:
    call_id: str
    outgoing: bool
    peer: str
    offer_answer: OfferAnswer
    remote_offer: bytes | None = None
    media: Any = None
    zrtp: Any = None
    negotiated: Negotiated | None = None
    direction: str = "sendrecv"
    ended: bool = False
    secured: bool = False
    zrtp_timer: asyncio.TimerHandle | None = None
    prepared: asyncio.Task[None] | None = None  # incoming: media opened while ringing
    zrtp_started: bool = False
    zrtp_early: list[bytes] = field(default_factory=list)
    lan: Any = None  # deskphone.peer_identity.LanExpectation: what the LAN said of the callee
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)


class CallManager:
    """Implements deskphone.app.CallLayer."""

    @classmethod
    def factory(cls, data_dir: Path) -> Callable[[PhoneApp], CallManager]:
        return lambda app: cls(app, data_dir)

    def __init__(self, app: PhoneApp, data_dir: Path) -> None:
        self.app = app
        self.config = app.config
        self.data_dir = data_dir
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ua: Any = None
        self.endpoint: Any = None
        self.account_names: dict[str, str] = {}  # config name → the UA's user@domain
        self.accounts: Any = None  # deskphone.accounts.AccountManager when there are accounts
        self._tasks: list[asyncio.Task[Any]] = []
        self.cache: Any = None
        self.zid = b""
        self.directory: Any = None
        self.dialplan: Any = None
        self.call: ActiveCall | None = None
        self._pending_calls: dict[str, ActiveCall] = {}
        self.counters = {"sip_commands": 0, "rejected_busy": 0, "bad_sdp": 0}
        from deskphone.transfer import CallTransfers

        self.transfers = CallTransfers(self)

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        # Loaded now rather than at the first call: a phone must answer at once (PyAV, for Opus
        # and G.722, stays lazy: it is heavy and only needed when those codecs are chosen).
        import deskphone.media.stream  # noqa: F401
        import deskphone.zrtp.session  # noqa: F401
        from deskphone.sip.registration import Account
        from deskphone.sip.transport import SipEndpoint, TransportConfig
        from deskphone.sip.useragent import UaConfig, UserAgent
        from deskphone.zrtp.cache import ZrtpCache

        self.loop = asyncio.get_running_loop()
        self.cache = ZrtpCache(self.data_dir / "zrtp-cache.sqlite")
        self.zid = self.cache.local_zid()
        listen = self.config.sip.listen
        accounts = []
        for a in self.config.accounts:
            account = Account(registrar=a.registrars[0], user=a.user, password=a.password,
                              realm=a.realm, transport=a.transport, expires=a.expires,
                              register_timeout=a.failover_timeout_seconds)
            self.account_names[a.name] = account.name
            accounts.append(account)
        ident = self.config.identity
        self.ua = UserAgent(UaConfig(
            user=ident.user, display_name=ident.display_name, local_host=listen.host,
            local_port=listen.port, transport=listen.transport,
            user_agent=None if self.config.sip.privacy else self.config.sip.user_agent,
            accounts=tuple(accounts), privacy=self.config.sip.privacy))
        self.endpoint = SipEndpoint(self.ua, TransportConfig(
            ca_file=self.config.sip.tls_ca, cert_file=self.config.sip.tls_cert,
            key_file=self.config.sip.tls_key))
        await self.endpoint.start()
        host, port = self.endpoint.local_address
        if port != listen.port:  # "port 0": the kernel chose; Via and Contact must say which
            self.ua.config = replace(self.ua.config, local_port=port)
        self._tasks.append(self.loop.create_task(self._sip_events(), name="sip-events"))
        if self.config.discovery.enabled:
            # mDNS probing and announcing take about a second (RFC 6762 §8): the phone is ready
            # for calls by URI and for incoming calls meanwhile; extensions resolve once peers
            # answer.
            self._tasks.append(self.loop.create_task(self._start_discovery(host, port),
                                                     name="lan-discovery"))
        self._load_dialplan()
        if accounts:  # registration with fail-over between each account's registrars
            from deskphone.accounts import AccountManager

            self.accounts = AccountManager(
                self.config.accounts, self.account_names, self.ua, self.endpoint.command,
                self._now, lambda when, callback: self.loop.call_later(  # type: ignore[union-attr]
                    max(0.0, when - self._now()), callback),
                lambda text: self.app.post(pev.StatusChanged(text)))
            self.accounts.start()

    async def close(self) -> None:
        if self.call is not None:
            self.hangup()
        if self.accounts is not None:
            self.accounts.close()
        if self.endpoint is not None:
            if self.config.accounts:
                # RFC 3261 §10.2.2: take our bindings away on a clean shutdown.
                self.endpoint.command(self.ua.unregister)
                with contextlib.suppress(Exception):
                    await asyncio.sleep(0.05)  # let the unREGISTERs leave the socket buffer
        for task in self._tasks:
            task.cancel()
        if self.directory is not None:
            with contextlib.suppress(Exception):
                await self.directory.close()
        if self.endpoint is not None:
            await self.endpoint.close()
        if self.cache is not None:
            self.cache.close()

    def _now(self) -> float:
        return self.app.clock()

    # -- routing -------------------------------------------------------------------------------

    def _load_dialplan(self) -> None:
        from deskphone.routing.dialplan import DialPlan

        def lan_peer(extension: str) -> Any:
            directory = self.directory  # looked up at dialling time: discovery starts later
            return directory.lookup(extension) if directory is not None else None

        self.dialplan = DialPlan.from_config(
            self.config.dialplan, accounts=[a.name for a in self.config.accounts],
            peers=lan_peer if self.config.discovery.enabled else None)

    async def _start_discovery(self, host: str, port: int) -> None:
        from deskphone.routing.discovery import LanDirectory

        ident = self.config.identity
        address = host
        if self.config.discovery.interface:
            from deskphone.routing.interfaces import InterfaceError, discovery_address

            try:
                address = discovery_address(self.config.discovery.interface, ipv6=":" in host)
            except InterfaceError as exc:  # e.g. a typo, or wlan0 without an address yet
                log.error("LAN discovery is off: %s", exc)
                self.app.post(pev.StatusChanged("no LAN discovery"))
                return
        if address in ("0.0.0.0", "::"):
            address = _primary_address()
        directory = LanDirectory(address, ident.extension, port, self.zid.hex(),
                                 ident.display_name, on_change=self._directory_changed)
        try:
            await directory.start()
        except asyncio.CancelledError:  # the phone is shutting down while we announce
            with contextlib.suppress(Exception):
                await directory.close()
            raise
        except Exception:  # no multicast on this interface: calls by URI still work
            log.exception("LAN discovery could not start on %s", address)
            self.app.post(pev.StatusChanged("no LAN discovery"))
            return
        self.directory = directory

    def _directory_changed(self, directory: Any) -> None:
        from deskphone.peer_identity import lan_warning

        self.app.state_changed()
        warning = lan_warning(directory, self.config.identity.extension)
        if warning != self.app.machine.lan_warning:
            self.app.post(pev.LanWarning(warning))

    def resolve(self, target: str) -> tuple[str, str | None] | str:
        """A dialled string → (request URI, UA account name or None for a direct call), or the
        reason it cannot be called."""
        from deskphone.routing.dialplan import DIRECT, DialPlanError

        try:
            route = self.dialplan.route(target)
        except DialPlanError as exc:
            if self.config.accounts and target.isdigit():
                # Not on the LAN and no rule: the registrar is the phone book.
                return target, None
            return str(exc)
        if route.via == DIRECT:
            return route.target_uri, DIRECT
        if route.via is None:
            return route.target_uri, None
        return route.target_uri, self.account_names.get(route.via, route.via)

    # -- commands from the phone ---------------------------------------------------------------

    def place(self, target: str) -> None:
        resolved = self.resolve(target)
        if isinstance(resolved, str):
            self.app.post(pev.CallFailedLocally("Unknown number", resolved))
            return
        from deskphone.peer_identity import expectation_for, warnings_before_call

        uri, account = resolved
        call = ActiveCall(call_id="", outgoing=True, peer=target,
                          offer_answer=self._new_offer_answer())
        call.lan = expectation_for(self.dialplan, self.directory, target)
        self.call = call
        for warning in warnings_before_call(call.lan):
            self.app.post(pev.PeerWarning(warning))
        self._spawn(call, self._place(call, uri, account))

    def _new_offer_answer(self) -> OfferAnswer:
        from deskphone.routing.privacy import PrivacyPolicy

        policy = PrivacyPolicy(enabled=self.config.sip.privacy)
        return OfferAnswer(username=policy.sdp_username(self.config.identity.user))

    def transfer(self, target: str) -> None:
        self.transfers.transfer(target)

    async def _place(self, call: ActiveCall, uri: str, account: str | None) -> None:
        try:
            await self._open_media(call)
        except OSError as exc:
            self._finish_locally(call, "No media port", str(exc))
            return
        if call.ended:
            await self._teardown(call)
            return
        sdp = call.offer_answer.create_offer(self._local_media(call))
        try:
            call.call_id = self._sip(self.ua.invite, uri, sdp, account=account)
        except (ValueError, KeyError) as exc:  # a target the UA cannot address
            self._finish_locally(call, "Cannot call", str(exc))
            return

    def _finish_locally(self, call: ActiveCall, title: str, detail: str) -> None:
        if self.transfers.failed_locally(call, f"{title}: {detail}"):
            return
        call.ended = True
        if self.call is call:
            self.call = None
        self._spawn(None, self._teardown(call))
        self.app.post(pev.CallFailedLocally(title, detail))

    def answer(self, call_id: str) -> None:
        call = self.call
        if call is None or call.call_id != call_id or call.outgoing:
            return
        self._spawn(call, self._answer(call))

    async def _answer(self, call: ActiveCall) -> None:
        try:
            if call.prepared is not None:
                await call.prepared  # media and ZRTP were set up while the phone rang
            else:
                await self._open_media(call)
        except OSError as exc:
            self._sip(self.ua.reject, call.call_id, 500)
            self._finish(call, pev.CallEnded("failed", 500, f"no media port: {exc}"))
            return
        if call.ended:
            await self._teardown(call)
            return
        assert call.remote_offer is not None
        try:
            answer, negotiated = call.offer_answer.create_answer(call.remote_offer,
                                                                 self._local_media(call))
        except SdpError as exc:
            log.warning("call %s: unusable offer: %s", call.call_id, exc)
            self._sip(self.ua.reject, call.call_id, 488)
            self._finish(call, pev.CallEnded("failed", 488, "Not Acceptable Here"))
            return
        if negotiated.rejected:
            self._sip(self.ua.reject, call.call_id, 488)
            self._finish(call, pev.CallEnded("failed", 488, "no common codec"))
            return
        self._sip(self.ua.answer, call.call_id, answer)
        self._start_media(call, negotiated, start_zrtp=False)  # on the ACK: see _start_zrtp

    def reject(self, call_id: str, code: int) -> None:
        self.counters["rejected_busy"] += 1
        self._sip(self.ua.reject, call_id, code)
        pending = self._pending_calls.pop(call_id, None)
        if pending is not None:
            pending.ended = True

    def hangup(self) -> None:
        self.transfers.hangup()
        call = self.call
        if call is None:
            return
        call.ended = True
        if call.call_id:
            with contextlib.suppress(Exception):
                self._sip(self.ua.hangup, call.call_id)
        self.call = None
        self._spawn(None, self._teardown(call))

    def send_dtmf(self, key: str) -> None:
        call = self.call
        if call is not None and call.media is not None and call.negotiated is not None:
            call.media.send_dtmf(key)

    def confirm_sas(self) -> None:
        if self.call is not None and self.call.zrtp is not None:
            self.call.zrtp.confirm_sas()

    def reject_sas(self) -> None:
        if self.call is not None and self.call.zrtp is not None:
            self.call.zrtp.reject_sas()

    def set_hold(self, on: bool) -> None:
        call = self.call
        if call is None or call.media is None or call.negotiated is None:
            return
        # RFC 3264 §8.4: hold is a re-offer with sendonly (or inactive if they hold us too).
        call.direction = "sendonly" if on else "sendrecv"
        sdp = call.offer_answer.create_offer(self._local_media(call))
        self._sip(self.ua.reinvite, call.call_id, sdp)

    def media_active(self) -> bool:
        call = self.call
        return call is not None and call.media is not None and call.negotiated is not None

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"sip": None, "lan_peers": []}
        if self.endpoint is not None:
            host, port = self.endpoint.local_address
            info["sip"] = f"{self.config.sip.listen.transport}:{host}:{port}"
            # Counters only (no addresses, no headers): what was dropped and why.
            info["sip_stats"] = {**dataclasses.asdict(self.endpoint.stats),
                                 **dataclasses.asdict(self.ua.stats)}
        if self.accounts is not None:
            info["accounts"] = self.accounts.info()
        if self.directory is not None:
            info["lan_peers"] = sorted(p.extension for p in self.directory.peers())
        call = self.call
        if call is not None:
            info["call_id"] = call.call_id
            if call.negotiated is not None:
                info["codec"] = call.negotiated.codec.name if call.negotiated.codec else None
                info["direction"] = call.negotiated.direction
                info["remote_media"] = (f"{call.negotiated.remote_address}:"
                                        f"{call.negotiated.remote_port}")
            if call.media is not None:
                info["media"] = dataclasses.asdict(call.media.stats)
            if call.zrtp is not None:
                info["zrtp"] = {"state": call.zrtp.state.name.lower(),
                                "role": call.zrtp.role,
                                **zrtp_algorithms(call.zrtp),
                                **dataclasses.asdict(call.zrtp.stats)}
        return info

    # -- media and ZRTP ----------------------------------------------------------------------

    def _local_media(self, call: ActiveCall) -> LocalMedia:
        assert call.media is not None and call.zrtp is not None
        return LocalMedia(address=self.config.media.host, port=call.media.local_port,
                          codecs=self.config.audio.codecs, dtmf=True,
                          zrtp_hash=call.zrtp.hello_hash(), direction=call.direction)

    async def _open_media(self, call: ActiveCall) -> None:
        if call.media is not None:
            return
        from deskphone.media.stream import MediaStream
        from deskphone.zrtp.session import ZrtpConfig, ZrtpSession

        media = await self._bind_media(MediaStream)
        if call.ended:  # the caller gave up while the port was being opened
            await media.close()
            return
        call.media = media
        z = self.config.zrtp
        # RFC 6189 §5: a ZRTP packet carries the SSRC of its sender's RTP stream.
        ssrc = getattr(media, "ssrc", None) or getattr(media, "_ssrc", None)
        if not isinstance(ssrc, int):
            ssrc = secrets.randbits(32)
        call.zrtp = ZrtpSession(
            ZrtpConfig(zid=self.zid, key_agreements=z.key_agreements, sas_types=z.sas_types,
                       pbx_enrolled=frozenset(z.enrolled_pbx_zids)),
            self.cache, ssrc=ssrc)
        call.media.on_zrtp = lambda packet, c=call: self._zrtp_in(c, packet)
        call.media.on_dtmf = lambda key, c=call: self._dtmf_in(c, key)

    async def _bind_media(self, stream_class: Any) -> Any:
        """An even port from [media] port_min..port_max (RFC 3550 §11), tried at random, so a
        firewall can be opened for exactly that range."""
        m = self.config.media
        ports = list(range(m.port_min + (m.port_min % 2), m.port_max + 1, 2))
        rng = secrets.SystemRandom()
        last: OSError | None = None
        for port in rng.sample(ports, min(len(ports), 16)):
            try:
                return await stream_class.open(m.host, port, audio=ToneMixingPort(self.app))
            except OSError as exc:
                last = exc
        raise OSError(f"no free media port in {m.port_min}-{m.port_max} on {m.host}: {last}")

    def _start_media(self, call: ActiveCall, negotiated: Negotiated, *,
                     start_zrtp: bool = True) -> None:
        from deskphone.media.stream import CodecSpec

        call.negotiated = negotiated
        codec = negotiated.codec
        assert codec is not None, "a rejected stream never reaches the media layer"
        spec = CodecSpec(name=codec.name, payload_type=codec.payload_type,
                         clock_rate=codec.clock_rate, channels=codec.channels,
                         fmtp=dict(codec.fmtp))
        call.media.start((negotiated.remote_address, negotiated.remote_port), spec,
                         dtmf_pt=negotiated.dtmf_payload_type, rtcp_mux=negotiated.rtcp_mux)
        call.media.set_direction(negotiated.direction)
        if negotiated.remote_zrtp_hash:
            version = negotiated.remote_zrtp_version or "1.10"
            try:  # RFC 6189 §8.1: the peer's Hello must hash to what its SDP promised
                call.zrtp.set_peer_hello_hash(f"{version} {negotiated.remote_zrtp_hash}")
            except ValueError as exc:
                log.warning("call %s: ignoring unusable a=zrtp-hash: %s", call.call_id, exc)
        if start_zrtp:
            self._start_zrtp(call)

    def _start_zrtp(self, call: ActiveCall) -> None:
        """Begin ZRTP (RFC 6189 §4.1) once the peer is known to have our SDP.

        The caller starts on the 200 OK. The callee waits for the ACK, or for the caller's first
        ZRTP packet if that comes first: until then its 200 OK may have been lost, and Hellos
        sent into the void would exhaust their retransmissions (§6) before the caller listens."""
        if call.zrtp_started or call.zrtp is None or call.ended:
            return
        call.zrtp.start(self._now())
        call.zrtp_started = True
        early, call.zrtp_early = call.zrtp_early, []
        for packet in early:  # a Hello that overtook the answer or the ACK
            call.zrtp.receive_datagram(packet, self._now())
        self._pump_zrtp(call)

    def _zrtp_in(self, call: ActiveCall, packet: bytes) -> None:
        if call.zrtp is None or call.ended:
            return
        if not call.zrtp_started and call.negotiated is not None and not call.outgoing:
            # We answered and the caller is already speaking ZRTP: it has our answer.
            call.zrtp_early.append(packet)
            self._start_zrtp(call)
            return
        if not call.zrtp_started:
            # The peer started ZRTP as soon as it sent its answer, which can reach us after its
            # Hello: keep a few packets rather than wait for a retransmission (RFC 6189 §6:
            # T1 = 50 ms). The Hello is checked against the answer's a=zrtp-hash all the same.
            if len(call.zrtp_early) < EARLY_ZRTP_PACKETS:
                call.zrtp_early.append(packet)
            return
        call.zrtp.receive_datagram(packet, self._now())
        self._pump_zrtp(call)

    def _dtmf_in(self, call: ActiveCall, key: str) -> None:
        if call is self.call:
            self.app.post(pev.DtmfReceived(key))

    def _pump_zrtp(self, call: ActiveCall) -> None:
        from deskphone.zrtp import events as zev

        zrtp = call.zrtp
        if zrtp is None or call.ended:
            return
        for packet in zrtp.datagrams_to_send(self._now()):
            call.media.send_zrtp(packet)
        while (event := zrtp.next_event()) is not None:
            if call is not self.call:
                continue
            if isinstance(event, zev.Securing):
                self.app.post(pev.Securing())
            elif isinstance(event, zev.Secure | zev.CacheMismatch):
                call.media.set_srtp(event.srtp)  # SRTP first: only then may audio flow
                call.media.enable_audio(True)
                call.secured = True
                if isinstance(event, zev.CacheMismatch):
                    self.app.post(pev.CacheMismatch(event.sas))
                else:
                    self.app.post(pev.Secured(event.sas, event.verified))
                from deskphone.peer_identity import warning_after_zrtp

                if (warning := warning_after_zrtp(call.lan, event.peer_zid)) is not None:
                    self.app.post(pev.PeerWarning(warning))
            elif isinstance(event, zev.NotSecure):
                if self.config.zrtp.require_secure:
                    log.warning("call %s: ZRTP failed and require_secure is set: ending it",
                                call.call_id)
                    self.hangup()
                    self.app.post(pev.CallEnded("not_secure", None, event.reason))
                    return
                call.media.allow_cleartext()
                call.media.enable_audio(True)
                self.app.post(pev.NotSecure(event.reason))
        self._arm_zrtp_timer(call)

    def _arm_zrtp_timer(self, call: ActiveCall) -> None:
        if call.zrtp_timer is not None:
            call.zrtp_timer.cancel()
            call.zrtp_timer = None
        when = call.zrtp.get_timer() if call.zrtp is not None else None
        if when is not None and self.loop is not None and not call.ended:
            call.zrtp_timer = self.loop.call_later(max(0.0, when - self._now()),
                                                   self._zrtp_timer_fired, call)

    def _zrtp_timer_fired(self, call: ActiveCall) -> None:
        call.zrtp_timer = None
        if call.zrtp is not None and not call.ended:
            call.zrtp.handle_timer(self._now())
            self._pump_zrtp(call)

    # -- SIP ---------------------------------------------------------------------------------

    def _sip(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one UA command; the endpoint flushes what it queues and re-arms its timer."""
        self.counters["sip_commands"] += 1
        return self.endpoint.command(method, *args, **kwargs)

    async def _sip_events(self) -> None:
        while True:
            event = await self.endpoint.events.get()
            try:
                self._on_sip_event(event)
            except Exception:  # one bad event must not stop signalling
                log.exception("handling %s failed", type(event).__name__)

    def _on_sip_event(self, event: sev.Event) -> None:
        # Only the event's kind and status: no SDP, no URIs (they are personal data).
        log.info("sip event %s %s", type(event).__name__, getattr(event, "code", "") or "")
        if self.transfers.on_sip_event(event):
            return
        call = self.call
        match event:
            case sev.IncomingCall(call_id=call_id, remote_uri=uri, remote_display=display,
                                  sdp=sdp):
                self._incoming(call_id, uri, display, sdp)
            case sev.CallProgress(call_id=call_id, code=code):
                if call is not None and call.call_id == call_id and code in (180, 183):
                    self.app.post(pev.CallRinging())
            case sev.CallEstablished(call_id=call_id):
                if call is not None and call.call_id == call_id:
                    self._start_zrtp(call)  # the ACK: the caller has our answer
            case sev.CallAnswered(call_id=call_id, sdp=sdp):
                if call is not None and call.call_id == call_id:
                    self._answered(call, sdp)
            case sev.CallEnded(call_id=call_id, reason=reason, code=code):
                if call is not None and call.call_id == call_id:
                    self._finish(call, pev.CallEnded(reason, code))
            case sev.Reoffer(call_id=call_id, sdp=sdp):
                if call is not None and call.call_id == call_id:
                    self._reoffer(call, sdp)
            case sev.RegistrationState():
                if self.accounts is not None:
                    self.accounts.on_registration(event)
                self.app.state_changed()
            case sev.ProbeResult():
                if self.accounts is not None:
                    self.accounts.on_probe_result(event)
            case _:
                pass

    def _incoming(self, call_id: str, uri: str, display: str | None, sdp: bytes) -> None:
        if self.call is not None:
            self.counters["rejected_busy"] += 1
            self._sip(self.ua.reject, call_id, 486)  # RFC 3261 §21.4.7 Busy Here
            return
        try:
            OfferAnswer().create_answer(sdp, _probe_media(self.config.audio.codecs))
        except SdpError as exc:
            self.counters["bad_sdp"] += 1
            log.warning("incoming call %s: bad SDP offer: %s", call_id, exc)
            self._sip(self.ua.reject, call_id, 488)  # §21.4.26 Not Acceptable Here
            return
        call = ActiveCall(call_id=call_id, outgoing=False, peer=display or uri,
                          offer_answer=self._new_offer_answer(), remote_offer=sdp)
        self.call = call
        self._sip(self.ua.ringing, call_id)
        self.app.post(pev.IncomingCall(call_id, uri, display))

    def _answered(self, call: ActiveCall, sdp: bytes) -> None:
        if call.negotiated is not None:  # the answer to our re-INVITE (hold/resume)
            try:
                negotiated = call.offer_answer.receive_answer(sdp)
            except SdpError:
                return
            call.negotiated = negotiated
            call.media.set_direction(negotiated.direction)
            return
        try:
            negotiated = call.offer_answer.receive_answer(sdp)
        except SdpError as exc:
            log.warning("call %s: bad SDP answer: %s", call.call_id, exc)
            self.hangup()
            self.app.post(pev.CallEnded("failed", 488, "bad SDP answer"))
            return
        if negotiated.rejected:
            self.hangup()
            self.app.post(pev.CallEnded("failed", 488, "no common codec"))
            return
        self._start_media(call, negotiated)
        self.app.post(pev.CallAnswered())

    def _reoffer(self, call: ActiveCall, sdp: bytes) -> None:
        try:
            answer, negotiated = call.offer_answer.create_answer(sdp, self._local_media(call))
        except SdpError:
            self._sip(self.ua.reject_reoffer, call.call_id, 488)
            return
        self._sip(self.ua.answer_reoffer, call.call_id, answer)
        call.negotiated = negotiated
        call.media.set_direction(negotiated.direction)

    def _finish(self, call: ActiveCall, event: pev.CallEnded) -> None:
        call.ended = True
        if self.call is call:
            self.call = None
        self._spawn(None, self._teardown(call))
        self.app.post(event)

    async def _teardown(self, call: ActiveCall) -> None:
        call.ended = True
        if call.zrtp_timer is not None:
            call.zrtp_timer.cancel()
            call.zrtp_timer = None
        if call.media is not None:
            media, call.media = call.media, None
            with contextlib.suppress(Exception):
                await media.close()

    def _spawn(self, call: ActiveCall | None, coro: Any) -> None:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        if call is not None:
            call.tasks.append(task)
        task.add_done_callback(_log_task_failure)


def zrtp_algorithms(session: Any) -> dict[str, str | None]:
    """What the ZRTP session negotiated (RFC 6189 §4.1.2), for `state`: names only, no keys."""
    chosen = session.algorithms
    names = ("hash", "cipher", "auth_tag", "key_agreement", "sas_type")
    return {"peer_client_id": session.peer_client_id,
            "peer_hello_hash_verified": session.peer_hello_hash_verified,
            **{name: getattr(chosen, name, None) if chosen else None for name in names}}


def _primary_address() -> str:
    """The address the LAN reaches us on (no packet is sent: connect() on UDP only routes)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _probe_media(codecs: tuple[str, ...]) -> LocalMedia:
    return LocalMedia(address="127.0.0.1", port=9, codecs=codecs, dtmf=True, zrtp_hash=None)


def _log_task_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("call task failed", exc_info=task.exception())
