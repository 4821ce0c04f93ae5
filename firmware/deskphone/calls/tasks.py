"""The call layer's two asyncio helpers: draining an adapter's event queue, logging a task's end.

Both keep one failure from stopping the rest: a bad event is logged and the next one handled; a
call task that raised is logged when it ends (nobody awaits it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("deskphone.calls.manager")  # where these lines were always logged
E = TypeVar("E")


async def drain(queue: asyncio.Queue[E], handle: Callable[[E], None]) -> None:
    """Hand each event of an adapter's queue to the call layer, one at a time."""
    while True:
        event = await queue.get()
        try:
            handle(event)
        except Exception:  # one bad event must not stop signalling
            log.exception("handling %s failed", type(event).__name__)


def log_task_failure(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("call task failed", exc_info=task.exception())
