"""Do not disturb between two real phone processes: the caller hears busy (486 by default), the
called phone never rings and notes a missed call; off again, calls ring."""

from __future__ import annotations

from pathlib import Path

from deskphone_tools.harness import PhonePair


def test_dnd_turns_callers_away_as_missed_calls(tmp_path: Path) -> None:
    with PhonePair(tmp_path / "phones") as pair:
        a, b = pair.a, pair.b
        a.wait(lan_peers=f"~{b.extension}")
        b.wait(lan_peers=f"~{a.extension}")
        assert b.ctl("dnd", "on")["screen"].startswith("DND")
        a.ctl("hook", "off")
        a.ctl("press", f"{b.extension}#")
        ended = a.wait(call="ended")
        assert "Busy" in ended["screen"] and ended["tone"] == "busy"
        assert b.state()["call"] == "idle"
        b.wait(screen="~1 missed")
        assert b.ctl("history")["entries"][0]["direction"] == "missed"
        a.ctl("hook", "on")
        b.ctl("dnd", "off")
        a.wait(call="idle")
        a.ctl("dial", b.extension)
        b.wait(call="ringing")  # (the rejected call no longer holds B's call layer)
        a.ctl("hangup")
        b.wait(call="idle")
