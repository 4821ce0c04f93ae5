"""The bench's worst case per input size (issue 16 item 4): the biggest, most repetitive inputs
a peer can send in one message, and how the work grows from n to 4n (linear: ~4x).

`make bench` runs `measure()` as its `worst_case` section. Figures are CPU milliseconds of one
run (best of `repeat`); nothing here is asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from deskphone.sdp import LocalMedia, OfferAnswer, SdpError
from deskphone.sip import UaConfig, UserAgent
from deskphone.sip.message import SipParseError, StreamFramer, parse_message

SDP_HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
LOCAL = LocalMedia(address="192.0.2.10", port=40000)


def _median_ms(work: Callable[[], object], repeat: int) -> float:
    """CPU time of one run: the best of `repeat` (other processes on the machine only ever make
    a run slower, so the minimum is the figure least disturbed by them)."""
    samples = []
    for _ in range(repeat):
        started = time.process_time()
        work()
        samples.append((time.process_time() - started) * 1000)
    return round(min(samples), 3)


def _quietly(work: Callable[[], object], *errors: type[BaseException]) -> Callable[[], object]:
    def run() -> object:
        try:
            return work()
        except errors as exc:
            return exc
    return run


# -- inputs ------------------------------------------------------------------------------------


def sip_message(headers: int, size: int = 0) -> bytes:
    """An OPTIONS with `headers` extra header fields, padded to about `size` bytes."""
    head = ("OPTIONS sip:alice@192.0.2.10 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKworst\r\nMax-Forwards: 70\r\n"
            "From: <sip:bob@192.0.2.1>;tag=1\r\nTo: <sip:alice@192.0.2.10>\r\nCall-ID: worst\r\n"
            "CSeq: 1 OPTIONS\r\n")
    pad = max(1, (size - len(head)) // max(headers, 1) - len("X0000: \r\n"))
    lines = "".join(f"X{i:04}: {'a' * pad}\r\n" for i in range(headers))
    return (head + lines + "Content-Length: 0\r\n\r\n").encode()


def sdp_lines(lines: int) -> bytes:
    """An audio offer of `lines` lines: rtpmap/fmtp pairs for 127 formats, then a= lines."""
    formats = min(127, max(1, lines // 4))
    body = [f"m=audio 5004 RTP/AVP {' '.join(str(1 + i) for i in range(formats))} 0"]
    body += [f"a=rtpmap:{1 + i} x-unknown{i}/8000" for i in range(formats)]
    body += [f"a=fmtp:{1 + i} k={i}" for i in range(formats)]
    body += ["a=x"] * max(0, lines - len(body) - 5)
    return (SDP_HEAD + "\r\n".join(body) + "\r\n").encode()


def sdp_formats_rtpmaps(formats: int, rtpmaps: int) -> bytes:
    """Issue 21's shape: many one-digit formats and as many rtpmaps as fit."""
    return (SDP_HEAD + "m=audio 5004 RTP/AVP " + " ".join("5" * formats) + "\r\n"
            + "a=rtpmap:5 DVI4/8000\r\n" * rtpmaps).encode()


def sdp_media_sections(sections: int, attributes: int) -> bytes:
    section = "m=audio 5004 RTP/AVP 0 8\r\n" + "a=x-filler\r\n" * attributes
    return (SDP_HEAD + section * sections).encode()


# -- measurements ------------------------------------------------------------------------------


def _answer(offer: bytes) -> Callable[[], object]:
    return _quietly(lambda: OfferAnswer(session_id=1).create_answer(offer, LOCAL), SdpError)


def _parse(message: bytes) -> Callable[[], object]:
    return _quietly(lambda: parse_message(message), SipParseError, ValueError)


def _ua_receive(message: bytes) -> Callable[[], object]:
    ua = UserAgent(UaConfig(user="alice", display_name="", local_host="192.0.2.10",
                            local_port=5060, seed=1))
    return lambda: ua.receive_datagram(message, ("192.0.2.1", 5060), 1.0)


def _framer_bytewise(data: bytes) -> Callable[[], object]:
    def run() -> object:
        framer = StreamFramer()
        try:
            for i in range(len(data)):
                framer.feed(data[i:i + 1])
        except (SipParseError, ValueError) as exc:
            return exc
        return None
    return run


