"""The message-summary body of a voicemail NOTIFY (RFC 3842 §5.2), parsed sans-IO and bounded.

    Messages-Waiting: yes
    Message-Account: sip:alice@vmail.example.com
    Voice-Message: 2/8 (0/2)

The first line says whether messages wait; an optional account URI follows; then one line per
message context class (RFC 3458 §4.3: voice, fax, pager, multimedia, text, none) with new/old
counts and, in parentheses, the urgent ones. Optional message headers may follow a blank line
(§5.2 opt-msg-headers); they are skipped. Header names are case-insensitive (RFC 3261 §7.3.1).

`parse_message_summary(body)` returns a `MessageSummary` or raises `MessageSummaryError` naming
the line: a body longer than MAX_BODY, with more than MAX_LINES lines, a count beyond MAX_COUNT,
a duplicate class or anything the grammar does not allow is refused, never half-read. It is
the fuzz target `message_summary` (tools/deskphone_tools/fuzz).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_BODY = 8192  # bytes; a real summary is under 200
MAX_LINES = 64
MAX_COUNT = 999_999  # six digits: no mailbox holds more, and no 4,000-digit int() is built
CLASSES = ("voice-message", "fax-message", "pager-message", "multimedia-message",
           "text-message", "none")
_COUNT = r"[0-9]{1,6}"  # ASCII digits only: MAX_COUNT at most
_SUMMARY = re.compile(rf"({_COUNT})[ \t]*/[ \t]*({_COUNT})"
                      rf"(?:[ \t]*\([ \t]*({_COUNT})[ \t]*/[ \t]*({_COUNT})[ \t]*\))?")
_HEADER = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]{1,64})[ \t]*:[ \t]*(.*)")
_ACCOUNT = re.compile(r"(?:sips?|tel):[^\s<>\"]{1,255}", re.IGNORECASE)


class MessageSummaryError(ValueError):
    """A message-summary body that RFC 3842 §5.2 does not allow, or one beyond the bounds."""


@dataclass(frozen=True)
class Counts:
    new: int
    old: int
    new_urgent: int = 0
    old_urgent: int = 0


@dataclass(frozen=True)
class MessageSummary:
    waiting: bool
    account: str | None = None
    counts: dict[str, Counts] = field(default_factory=dict)

    @property
    def voice_new(self) -> int:
        """New voice messages: what the lamp's count shows. A server that says "yes" without a
        Voice-Message line still lights it (count unknown: 0 with waiting True)."""
        voice = self.counts.get("voice-message")
        return voice.new if voice is not None else 0

    @property
    def voice_old(self) -> int:
        voice = self.counts.get("voice-message")
        return voice.old if voice is not None else 0


def parse_message_summary(body: bytes) -> MessageSummary:
    if len(body) > MAX_BODY:
        raise MessageSummaryError(f"message-summary: {len(body)} bytes, expected at most "
                                  f"{MAX_BODY}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MessageSummaryError("message-summary: not UTF-8 text") from None
    lines = text.replace("\r\n", "\n").split("\n")
    if len(lines) > MAX_LINES:
        raise MessageSummaryError(f"message-summary: {len(lines)} lines, expected at most "
                                  f"{MAX_LINES}")
    # The optional message headers start after the first blank line: not ours to read.
    blank = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    fields = [_header(line, number) for number, line in enumerate(lines[:blank], start=1)]
    if not fields or fields[0][0] != "messages-waiting":
        raise MessageSummaryError("message-summary line 1: expected 'Messages-Waiting: yes|no'")
    status = fields[0][1].strip().lower()
    if status not in ("yes", "no"):
        raise MessageSummaryError(f"message-summary line 1: Messages-Waiting is "
                                  f"{status[:20]!r}, expected yes or no")
    account: str | None = None
    counts: dict[str, Counts] = {}
    for number, (name, value) in enumerate(fields[1:], start=2):
        if name == "message-account":
            if account is not None or counts or not _ACCOUNT.fullmatch(value.strip()):
                raise MessageSummaryError(f"message-summary line {number}: expected one "
                                          "Message-Account URI, before the counts")
            account = value.strip()
        elif name in CLASSES:
            if name in counts:
                raise MessageSummaryError(f"message-summary line {number}: {name} twice")
            counts[name] = _counts(value.strip(), number)
        # Another header here is an extension (§5.2 allows none before the blank line, but a
        # lenient reader keeps the lamp working with servers that add one): skipped.
    return MessageSummary(waiting=status == "yes", account=account, counts=counts)


def _header(line: str, number: int) -> tuple[str, str]:
    match = _HEADER.fullmatch(line.strip())
    if match is None:
        raise MessageSummaryError(f"message-summary line {number}: expected NAME: VALUE")
    return match.group(1).lower(), match.group(2)


def _counts(value: str, number: int) -> Counts:
    match = _SUMMARY.fullmatch(value)
    if match is None:
        raise MessageSummaryError(f"message-summary line {number}: {value[:40]!r}, expected "
                                  "NEW/OLD or NEW/OLD (URGENT-NEW/URGENT-OLD)")
    new, old, new_urgent, old_urgent = (int(g) if g else 0 for g in match.groups())
    return Counts(new, old, new_urgent, old_urgent)
