"""An audio device that vanishes and comes back (devices/audio_reopen.py, audio.py NodeAudio):
frames go on as silence, re-opening follows the back-off, the owner hears lost and back once."""

from __future__ import annotations

from pathlib import Path

import pytest

from deskphone.devices.audio import AlsaAudio, AudioDeviceLost, NodeAudio, frame_bytes
from deskphone.devices.audio_reopen import RETRY_FIRST, RETRY_MAX, ReopeningAudio

FRAME = frame_bytes(8000)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_node_audio_never_creates_its_nodes(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        NodeAudio(playback_node=tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


def test_node_removed_while_open_is_a_lost_device(tmp_path: Path) -> None:
    earpiece, microphone = tmp_path / "out", tmp_path / "in"
    earpiece.write_bytes(b"")
    microphone.write_bytes(b"\x01\x00" * (FRAME // 2) + b"\x02\x00")
    device = NodeAudio(playback_node=earpiece, capture_node=microphone)
    device.play_frame(b"\x05" * FRAME)
    assert earpiece.read_bytes() == b"\x05" * FRAME
    assert device.capture_frame() == b"\x01\x00" * (FRAME // 2)
    assert device.capture_frame() == b"\x02\x00" + bytes(FRAME - 2)  # silence past the end
    earpiece.unlink()
    with pytest.raises(AudioDeviceLost):
        device.play_frame(b"\x05" * FRAME)
    microphone.unlink()
    with pytest.raises(AudioDeviceLost):
        device.capture_frame()
    device.close()


def test_lost_device_is_silence_then_reopened_with_backoff(tmp_path: Path) -> None:
    earpiece = tmp_path / "out"
    earpiece.write_bytes(b"")
    clock, changes = Clock(), []
    audio = ReopeningAudio(lambda: NodeAudio(playback_node=earpiece), on_change=changes.append,
                           clock=clock)
    audio.play_frame(b"\x01" * FRAME)
    earpiece.unlink()
    audio.play_frame(b"\x02" * FRAME)  # the frame that finds it gone
    assert audio.lost and changes == [True] and audio.losses == 1
    assert audio.capture_frame() == bytes(FRAME)
    # 20 ms frames for 10 s while it stays unplugged: attempts at 0.25, 0.75, 1.75, 3.75, then
    # every 2 s — not one per frame.
    for _ in range(500):
        clock.now += 0.02
        audio.play_frame(b"\x03" * FRAME)
        audio.capture_frame()
    assert 5 <= audio.reopen_attempts <= 2 + 10 / RETRY_MAX + 3, audio.reopen_attempts
    assert not earpiece.exists()
    earpiece.write_bytes(b"")  # plugged back
    for _ in range(int(RETRY_MAX / 0.02) + 1):
        clock.now += 0.02
        audio.play_frame(b"\x04" * FRAME)
    assert not audio.lost and changes == [True, False]
    assert earpiece.read_bytes().startswith(b"\x04" * FRAME)
    assert audio.info() == {"handset_audio": "ok", "losses": 1,
                            "reopen_attempts": audio.reopen_attempts}
    assert RETRY_FIRST < RETRY_MAX


def test_alsa_error_for_a_vanished_card_is_a_lost_device() -> None:
    class Error(Exception):
        pass

    class Fake:
        ALSAAudioError = Error

    class Pcm:
        def write(self, pcm: bytes) -> int:
            raise Error("No such device [plughw:CARD=Device,DEV=0]")

        def read(self) -> tuple[int, bytes]:
            raise Error("Broken pipe [plughw:CARD=Device,DEV=0]")  # an overrun: survived

    device = AlsaAudio.__new__(AlsaAudio)  # its parts without a sound card
    device._alsa, device._playback, device._capture = Fake, Pcm(), Pcm()
    device._frame, device._capture_buffer, device.errors = FRAME, bytearray(), 0
    device.capture_underruns = device.playback_overruns = 0
    assert device.capture_frame() == bytes(FRAME)
    with pytest.raises(AudioDeviceLost):
        device.play_frame(bytes(FRAME))
    assert device.errors == 2
