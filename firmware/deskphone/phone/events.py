"""What the phone state machine sees (events in) and what it asks for (commands out).

Events come from the devices (hook, keypad), from the control socket, from the call layer (SIP)
and from ZRTP. The machine never talks to any of them directly: the app turns these commands into
device and network actions. Every screen and tone can therefore be tested without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from deskphone.phone.feature_events import ChangeVolume as ChangeVolume
from deskphone.phone.feature_events import ClockChanged as ClockChanged
from deskphone.phone.feature_events import ContactsChanged as ContactsChanged
from deskphone.phone.feature_events import DndSet as DndSet
from deskphone.phone.feature_events import FeatureCommand, FeatureEvent
from deskphone.phone.feature_events import ForwardCall as ForwardCall
from deskphone.phone.feature_events import ForwardSet as ForwardSet
from deskphone.phone.feature_events import HistoryChanged as HistoryChanged
from deskphone.phone.feature_events import MarkHistorySeen as MarkHistorySeen
from deskphone.phone.feature_events import MuteToggled as MuteToggled
from deskphone.phone.feature_events import RecordCall as RecordCall
from deskphone.phone.feature_events import SetMute as SetMute
from deskphone.phone.feature_events import VoicemailChanged as VoicemailChanged
from deskphone.phone.feature_events import VolumeChanged as VolumeChanged

# -- events in -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HookOff:
    """The handset was lifted (debounced)."""


@dataclass(frozen=True)
class HookOn:
    """The handset was put down (debounced)."""


@dataclass(frozen=True)
class KeyPressed:
    key: str  # '0'-'9', '*', '#', 'A'-'D'


@dataclass(frozen=True)
class DialRequested:
    """Dial this target at once (control socket `dial`, a speed dial): a number or a sip: URI."""

    target: str


@dataclass(frozen=True)
class SasConfirmed:
    """The user said the SAS matches (control socket `confirm-sas`)."""


@dataclass(frozen=True)
class SasRejected:
    """The user said the SAS does not match (control socket `reject-sas`)."""


@dataclass(frozen=True)
class HoldToggled:
    """Put the call on hold, or resume it."""


@dataclass(frozen=True)
class CallArrived:
    call_id: str
    caller: str
    display_name: str | None = None


@dataclass(frozen=True)
class CallRinging:
    """The far end is alerting (180/183)."""


@dataclass(frozen=True)
class CallConnected:
    """Our outgoing call was answered (200 OK), or our answer was acknowledged."""

    call_id: str = ""  # which call (several at once, issue 15); "" in tests of one call


@dataclass(frozen=True)
class CallFinished:
    # busy | declined | unreachable | timeout | cancelled | remote_hangup | local_hangup |
    # failed | not_secure (refused because it could not be secured) | attack (refused: evidence
    # of an attack, RFC 6189 §8.1.1) | connection_lost (no media from the peer for
    # [media] inactivity_timeout)
    reason: str
    code: int | None = None
    detail: str = ""
    call_id: str = ""  # which call (several at once, issue 15); "" in tests of one call


@dataclass(frozen=True)
class CallFailedLocally:
    """We could not even place the call (no route, bad number, TLS verification failed...)."""

    title: str
    detail: str


@dataclass(frozen=True)
class SecuringStarted:
    """ZRTP started: keys are being agreed. Nothing is shown as secure yet."""

    call_id: str = ""  # which call (several at once, issue 15); "" in tests of one call


@dataclass(frozen=True)
class Secured:
    """ZRTP finished: SRTP keys in place. `verified` = the SAS was confirmed in an earlier call;
    `post_quantum` = the key agreement resists a future quantum computer (ZRTP DPQ1)."""

    sas: str
    verified: bool
    post_quantum: bool = False
    call_id: str = ""  # which call (several at once, issue 15); "" in tests of one call


@dataclass(frozen=True)
class CallNotSecure:
    reason: str
    # RFC 6189 §8.1.1: the failure is evidence of an attack (the peer's Hello did not match the
    # a=zrtp-hash its signalling announced), shown as such, not as a plain "not secure".
    possible_attack: bool = False
    call_id: str = ""  # which call (several at once, issue 15); "" in tests of one call


@dataclass(frozen=True)
class PossibleMitm:
    """Retained secrets did not match (RFC 6189 §4.3.2): possible man in the middle."""

    sas: str | None
    call_id: str = ""  # which call (several at once, issue 15); "" in tests of one call


@dataclass(frozen=True)
class DtmfReceived:
    key: str


@dataclass(frozen=True)
class ReverifyRequested:
    """The person wants to compare the SAS again (C key, `ctl reverify`): the peer's verified
    flag is cleared (RFC 6189 §4.9) and the SAS screen comes back."""


@dataclass(frozen=True)
class StatsToggled:
    """Show or hide the call-quality screen (the B key on a 4x4 keypad, `ctl stats`)."""


@dataclass(frozen=True)
class CallStats:
    """Call quality from RTCP (RFC 3550 §6.4): posted once a second during a call."""

    codec: str
    loss_pct: float
    jitter_ms: float
    rtt_ms: float | None
    path: str = ""  # the ICE pair: "direct srflx", "relayed TURN"; "" without ICE


@dataclass(frozen=True)
class StatusChanged:
    """Idle-screen status line: 'LAN', 'registered', 'no server', 'reg failed'..."""

    status: str


@dataclass(frozen=True)
class TransferDialed:
    """Transfer the current call to this target now (control socket `transfer TARGET`)."""

    target: str


@dataclass(frozen=True)
class TransferStarted:
    """The far end asked us to call `target` instead (we are the transferee, RFC 3515): our
    call to it is being placed; the current call waits until it is answered or fails."""

    target: str


@dataclass(frozen=True)
class TransferSucceeded:
    """Transferor: the far end's new call was answered (NOTIFY 200); our leg is ending.
    `call_id`: the call handed over (attended transfer: the held one, already ended)."""

    call_id: str = ""


@dataclass(frozen=True)
class TransferProgress:
    """Transferor: the far end's NOTIFY reports its new call's progress before the outcome
    (RFC 3515 §2.4.5 sipfrag, e.g. 180 Ringing), for the transfer screen."""

    code: int
    reason: str


@dataclass(frozen=True)
class TransferAborted:
    """The transfer did not happen; the original call goes on. `detail`: e.g. "486 Busy Here"."""

    detail: str


@dataclass(frozen=True)
class PeerWarning:
    """Who answers may not be who the LAN said: "new_zid" (the extension is announced under a
    different ZRTP ZID than before) or "zid_mismatch" (ZRTP's peer ZID is not the announced one);
    or "not_saved": this call's retained secret could not be written (RFC 6189 §4.9).
    """

    kind: str


@dataclass(frozen=True)
class HandsetAudioChanged:
    """The handset's audio device vanished (USB handset unplugged: `lost`) or is back. A call
    goes on meanwhile; its screen says the earpiece and microphone are gone."""

    lost: bool


@dataclass(frozen=True)
class LanWarning:
    """Idle-screen warning about the LAN (e.g. another phone announces our extension); "" clears
    it."""

    text: str


@dataclass(frozen=True)
class AnswerRequested:
    """Answer this call (control socket `answer ID`): the ringing call, or a waiting one during
    a call, which holds the current call (issue 15)."""

    call_id: str


@dataclass(frozen=True)
class AttendedTransferRequested:
    """Hand call `call_id` (held) over to the call in the earpiece (RFC 5589 §7: REFER with
    Replaces), control socket `transfer --attended ID`."""

    call_id: str


@dataclass(frozen=True)
class CallReplaced:
    """As a transfer's target: an INVITE with Replaces (RFC 3891) took call `old_call_id`'s
    place; the new call, with `peer`, is answered and secures itself with its own ZRTP."""

    old_call_id: str
    new_call_id: str
    peer: str


@dataclass(frozen=True)
class SwapRequested:
    """Hold the current call and resume the held one (the D key, control socket `swap`)."""


@dataclass(frozen=True)
class ConferenceRequested:
    """Mix the call in the earpiece and the held one on this phone (the '#' key with a call
    on hold, control socket `conference`)."""


@dataclass(frozen=True)
class Tick:
    """Time passed (the app calls handle_timer; this event exists for symmetry in tests)."""


# -- commands out ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ShowScreen:
    screen: Any  # one of deskphone.phone.screens


@dataclass(frozen=True)
class PlayTone:
    tone: str | None  # dial | ringback | busy | reorder | error | not_secure | mitm | recall ...
    # | None (stop); the names are devices/tones.py's TONES


@dataclass(frozen=True)
class Ring:
    on: bool


@dataclass(frozen=True)
class PlaceCall:
    target: str


@dataclass(frozen=True)
class AnswerCall:
    call_id: str


@dataclass(frozen=True)
class RejectCall:
    call_id: str
    code: int  # 486 Busy Here, 603 Decline


@dataclass(frozen=True)
class HangUp:
    """End the current call: CANCEL before it is answered, BYE after."""


@dataclass(frozen=True)
class SendDtmf:
    key: str


@dataclass(frozen=True)
class ConfirmSas:
    """Tell ZRTP the SAS was verified (sets the cache flag, RFC 6189 §4.9)."""


@dataclass(frozen=True)
class RejectSas:
    """Tell ZRTP the SAS did not match (clears the cache flag)."""


@dataclass(frozen=True)
class ClearVerified:
    """Forget that this peer's SAS was verified: the next call asks again."""


@dataclass(frozen=True)
class SetHold:
    on: bool


@dataclass(frozen=True)
class SwapTo:
    """Hold the current call, if any (RFC 3264 §8.4), and resume `call_id`, which becomes the
    call the handset hears."""

    call_id: str


@dataclass(frozen=True)
class TransferAttended:
    """Send held call `call_id` to the call in the earpiece (REFER with Replaces, RFC 5589 §7)."""

    call_id: str


@dataclass(frozen=True)
class JoinConference:
    """Mix the current call and the held one in a 3-way conference (calls/conference.py)."""


@dataclass(frozen=True)
class TransferCall:
    """Ask the far end to call `target` (blind transfer: REFER, RFC 3515)."""

    target: str


Event = (HookOff | HookOn | KeyPressed | DialRequested | SasConfirmed | SasRejected | HoldToggled
         | CallArrived | CallRinging | CallConnected | CallFinished | CallFailedLocally
         | SecuringStarted | Secured | CallNotSecure | PossibleMitm | DtmfReceived
         | StatusChanged | Tick
         | StatsToggled | CallStats | ReverifyRequested
         | TransferDialed | TransferStarted | TransferSucceeded | TransferAborted | TransferProgress
         | PeerWarning
         | LanWarning | AnswerRequested | SwapRequested | AttendedTransferRequested
         | CallReplaced | HandsetAudioChanged | ConferenceRequested | FeatureEvent)
Command = (ShowScreen | PlayTone | Ring | PlaceCall | AnswerCall | RejectCall | HangUp | SendDtmf
           | ConfirmSas | RejectSas | SetHold | TransferCall | ClearVerified
           | SwapTo | TransferAttended | JoinConference | FeatureCommand)
