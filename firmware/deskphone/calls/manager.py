"""The call layer: SIP signalling, SDP offer/answer, the media stream and ZRTP, for one phone.

An event source in aioquic's shape: commands in (`place`, `answer`, `hangup`, `confirm_sas`...),
events out, drained by the app with `next_event()` after each command and whenever
`events_waiting` is set. The events are the phone's own (deskphone.phone.events) plus
`CallLayerChanged` (calls/events.py). Nothing here calls the app.

Below it, two adapters feed it the same way, each through an asyncio queue of its core's
events: `SipEndpoint.events` (the SIP user agent) and, per call, `ZrtpDriver.events` (the ZRTP
session, which the driver pumps and which keys the media stream itself, zrtp_driver.py). Each
call is an `ActiveCall` whose state follows the table in call.py.

Beside it, objects it owns keep their own concern and see it only through a host protocol of
its public methods: `OutgoingCalls` (a dialled target to an INVITE, outgoing.py),
`IncomingCalls` (an arriving INVITE refused, ringing, waiting or replacing, incoming.py),
`CallTransfers` (transfer.py), `OtherCalls` (waiting and held calls, other_calls.py),
`CallConference` (conference.py), `CallNegotiation` (SDP offer/answer once a call is under way,
negotiation.py), `NetworkFollower` (network.py) and `CallLayerReport` (what `info()`,
`media_summary()` and `lan_directory()` read, reporting.py); a call's ZRTP outcomes become
phone events in zrtp_outcomes.py.

Security rules enforced here (RFC 6189 §4.6, §8.1):
* no audio leaves the phone until ZRTP has handed SRTP keys to the media stream, unless ZRTP has
  failed and the settings allow the call to continue NOT SECURE;
* the peer's `a=zrtp-hash` from its SDP is handed to ZRTP, which checks the Hello against it;
* media goes straight to the peer's address from its SDP, or with ICE (call_ice.py) on the
  nominated pair, through a TURN relay only when no direct pair works: ZRTP end to end either
  way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

from deskphone.calls import call_ice
from deskphone.calls.accounts import AccountManager
from deskphone.calls.audio_path import ToneSource
from deskphone.calls.call import ActiveCall, LegInput, LegState
from deskphone.calls.call_media import (
    open_call_media,
)
from deskphone.calls.conference import CallConference
from deskphone.calls.events import CallLayerChanged, CallLayerEvent
from deskphone.calls.incoming import IncomingCalls
from deskphone.calls.known_sources import KnownSources
from deskphone.calls.liveness import MediaWatch
from deskphone.calls.negotiation import CallNegotiation
from deskphone.calls.network import NetworkFollower
from deskphone.calls.other_calls import OtherCalls
from deskphone.calls.outgoing import OutgoingCalls
from deskphone.calls.peer_identity import (
    expectation_after_redirect,
)
from deskphone.calls.reporting import CallLayerReport
from deskphone.calls.routes import Routes
from deskphone.calls.sip_setup import endpoint_for, user_agent_for
from deskphone.calls.tasks import drain, log_task_failure
from deskphone.calls.transfer import CallTransfers
from deskphone.calls.zrtp_outcomes import zrtp_outcome
from deskphone.config import Config
from deskphone.devices.audio import AudioPort
from deskphone.phone import events as pev
from deskphone.sip import events as sev
from deskphone.sip.transport import SipEndpoint
from deskphone.sip.useragent import UserAgent
from deskphone.zrtp import events as zev
from deskphone.zrtp.writer import CacheWriter

log = logging.getLogger(__name__)


class CallManager:
    """Implements deskphone.app.CallLayer."""

    def __init__(self, config: Config, data_dir: Path, *, audio: AudioPort, tones: ToneSource,
                 clock: Callable[[], float]) -> None:
        self.config = config
        self.data_dir = data_dir
        self.audio = audio
        self.tones = tones
        self.clock = clock
        self.loop: asyncio.AbstractEventLoop | None = None
        self.account_names: dict[str, str] = {}  # config name → the UA's user@domain
        self._tasks: list[asyncio.Task[Any]] = []
        self.zid = b""
        self.call: ActiveCall | None = None
        self.counters = {"sip_commands": 0, "rejected_busy": 0, "bad_sdp": 0}
        self.transfers = CallTransfers(self)
        self.others = OtherCalls(self)  # waiting and held calls (issue 15)
        self.negotiation = CallNegotiation(self)  # SDP offer/answer once a call is under way
        self.conference = CallConference(self)  # two calls mixed on this phone (issue 15)
        self.outgoing = OutgoingCalls(self)  # a dialled target to an INVITE with our offer
        self.incoming = IncomingCalls(self)  # an INVITE refused, ringing, waiting or replacing
        self.report = CallLayerReport(self)  # info(), media_summary(), lan_directory()
        self.events_waiting = asyncio.Event()
        self._events: deque[CallLayerEvent] = deque()
        # Set by start(); a CallManager is only used after it.
        self.ua: UserAgent
        self.endpoint: SipEndpoint | None = None
        self.cache: CacheWriter | None = None
        self.routes: Routes | None = None
        self.known_sources: KnownSources | None = None  # sip/admission.py, calls/known_sources.py
        self.accounts: AccountManager | None = None
        self.media_watch: MediaWatch | None = None
        self.network: NetworkFollower | None = None  # listen: an interface or a wildcard

    # -- events out ---------------------------------------------------------------------------

    def emit(self, event: CallLayerEvent) -> None:
        self._events.append(event)
        self.events_waiting.set()

    def next_event(self) -> CallLayerEvent | None:
        return self._events.popleft() if self._events else None

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.cache = CacheWriter(self.data_dir / "zrtp-cache.sqlite",
                                 asyncio.get_running_loop().call_soon_threadsafe)
        self.zid = self.cache.reader.local_zid()
        self.network = NetworkFollower.for_config(self, self.loop)
        listen = self.config.sip.listen
        self.ua, self.account_names = user_agent_for(
            self.config, self.network.advertised() if self.network is not None else None)
        self.endpoint = endpoint = endpoint_for(self.ua, self.config)
        await endpoint.start()
        host, port = endpoint.local_address
        if port != listen.port:  # "port 0": the kernel chose; Via and Contact must say which
            self.ua.config = replace(self.ua.config, local_port=port)
        if self.network is not None:  # a wildcard listen: Via/Contact name our primary address
            self.network.advertise(endpoint)
            host = self.ua.config.local_host
        self._tasks.append(self.loop.create_task(
            drain(endpoint.events, self.on_sip_event), name="sip-events"))
        self.known_sources = known = KnownSources(self.ua, endpoint.resolved)  # flood reserve
        self.routes = Routes(self.config, self.account_names, self.emit,
                             on_directory=known.lan_changed)
        self.media_watch = MediaWatch(self.loop, self.config.media.inactivity_timeout,
                                      lambda: self.call, self._connection_lost)
        if self.config.discovery.enabled:
            # mDNS probing and announcing take about a second (RFC 6762 §8): the phone is ready
            # for calls by URI and for incoming calls meanwhile; extensions resolve once peers
            # answer.
            self._tasks.append(self.loop.create_task(
                self.routes.start_discovery(host, port, self.zid.hex()), name="lan-discovery"))
        if self.config.accounts:  # registration with fail-over between each account's registrars
            loop = self.loop
            self.accounts = AccountManager(
                self.config.accounts, self.account_names, self.ua, endpoint.command,
                self.clock, lambda when, callback: loop.call_later(
                    max(0.0, when - self.clock()), callback),
                lambda text: self.emit(pev.StatusChanged(text)),
                keepalive_seconds=self.config.sip.keepalive_seconds,
                flow_check_seconds=self.config.sip.flow_check_seconds)
            self.accounts.start()
        if self.network is not None:
            self.network.start()

    async def close(self) -> None:
        if self.media_watch is not None:
            self.media_watch.close()
        if self.network is not None:
            self.network.close()
        if self.call is not None:
            self.hangup()
        self.others.end_all(self.hangup_call)
        if self.accounts is not None:
            self.accounts.close()
        if self.endpoint is not None and self.config.accounts:
            # RFC 3261 §10.2.2: take our bindings away on a clean shutdown.
            self.endpoint.command(self.ua.unregister)
            with contextlib.suppress(Exception):
                await asyncio.sleep(0.05)  # let the unREGISTERs leave the socket buffer
        for task in self._tasks:
            task.cancel()
        if self.routes is not None:
            await self.routes.close()
        if self.endpoint is not None:
            await self.endpoint.close()
        if self.cache is not None:
            self.cache.close()

    # -- routing -------------------------------------------------------------------------------

    def resolve(self, target: str) -> tuple[str, str | None] | str:
        assert self.routes is not None
        return self.routes.resolve(target)

    # -- the current call ---------------------------------------------------------------------

    @property
    def current(self) -> ActiveCall | None:
        return self.call

    def set_current(self, call: ActiveCall | None) -> None:
        self.call = call

    def find(self, call_id: str | None) -> ActiveCall | None:
        """The current call or one of the others, by Call-ID."""
        if self.call is not None and call_id and self.call.call_id == call_id:
            return self.call
        return self.others.find(call_id)

    def end(self, call: ActiveCall) -> None:
        """The call is over for us (no signalling here): its media and ZRTP are let go."""
        call.move(LegInput.END)
        if self.call is call:
            self.call = None
        self.others.forget(call)
        self.conference.leg_ended(call)  # before the teardown: the bridge lets its stream go
        self.spawn(None, self.teardown(call))

    # -- commands from the phone ---------------------------------------------------------------

    def place(self, target: str, replaces: str | None = None) -> ActiveCall | None:
        """Call `target` (outgoing.py); the new call, now current, or None."""
        return self.outgoing.place(target, replaces)

    def transfer(self, target: str) -> None:
        self.transfers.transfer(target)

    def transfer_attended(self, call_id: str) -> None:
        self.conference.split()  # a conference joined by transfer: unmixed before the REFER
        self.transfers.transfer_attended(call_id)

    def conference_join(self) -> None:
        """Mix the current call and the held one on this phone (calls/conference.py)."""
        if not self.conference.join():
            log.warning("conference refused: it needs a call with media and a held one")

    def partner_of(self, call: ActiveCall) -> ActiveCall | None:
        """The other answered call beside `call` (an attended transfer's target)."""
        for other in [self.call, *self.others.all()]:
            if other is not None and other is not call and other.negotiated is not None:
                return other
        return None

    def answer(self, call_id: str) -> None:
        call = self.call
        if call is None or call.call_id != call_id:
            # A waiting call: the current one is held first (issue 15), then this one answered.
            call = self.others.waiting(call_id)
            if call is None:
                return
            self._make_current(call_id)
        if not call.accepts(LegInput.ANSWER_REQUESTED):
            return
        call.move(LegInput.ANSWER_REQUESTED)
        self.spawn(call, self.negotiation.answer(call))

    def reject(self, call_id: str, code: int) -> None:
        self.counters["rejected_busy"] += 1
        self.sip(self.ua.reject, call_id, code)
        call = self.find(call_id)
        if call is not None and call.state is LegState.RINGING:
            self.end(call)  # the UA reports no end for a call it refused itself

    def forward(self, call_id: str, target: str) -> None:
        """Call forwarding: send a ringing caller to `target`, routed by the dial plan like a
        dialled number, with a 302 (RFC 3261 §21.3.3); unroutable, the caller hears 480."""
        assert self.routes is not None
        contact = self.routes.forward_contact(target)
        if contact is None:
            self.reject(call_id, 480)
            return
        self.sip(self.ua.redirect, call_id, contact)
        call = self.find(call_id)
        if call is not None and call.state is LegState.RINGING:
            self.end(call)  # the UA reports no end for a call it sent away itself

    def swap(self, call_id: str) -> None:
        """Hold the current call and bring back `call_id` (a held call, or answer a waiting one)."""
        if self.others.waiting(call_id) is not None:
            self.answer(call_id)
        elif self.others.get(call_id) is not None:
            self._make_current(call_id)

    def _make_current(self, call_id: str) -> None:
        if self.call is not None:
            self.others.hold(self.call)
        self.call = self.others.resume(call_id)

    def hangup(self) -> None:
        """End the current call; the others (held, waiting) stay."""
        self.transfers.hangup()
        self.conference.hang_up_all(self.hangup_call)  # in a conference: both legs
        if self.call is not None:
            self.hangup_call(self.call)

    def hangup_call(self, call: ActiveCall) -> None:
        if call.call_id:
            with contextlib.suppress(Exception):
                self.sip(self.ua.hangup, call.call_id)
        self.end(call)

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
        self.reoffer(call, "sendonly" if on else "sendrecv")

    def reoffer(self, call: ActiveCall, direction: str) -> None:
        self.negotiation.reoffer(call, direction)

    def media_active(self) -> bool:
        call = self.call
        return call is not None and call.media is not None and call.negotiated is not None

    def media_summary(self) -> dict[str, Any] | None:
        """The call-quality figures the app posts once a second (reporting.py)."""
        return self.report.media_summary()

    def info(self) -> dict[str, Any]:
        return self.report.info()

    # -- SIP ---------------------------------------------------------------------------------

    def sip(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one UA command; the endpoint flushes what it queues and re-arms its timer."""
        assert self.endpoint is not None
        self.counters["sip_commands"] += 1
        return self.endpoint.command(method, *args, **kwargs)

    def on_sip_event(self, event: sev.Event) -> None:
        # Only the event's kind and status: no SDP, no URIs (they are personal data).
        log.info("sip event %s %s", type(event).__name__, getattr(event, "code", "") or "")
        if self.transfers.on_sip_event(event):
            return
        match event:
            case sev.IncomingCall(call_id=call_id, remote_uri=uri, remote_display=display,
                                  sdp=sdp, replaces=replaces):
                self.incoming.arrived(call_id, uri, display, sdp, replaces)
            case sev.RegistrationState():
                if self.known_sources is not None:  # a name now resolved, a registrar moved
                    self.known_sources.registrars_changed()
                if self.accounts is not None:
                    self.accounts.on_registration(event)
                self.emit(CallLayerChanged())
            case sev.ProbeResult():
                if self.accounts is not None:
                    self.accounts.on_probe_result(event)
            case sev.MessageWaiting(account=account, waiting=waiting, new=new, old=old):
                self.emit(pev.VoicemailChanged(account, waiting, new, old))  # the lamp
        call = self.find(getattr(event, "call_id", None))
        if call is None:
            return
        match event:
            case sev.Redirect(contacts=contacts) if self.routes is not None:  # forwarded
                call.lan = expectation_after_redirect(self.routes.directory, call.lan, contacts)
            case sev.CallProgress(code=code) if code in (180, 183) and call is self.call:
                self.emit(pev.CallRinging())
            case sev.CallEstablished() if call.accepts(LegInput.PEER_HAS_ANSWER):
                call.move(LegInput.PEER_HAS_ANSWER)  # the ACK: the caller has our answer
                assert call.zrtp is not None
                if call.ice is not None and not call.ice_ready:
                    call.zrtp_after_ice = True  # ZRTP goes on the ICE pair, once there is one
                else:
                    call.zrtp.start()
            case sev.CallAnswered(sdp=sdp):
                self.negotiation.answered(call, sdp)
            case sev.CallEnded(reason=reason, code=code):
                self.finish(call, pev.CallFinished(reason, code))
            case sev.Reoffer(sdp=sdp):
                self.negotiation.reoffered(call, sdp)

    # -- media and ZRTP ----------------------------------------------------------------------

    async def open_media(self, call: ActiveCall) -> None:
        assert self.loop is not None and self.cache is not None
        await open_call_media(call, self.config, audio=self.audio, tones=self.tones,
                              zid=self.zid, cache=self.cache, clock=self.clock, loop=self.loop)
        if call.media is None or call.zrtp is None or call.zrtp_events is not None:
            return
        call.media.on_dtmf = functools.partial(self._dtmf_in, call)
        # ZRTP's outcomes reach us like SIP's: an adapter's queue, read by a task.
        call.zrtp_events = self.loop.create_task(
            drain(call.zrtp.events, functools.partial(self.on_zrtp_event, call)),
            name="zrtp-events")

    def _dtmf_in(self, call: ActiveCall, key: str) -> None:
        if call is self.call:
            self.emit(pev.DtmfReceived(key))

    def on_zrtp_event(self, call: ActiveCall, event: zev.ZrtpEvent) -> None:
        """What the call's ZRTP driver reports (its keys are already on the stream)."""
        if call.ended or (call is not self.call and self.others.find(call.call_id) is not call):
            return  # a call set aside by a transfer is not the phone's to show
        zrtp_outcome(call, event, require_secure=self.config.zrtp.require_secure,
                     emit=self.emit, hang_up=self.hangup_call)

    def lan_directory(self) -> list[dict[str, Any]]:
        """The LAN phones with their ZRTP-cache marks, for the contacts (reporting.py)."""
        return self.report.lan_directory()

    def _connection_lost(self, call: ActiveCall, detail: str) -> None:
        if call is self.call:  # BYE (RFC 3261 §15.1.1), then the person sees why
            self.hangup()
            self.emit(pev.CallFinished("connection_lost", None, detail))

    def finish(self, call: ActiveCall, event: pev.CallFinished) -> None:
        self.end(call)
        self.emit(replace(event, call_id=call.call_id))

    async def teardown(self, call: ActiveCall) -> None:
        if call.zrtp is not None:
            call.zrtp.close()
        if call.zrtp_events is not None:
            call.zrtp_events.cancel()
        if call.media is not None:
            media, call.media = call.media, None
            with contextlib.suppress(Exception):
                await media.close()
        await call_ice.close(call)

    def spawn(self, call: ActiveCall | None, coro: Coroutine[Any, Any, None]) -> None:
        assert self.loop is not None
        task = self.loop.create_task(coro)
        if call is not None:
            call.tasks.append(task)
        task.add_done_callback(log_task_failure)

