"""Two real linphonec processes call each other over loopback with ZRTP.

Each test is bounded by PeerPool.run's timeout; the `peers` fixture fails the test if any linphonec
outlives it.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket

import pytest

from deskphone_tools.peers.linphone import LinphoneError
from tests.peers.audio import dominant_frequency, loud_part, read_wav, write_tone_wav
from tests.peers.conftest import PeerPool, process_alive

pytestmark = pytest.mark.interop

B32_SAS = re.compile(
    r"^[ybndrfg8ejkmcpqxot1uwisza345h769]{4}$"
)  # RFC 6189 §5.1.6 base32 alphabet
B256_SAS = re.compile(r"^[A-Za-z]+:[A-Za-z]+$")  # RFC 6189 §5.1.6: two PGP words


def test_default_zrtp_call_shows_the_same_b32_sas_on_both_sides(
    peers: PeerPool,
) -> None:
    alice = peers.new("alice")
    bob = peers.new("bob")

    async def scenario() -> tuple[str, str, str, str]:
        await asyncio.gather(alice.start(), bob.start())
        await alice.call(bob.sip_uri)
        caller = await bob.wait_for_incoming(timeout=10)
        await bob.answer()
        await asyncio.gather(
            alice.wait_media_established(), bob.wait_media_established()
        )
        sas = await asyncio.gather(alice.wait_for_sas(), bob.wait_for_sas())
        await alice.terminate()
        reason = await bob.wait_call_end(timeout=10)
        return caller, sas[0], sas[1], reason

    caller, alice_sas, bob_sas, bob_end = peers.run(scenario)
    assert (
        caller == '"alice" <sip:alice@127.0.0.1>'
    )  # guess_hostname=0 keeps From on loopback
    assert alice_sas == bob_sas, f"SAS differ: alice {alice_sas!r}, bob {bob_sas!r}"
    assert B32_SAS.match(alice_sas), f"default SAS {alice_sas!r} is not B32"
    assert bob_end == "No error"
    assert (
        alice.zrtp_cache_path.exists()
    )  # the ZID cache lives under the instance's own HOME


def test_x255_s384_aes3_b256_call_shows_the_same_word_sas(peers: PeerPool) -> None:
    suites = {
        "key_agreements": ["MS_ZRTP_KEY_AGREEMENT_X255"],
        "sas_types": ["B256"],
        "hashes": ["S384"],
        "ciphers": ["AES3"],
    }
    alice = peers.new("alice", **suites)
    bob = peers.new("bob", auto_answer=True, **suites)

    async def scenario() -> list[str]:
        await asyncio.gather(alice.start(), bob.start())
        await alice.call(bob.sip_uri)
        return list(await asyncio.gather(alice.wait_for_sas(), bob.wait_for_sas()))

    alice_sas, bob_sas = peers.run(scenario)
    assert alice_sas == bob_sas, f"SAS differ: alice {alice_sas!r}, bob {bob_sas!r}"
    assert B256_SAS.match(alice_sas), f"SAS {alice_sas!r} is not B256 word:word"
    assert (
        "zrtp_key_agreements_suites=MS_ZRTP_KEY_AGREEMENT_X255"
        in alice.rc_path.read_text()
    )


def test_tone_played_by_one_is_recorded_decrypted_by_the_other_over_pcmu(
    peers: PeerPool,
) -> None:
    tone_hz = 1200.0
    tone = write_tone_wav(peers.root / "tone.wav", tone_hz, seconds=1.5)
    recording = peers.root / "received.wav"
    alice = peers.new("alice", codecs=["PCMU"])
    bob = peers.new("bob", codecs=["PCMU"], auto_answer=True)

    async def scenario() -> None:
        await asyncio.gather(alice.start(), bob.start())
        await bob.record(
            recording
        )  # before the call: it applies when the stream starts
        await alice.call(bob.sip_uri)
        await asyncio.gather(alice.wait_for_sas(), bob.wait_for_sas())
        recorded_before = recording.stat().st_size if recording.exists() else 0
        await alice.play(tone)
        # linphonec prints nothing for received audio, so wait on the recording growing by the
        # tone's 1.5 s (8000 samples/s x 2 bytes) instead.
        await _wait_file_size(
            recording, min_bytes=recorded_before + int(1.6 * 16000), timeout=10
        )
        await alice.terminate()
        await bob.wait_call_end(timeout=10)

    peers.run(scenario)
    rate, samples = read_wav(recording)
    assert rate == 8000, f"recorded at {rate} Hz, expected 8000 (PCMU only was offered)"
    tone_part = loud_part(samples, rate)
    assert len(tone_part) >= rate, (
        f"only {len(tone_part) / rate:.2f} s of audio arrived"
    )
    heard = dominant_frequency(tone_part, rate)
    assert abs(heard - tone_hz) < 15, (
        f"recorded tone at {heard:.1f} Hz, played {tone_hz} Hz"
    )


def test_recording_started_mid_call_gets_the_opus_call_at_48khz(
    peers: PeerPool,
) -> None:
    tone_hz = 700.0
    tone = write_tone_wav(peers.root / "tone.wav", tone_hz, seconds=1.0)
    recording = peers.root / "received.wav"
    alice = peers.new("alice")  # default codecs: opus first
    bob = peers.new("bob", auto_answer=True)

    async def scenario() -> None:
        await asyncio.gather(alice.start(), bob.start())
        await alice.call(bob.sip_uri)
        await asyncio.gather(alice.wait_for_sas(), bob.wait_for_sas())
        await bob.record(recording)
        await _wait_file_size(recording, min_bytes=1, timeout=5)
        recorded_before = recording.stat().st_size
        await alice.play(tone)
        await _wait_file_size(recording, min_bytes=recorded_before + 96000, timeout=10)
        await alice.terminate()
        await bob.wait_call_end(timeout=10)

    peers.run(scenario)
    rate, samples = read_wav(recording)
    assert rate == 48000, f"recorded at {rate} Hz, expected opus's 48000"
    tone_part = loud_part(samples, rate)
    assert len(tone_part) >= rate // 2, (
        f"only {len(tone_part) / rate:.2f} s of audio arrived"
    )
    heard = dominant_frequency(tone_part, rate)
    assert abs(heard - tone_hz) < 15, (
        f"recorded tone at {heard:.1f} Hz, played {tone_hz} Hz"
    )


async def _wait_file_size(path, *, min_bytes: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (path.exists() and path.stat().st_size >= min_bytes):
        if loop.time() > deadline:
            size = path.stat().st_size if path.exists() else None
            raise AssertionError(
                f"{path} has {size} bytes after {timeout} s, expected {min_bytes}"
            )
        await asyncio.sleep(0.05)


def test_stop_kills_a_linphonec_that_no_longer_reads_its_commands(
    peers: PeerPool,
) -> None:
    alice = peers.new("alice")

    async def scenario() -> int:
        await alice.start()
        assert alice.pid is not None
        os.kill(
            alice.pid, signal.SIGSTOP
        )  # frozen: it can neither read `quit` nor handle SIGTERM
        await alice.stop(timeout=0.5)
        return alice.pid

    pid = peers.run(scenario)
    assert not process_alive(pid)


def test_start_reports_a_taken_sip_port_and_leaves_nothing_running(
    peers: PeerPool,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        taken = squatter.getsockname()[1]
        alice = peers.new("alice", sip_port=taken)

        async def scenario() -> str:
            with pytest.raises(LinphoneError) as failure:
                await alice.start(timeout=1.5)
            return str(failure.value)

        message = peers.run(scenario)
    assert f"127.0.0.1:{taken}" in message
    assert not alice.running


def test_commands_that_linphonec_refuses_raise_with_its_words(peers: PeerPool) -> None:
    alice = peers.new("alice")

    async def scenario() -> list[str]:
        await alice.start()
        errors = []
        for attempt in (alice.answer, alice.terminate):
            with pytest.raises(LinphoneError) as failure:
                await attempt()
            errors.append(str(failure.value))
        return errors

    answer_error, terminate_error = peers.run(scenario)
    assert "There are no calls to answer." in answer_error
    assert "No active calls" in terminate_error
    assert any("Using wav files instead of soundcard." in line for line in alice.lines)
    assert alice.log_path.read_text().count("\n") >= len(alice.lines)
