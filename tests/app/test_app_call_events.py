"""The app drains the call layer's events after each command, never in the middle of one.

A stand-in call layer (the app's CallLayer protocol) answers `place` by queueing events, as the
real one does when a number cannot be routed; the app must finish carrying out the machine's
commands for the `#` before the machine sees what the call layer said.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from deskphone.app import PhoneApp
from deskphone.calls.events import CallLayerChanged, CallLayerEvent
from deskphone.config import config_from_dict
from deskphone.devices.build import build_devices
from deskphone.phone import events as ev


class QueueingCalls:
    """Commands in, events out: nothing here can reach the app."""

    def __init__(self, app: PhoneApp) -> None:
        self.app = app  # read only, to record what the phone had seen when place() ran
        self.events_waiting = asyncio.Event()
        self.queue: list[CallLayerEvent] = []
        self.seen_at_place: tuple[int, str] | None = None

    def next_event(self) -> CallLayerEvent | None:
        return self.queue.pop(0) if self.queue else None

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    def place(self, target: str) -> None:
        self.queue += [CallLayerChanged(), ev.CallFailedLocally("Unknown number", target)]
        self.seen_at_place = (self.app.counters["events"], self.app.machine.state.value)

    def answer(self, call_id: str) -> None: ...
    def reject(self, call_id: str, code: int) -> None: ...
    def hangup(self) -> None: ...
    def send_dtmf(self, key: str) -> None: ...
    def confirm_sas(self) -> None: ...
    def reject_sas(self) -> None: ...
    def set_hold(self, on: bool) -> None: ...
    def transfer(self, target: str) -> None: ...
    def media_active(self) -> bool:
        return False

    def media_summary(self) -> dict[str, Any] | None:
        return None

    def info(self) -> dict[str, Any]:
        return {}

    def lan_directory(self) -> list[dict[str, Any]]:
        return []

    def later(self, event: CallLayerEvent) -> None:
        """As if the network brought it: queued, and the app told events are waiting."""
        self.queue.append(event)
        self.events_waiting.set()


def test_call_layer_events_are_handled_after_the_command_that_caused_them(
        tmp_path: Path) -> None:
    async def go() -> None:
        config = config_from_dict({"identity": {"extension": "201"},
                                   "discovery": {"enabled": False}}, sim=True)
        holder: dict[str, QueueingCalls] = {}

        def factory(app: PhoneApp) -> QueueingCalls:
            holder["calls"] = QueueingCalls(app)
            return holder["calls"]

        app = PhoneApp(config, data_dir=tmp_path, devices=build_devices(config, tmp_path),
                       call_layer_factory=factory)
        calls = holder["calls"]
        await app.start()
        try:
            app.post(ev.HookOff())
            for key in "999#":
                app.post(ev.KeyPressed(key))
            events_when_placed, state_when_placed = calls.seen_at_place or (0, "")
            # When place() ran, the phone had handled the "#" and nothing after it ...
            assert state_when_placed == "calling"
            # ... and the failure it queued was handled right after, in the same drain (then the
            # call history's update that the failed call's record caused).
            state = app.state()
            assert state["call"] == "ended" and "Unknown number" in state["screen"]
            assert app.counters["events"] == events_when_placed + 2
            assert calls.queue == []
            # Events that arrive on their own are drained by the app's task.
            calls.later(ev.StatusChanged("registered"))
            await app.wait_for({"status": "registered"}, 5)
        finally:
            await app.stop()

    asyncio.run(asyncio.wait_for(go(), 30))
