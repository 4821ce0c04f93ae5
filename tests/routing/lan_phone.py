"""One simulated phone's LAN directory, run as a subprocess (e.g. under `ip netns exec`).

usage: python -m tests.routing.lan_phone ADDRESS EXTENSION SIP_PORT ZID WANTED_EXTENSION
Prints `FOUND <json>` once WANTED_EXTENSION is in the directory, then keeps announcing until a
line arrives on stdin (or 30 s pass), then closes cleanly and prints `CLOSED`.
"""

from __future__ import annotations

import asyncio
import json
import sys

from deskphone.routing.discovery import LanDirectory


async def main(address: str, extension: str, sip_port: str, zid: str, wanted: str) -> int:
    found = asyncio.Event()
    directory = LanDirectory(address, extension, int(sip_port), zid, f"Phone {extension}",
                             on_change=lambda d: found.set() if d.lookup(wanted) else None)
    await directory.start()
    try:
        await asyncio.wait_for(found.wait(), timeout=20)
        peer = directory.lookup(wanted)
        assert peer is not None
        print("FOUND " + json.dumps({"extension": peer.extension, "host": peer.host,
                                      "port": peer.port, "zid": peer.zid, "name": peer.name}),
              flush=True)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), timeout=30)
    except TimeoutError:
        print("TIMEOUT", flush=True)
        return 1
    finally:
        await directory.close()
        print("CLOSED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(*sys.argv[1:6])))
