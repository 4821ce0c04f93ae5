"""ZRTP (RFC 6189): sans-IO session, crypto, SAS and the retained-secret cache."""

from .cache import ZrtpCache
from .events import CacheMismatch, NotSecure, Secure, Securing, SrtpKeys, ZrtpEvent
from .packets import looks_like_zrtp
from .retained import CacheWriteError, RetainedSecrets, SecretUpdate
from .session import ZrtpConfig, ZrtpSession, ZrtpStats

__all__ = [
    "CacheMismatch", "CacheWriteError", "NotSecure", "RetainedSecrets", "SecretUpdate", "Secure",
    "Securing", "SrtpKeys",
    "ZrtpCache", "ZrtpConfig", "ZrtpEvent", "ZrtpSession", "ZrtpStats", "looks_like_zrtp",
]
