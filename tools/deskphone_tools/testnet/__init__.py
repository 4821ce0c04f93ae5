"""Hostile networks for tests and benchmarks: lossy links, an active ZRTP man in the middle, an
on-path attacker that drops or forges ZRTP messages (tamper.py), and a relay that strips the
post-quantum key agreement from ZRTP Hellos (downgrade.py).

Everything binds to 127.0.0.1 only and picks free ports; nothing here is used by the phone itself.
"""

from .downgrade import DowngradeRelay
from .impairment import CLEAN, ImpairedPath, Impairment
from .lossy import ForwardingMedia, LossyRelay, LossyUdpRelay
from .mitm import MitmMedia, MitmRelay, ZrtpLeg
from .runner import RelayThread
from .sip_relay import Side, SipRelay, redirect_audio
from .tamper import Tampering, TamperingMedia, TamperingRelay

__all__ = [
    "CLEAN", "DowngradeRelay", "ForwardingMedia", "ImpairedPath", "Impairment", "LossyRelay",
    "LossyUdpRelay", "MitmMedia", "MitmRelay", "RelayThread", "Side", "SipRelay", "Tampering",
    "TamperingMedia", "TamperingRelay", "ZrtpLeg", "redirect_audio",
]
