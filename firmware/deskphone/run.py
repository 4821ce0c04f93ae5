"""`deskphone run`: the composition root. Builds the devices, the call layer and the app, wires
them together, runs the one event loop until a signal, `ctl shutdown` or the terminal's q.

Nothing else constructs the layers: the app gets the call layer from the factory made here, the
call layer gets the handset and the app's tone source, never the app itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deskphone import systemd
from deskphone.app import CallLayer, PhoneApp
from deskphone.calls.manager import CallManager
from deskphone.config import Config
from deskphone.devices.build import build_devices
from deskphone.phone.screens.error import ErrorScreen
from deskphone.sim.terminal import TerminalUI
from deskphone.startup import StartupError, explain

log = logging.getLogger(__name__)


def run_phone(config: Config, *, data_dir: Path, control_path: Path, terminal: bool) -> int:
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_main(config, data_dir, control_path, terminal))


def call_layer_factory(data_dir: Path) -> Callable[[PhoneApp], CallLayer]:
    """The call layer for an app: the handset, the app's tone source and clock, nothing more."""
    return lambda app: CallManager(app.config, data_dir, audio=app.sound.microphone,
                                   tones=app.sound.tone, clock=app.clock)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed: the audio path wakes the loop 100 times a second, and uvloop's
    wake-ups cost a fraction of the pure-Python loop's on a small ARM core."""
    if os.environ.get("DESKPHONE_LOOP", "uvloop") != "uvloop":
        return None
    try:  # an optional third-party package: imported only when it is wanted
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _main(config: Config, data_dir: Path, control_path: Path, terminal: bool) -> int:
    listen = config.sip.listen
    sip_listen = f"{listen.transport} {listen.host}:{listen.port}"
    try:
        devices = build_devices(config, data_dir)
    except Exception as exc:  # a device missing or busy: say which and what to do, no traceback
        log.debug("devices failed", exc_info=True)
        line = explain(exc)
        print(f"deskphone: cannot start: {line}", file=sys.stderr)
        panel = exc.display if isinstance(exc, StartupError) else None
        show_startup_error(panel, line)
        if panel is not None:
            with contextlib.suppress(Exception):
                panel.close()
        return 2
    ui = None
    app: PhoneApp | None = None
    try:  # constructing the app opens the state files: a full disk fails here too
        app = PhoneApp(config, data_dir=data_dir, devices=devices, control_path=control_path,
                       call_layer_factory=call_layer_factory(data_dir))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, app.stopped.set)
        await app.start()
    except Exception as exc:  # a port in use, a full disk: say what, exit, no traceback
        log.debug("start failed", exc_info=True)
        line = explain(exc, data_dir=data_dir, sip_listen=sip_listen)
        print(f"deskphone: cannot start: {line}", file=sys.stderr)
        show_startup_error(devices.display, line)
        if app is None:
            devices.close()
        else:
            with contextlib.suppress(Exception):
                await app.stop()  # closes the devices; the display keeps the line
        return 2
    if terminal:
        ui = TerminalUI(app)
        ui.start()
    with contextlib.suppress(Exception):
        systemd.notify_ready(f"extension {app.config.identity.extension}")
    await app.stopped.wait()
    with contextlib.suppress(Exception):
        systemd.notify_stopping()
    if ui is not None:
        ui.close()
    app.stopped.clear()
    await app.stop()
    return 0


def show_startup_error(display: Any, line: str) -> None:
    """Leave `line` on the OLED: the person at the phone has no journal. The error screen stays
    on the panel after the process exits (keep_on_close)."""
    if display is None:
        return
    try:
        display.show(ErrorScreen("Cannot start", line).render())
        keep = getattr(display, "keep_on_close", None)
        if keep is not None:
            keep()
    except Exception:  # the display may be what failed: the printed line is enough then
        log.debug("could not show the startup error on the display", exc_info=True)
