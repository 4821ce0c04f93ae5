"""The screens the golden tests pin down, by name (golden file = tests/screens/golden/NAME.png)."""

from __future__ import annotations

from deskphone.phone.screens import (
    CallingScreen,
    DialingScreen,
    EndedScreen,
    ErrorScreen,
    IdleScreen,
    InCallScreen,
    MitmScreen,
    NotSecureScreen,
    OffHookScreen,
    RingingScreen,
    SasScreen,
    StatsScreen,
)
from deskphone.phone.vocabulary import ATTACK_DETAIL

LONG_NAME = "Maximilian Alexander von Habsburg-Lothringen of the Accounts Department"

CASES = {
    "idle": IdleScreen("1042", "Alice Martin", "Registered", "14:05"),
    "idle_no_clock": IdleScreen("7", "Bob", "LAN only"),
    "idle_long_name": IdleScreen("104212345678901234567890", LONG_NAME, LONG_NAME, "23:59"),
    "offhook": OffHookScreen(),
    "dialing": DialingScreen("1042"),
    "dialing_long": DialingScreen("0044207946012345678901234567"),
    "calling": CallingScreen("alice@10.0.0.7", "Calling…"),
    "calling_ringing": CallingScreen("Bob", "Ringing…"),
    "ringing": RingingScreen("sip:1042@192.168.1.20", "Alice Martin"),
    "ringing_no_name": RingingScreen("1042", None),
    "ringing_long": RingingScreen("sip:" + "x" * 80 + "@example.org", LONG_NAME),
    "in_call_none": InCallScreen("Alice", 5, "none", None, False),
    "in_call_securing": InCallScreen("Alice", 1, "securing", None, False),
    "in_call_secure": InCallScreen("Alice", 83, "secure", "4K7Q", False),
    "in_call_verified": InCallScreen("Alice", 754, "verified", "4K7Q", True),
    "in_call_secure_pq": InCallScreen("Alice", 83, "secure", "4K7Q", False, post_quantum=True),
    "in_call_verified_pq": InCallScreen("Alice", 754, "verified", "4K7Q", True,
                                        post_quantum=True),
    "in_call_not_secure": InCallScreen("Alice", 12, "not_secure", None, False),
    "in_call_mismatch": InCallScreen("Alice", 12, "mismatch", "4K7Q", False),
    "in_call_held_dtmf": InCallScreen(LONG_NAME, 3725, "verified", "4K7Q", True, held=True,
                                      dtmf="1234567890*#1234"),
    "in_call_dtmf": InCallScreen("Alice", 61, "verified", "adroitness:gravity", True,
                                 dtmf="12#"),
    "sas_b32": SasScreen("Alice", "4K7Q"),
    "sas_b32_wide": SasScreen("Alice", "WWMW"),
    "sas_b256": SasScreen("Alice Martin", "adroitness:gravity"),
    "sas_b256_long": SasScreen(LONG_NAME, "unravel:Wilmington"),
    "sas_b32_pq": SasScreen("Alice", "4K7Q", post_quantum=True),
    "sas_b256_long_pq": SasScreen(LONG_NAME, "unravel:Wilmington", post_quantum=True),
    "not_secure": NotSecureScreen("Alice", "Peer does not support ZRTP"),
    "not_secure_long": NotSecureScreen(LONG_NAME, "ZRTP handshake failed: " + "x" * 90),
    "not_secure_attack": NotSecureScreen("Alice", ATTACK_DETAIL, attack=True),
    "mitm": MitmScreen("Alice", "4K7Q"),
    "mitm_no_sas": MitmScreen(LONG_NAME, None),
    "ended_busy": EndedScreen("Busy", "Alice is on another call"),
    "ended_unreachable": EndedScreen("Unreachable", "No answer from 10.0.0.7"),
    "ended_long": EndedScreen(LONG_NAME, LONG_NAME + " " + LONG_NAME),
    "error_tls": ErrorScreen("TLS error", "Certificate verification failed for "
                             "pbx.example.org: self-signed certificate"),
    "stats": StatsScreen("opus/48000", 1.25, 12.5, 48.0),
    "stats_no_rtt": StatsScreen("PCMU", 0.0, 143.7, None),
    "stats_direct_srflx": StatsScreen("opus/48000", 0.0, 2.5, 31.0, path="direct srflx"),
    "stats_relayed": StatsScreen("opus/48000", 0.5, 4.0, 62.0, path="relayed TURN"),
}
