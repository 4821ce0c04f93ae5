"""The one error type of the SDP package."""

from __future__ import annotations


class SdpError(ValueError):
    """A session description that cannot be parsed or does not fit the offer/answer model.

    The message names the line (1-based number and text, when there is one), the offending value
    and what was expected, so a log line is enough to find the fault in a capture.
    """

    def __init__(self, message: str, line_number: int | None = None, line: str | None = None):
        self.line_number = line_number
        self.line = line
        if line_number is not None:
            shown = line if line is None or len(line) <= 80 else line[:77] + "..."
            message = f"SDP line {line_number} {shown!r}: {message}"
        super().__init__(message)
