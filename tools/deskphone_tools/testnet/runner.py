"""Run a relay on its own event loop in a background thread, for tests and benchmarks that drive
phones as separate processes from ordinary (synchronous) code.

    with RelayThread(lambda loop: MitmRelay(loop, target)) as relay:
        uri = relay.call(lambda r: r.uri_for("ext202"))
        snapshot = relay.call(lambda r: r.snapshot())

Everything that touches the relay runs on the relay's loop (`call`), so the relay itself needs no
locks. `close()` stops the relay, then the loop, then joins the thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


R = TypeVar("R", bound=Closable)
T = TypeVar("T")


class RelayThread(contextlib.AbstractContextManager["RelayThread[R]"], Generic[R]):
    def __init__(self, make: Callable[[asyncio.AbstractEventLoop], R], *,
                 name: str = "relay", timeout: float = 10.0) -> None:
        self._make = make
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._ready: concurrent.futures.Future[R] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._relay: R | None = None

    def start(self) -> RelayThread[R]:
        self._thread.start()
        self._relay = self._ready.result(self._timeout)  # re-raises what `make` raised
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._ready.set_result(self._make(self._loop))
        except BaseException as exc:  # noqa: BLE001 — handed to start()
            self._ready.set_exception(exc)
            self._loop.close()
            return
        self._loop.run_forever()
        self._loop.close()

    def call(self, fn: Callable[[R], T], timeout: float | None = None) -> T:
        """Run `fn(relay)` on the relay's loop and return its result."""
        relay = self._relay
        if relay is None:
            raise RuntimeError("relay thread not started (call start() or use `with`)")

        async def run() -> T:
            return fn(relay)

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout if timeout is not None else self._timeout)

    def close(self) -> None:
        if self._relay is not None and self._loop.is_running():
            with contextlib.suppress(Exception):
                self.call(lambda r: r.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(self._timeout)
        self._relay = None

    def __enter__(self) -> RelayThread[R]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
