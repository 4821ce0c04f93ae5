"""A gpiozero pin factory over libgpiod v2 (`gpiod` on PyPI): GPIO through /dev/gpiochip*.

Debian's own arm64 kernel (the one in our SD image) has no /dev/gpiomem, so gpiozero's RPi.GPIO
and native factories cannot work there, and PyPI has no usable arm64 lgpio (hw/README.md). The
kernel's GPIO character device (uAPI v2, Linux >= 5.10) gives everything the phone needs:
direction, pull-up/pull-down bias, kernel debounce and timestamped edge events.

Each gpiozero pin holds one line request on the chip (consumer "deskphone", so `gpioinfo` shows
who owns the line and a second process cannot grab it). Settings changes are
`reconfigure_lines`. Edge events of every pin with a `when_changed` are read by one daemon
thread that waits on the requests' file descriptors and calls gpiozero's `_call_when_changed`
with the kernel's CLOCK_MONOTONIC timestamp (the same clock as LocalPiFactory.ticks()).
Not supported: PWM (gpiozero raises PinPWMUnsupported; the ringer is switched on/off) and SPI
beyond gpiozero's software SPI.

    from deskphone.devices.gpiod_factory import default_pi_factory
    factory = default_pi_factory()   # None when $GPIOZERO_PIN_FACTORY chooses (e.g. "mock")
    DigitalInputDevice(17, pull_up=True, pin_factory=factory)

The `backend` argument takes the gpiod module (the default) or a stand-in with the same names
(request_lines, LineSettings, line.Direction/Value/Bias/Edge, EdgeEvent.Type): tests use one.
"""

from __future__ import annotations

import logging
import os
import selectors
import threading
from datetime import timedelta
from types import ModuleType
from typing import Any

from gpiozero.exc import (
    PinFixedPull,
    PinInvalidBounce,
    PinInvalidEdges,
    PinInvalidFunction,
    PinInvalidPull,
    PinSetInput,
)
from gpiozero.pins.local import LocalPiFactory, LocalPiPin

log = logging.getLogger(__name__)

CONSUMER = "deskphone"
DEFAULT_CHIP = "/dev/gpiochip0"   # pinctrl-bcm2835/2711: line offset == BCM GPIO number


def default_pi_factory(chip: str = DEFAULT_CHIP) -> GpiodFactory | None:
    """The factory for real pins, unless $GPIOZERO_PIN_FACTORY names one (then gpiozero's)."""
    if os.environ.get("GPIOZERO_PIN_FACTORY"):
        return None
    return GpiodFactory(chip)


class _EdgeWatcher:
    """One daemon thread: waits on every watched line request, dispatches its edge events."""

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._thread: threading.Thread | None = None
        self._closing = False
        self.dispatch_errors = 0

    def watch(self, pin: GpiodPin) -> None:
        with self._lock:
            self._selector.register(pin._request.fd, selectors.EVENT_READ, pin)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gpiod-edges",
                                                daemon=True)
                self._thread.start()
        self._wake()

    def unwatch(self, pin: GpiodPin) -> None:
        with self._lock:
            try:
                self._selector.unregister(pin._request.fd)
            except (KeyError, ValueError):
                pass
        self._wake()

    def close(self) -> None:
        self._closing = True
        self._wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._selector.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass

    def _run(self) -> None:
        while not self._closing:
            ready = self._selector.select(timeout=None)
            for key, _mask in ready:
                if key.data is None:
                    try:
                        os.read(self._wake_r, 512)
                    except BlockingIOError:
                        pass
                    continue
                pin: GpiodPin = key.data
                with self._lock:
                    if key.fd not in self._selector.get_map():
                        continue  # unwatched while we were waiting
                    try:
                        events = pin._request.read_edge_events()
                    except OSError:
                        self.dispatch_errors += 1
                        continue
                for event in events:
                    try:
                        pin._dispatch_edge(event)
                    except Exception:  # a user callback must not kill the watcher
                        self.dispatch_errors += 1
                        log.exception("gpio: when_changed callback of %r raised", pin)


class GpiodFactory(LocalPiFactory):
    """gpiozero pin factory for /dev/gpiochip* through libgpiod v2."""

    def __init__(self, chip: str = DEFAULT_CHIP, *, backend: ModuleType | Any = None,
                 revision: int | None = None) -> None:
        super().__init__()
        if backend is None:
            import gpiod as backend  # noqa: PLC0415 - only on a real Pi
        self.backend = backend
        self.chip = chip
        self._revision = revision
        self._watcher = _EdgeWatcher()
        self.pin_class = GpiodPin

    def _get_revision(self) -> int:
        return self._revision if self._revision is not None else super()._get_revision()

    def close(self) -> None:
        super().close()          # closes and releases every pin
        self._watcher.close()


