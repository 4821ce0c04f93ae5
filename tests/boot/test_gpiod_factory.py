"""deskphone.devices.gpiod_factory driven through a stand-in for libgpiod's Python API.

The stand-in records the line settings the factory requests and delivers edge events through a
real pipe file descriptor, so the factory's watcher thread runs exactly as on a Pi.
"""

from __future__ import annotations

import enum
import os
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from gpiozero import Button, Device, DigitalInputDevice, DigitalOutputDevice
from gpiozero.exc import PinInvalidPull, PinSetInput

from deskphone.devices.gpiod_factory import GpiodFactory, default_pi_factory


class Direction(enum.Enum):
    AS_IS = 1
    INPUT = 2
    OUTPUT = 3


class Value(enum.IntEnum):
    INACTIVE = 0
    ACTIVE = 1


class Bias(enum.Enum):
    AS_IS = 1
    DISABLED = 3
    PULL_UP = 4
    PULL_DOWN = 5


class Edge(enum.Enum):
    NONE = 1
    RISING = 2
    FALLING = 3
    BOTH = 4


class EdgeType(enum.Enum):
    RISING_EDGE = 1
    FALLING_EDGE = 2


@dataclass
class LineSettings:
    direction: Direction = Direction.AS_IS
    edge_detection: Edge = Edge.NONE
    bias: Bias = Bias.AS_IS
    debounce_period: timedelta = timedelta(0)
    output_value: Value = Value.INACTIVE


@dataclass
class FakeRequest:
    chip: str
    consumer: str
    settings: dict[int, LineSettings]
    levels: dict[int, Value] = field(default_factory=dict)
    pending: list[Any] = field(default_factory=list)
    released: bool = False

    def __post_init__(self) -> None:
        self._r, self._w = os.pipe()
        for offset, s in self.settings.items():
            self.levels[offset] = s.output_value

    @property
    def fd(self) -> int:
        return self._r

    def reconfigure_lines(self, config: dict[int, LineSettings]) -> None:
        assert not self.released
        self.settings.update(config)
        for offset, s in config.items():
            if s.direction == Direction.OUTPUT:
                self.levels[offset] = s.output_value

    def get_value(self, offset: int) -> Value:
        return self.levels[offset]

    def set_value(self, offset: int, value: Value) -> None:
        assert self.settings[offset].direction == Direction.OUTPUT
        self.levels[offset] = value

    def read_edge_events(self) -> list[Any]:
        os.read(self._r, 1)
        events, self.pending = self.pending[:1], self.pending[1:]
        return events

    def release(self) -> None:
        self.released = True
        os.close(self._r)
        os.close(self._w)

    # test side: the wire changes level
    def drive(self, offset: int, high: bool, timestamp_ns: int) -> None:
        self.levels[offset] = Value.ACTIVE if high else Value.INACTIVE
        edge = self.settings[offset].edge_detection
        wanted = {Edge.BOTH: (True, False), Edge.RISING: (True,), Edge.FALLING: (False,)}
        if high in wanted.get(edge, ()):
            self.pending.append(SimpleNamespace(
                event_type=EdgeType.RISING_EDGE if high else EdgeType.FALLING_EDGE,
                timestamp_ns=timestamp_ns, line_offset=offset))
            os.write(self._w, b"e")


class FakeGpiod:
    def __init__(self) -> None:
        self.requests: dict[int, FakeRequest] = {}
        self.line = SimpleNamespace(Direction=Direction, Value=Value, Bias=Bias, Edge=Edge)
        self.LineSettings = LineSettings
        self.EdgeEvent = SimpleNamespace(Type=EdgeType)

    def request_lines(self, path: str, config: dict[int, LineSettings],
                      consumer: str | None = None) -> FakeRequest:
        (offset, settings), = config.items()
        assert offset not in self.requests or self.requests[offset].released, "line busy"
        request = FakeRequest(path, consumer or "", {offset: settings})
        self.requests[offset] = request
        return request


@pytest.fixture
def gpiod() -> FakeGpiod:
    return FakeGpiod()


@pytest.fixture
def factory(gpiod: FakeGpiod):
    f = GpiodFactory("/dev/gpiochip0", backend=gpiod, revision=0xA02082)  # Pi 3 B
    yield f
    f.close()
    Device.pin_factory = None


def test_button_gets_a_pull_up_and_sees_presses_through_edge_events(gpiod: FakeGpiod,
                                                                    factory: GpiodFactory) -> None:
    gpiod_line = 17
    button = Button(gpiod_line, pull_up=True, pin_factory=factory)
    request = gpiod.requests[gpiod_line]
    assert request.chip == "/dev/gpiochip0" and request.consumer == "deskphone"
    assert request.settings[17].direction == Direction.INPUT
    assert request.settings[17].bias == Bias.PULL_UP
    request.drive(17, True, 1_000_000_000)   # the pull-up holds the line high: released
    pressed, released = threading.Event(), threading.Event()
    button.when_pressed = lambda: pressed.set()
    button.when_released = lambda: released.set()
    assert request.settings[17].edge_detection == Edge.BOTH
    request.drive(17, False, 2_000_000_000)   # contact closes to GND
    assert pressed.wait(5)
    assert button.is_pressed
    request.drive(17, True, 3_000_000_000)
    assert released.wait(5)
    button.close()
    assert request.released


def test_bounce_time_becomes_the_kernel_debounce_period(gpiod: FakeGpiod,
                                                       factory: GpiodFactory) -> None:
    DigitalInputDevice(27, pull_up=True, bounce_time=0.02, pin_factory=factory)
    assert gpiod.requests[27].settings[27].debounce_period == timedelta(milliseconds=20)


def test_output_drives_the_line(gpiod: FakeGpiod, factory: GpiodFactory) -> None:
    row = DigitalOutputDevice(5, active_high=False, initial_value=False, pin_factory=factory)
    request = gpiod.requests[5]
    assert request.settings[5].direction == Direction.OUTPUT
    assert request.levels[5] == Value.ACTIVE        # active-low, off: line high
    row.on()
    assert request.levels[5] == Value.INACTIVE
    assert row.value == 1


def test_input_state_cannot_be_set_and_bad_pull_is_named(factory: GpiodFactory) -> None:
    pin = factory.pin(6)
    pin.function = "input"
    with pytest.raises(PinSetInput, match="GPIO6"):
        pin.state = True
    with pytest.raises(PinInvalidPull, match='"sideways"'):
        pin.pull = "sideways"


def test_a_raising_callback_does_not_stop_later_events(gpiod: FakeGpiod,
                                                      factory: GpiodFactory) -> None:
    seen = threading.Event()
    calls = []

    def callback(ticks: float, state: bool) -> None:
        calls.append(state)
        if len(calls) == 1:
            raise RuntimeError("boom")
        seen.set()

    pin = factory.pin(13)
    pin.function = "input"
    pin.when_changed = callback
    gpiod.requests[13].drive(13, True, 1)
    gpiod.requests[13].drive(13, False, 2)
    assert seen.wait(5)
    assert calls == [True, False]
    assert factory._watcher.dispatch_errors == 1
    pin.when_changed = None
    assert gpiod.requests[13].settings[13].edge_detection == Edge.NONE


def test_environment_factory_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    assert default_pi_factory() is None
