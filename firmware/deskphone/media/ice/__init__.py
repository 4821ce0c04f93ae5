"""ICE for media streams (RFC 8445), from the aiortc project's aioice; SDP data in candidates.py."""

from deskphone.media.ice.agent import (
    IceAgent,
    IceError,
    IceServers,
    IceStats,
    PairKind,
    SelectedPair,
    TurnRelay,
)
from deskphone.media.ice.candidates import (
    MAX_REMOTE_CANDIDATES,
    CandidateError,
    IceCandidate,
    IceDescription,
    IceParameters,
    screen_remote_candidates,
)

__all__ = [
    "MAX_REMOTE_CANDIDATES", "CandidateError", "IceAgent", "IceCandidate", "IceDescription",
    "IceError", "IceParameters", "IceServers", "IceStats", "PairKind", "SelectedPair",
    "TurnRelay", "screen_remote_candidates",
]
