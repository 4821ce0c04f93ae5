"""Call history: the file format (bounded, one bad line costs one line), what the machine records
for each way a call can go, the missed count, the list's keys, redial, and the app-side keeper."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from deskphone.phone import events as ev
from deskphone.phone.history import CallHistory, CallRecord, parse_history
from deskphone.phone.machine import CallState, MachineSettings, PhoneMachine
from deskphone.phone.screens import IdleScreen
from deskphone.phone.screens.history import HistoryScreen
from deskphone.phone_files import HistoryKeeper


def record(direction: str = "outgoing", peer: str = "202", **kw: object) -> CallRecord:
    fields: dict[str, object] = {"name": "", "started": 1_764_690_000.0, "duration": 0,
                                 "security": "none", **kw}
    return CallRecord(direction, peer, **fields)  # type: ignore[arg-type]


def make() -> PhoneMachine:
    m = PhoneMachine(MachineSettings(extension="201", display_name="Alice"))
    m.start(0.0)
    return m


def records(commands: list[ev.Command]) -> list[ev.RecordCall]:
    return [c for c in commands if isinstance(c, ev.RecordCall)]


# -- the file format ---------------------------------------------------------------------------


def test_history_round_trips_and_drops_the_oldest_beyond_its_limit() -> None:
    history = CallHistory(limit=3)
    for n in range(5):
        history.add(record(peer=str(200 + n)))
    assert [r.peer for r in history.newest_first()] == ["204", "203", "202"]
    again, errors = parse_history(history.dumps(), "h.jsonl", limit=3)
    assert errors == [] and again.newest_first() == history.newest_first()


def test_a_corrupt_file_keeps_its_good_lines_and_names_each_bad_one() -> None:
    good = json.dumps(record(peer="301").to_json())
    text = "\n".join([
        good,
        "{not json",
        json.dumps({**record().to_json(), "duration": -5}),
        json.dumps({**record().to_json(), "direction": "sideways"}),
        json.dumps({**record().to_json(), "peer": "20\x1b[2J1"}),
        json.dumps({**record().to_json(), "started": True}),
        json.dumps({**record().to_json(), "evil": 1}),
        "[1, 2]",
        "x" * 10_000,
        "",
        json.dumps(record(peer="302", name="\u202eevil" * 100).to_json()),
    ])
    history, errors = parse_history(text, "/data/history.jsonl")
    assert [r.peer for r in history.newest_first()] == ["302", "301"]
    assert len(history.newest_first()[0].name) <= 128  # a long name is cut when read
    assert [e.split(":", 1)[0] for e in errors] == [
        f"/data/history.jsonl line {n}" for n in (2, 3, 4, 5, 6, 7, 8, 9)]
    assert "field 'duration' is -5" in errors[1] and "'direction'" in errors[2]
    assert "unknown field 'evil'" in errors[5] and "expected a JSON object" in errors[6]


def test_missed_unseen_and_redial_target() -> None:
    history = CallHistory([record("missed", "301", seen=False), record("outgoing", "302"),
                           record("incoming", "303"), record("missed", "304", seen=False)])
    assert history.missed_unseen == 2 and history.last_dialled() == "302"
    assert history.mark_seen() and history.missed_unseen == 0 and not history.mark_seen()


# -- what the machine records --------------------------------------------------------------------


def test_an_answered_incoming_call_is_recorded_with_its_security() -> None:
    m = make()
    m.handle(ev.CallArrived("c1", "sip:202@10.0.0.8", "Bob"), 10.0)
    m.handle(ev.HookOff(), 12.0)
    m.handle(ev.Secured("4K7Q", verified=True), 13.0)
    out = records(m.handle(ev.HookOn(), 72.0))
    assert out == [ev.RecordCall("incoming", "sip:202@10.0.0.8", "Bob", 10.0, 12.0, 72.0,
                                 "verified")]


def test_an_unanswered_incoming_call_is_missed() -> None:
    m = make()
    m.handle(ev.CallArrived("c1", "202", None), 10.0)
    out = records(m.handle(ev.CallFinished("cancelled"), 15.0))
    assert [(r.direction, r.peer, r.answered, r.security) for r in out] == [
        ("missed", "202", None, "none")]


def test_a_call_that_rings_out_is_missed() -> None:
    m = make()
    m.handle(ev.CallArrived("c1", "202", None), 0.0)
    out = records(m.handle_timer(m.get_timer() or 0.0))
    assert [r.direction for r in out] == ["missed"]


def test_a_caller_turned_away_busy_is_missed_and_the_call_goes_on() -> None:
    m = make()
    m.handle(ev.HookOff(), 0.0)
    out = m.handle(ev.CallArrived("c2", "303", "Carol"), 1.0)
    assert ev.RejectCall("c2", 486) in out
    assert [(r.direction, r.peer, r.name) for r in records(out)] == [("missed", "303", "Carol")]
    assert m.state is CallState.OFFHOOK


def test_an_outgoing_call_is_recorded_when_it_ends_and_when_it_fails() -> None:
    m = make()
    m.handle(ev.DialRequested("202"), 0.0)
    m.handle(ev.CallConnected(), 2.0)
    m.handle(ev.CallNotSecure("peer has no ZRTP"), 3.0)
    out = records(m.handle(ev.CallFinished("remote_hangup"), 30.0))
    assert [(r.direction, r.peer, r.answered, r.security) for r in out] == [
        ("outgoing", "202", 2.0, "not_secure")]
    m.handle(ev.HookOn(), 31.0)
    m.handle(ev.DialRequested("203"), 40.0)
    out = records(m.handle(ev.CallFinished("busy"), 41.0))
    assert [(r.peer, r.answered) for r in out] == [("203", None)]
    assert records(m.handle(ev.HookOn(), 42.0)) == []  # recorded once, not again at idle


def test_a_mismatch_is_recorded_as_possible_mitm() -> None:
    m = make()
    m.handle(ev.DialRequested("202"), 0.0)
    m.handle(ev.CallConnected(), 1.0)
    m.handle(ev.PossibleMitm("4K7Q"), 2.0)
    assert [r.security for r in records(m.handle(ev.HookOn(), 3.0))] == ["mismatch"]


# -- the missed count, the list, redial ------------------------------------------------------------


def changed(*entries: CallRecord) -> ev.HistoryChanged:
    history = CallHistory(entries)
    return ev.HistoryChanged(history.newest_first(), history.missed_unseen,
                             history.last_dialled())


def test_the_idle_screen_counts_missed_calls() -> None:
    m = make()
    m.handle(changed(record("missed", "301", seen=False), record("missed", "302", seen=False)),
             0.0)
    assert isinstance(m.screen, IdleScreen) and m.screen.missed == 2
    assert "2 missed" in m.snapshot()["screen"]


def test_hash_opens_the_list_and_marks_missed_calls_seen_then_keys_browse_and_call_back(
) -> None:
    m = make()
    m.handle(changed(record("outgoing", "301", duration=65, security="verified"),
                     record("missed", "302", name="Bob", seen=False)), 0.0)
    out = m.handle(ev.KeyPressed("#"), 1.0)
    assert ev.MarkHistorySeen() in out
    assert m.screen == HistoryScreen(1, 2, "missed", "Bob", "302", m.screen.when, 0, "none")
    m.handle(ev.KeyPressed("8"), 2.0)
    assert isinstance(m.screen, HistoryScreen) and m.screen.peer == "301"
    assert m.screen.security == "verified" and m.screen.duration == 65
    assert m.handle(ev.KeyPressed("8"), 3.0) == []  # the oldest: nothing further
    m.handle(ev.KeyPressed("2"), 4.0)
    assert isinstance(m.screen, HistoryScreen) and m.screen.peer == "302"
    out = m.handle(ev.KeyPressed("#"), 5.0)
    assert ev.PlaceCall("302") in out and m.state is CallState.CALLING


def test_star_closes_the_list_and_a_call_arriving_closes_it_too() -> None:
    m = make()
    m.handle(changed(record("incoming", "301")), 0.0)
    m.handle(ev.KeyPressed("#"), 1.0)
    m.handle(ev.StatusChanged("Registered"), 1.5)  # the list stays up
    assert isinstance(m.screen, HistoryScreen)
    m.handle(ev.KeyPressed("*"), 2.0)
    assert isinstance(m.screen, IdleScreen)
    m.handle(ev.KeyPressed("#"), 3.0)
    m.handle(ev.CallArrived("c1", "202", None), 4.0)
    assert m.state is CallState.RINGING and m.idle.history.browser is None


def test_an_empty_list_says_so() -> None:
    m = make()
    m.handle(ev.KeyPressed("#"), 1.0)
    assert m.screen == HistoryScreen(0, 0) and "No calls yet" in m.snapshot()["screen"]
    assert m.handle(ev.KeyPressed("#"), 2.0) == []


def test_redial_by_d_on_idle_and_by_hash_on_an_empty_offhook_screen() -> None:
    m = make()
    assert m.handle(ev.KeyPressed("D"), 0.0) == []  # nothing dialled yet
    m.handle(ev.HookOff(), 0.5)
    assert ev.PlaceCall("") not in m.handle(ev.KeyPressed("#"), 0.6)
    m.handle(ev.HookOn(), 0.7)
    m.handle(changed(record("outgoing", "301"), record("incoming", "302")), 1.0)
    assert ev.PlaceCall("301") in m.handle(ev.KeyPressed("D"), 2.0)
    m.handle(ev.HookOn(), 3.0)
    m.handle(ev.HookOff(), 4.0)
    assert ev.PlaceCall("301") in m.handle(ev.KeyPressed("#"), 5.0)


# -- the app's keeper: wall time, atomic file, hostile content ---------------------------------


def test_keeper_turns_machine_time_into_wall_time_and_saves_atomically(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    keeper = HistoryKeeper(path, clock=lambda: 100.0, wall=lambda: 1_764_690_000.0)
    event = keeper.apply(ev.RecordCall("missed", "202\x1b[31m", "Bob", 40.0, None, 45.0, "none"))
    assert event.missed == 1 and event.entries[0].started == 1_764_690_000.0 - 60.0
    assert event.entries[0].peer == "202?[31m"  # what the file keeps is printable
    keeper.apply(ev.RecordCall("outgoing", "203", "", 50.0, 52.0, 99.6, "secure"))
    assert [p.name for p in tmp_path.iterdir()] == ["history.jsonl"]  # no temp file left
    again = HistoryKeeper(path, clock=lambda: 0.0)
    assert again.event().entries == keeper.event().entries
    assert again.event().entries[0].duration == 48 and again.event().last_dialled == "203"
    assert keeper.apply(ev.MarkHistorySeen()).missed == 0
    assert HistoryKeeper(path, clock=lambda: 0.0).event().missed == 0


def test_keeper_starts_from_a_hostile_file_and_logs_file_and_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\xff\xfe garbage\n" + json.dumps(record(peer="301").to_json()).encode()
                     + b"\n" + b"{" * 5000 + b"\n")
    with caplog.at_level(logging.WARNING):
        keeper = HistoryKeeper(path, clock=lambda: 0.0)
    assert [r.peer for r in keeper.event().entries] == ["301"]
    assert f"{path} line 1:" in caplog.text and f"{path} line 3:" in caplog.text
    keeper.apply(ev.MarkHistorySeen())  # nothing changed: the file is not rewritten
    keeper.apply(ev.RecordCall("outgoing", "302", "", 0.0, None, 1.0, "none"))
    assert len(path.read_text().splitlines()) == 2  # only good lines are written back
