"""The one asyncio event loop: devices, timers, the control socket and the call layer.

This is the thin layer of the sans-IO design: it owns every timer and device, feeds the phone
state machine with events and carries out the commands it returns. Device callbacks may come
from a library thread (gpiozero on a real Pi); they hop onto the loop with
`call_soon_threadsafe` and nothing else runs off the loop.

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

from deskphone.calls.events import CallLayerChanged, CallLayerEvent
from deskphone.config import Config
from deskphone.control import ControlError, ControlServer
from deskphone.control_commands import CONTROL_COMMANDS
from deskphone.devices.audio_reopen import ReopeningAudio
from deskphone.devices.build import Devices, has_letter_keys
from deskphone.devices.microphone import MuteableMicrophone, scale_s16
from deskphone.devices.tones import CurrentTone, ToneGenerator
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

FRAME_SECONDS = 0.020  # audio frames are 20 ms everywhere
SCAN_SECONDS = 0.010  # keypad/hook scan tick: well under a human key press (~50 ms)
REST_POLL_SECONDS = 0.25  # at rest, edges wake the scan; this poll is only a safety net


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
        # The call-progress tone now playing: the audio tick plays it outside calls, the call's
        # media stream mixes it in during one (it is the call layer's ToneSource).
        self.tone = CurrentTone(devices.audio.rate)
        self.microphone = MuteableMicrophone(devices.audio)  # what a call captures from
        self.volume = VolumeKeeper(data_dir / SETTINGS_FILE)
        self.microphone.gain = self.volume.gain("earpiece")
        self._inbox: deque[ev.Event] = deque()
        self._handling = False
        self.calls: CallLayer | None = call_layer_factory(self) if call_layer_factory else None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopped = asyncio.Event()
        self.screen_listeners: list[Callable[[Any], None]] = []
        self._machine_timer: asyncio.TimerHandle | None = None
        self._ring_tone: ToneGenerator | None = None
        self.ringing = False  # the ringer (or the ring through the audio output) is on
        self._audio_wake = asyncio.Event()
        self._scan_waiter: asyncio.Future[None] | None = None  # the scan tick's rest wait
        self._call_activity = asyncio.Event()  # set by every event handled (wakes _stats_tick)
        self._ticks: list[asyncio.Task[None]] = []
        self.waiters = StateWaiters(self.state)  # the control socket's `wait KEY=VALUE`
        self.counters = {"events": 0, "commands": 0, "bad_control": 0}
        # When the current call's milestones happened (monotonic seconds, for benchmarks).
        self.timeline: dict[str, float] = {}

    # -- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._wire_devices()
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
        self._ticks.append(asyncio.create_task(self._audio_tick(), name="audio-tick"))
        self._ticks.append(asyncio.create_task(self._stats_tick(), name="stats-tick"))
        self._ticks.append(asyncio.create_task(self._clock_tick(), name="clock-tick"))
        if self.calls is not None:
            self._ticks.append(asyncio.create_task(self._call_events(), name="call-events"))
        if self.devices.hook is not None or self.devices.keypad is not None:
            self._ticks.append(asyncio.create_task(self._scan_tick(), name="scan-tick"))

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

    def _wire_devices(self) -> None:
        def hook_changed(off_hook: bool) -> None:
            self.post_threadsafe(ev.HookOff() if off_hook else ev.HookOn())

        def key_pressed(key: str) -> None:
            self.post_threadsafe(ev.KeyPressed(key))

        def handset_audio(lost: bool) -> None:
            self.post_threadsafe(ev.HandsetAudioChanged(lost))

        if isinstance(self.devices.audio, ReopeningAudio):  # a handset that can be unplugged
            self.devices.audio.on_change = handset_audio
        if self.devices.hook is not None:
            self.devices.hook.set_emit(hook_changed)
        if self.devices.keypad is not None:
            self.devices.keypad.set_emit(key_pressed)

    async def _scan_tick(self) -> None:
        # Hook and keypad are scanned every 10 ms while anything is happening. At rest the keypad
        # has every row driven low and the hook has settled: pin edges wake this tick, and a slow
        # safety poll covers an edge that a driver might miss.
        keypad, hook = self.devices.keypad, self.devices.hook
        assert self.loop is not None
        loop = self.loop

        def wake() -> None:
            loop.call_soon_threadsafe(self._wake_scan)

        for device in (keypad, hook):
            if device is not None and hasattr(device, "on_activity"):
                device.on_activity = wake
        while True:
            now = self.clock()
            if keypad is not None:
                keypad.scan(now)
            if hook is not None and hook.get_timer() is not None:
                hook.poll(now)  # an edge started a debounce; polling settles it
            resting = (keypad is None or getattr(keypad, "resting", False)) and (
                hook is None or hook.get_timer() is None)
            if not resting:
                await asyncio.sleep(SCAN_SECONDS)
                continue
            # A bare future and one loop timer: asyncio.wait_for would wrap the wait in a task
            # and cancel it at every poll, ~6x the CPU of this per wake-up (issue 19).
            waiter = self._scan_waiter = loop.create_future()
            timer = loop.call_later(REST_POLL_SECONDS, _settle, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._scan_waiter = None

    def _wake_scan(self) -> None:
        """A pin edge (from the device's thread, hopped onto the loop): end the rest wait."""
        if self._scan_waiter is not None:
            _settle(self._scan_waiter)

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
                self._play_tone(tone)
            case ev.Ring(on=on):
                self._ring(on)
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
                self.microphone.muted = on
            case ev.RecordCall() | ev.MarkHistorySeen():
                self.post(self.history.apply(command))
            case ev.ChangeVolume(which=which, step=step):
                self.change_volume(which, step)

    def _show(self, screen: Any) -> None:
        image = screen.render()
        self.devices.display.show(image)
        for listener in list(self.screen_listeners):
            listener(screen)

    def _play_tone(self, tone: str | None) -> None:
        self.tone.play(tone)
        self._audio_wake.set()

    def _ring(self, on: bool) -> None:
        self.ringing = on
        ringer = self.devices.ringer
        if ringer is not None:  # a GPIO buzzer
            ringer.start() if on else ringer.stop()
            return
        # No buzzer: ring through the audio output, as a handset-only phone must.
        self._ring_tone = ToneGenerator("ring", self.devices.audio.rate) if on else None
        self._audio_wake.set()

    def tone_frame(self) -> bytes | None:
        """The next 20 ms of the current call-progress tone, or None when silent."""
        return self.tone.next_frame()

    async def _audio_tick(self) -> None:
        # Outside a call this tick plays tones and rings on the handset; in a call the media
        # stream owns the handset and mixes tones in (deskphone.calls.audio_path). When there is
        # nothing to play it sleeps until woken: an idle phone should cost nothing.
        audio = self.devices.audio
        silence = bytes(2 * int(audio.rate * FRAME_SECONDS))
        next_at = self.clock()
        while True:
            media = self.calls is not None and self.calls.media_active()
            if media or (not self.tone.playing and self._ring_tone is None):
                self._audio_wake.clear()
                await self._audio_wake.wait()
                next_at = self.clock()
                continue
            audio.capture_frame()  # keep the capture side drained
            frame = self.tone_frame()
            gain = self.volume.gain("earpiece")
            if frame is None and self._ring_tone is not None:
                frame, gain = self._ring_tone.next_frame(), self.volume.gain("ringer")
            audio.play_frame(scale_s16(frame, gain) if frame else silence)
            next_at += FRAME_SECONDS
            delay = next_at - self.clock()
            if delay < -0.2:  # we fell far behind (suspended laptop): resynchronise
                next_at = self.clock()
                delay = 0
            await asyncio.sleep(max(0.0, delay))

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
        level = self.volume.change(which, how)
        self.microphone.gain = self.volume.gain("earpiece")
        self.post(ev.VolumeChanged(which, level, MAX_VOLUME))

    def contacts_event(self) -> ev.ContactsChanged:
        lan = self.calls.lan_directory() if self.calls is not None else []
        return self.contacts.event(lan, self.history.history)

    # -- the control socket --------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        snapshot = self.machine.snapshot()
        snapshot["extension"] = self.config.identity.extension
        snapshot["status"] = self.machine.idle.status
        snapshot["tone"] = self.tone.name
        snapshot["ringing"] = self.ringing
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


def _settle(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
