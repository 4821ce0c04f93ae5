"""ICE for media streams (RFC 8445), from the aiortc project's aioice; SDP data in candidates.py.

The agent (and with it aioice) is imported on first use of `IceAgent` (PEP 562): a phone whose
calls need no ICE does not load it (paths.py).
"""

from typing import TYPE_CHECKING, Any

from deskphone.media.ice.candidates import (
    MAX_REMOTE_CANDIDATES,
    CandidateError,
    IceCandidate,
    IceDescription,
    IceParameters,
    screen_remote_candidates,
)
from deskphone.media.ice.paths import (
    IceError,
    IceServers,
    IceStats,
    PairKind,
    SelectedPair,
    TurnRelay,
)

if TYPE_CHECKING:
    from deskphone.media.ice.agent import IceAgent

__all__ = [
    "MAX_REMOTE_CANDIDATES", "CandidateError", "IceAgent", "IceCandidate", "IceDescription",
    "IceError", "IceParameters", "IceServers", "IceStats", "PairKind", "SelectedPair",
    "TurnRelay", "screen_remote_candidates",
]


def __getattr__(name: str) -> Any:
    if name == "IceAgent":
        from deskphone.media.ice.agent import IceAgent

        return IceAgent
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
