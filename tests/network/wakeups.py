"""How often a phone process's event loop thread went to sleep and woke up: a count, not a time.

Every time the loop's thread blocks (epoll_wait with nothing ready, then woken by a timer or a
descriptor) the kernel counts a voluntary context switch of that thread
(/proc/PID/task/TID/status, proc(5)). The loop runs on the process's main thread (TID = PID);
zeroconf's and the ZRTP cache's threads are counted apart and left out. A busy loop that sleeps
10 ms shows 100 of these a second; a phone that waits on the kernel shows a few per event.
"""

from __future__ import annotations

from pathlib import Path

from deskphone_tools.harness import PhoneProcess


def main_thread_switches(phone: PhoneProcess) -> int:
    assert phone.proc is not None and phone.proc.poll() is None, f"{phone.name} is not running"
    pid = phone.proc.pid  # `ip netns exec` execs the phone: the same process
    status = Path(f"/proc/{pid}/task/{pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("voluntary_ctxt_switches:"):
            return int(line.split()[1])
    raise AssertionError(f"no voluntary_ctxt_switches in /proc/{pid}/task/{pid}/status")
