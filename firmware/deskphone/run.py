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

from deskphone import systemd
from deskphone.app import CallLayer, PhoneApp
from deskphone.calls.manager import CallManager
from deskphone.config import Config
from deskphone.devices.build import build_devices
from deskphone.sim.terminal import TerminalUI

log = logging.getLogger(__name__)


def run_phone(config: Config, *, data_dir: Path, control_path: Path, terminal: bool) -> int:
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(_main(config, data_dir, control_path, terminal))


def call_layer_factory(data_dir: Path) -> Callable[[PhoneApp], CallLayer]:
    """The call layer for an app: the handset, the app's tone source and clock, nothing more."""
    return lambda app: CallManager(app.config, data_dir, audio=app.devices.audio,
                                   tones=app.tone, clock=app.clock)


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
    try:
        devices = build_devices(config, data_dir)
    except Exception as exc:
        log.debug("devices failed", exc_info=True)
        print(f"deskphone: devices: {exc}", file=sys.stderr)
        return 2
    app = PhoneApp(config, data_dir=data_dir, devices=devices, control_path=control_path,
                   call_layer_factory=call_layer_factory(data_dir))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, app.stopped.set)
    ui = None
    try:
        await app.start()
    except Exception as exc:  # a port in use, a device missing: say what, exit, no traceback
        log.debug("start failed", exc_info=True)
        print(f"deskphone: cannot start: {exc}", file=sys.stderr)
        with contextlib.suppress(Exception):
            await app.stop()
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
