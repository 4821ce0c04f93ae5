"""The one asyncio event loop: devices, timers, the control socket and the call layer.

This is the thin layer of the sans-IO design: it owns every timer and device, feeds the phone
state machine with events and carries out the commands it returns. Two concerns have modules
of their own that the app owns and starts: `app_inputs.py` (the hook, keypad and handset-audio
callbacks, which may come from a library thread and hop onto the loop with
`call_soon_threadsafe`, and the hook/keypad scan) and `app_sound.py` (tones, the ringer,
volumes, the microphone's mute and the audio tick). Nothing else runs off the loop.

Events are handled one at a time, never re-entrantly: `post` queues; the queue is worked through
by `_handle_events`, which gives each event to the machine and carries out *all* its commands
before it looks at the next. The call layer is an event source like aioquic's connection: its
commands only queue events, which the app drains (`next_event`) after each command it carries
out, and when the call layer says some arrived from the network (`events_waiting`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from deskphone.app_inputs import DeviceInputs
from deskphone.app_sound import PhoneSound
from deskphone.calls.events import CallLayerChanged, CallLayerEvent
from deskphone.config import Config
from deskphone.control import ControlError, ControlServer
from deskphone.control_commands import CONTROL_COMMANDS
from deskphone.devices.audio_reopen import ReopeningAudio
from deskphone.devices.build import Devices, has_letter_keys
from deskphone.phone import events as ev
from deskphone.phone.machine import MachineSettings, PhoneMachine
from deskphone.phone_files import (
    HISTORY_FILE,
    MAX_VOLUME,
    SETTINGS_FILE,
    ContactsKeeper,
    HistoryKeeper,
    VolumeKeeper,
    contacts_path,
    speed_dials_with_contacts,
)
from deskphone.state_wait import StateWaiters, WaitTimedOut
from deskphone.wall_clock import clock_known, clock_text, date_text, seconds_to_next_minute

log = logging.getLogger(__name__)


TIMELINE_EVENTS: dict[type, str] = {
    ev.CallArrived: "incoming", ev.CallRinging: "ringing", ev.CallConnected: "answered",
    ev.SecuringStarted: "securing", ev.Secured: "secured", ev.PossibleMitm: "secured",
    ev.CallNotSecure: "not_secure", ev.CallFinished: "ended",
}


class CallLayer(Protocol):
    """What the app needs from SIP + SDP + media + ZRTP (deskphone.calls.manager.CallManager)."""

    events_waiting: asyncio.Event  # set when events arrived from the network

    def next_event(self) -> CallLayerEvent | None: ...
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    def place(self, target: str) -> object: ...
    def answer(self, call_id: str) -> None: ...
    def reject(self, call_id: str, code: int) -> None: ...
    def forward(self, call_id: str, target: str) -> None: ...
    def hangup(self) -> None: ...
    def send_dtmf(self, key: str) -> None: ...
    def confirm_sas(self) -> None: ...
    def reject_sas(self) -> None: ...
    def set_hold(self, on: bool) -> None: ...
    def transfer(self, target: str) -> None: ...
    def swap(self, call_id: str) -> None: ...
    def transfer_attended(self, call_id: str) -> None: ...
    def conference_join(self) -> None: ...
    def media_active(self) -> bool: ...
    def media_summary(self) -> dict[str, Any] | None: ...
    def info(self) -> dict[str, Any]: ...
    def lan_directory(self) -> list[dict[str, Any]]: ...


class PhoneApp:
    def __init__(self, config: Config, *, data_dir: Path, devices: Devices,
                 control_path: Path | None = None,
                 call_layer_factory: Callable[[PhoneApp], CallLayer] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.data_dir = data_dir
        self.devices = devices
        self.clock = clock
        settings = MachineSettings(
            extension=config.identity.extension,
            display_name=config.identity.display_name,
            status="registering" if config.accounts else "LAN",
            interdigit_timeout=config.phone.interdigit_timeout,
            ended_screen_seconds=config.phone.ended_screen_seconds,
            no_answer_seconds=config.phone.no_answer_seconds,
            ring_seconds=config.phone.ring_seconds,
            dnd_code=config.phone.dnd_code,
            dnd=config.phone.dnd,
            forward=config.phone.forward,
            forward_to=config.phone.forward_to,
            forward_after=config.phone.forward_after,
            voicemail=next((a.voicemail for a in config.accounts if a.voicemail), ""),
            conference_hangup=config.phone.conference_hangup,
            letter_keys=has_letter_keys(devices),
        )
        self.machine = PhoneMachine(settings)
        self.history = HistoryKeeper(data_dir / HISTORY_FILE, clock=clock)
        self.contacts = ContactsKeeper(contacts_path(config.phone.contacts_file, data_dir))
        # Speed dials may name contacts: resolved once, here; an unknown name stops the start.
        self.config = config = replace(
            config, dialplan=speed_dials_with_contacts(config.dialplan, self.contacts))
        self.control = ControlServer(control_path, self.handle_control) if control_path else None
        # Tones, the ringer, volumes and the microphone's mute (app_sound.py); its tone is the
        # call layer's ToneSource and its microphone what a call captures from.
        self.sound = PhoneSound(devices, data_dir / SETTINGS_FILE, clock)
        self.inputs = DeviceInputs(devices, clock)  # hook, keypad, handset audio (app_inputs.py)
        self._inbox: deque[ev.Event] = deque()
        self._handling = False
        self.calls: CallLayer | None = call_layer_factory(self) if call_layer_factory else None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped = asyncio.Event()
        self.screen_listeners: list[Callable[[Any], None]] = []
        self._machine_timer: asyncio.TimerHandle | None = None
        self._call_activity = asyncio.Event()  # set by every event handled (wakes _stats_tick)
        self._ticks: list[asyncio.Task[None]] = []
        self.waiters = StateWaiters(self.state)  # the control socket's `wait KEY=VALUE`
        self.counters = {"events": 0, "commands": 0, "bad_control": 0}
        # When the current call's milestones happened (monotonic seconds, for benchmarks).
        self.timeline: dict[str, float] = {}

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.inputs.wire(self.post_threadsafe)
        self._run_commands(self.machine.start(self.clock()))
        self.post(self.history.event())  # the missed count and redial's number, from the file
        self.post(self.contacts_event())
        self.post(clock_event(time.time()))
        if self.calls is not None:
            await self.calls.start()
        # The control socket opens last: a script that can reach it can also place and receive
        # calls (the SIP socket is bound, its port known).
        if self.control is not None:
            await self.control.start()
        self._ticks.append(asyncio.create_task(self.sound.run(self._media_active),
                                               name="audio-tick"))
        self._ticks.append(asyncio.create_task(self._stats_tick(), name="stats-tick"))
        self._ticks.append(asyncio.create_task(self._clock_tick(), name="clock-tick"))
        if self.calls is not None:
            self._ticks.append(asyncio.create_task(self._call_events(), name="call-events"))
        if self.inputs.scanned:
            self._ticks.append(asyncio.create_task(self.inputs.scan(self.loop), name="scan-tick"))

    async def stop(self) -> None:
        for task in self._ticks:
            task.cancel()
        for task in self._ticks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._ticks.clear()
        if self._machine_timer is not None:
            self._machine_timer.cancel()
        if self.calls is not None:
            with contextlib.suppress(Exception):
                await self.calls.close()
        if self.control is not None:
            await self.control.close()
        self.waiters.fail_all(ControlError("the phone is shutting down"))
        self.devices.close()
        self.stopped.set()

    def request_stop(self) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.stopped.set)

    # -- events in ---------------------------------------------------------------------------

    def post(self, event: ev.Event) -> None:
        """Feed one event to the phone (on the loop thread). Posted while another event is being
        handled, it waits until that one's commands are all carried out."""
        self._inbox.append(event)
        self._handle_events()

    def _handle_events(self) -> None:
        if self._handling:
            return
        self._handling = True
        self._call_activity.set()
        try:
            while True:
                self._take_call_events()
                if not self._inbox:
                    break
                self._handle(self._inbox.popleft())
        finally:
            self._handling = False

    def _run_commands(self, commands: list[ev.Command]) -> None:
        """Commands the machine gave outside an event (its start, its timer), then what they
        caused."""
        self._handling = True
        try:
            self._apply(commands)
        finally:
            self._handling = False
        self._handle_events()

    def _handle(self, event: ev.Event) -> None:
        self.counters["events"] += 1
        now = self.clock()
        name = TIMELINE_EVENTS.get(type(event))
        if name == "incoming":
            self.timeline = {"incoming": now}
        elif name is not None:
            self.timeline[name] = now
        self._apply(self.machine.handle(event, now))

    def _take_call_events(self) -> None:
        """What the call layer queued: phone events join the inbox, in order."""
        calls = self.calls
        if calls is None:
            return
        while (event := calls.next_event()) is not None:
            if isinstance(event, CallLayerChanged):
                self.waiters.check()
                continue
            if isinstance(event, ev.CallArrived):  # who is calling, from a fresh directory
                self._inbox.append(self.contacts_event())
            self._inbox.append(event)

    async def _call_events(self) -> None:
        # Events the call layer queued on its own (SIP, ZRTP, LAN discovery, registration).
        assert self.calls is not None
        waiting = self.calls.events_waiting
        while True:
            await waiting.wait()
            waiting.clear()
            self._handle_events()

    def post_threadsafe(self, event: ev.Event) -> None:
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.post, event)

    # -- commands out --------------------------------------------------------------------------

    def _apply(self, commands: list[ev.Command]) -> None:
        for command in commands:
            self.counters["commands"] += 1
            try:
                self._execute(command)
            except Exception:  # a failing device must not take the phone down
                log.exception("command %s failed", type(command).__name__)
        self._arm_machine_timer()
        self.waiters.check()

    def _execute(self, command: ev.Command) -> None:
        calls = self.calls
        match command:
            case ev.ShowScreen(screen=screen):
                self._show(screen)
            case ev.PlayTone(tone=tone):
                self.sound.play_tone(tone)
            case ev.Ring(on=on):
                self.sound.ring(on)
            case ev.PlaceCall(target=target):
                self.timeline = {"dialled": self.clock()}
                if calls is None:
                    self.post(ev.CallFailedLocally("No network", "calls are not available"))
                else:
                    calls.place(target)
            case ev.AnswerCall(call_id=call_id):
                self.timeline["answered"] = self.clock()
                if calls is not None:
                    calls.answer(call_id)
            case ev.RejectCall(call_id=call_id, code=code):
                if calls is not None:
                    calls.reject(call_id, code)
            case ev.ForwardCall(call_id=call_id, target=target):
                if calls is not None:
                    calls.forward(call_id, target)
            case ev.HangUp():
                if calls is not None:
                    calls.hangup()
            case ev.SendDtmf(key=key):
                if calls is not None:
                    calls.send_dtmf(key)
            case ev.ConfirmSas():
                if calls is not None:
                    calls.confirm_sas()
            case ev.RejectSas() | ev.ClearVerified():
                if calls is not None:
                    calls.reject_sas()  # clears the peer's verified flag in the ZRTP cache
            case ev.SetHold(on=on):
                if calls is not None:
                    calls.set_hold(on)
            case ev.SwapTo(call_id=call_id):
                if calls is not None:
                    calls.swap(call_id)
            case ev.JoinConference():
                if calls is not None:
                    calls.conference_join()
            case ev.TransferAttended(call_id=call_id):
                if calls is not None:
                    calls.transfer_attended(call_id)
            case ev.TransferCall(target=target):
                if calls is not None:
                    calls.transfer(target)
            case ev.SetMute(on=on):
                self.sound.set_mute(on)
            case ev.RecordCall() | ev.MarkHistorySeen():
                self.post(self.history.apply(command))
            case ev.ChangeVolume(which=which, step=step):
                self.change_volume(which, step)

    def _show(self, screen: Any) -> None:
        image = screen.render()
        self.devices.display.show(image)
        for listener in list(self.screen_listeners):
            listener(screen)

    def _media_active(self) -> bool:
        """Whether a call's media stream owns the handset (the audio tick then sleeps)."""
        return self.calls is not None and self.calls.media_active()

    async def _stats_tick(self) -> None:
        # Once a second in a call, the RTCP figures go to the phone (shown on the stats screen).
        # Outside a call it sleeps until an event is handled (a call starts with events): an idle
        # phone has no timer of its own to wake for (issue 19).
        while True:
            if self.calls is None or not self.calls.media_active():
                self._call_activity.clear()
                await self._call_activity.wait()
                continue
            await asyncio.sleep(1.0)
            media = self.calls.media_summary()
            if media is None:
                continue
            received, lost = media["packets_received"], max(0, media["lost"])
            expected = received + lost
            self.post(ev.CallStats(
                codec=str(media["codec"] or "-"),
                loss_pct=100.0 * lost / expected if expected else 0.0,
                jitter_ms=float(media["jitter_ms"] or 0.0),
                rtt_ms=media["rtt_ms"], path=str(media["path"])))

    async def _clock_tick(self) -> None:
        # The idle screen's time and date, posted when the minute changes (woken just after).
        shown = clock_event(time.time())
        while True:
            await asyncio.sleep(seconds_to_next_minute(time.time()))
            event = clock_event(time.time())
            if event != shown:
                shown = event
                self.post(event)

    # -- timers ------------------------------------------------------------------------------

    def _arm_machine_timer(self) -> None:
        if self.loop is None:
            return
        if self._machine_timer is not None:
            self._machine_timer.cancel()
            self._machine_timer = None
        when = self.machine.get_timer()
        if when is not None:
            delay = max(0.0, when - self.clock())
            self._machine_timer = self.loop.call_later(delay, self._on_machine_timer)

    def _on_machine_timer(self) -> None:
        self._machine_timer = None
        self._run_commands(self.machine.handle_timer(self.clock()))

    def change_volume(self, which: str, how: str) -> None:
        """A volume key or ctl volume: store it, apply it, show it (`how`: up, down, 0-10)."""
        level = self.sound.change_volume(which, how)
        self.post(ev.VolumeChanged(which, level, MAX_VOLUME))

    @property
    def volume(self) -> VolumeKeeper:
        """The stored volume levels (`ctl volume` reports them)."""
        return self.sound.volume

    def contacts_event(self) -> ev.ContactsChanged:
        lan = self.calls.lan_directory() if self.calls is not None else []
        return self.contacts.event(lan, self.history.history)

    # -- the control socket --------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        snapshot = self.machine.snapshot()
        snapshot["extension"] = self.config.identity.extension
        snapshot["status"] = self.machine.idle.status
        snapshot["tone"] = self.sound.tone.name
        snapshot["ringing"] = self.sound.ringing
        snapshot["timeline"] = dict(self.timeline)
        if isinstance(self.devices.audio, ReopeningAudio):
            snapshot["audio_device"] = self.devices.audio.info()
        if self.calls is not None:
            snapshot.update(self.calls.info())
        return snapshot

    async def wait_for(self, conditions: dict[str, str], timeout: float) -> dict[str, Any]:
        try:
            return await self.waiters.wait(conditions, timeout)
        except WaitTimedOut:
            raise ControlError(f"timed out after {timeout:g} s waiting for "
                               f"{' '.join(f'{k}={v}' for k, v in conditions.items())}; now "
                               f"call={state_now(self)}") from None

    async def handle_control(self, name: str, args: list[str]) -> Any:
        handler = CONTROL_COMMANDS.get(name)
        if handler is None:
            self.counters["bad_control"] += 1
            raise ControlError(f"unknown command {name!r}; commands: "
                               + ", ".join(sorted(CONTROL_COMMANDS)))
        return await handler(self, args)


def clock_event(now: float) -> ev.ClockChanged:
    """The idle screen's time and date, both None when the clock is known to be unset."""
    known = clock_known(now)
    return ev.ClockChanged(clock_text(now, known), date_text(now, known))


def state_now(app: PhoneApp) -> str:
    s = app.state()
    return f"{s['call']} security={s['security']}"