def _growth(make: Callable[[int], bytes], run: Callable[[bytes], Callable[[], object]],
            n: int, repeat: int) -> dict[str, Any]:
    small, large = make(n), make(4 * n)
    small_ms, large_ms = _median_ms(run(small), repeat), _median_ms(run(large), repeat)
    ratio = round(large_ms / small_ms, 2) if small_ms else None
    return {"n": n, "bytes_n": len(small), "bytes_4n": len(large), "ms_n": small_ms,
            "ms_4n": large_ms, "ratio_4n_over_n": ratio}


def measure(repeat: int = 5) -> dict[str, Any]:
    sip_5000 = sip_message(5000, 60_000)
    sip_256 = sip_message(250, 60_000)
    sdp_10000 = sdp_lines(10_000)
    sdp_at_caps = sdp_lines(518)       # one m= of 127 formats and 512 a= lines: the most accepted
    issue_21 = sdp_formats_rtpmaps(15_000, 1_600)
    sections = sdp_media_sections(32, 60)
    unterminated = b"OPTIONS sip:a@b SIP/2.0\r\nX: " + b"a" * 65_000
    return {
        "sip": {
            "parse_60KB_5000_headers_ms": _median_ms(_parse(sip_5000), repeat),
            "parse_60KB_250_headers_ms": _median_ms(_parse(sip_256), repeat),
            "ua_receive_60KB_5000_headers_ms": _median_ms(_ua_receive(sip_5000), repeat),
            "ua_receive_60KB_250_headers_ms": _median_ms(_ua_receive(sip_256), repeat),
            "tcp_65KB_unterminated_header_bytewise_ms": _median_ms(
                _framer_bytewise(unterminated), 1),
            "bytes": {"5000_headers": len(sip_5000), "250_headers": len(sip_256)},
            "parse_growth_headers": _growth(lambda n: sip_message(n, 0), _parse, 60, repeat),
        },
        "sdp": {
            "answer_10000_lines_ms": _median_ms(_answer(sdp_10000), repeat),
            "answer_one_section_at_caps_ms": _median_ms(_answer(sdp_at_caps), repeat),
            "answer_issue21_15000_formats_1600_rtpmaps_ms": _median_ms(_answer(issue_21), repeat),
            "answer_32_media_sections_ms": _median_ms(_answer(sections), repeat),
            "bytes": {"10000_lines": len(sdp_10000), "one_section_at_caps": len(sdp_at_caps),
                      "issue21": len(issue_21), "32_sections": len(sections)},
            "answer_growth_formats_and_rtpmaps": _growth(sdp_lines, _answer, 120, repeat),
            "answer_growth_media_sections": _growth(lambda n: sdp_media_sections(n, 60), _answer,
                                                    8, repeat),
        },
    }


def summary(results: dict[str, Any]) -> list[tuple[str, str]]:
    sip, sdp = results["sip"], results["sdp"]
    return [
        ("SIP 60 KB, 5,000 headers: parse / UA", f"{sip['parse_60KB_5000_headers_ms']} / "
                                                 f"{sip['ua_receive_60KB_5000_headers_ms']} ms"),
        ("SIP 60 KB, 250 headers: parse / UA", f"{sip['parse_60KB_250_headers_ms']} / "
                                               f"{sip['ua_receive_60KB_250_headers_ms']} ms"),
        ("SIP TCP 65 KB header byte by byte",
         f"{sip['tcp_65KB_unterminated_header_bytewise_ms']} ms"),
        ("SDP 10,000 lines (refused) / at the caps", f"{sdp['answer_10000_lines_ms']} / "
                                                     f"{sdp['answer_one_section_at_caps_ms']} / "
                                                     f"{sdp['answer_32_media_sections_ms']} ms"),
        ("SDP issue 21 offer (15,000 formats)",
         f"{sdp['answer_issue21_15000_formats_1600_rtpmaps_ms']} ms"),
        ("SDP answer 4n/n (formats, m= sections)",
         f"{sdp['answer_growth_formats_and_rtpmaps']['ratio_4n_over_n']}x, "
         f"{sdp['answer_growth_media_sections']['ratio_4n_over_n']}x"),
    ]
