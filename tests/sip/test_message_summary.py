"""RFC 3842 §5.2 message-summary bodies: what a voicemail server sends, read; what it must not,
refused with the line named; the bounds hold."""

from __future__ import annotations

import pytest

from deskphone.sip.message_summary import (
    MAX_BODY,
    Counts,
    MessageSummaryError,
    parse_message_summary,
)


def test_the_rfc_example_with_account_and_urgent_counts() -> None:
    body = (b"Messages-Waiting: yes\r\nMessage-Account: sip:alice@vmail.example.com\r\n"
            b"Voice-Message: 2/8 (0/2)\r\n")
    summary = parse_message_summary(body)
    assert summary.waiting and summary.account == "sip:alice@vmail.example.com"
    assert summary.counts == {"voice-message": Counts(2, 8, 0, 2)}
    assert (summary.voice_new, summary.voice_old) == (2, 8)


def test_names_are_case_insensitive_message_headers_are_skipped_and_lf_is_accepted() -> None:
    body = (b"messages-waiting:NO\nVOICE-MESSAGE: 0 / 3\nFax-Message: 1/0\n\n"
            b"To: <sip:alice@example.com>\nSubject: ignored: 5/5\n")
    summary = parse_message_summary(body)
    assert not summary.waiting and summary.voice_old == 3
    assert summary.counts["fax-message"] == Counts(1, 0)


def test_waiting_without_counts_is_a_lit_lamp_with_no_number() -> None:
    summary = parse_message_summary(b"Messages-Waiting: yes\r\n")
    assert summary.waiting and summary.voice_new == 0 and summary.counts == {}


@pytest.mark.parametrize("body, message", [
    (b"", "line 1: expected 'Messages-Waiting"),
    (b"Voice-Message: 1/0\r\n", "line 1: expected 'Messages-Waiting"),
    (b"Messages-Waiting: maybe\r\n", "Messages-Waiting is 'maybe'"),
    (b"Messages-Waiting: yes\r\nVoice-Message: 1\r\n", "line 2: '1', expected NEW/OLD"),
    (b"Messages-Waiting: yes\r\nVoice-Message: 1234567/0\r\n", "line 2"),
    (b"Messages-Waiting: yes\r\nVoice-Message: \xc2\xb2/0\r\n", "line 2"),  # superscript two
    (b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\nVoice-Message: 2/0\r\n", "twice"),
    (b"Messages-Waiting: yes\r\nVoice-Message: 1/0\r\nMessage-Account: sip:a@b\r\n",
     "before the counts"),
    (b"Messages-Waiting: yes\r\nMessage-Account: <script>\r\n", "Message-Account URI"),
    (b"Messages-Waiting: yes\r\ngarbage\r\n", "line 2: expected NAME: VALUE"),
    (b"Messages-Waiting: yes\r\n\xff\xfe", "not UTF-8"),
    (b"Messages-Waiting: yes\r\n" + b"X: 1\r\n" * 70, "lines, expected at most 64"),
    (b"Messages-Waiting: yes\r\n" + b" " * MAX_BODY, "bytes, expected at most"),
])
def test_bad_bodies_are_refused_naming_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(MessageSummaryError, match=message.replace("(", r"\(")):
        parse_message_summary(body)
