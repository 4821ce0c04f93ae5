"""The call layer as an event source (aioquic's shape): two CallManagers on loopback call each
other with no app at all. Commands go in; phone events come out of `next_event()`; the ZRTP
driver keys each media stream itself.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from deskphone.calls.manager import CallManager
from deskphone.config import config_from_dict
from deskphone.devices.audio import NullAudio
from deskphone.phone import events as pev
from tests.support import free_udp_port


class Silence:
    """The app's tone source, silent: the call layer only ever reads it."""

    def __init__(self) -> None:
        self.frames_read = 0

    def next_frame(self) -> bytes | None:
        self.frames_read += 1
        return None


def manager(tmp_path: Path, name: str, extension: str, port_min: int) -> CallManager:
    config = config_from_dict({
        "identity": {"extension": extension, "display_name": name, "user": name.lower()},
        "discovery": {"enabled": False},
        "sip": {"listen": f"udp:127.0.0.1:{free_udp_port()}"},
        "media": {"port_min": port_min, "port_max": port_min + 40},
    }, sim=True)
    data = tmp_path / name
    data.mkdir()
    return CallManager(config, data, audio=NullAudio(8000), tones=Silence(), clock=time.monotonic)


async def next_phone_event(calls: CallManager, kind: type, timeout: float = 10.0) -> object:
    """Drain the call layer like the app does, until an event of `kind` comes out."""
    async def wait() -> object:
        while True:
            while (event := calls.next_event()) is not None:
                if isinstance(event, kind):
                    return event
            calls.events_waiting.clear()
            await calls.events_waiting.wait()

    return await asyncio.wait_for(wait(), timeout)


def test_a_call_between_two_call_layers_without_an_app(tmp_path: Path) -> None:
    async def go() -> None:
        alice = manager(tmp_path, "Alice", "201", 21000)
        bob = manager(tmp_path, "Bob", "202", 21100)
        await alice.start()
        await bob.start()
        try:
            assert alice.endpoint is not None and bob.endpoint is not None
            host, port = bob.endpoint.local_address
            placed = alice.place(f"sip:bob@{host}:{port}")
            assert placed is not None and alice.current is placed
            # A command only queues: nothing has been handled on the way in.
            arrived = await next_phone_event(bob, pev.CallArrived)
            assert isinstance(arrived, pev.CallArrived)
            bob.answer(arrived.call_id)
            await next_phone_event(alice, pev.CallConnected)
            secured_a = await next_phone_event(alice, pev.Secured)
            secured_b = await next_phone_event(bob, pev.Secured)
            assert isinstance(secured_a, pev.Secured) and isinstance(secured_b, pev.Secured)
            assert secured_a.sas and secured_a.sas == secured_b.sas
            # The drivers set the keys on their streams before anyone heard "secured".
            for calls in (alice, bob):
                info = calls.info()
                assert info["media"]["secure"] is True
                assert info["zrtp"]["state"] == "secure"
                assert calls.current is not None and calls.current.state.value == "secure"
            alice.hangup()
            ended = await next_phone_event(bob, pev.CallFinished)
            assert isinstance(ended, pev.CallFinished)
            assert alice.current is None and bob.current is None
        finally:
            await alice.close()
            await bob.close()

    asyncio.run(asyncio.wait_for(go(), 60))


def test_an_unknown_number_is_an_event_not_a_call(tmp_path: Path) -> None:
    async def go() -> None:
        calls = manager(tmp_path, "Alice", "201", 21200)
        await calls.start()
        try:
            assert calls.place("999") is None
            event = calls.next_event()
            assert isinstance(event, pev.CallFailedLocally) and event.title == "Unknown number"
            assert calls.next_event() is None
        finally:
            await calls.close()

    asyncio.run(asyncio.wait_for(go(), 30))


def test_a_retained_secret_that_cannot_be_saved_is_said_not_silent(tmp_path: Path) -> None:
    """Issue 13 F7: a failed cache write after the handshake (RFC 6189 §4.9: key continuity for
    the next call is lost) reaches the phone as a warning; the call stays secure."""
    async def go() -> None:
        alice = manager(tmp_path, "Alice", "201", 21300)
        bob = manager(tmp_path, "Bob", "202", 21400)
        await alice.start()
        await bob.start()
        try:
            assert alice.endpoint is not None and bob.endpoint is not None
            assert alice.cache is not None
            # Alice's cache database becomes unusable (as a full or failing flash would): its
            # writer connection is closed on the writer's own thread, so every write fails.
            alice.cache._executor.submit(alice.cache._writer.close).result()
            host, port = bob.endpoint.local_address
            alice.place(f"sip:bob@{host}:{port}")
            arrived = await next_phone_event(bob, pev.CallArrived)
            assert isinstance(arrived, pev.CallArrived)
            bob.answer(arrived.call_id)
            await next_phone_event(alice, pev.Secured)
            warning = await next_phone_event(alice, pev.PeerWarning)
            assert warning == pev.PeerWarning("not_saved")
            info = alice.info()
            assert info["media"]["secure"] is True and info["zrtp"]["state"] == "secure"
            assert info["zrtp"]["cache_write_failures"] >= 1
            alice.hangup()
            await next_phone_event(bob, pev.CallFinished)
        finally:
            await alice.close()
            await bob.close()

    asyncio.run(asyncio.wait_for(go(), 60))


def test_an_invite_flood_makes_at_most_max_calls_calls_the_rest_hear_busy(tmp_path: Path) -> None:
    """Issue 15, bad input: ten INVITEs at once to a phone with max_calls = 2 (the default): the
    first rings, the second waits, the other eight get 486 at once and leave no call behind."""
    from deskphone.calls.call_media import probe_media
    from deskphone.sdp import OfferAnswer

    async def go() -> None:
        alice = manager(tmp_path, "Alice", "201", 21500)
        bob = manager(tmp_path, "Bob", "202", 21600)
        await alice.start()
        await bob.start()
        try:
            assert alice.endpoint is not None and bob.endpoint is not None
            host, port = bob.endpoint.local_address
            offer = OfferAnswer().create_offer(probe_media(("PCMU",)))
            for _ in range(10):
                alice.sip(alice.ua.invite, f"sip:bob@{host}:{port}", offer)
            first = await next_phone_event(bob, pev.CallArrived)
            second = await next_phone_event(bob, pev.CallArrived)
            assert isinstance(first, pev.CallArrived) and isinstance(second, pev.CallArrived)
            deadline = time.monotonic() + 10
            while bob.others.counters["refused_limit"] < 8 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # a condition polled under a deadline
            assert bob.others.counters["refused_limit"] == 8
            assert bob.current is not None and bob.current.call_id == first.call_id
            assert [c["call_id"] for c in bob.info()["other_calls"]] == [second.call_id]
            assert [c["role"] for c in bob.info()["other_calls"]] == ["waiting"]
            while (event := bob.next_event()) is not None:
                assert not isinstance(event, pev.CallArrived), "a third call rang"
            # The phone refuses the waiting one (e.g. nobody answers it): it is gone for good.
            bob.reject(second.call_id, 480)
            assert bob.info()["other_calls"] == []
        finally:
            await alice.close()
            await bob.close()

    asyncio.run(asyncio.wait_for(go(), 60))
