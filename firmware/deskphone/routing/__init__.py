"""Routing: dial plan, DNS-SD LAN discovery, registrar failover, privacy policy."""

from deskphone.routing.dialplan import Completion, DialPlan, DialPlanError, Route
from deskphone.routing.failover import FailoverConfig, RegistrarFailover
from deskphone.routing.peers import Peer, PeerTable
from deskphone.routing.privacy import PrivacyPolicy

__all__ = [
    "Completion",
    "DialPlan",
    "DialPlanError",
    "FailoverConfig",
    "Peer",
    "PeerTable",
    "PrivacyPolicy",
    "RegistrarFailover",
    "Route",
]
