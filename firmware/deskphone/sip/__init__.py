"""RFC 3261 SIP stack: the sans-IO user agent core and its asyncio transport."""

from deskphone.sip.registration import Account
from deskphone.sip.useragent import CallStateError, UaConfig, UserAgent

__all__ = ["Account", "CallStateError", "UaConfig", "UserAgent"]