class GpiodPin(LocalPiPin):
    """One GPIO line: a line request reconfigured as gpiozero changes its settings."""

    _EDGES = ("both", "rising", "falling")
    _PULLS = ("up", "down", "floating")

    def __init__(self, factory: GpiodFactory, info: Any) -> None:
        super().__init__(factory, info)
        self._backend = factory.backend
        self._offset = self._number
        self._function = "input"
        self._pull = "floating" if info.pull == "" else info.pull
        self._edges = "both"
        self._bounce: float | None = None
        self._detecting = False
        self._output_value = False
        self._request = self._backend.request_lines(
            factory.chip, consumer=CONSUMER, config={self._offset: self._settings()})

    def __repr__(self) -> str:
        return f"<GpiodPin GPIO{self._number} on {self._factory.chip}>"

    # --- settings -------------------------------------------------------------------------
    def _settings(self) -> Any:
        line = self._backend.line
        if self._function == "output":
            value = line.Value.ACTIVE if self._output_value else line.Value.INACTIVE
            return self._backend.LineSettings(direction=line.Direction.OUTPUT,
                                              output_value=value)
        bias = {"up": line.Bias.PULL_UP, "down": line.Bias.PULL_DOWN,
                "floating": line.Bias.DISABLED}[self._pull]
        edge = {"both": line.Edge.BOTH, "rising": line.Edge.RISING,
                "falling": line.Edge.FALLING}[self._edges] if self._detecting else line.Edge.NONE
        debounce = timedelta(seconds=self._bounce or 0)
        return self._backend.LineSettings(direction=line.Direction.INPUT, bias=bias,
                                          edge_detection=edge, debounce_period=debounce)

    def _apply(self) -> None:
        self._request.reconfigure_lines({self._offset: self._settings()})

    def close(self) -> None:
        if self._request is None:
            return
        self.when_changed = None     # stops event detection through gpiozero
        try:
            self._request.release()
        except Exception:  # already released by the chip going away: nothing to free
            pass
        self._request = None

    def _get_function(self) -> str:
        return self._function

    def _set_function(self, value: str) -> None:
        if value not in ("input", "output"):
            raise PinInvalidFunction(f'invalid function "{value}" for pin {self!r}: '
                                     'expected "input" or "output"')
        if value == self._function:
            return
        self._function = value
        self._output_value = False
        self._apply()

    def _get_state(self) -> bool:
        return self._request.get_value(self._offset) == self._backend.line.Value.ACTIVE

    def _set_state(self, value: Any) -> None:
        if self._function == "input":
            raise PinSetInput(f"cannot set state of pin {self!r}: it is an input")
        self._output_value = bool(value)
        line = self._backend.line
        self._request.set_value(self._offset,
                                line.Value.ACTIVE if value else line.Value.INACTIVE)

    def _get_pull(self) -> str:
        return self._pull

    def _set_pull(self, value: str) -> None:
        if self._function != "input":
            raise PinFixedPull(f"cannot set pull on non-input pin {self!r}")
        if self.info.pull not in (value, ""):
            raise PinFixedPull(f"{self!r} has a physical pull-{self.info.pull} resistor")
        if value not in self._PULLS:
            raise PinInvalidPull(f'invalid pull "{value}" for pin {self!r}: expected one of '
                                 f"{self._PULLS}")
        self._pull = value
        self._apply()

    def _get_bounce(self) -> float | None:
        return self._bounce

    def _set_bounce(self, value: float | None) -> None:
        if value is not None and value < 0:
            raise PinInvalidBounce(f"bounce {value} for pin {self!r}: expected 0 or more seconds")
        self._bounce = value or None
        if self._function == "input":
            self._apply()   # uAPI v2 debounce_period: the kernel filters the edges

    def _get_edges(self) -> str:
        return self._edges

    def _set_edges(self, value: str) -> None:
        if value not in self._EDGES:
            raise PinInvalidEdges(f'invalid edges "{value}" for pin {self!r}: expected one of '
                                  f"{self._EDGES}")
        self._edges = value
        if self._detecting:
            self._apply()

    # --- edge events ----------------------------------------------------------------------
    def _enable_event_detect(self) -> None:
        self._detecting = True
        self._apply()
        self._factory._watcher.watch(self)

    def _disable_event_detect(self) -> None:
        self._factory._watcher.unwatch(self)
        self._detecting = False
        if self._request is not None:
            self._apply()

    def _dispatch_edge(self, event: Any) -> None:
        rising = event.event_type == self._backend.EdgeEvent.Type.RISING_EDGE
        self._call_when_changed(event.timestamp_ns / 1e9, rising)
