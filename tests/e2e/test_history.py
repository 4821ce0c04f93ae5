"""Call history, missed count, call back and redial between two real phone processes, driven only
through the control socket; the history survives a restart, and a corrupt history file does not
stop the phone (it names the file and the line, and keeps the good lines)."""

from __future__ import annotations

import json
from pathlib import Path

from deskphone_tools.harness import PhonePair

HOSTILE_NAME = "\u202e\x1b[2J" + "x" * 100


def test_missed_call_call_back_redial_and_restart(tmp_path: Path) -> None:
    with PhonePair(tmp_path / "phones") as pair:
        a, b = pair.a, pair.b
        a.wait(lan_peers=f"~{b.extension}")
        b.wait(lan_peers=f"~{a.extension}")

        # A calls B, nobody answers, A gives up: B has one missed call on its idle screen.
        a.ctl("dial", b.extension)
        b.wait(call="ringing")
        a.ctl("hangup")
        idle = b.wait(call="idle", screen="~1 missed")
        assert "Alice" in idle["screen"]
        listing = b.ctl("history")
        assert listing["missed"] == 1
        entry = listing["entries"][0]
        assert entry["direction"] == "missed" and entry["name"] == "Alice"
        assert entry["duration"] == 0 and entry["security_label"] == "-"
        assert a.extension in entry["peer"] and entry["started"] > 1_700_000_000
        assert a.ctl("history")["entries"][0]["direction"] == "outgoing"

        # B opens the list with # (the missed call is now seen) and calls A back with #.
        shown = b.ctl("press", "#")
        assert "Missed" in shown["screen"] and "Alice" in shown["screen"]
        b.wait(screen="~# call")
        assert b.ctl("history")["missed"] == 0
        b.ctl("press", "#")
        a.wait(call="ringing", screen="~Bob")
        a.ctl("hook", "off")
        a.wait(call="in_call", security="secure|verified")
        b.wait(call="in_call", security="secure|verified")
        b.ctl("hangup")
        a.wait(call="ended")
        a.ctl("hook", "on")
        a.wait(call="idle")
        b_entry = b.ctl("history")["entries"][0]
        assert b_entry["direction"] == "outgoing" and b_entry["security"] in ("secure", "verified")
        a_entry = a.ctl("history")["entries"][0]
        assert a_entry["direction"] == "incoming" and a_entry["name"] == "Bob"

        # Redial on A: lift, '#' on the empty off-hook screen calls B again.
        a.ctl("hook", "off")
        a.ctl("press", "#")
        b.wait(call="ringing", screen="~Alice")
        a.ctl("hangup")
        b.wait(call="idle", screen="~1 missed")
        assert len(b.ctl("history")["entries"]) == 3

        # The history survives a restart of B's process.
        before = b.ctl("history")
        b.stop()
        b.start()
        assert b.ctl("history") == before
        assert "1 missed" in b.state()["screen"]
        redial = b.ctl("redial")
        assert redial["call"] == "calling"
        a.wait(call="ringing")
        b.ctl("hangup")
        a.wait(call="idle")


def test_a_corrupt_history_file_names_file_and_line_and_keeps_the_rest(tmp_path: Path) -> None:
    with PhonePair(tmp_path / "phones") as pair:
        b = pair.b
        b.stop()
        good = {"direction": "missed", "peer": "sip:301@127.0.0.1", "name": HOSTILE_NAME,
                "started": 1_764_690_000.0, "duration": 0, "security": "none", "seen": False}
        history_file = b.workdir / "data" / "history.jsonl"
        history_file.write_bytes(b"\xff\xfe\x00 not json\n" + json.dumps(good).encode() + b"\n"
                                 + json.dumps({**good, "security": "trust-me"}).encode() + b"\n")
        b.start()
        listing = b.ctl("history")
        assert [e["peer"] for e in listing["entries"]] == ["sip:301@127.0.0.1"]
        assert "1 missed" in b.state()["screen"]
        log = b.log_path.read_text(errors="replace")
        assert f"{history_file} line 1: not JSON" in log
        assert f"{history_file} line 3: field 'security' is 'trust-me'" in log
        shown = b.ctl("press", "#")["screen"]
        assert "\x1b" not in shown and "\u202e" not in shown  # what the panel shows is clean
