"""The readers of SIPp's own records (tests/interop_sipp/sipp.py), on output SIPp 3.6 wrote here:
if they misread, the interop tests' assertions about what SIPp saw would be hollow."""

from __future__ import annotations

from pathlib import Path

from tests.interop_sipp.sipp import (
    ScenarioStep,
    parse_messages,
    parse_screen,
    parse_statistics,
)

UAC_SCREEN = """\
                                 Messages  Retrans   Timeout   Unexpected-Msg
      INVITE ---------->         1         0         0
         100 <----------         1         0         0         0
         200 <----------         1         1         0         0
       Pause [   1200ms]         1                             0
         ACK ---------->         1         0
         BYE ---------->         1         0         0
         200 <----------         1         0         0         0
"""

UAS_SCREEN = """\
                                 Messages  Retrans   Timeout   Unexpected-Msg
  ----------> INVITE             1         0         0         0
  <---------- 180                1         0
  <---------- 200                1         2         0
  ----------> ACK         E-RTD1 1         0         0         0
  ----------> BYE                1         0         0         1
"""

MESSAGES = """\
----------------------------------------------- 2026-11-26 19:49:20.700496
UDP message sent (511 bytes):

INVITE sip:ext201@127.0.0.1:60507 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:43523;branch=z9hG4bK-18667-1-0
To: <sip:ext201@127.0.0.1:60507>
CSeq: 1 INVITE
Content-Length: 0

----------------------------------------------- 2026-11-26 19:49:20.799284
UDP message received [325] bytes :

SIP/2.0 200 OK
To: <sip:ext201@127.0.0.1:60507>;tag=1b6ea3bd
CSeq: 1 INVITE
Content-Length: 0

----------------------------------------------- 2026-11-26 19:49:21.299558
UDP message received [325] bytes :

SIP/2.0 200 OK
t: <sip:ext201@127.0.0.1:60507>;tag=1b6ea3bd
CSeq: 1 INVITE
Content-Length: 0

"""


def test_uac_screen_names_before_arrows() -> None:
    steps = parse_screen(UAC_SCREEN)
    assert [(s.name, s.direction) for s in steps] == [
        ("INVITE", "sent"), ("100", "received"), ("200", "received"), ("ACK", "sent"),
        ("BYE", "sent"), ("200", "received")]
    assert steps[2] == ScenarioStep("200", "received", 1, 1, 0, 0)


def test_uas_screen_arrows_before_names_and_rtd_marks() -> None:
    steps = parse_screen(UAS_SCREEN)
    assert [(s.name, s.direction) for s in steps] == [
        ("INVITE", "received"), ("180", "sent"), ("200", "sent"), ("ACK", "received"),
        ("BYE", "received")]
    assert steps[2].retransmissions == 2
    assert steps[3] == ScenarioStep("ACK", "received", 1, 0, 0, 0)
    assert steps[4].unexpected == 1


def test_message_log_start_lines_cseq_tags_and_times() -> None:
    wire = parse_messages(MESSAGES)
    assert [(m.way, m.start_line, m.cseq, m.to_tag) for m in wire] == [
        ("sent", "INVITE sip:ext201@127.0.0.1:60507 SIP/2.0", "1 INVITE", None),
        ("received", "SIP/2.0 200 OK", "1 INVITE", "1b6ea3bd"),
        ("received", "SIP/2.0 200 OK", "1 INVITE", "1b6ea3bd"),  # compact To header
    ]
    assert wire[2].at is not None and wire[1].at is not None
    assert abs((wire[2].at - wire[1].at) - 0.500274) < 1e-6


def test_statistics_last_row_by_column(tmp_path: Path) -> None:
    stat = tmp_path / "stat.csv"
    stat.write_text("StartTime;SuccessfulCall(C);FailedCall(C);\n"
                    "2026-11-26\t19:49:20.596625;0;0;\n"
                    "2026-11-26\t19:49:22.109501;1;0;\n")
    stats = parse_statistics(stat)
    assert stats["SuccessfulCall(C)"] == "1" and stats["FailedCall(C)"] == "0"
