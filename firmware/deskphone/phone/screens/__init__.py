"""What the OLED shows: one frozen dataclass per screen, each with `render()` (a 128x64 mode "1"
PIL image) and `lines()` (the text on the panel, for the control socket's `state`)."""

from deskphone.phone.screens.calling import CallingScreen
from deskphone.phone.screens.conference import ConferenceLeg, ConferenceScreen
from deskphone.phone.screens.dialing import DialingScreen
from deskphone.phone.screens.ended import EndedScreen
from deskphone.phone.screens.error import ErrorScreen
from deskphone.phone.screens.idle import IdleScreen
from deskphone.phone.screens.in_call import SECURITY_STATES, InCallScreen
from deskphone.phone.screens.mitm import MitmScreen
from deskphone.phone.screens.not_secure import NotSecureScreen
from deskphone.phone.screens.offhook import OffHookScreen
from deskphone.phone.screens.ringing import RingingScreen
from deskphone.phone.screens.sas import SasScreen
from deskphone.phone.screens.several_calls import CallWaitingScreen, HeldScreen
from deskphone.phone.screens.stats import StatsScreen
from deskphone.phone.screens.transfer import TransferScreen

__all__ = [
    "SECURITY_STATES",
    "CallWaitingScreen",
    "CallingScreen",
    "ConferenceLeg",
    "ConferenceScreen",
    "DialingScreen",
    "EndedScreen",
    "ErrorScreen",
    "HeldScreen",
    "IdleScreen",
    "InCallScreen",
    "MitmScreen",
    "NotSecureScreen",
    "OffHookScreen",
    "RingingScreen",
    "SasScreen",
    "StatsScreen",
    "TransferScreen",
]
