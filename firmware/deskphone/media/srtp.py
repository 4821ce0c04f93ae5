"""SRTP/SRTCP (RFC 3711) through pylibsrtp, keyed from outside (ZRTP, RFC 6189 §4.5.3).

Profiles (names as in `deskphone.zrtp.events.SrtpKeys.profile`):
  AES_CM_128_HMAC_SHA1_80 / _32  RFC 3711 §4.1.1, §4.2.1 (RFC 4568 §6.2 names)
  AES_256_CM_HMAC_SHA1_80 / _32  RFC 6188 §3 (ZRTP cipher "AES3", RFC 6189 §5.1.3)

pylibsrtp 1.0 only exposes libsrtp's *profile* ids, and libsrtp's
`srtp_crypto_policy_set_from_profile_for_rtp()` knows no AES-256 counter-mode profile (profile 8
is AEAD_AES_256_GCM, a different transform). The libsrtp bundled in pylibsrtp's binding does
export its own policy setters `srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80/_32` (C symbols of
`_binding.abi3.so`), so we call those through cffi in ABI mode on the very same shared object and
then check the resulting policy words ([cipher_type, key_len, auth_type, auth_key_len, tag_len,
sec_serv]) against libsrtp's constants, so a changed layout fails loudly instead of silently
using the wrong cipher. tests/media/test_srtp.py checks the output against an independent AES-256
CM + HMAC-SHA1 computation (RFC 6188 key derivation test vectors).

Failures are never raised to the caller of `unprotect`: a packet that fails authentication or the
replay check is dropped (None) and counted, as RFC 3711 §3.3 step 5 and §3.3.2 require.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import pylibsrtp
from pylibsrtp._binding import ffi as _srtp_ffi
from pylibsrtp._binding import lib as _srtp_lib

# libsrtp 2 constants (srtp.h / crypto_types.h).
_SRTP_AES_ICM_128 = 1
_SRTP_AES_ICM_256 = 5
_SRTP_HMAC_SHA1 = 3
_SEC_SERV_CONF_AND_AUTH = 3
# RFC 3711 §3.2.1 / RFC 6188 §3: default replay window is 64; libsrtp allows 64..0x7fff. Audio at
# 50 packets/s reorders far less than this; 128 matches libsrtp's own default.
REPLAY_WINDOW = 128


@dataclass(frozen=True, slots=True)
class SrtpProfile:
    name: str
    key_len: int
    salt_len: int
    tag_len: int
    cipher_type: int


PROFILES: dict[str, SrtpProfile] = {
    p.name: p
    for p in (
        SrtpProfile("AES_CM_128_HMAC_SHA1_80", 16, 14, 10, _SRTP_AES_ICM_128),
        SrtpProfile("AES_CM_128_HMAC_SHA1_32", 16, 14, 4, _SRTP_AES_ICM_128),
        SrtpProfile("AES_256_CM_HMAC_SHA1_80", 32, 14, 10, _SRTP_AES_ICM_256),
        SrtpProfile("AES_256_CM_HMAC_SHA1_32", 32, 14, 4, _SRTP_AES_ICM_256),
    )
}


class SrtpKeysLike(Protocol):
    """The shape of deskphone.zrtp.events.SrtpKeys, the one SRTP key type of the package (media
    does not import zrtp: the two are independent layers). Read-only: keys are never changed in
    place, and ZRTP's SrtpKeys is frozen."""

    @property
    def profile(self) -> str: ...
    @property
    def local_key(self) -> bytes: ...
    @property
    def local_salt(self) -> bytes: ...
    @property
    def remote_key(self) -> bytes: ...
    @property
    def remote_salt(self) -> bytes: ...


class SrtpError(ValueError):
    """Bad SRTP configuration (unknown profile, wrong key length)."""


_abi_lib: Any = None
_abi_ffi: Any = None


def _aes256_setters() -> tuple[Any, Any]:
    global _abi_lib, _abi_ffi
    if _abi_lib is None:
        import cffi
        from pylibsrtp import _binding

        _abi_ffi = cffi.FFI()
        _abi_ffi.cdef(
            "void srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(void *p);"
            "void srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32(void *p);"
        )
        _abi_lib = _abi_ffi.dlopen(_binding.__file__)
    return _abi_lib, _abi_ffi


def _policy_words(crypto_policy_addr: Any) -> list[int]:
    words = _srtp_ffi.cast("int32_t *", crypto_policy_addr)
    return [words[i] for i in range(6)]


def _make_policy(profile: SrtpProfile, key: bytes, salt: bytes, direction: int) -> pylibsrtp.Policy:
    if len(key) != profile.key_len or len(salt) != profile.salt_len:
        raise SrtpError(
            f"SRTP {profile.name} needs a {profile.key_len}-octet key and {profile.salt_len}-octet"
            f" salt, got {len(key)} and {len(salt)}"
        )
    if profile.cipher_type == _SRTP_AES_ICM_128:
        lib_profile = (
            pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
            if profile.tag_len == 10
            else pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32
        )
        policy = pylibsrtp.Policy(srtp_profile=lib_profile)
    else:
        policy = pylibsrtp.Policy(srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
        abi_lib, abi_ffi = _aes256_setters()
        setter = (
            abi_lib.srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80
            if profile.tag_len == 10
            else abi_lib.srtp_crypto_policy_set_aes_cm_256_hmac_sha1_32
        )
        raw = policy._policy  # the srtp_policy_t pylibsrtp hands to srtp_create()
        rtp_address = int(_srtp_ffi.cast("uintptr_t", _srtp_ffi.addressof(raw.rtp)))
        setter(abi_ffi.cast("void *", rtp_address))
        # RFC 3711 §4.2.1, RFC 4568 §6.2: SRTCP always carries the 80-bit tag, as libsrtp's own
        # AES-128 _32 profile does, so the RTCP policy gets the _80 setter in both cases.
        rtcp_address = int(_srtp_ffi.cast("uintptr_t", _srtp_ffi.addressof(raw.rtcp)))
        abi_lib.srtp_crypto_policy_set_aes_cm_256_hmac_sha1_80(abi_ffi.cast("void *", rtcp_address))
        expected = [
            _SRTP_AES_ICM_256, 46, _SRTP_HMAC_SHA1, 20, profile.tag_len, _SEC_SERV_CONF_AND_AUTH
        ]
        got = _policy_words(_srtp_ffi.addressof(raw.rtp))
        if got != expected:
            raise SrtpError(f"libsrtp AES-256 policy came out as {got}, expected {expected}")
    policy.key = key + salt
    policy.ssrc_type = direction
    policy.window_size = REPLAY_WINDOW
    return policy


@dataclass(slots=True)
class SrtpStats:
    protected: int = 0
    unprotected: int = 0
    auth_failures: int = 0
    replays: int = 0
    other_failures: int = 0


_AUTH_FAIL = pylibsrtp.ERRORS[7]
_REPLAY_FAILS = (pylibsrtp.ERRORS[9], pylibsrtp.ERRORS[10])


class SrtpContext:
    """One direction pair: protects what we send, unprotects what we receive.

    Keys come from `SrtpKeysLike`; "local" protects outgoing packets and "remote" unprotects
    incoming ones (architecture.md). Any SSRC is accepted on both sides (one stream per call).
    """

    def __init__(self, keys: SrtpKeysLike) -> None:
        profile = PROFILES.get(keys.profile)
        if profile is None:
            raise SrtpError(
                f"SRTP profile {keys.profile!r} unknown, expected one of {list(PROFILES)}"
            )
        self.profile = profile
        self._tx = pylibsrtp.Session(
            _make_policy(profile, keys.local_key, keys.local_salt, _srtp_lib.ssrc_any_outbound)
        )
        self._rx = pylibsrtp.Session(
            _make_policy(profile, keys.remote_key, keys.remote_salt, _srtp_lib.ssrc_any_inbound)
        )
        self.stats = SrtpStats()

    def protect(self, rtp: bytes) -> bytes:
        self.stats.protected += 1
        return self._tx.protect(rtp)

    def protect_rtcp(self, rtcp: bytes) -> bytes:
        return self._tx.protect_rtcp(rtcp)

    def unprotect(self, srtp: bytes) -> bytes | None:
        """RFC 3711 §3.3: authenticated RTP, or None (counted) for a tampered/replayed packet."""
        try:
            plain = self._rx.unprotect(srtp)
        except pylibsrtp.Error as error:
            self._count(error)
            return None
        except ValueError:
            self.stats.other_failures += 1
            return None
        self.stats.unprotected += 1
        return plain

    def unprotect_rtcp(self, srtcp: bytes) -> bytes | None:
        try:
            return self._rx.unprotect_rtcp(srtcp)
        except pylibsrtp.Error as error:
            self._count(error)
        except ValueError:
            self.stats.other_failures += 1
        return None

    def _count(self, error: pylibsrtp.Error) -> None:
        message = str(error)
        if message == _AUTH_FAIL:
            self.stats.auth_failures += 1
        elif message in _REPLAY_FAILS:
            self.stats.replays += 1
        else:
            self.stats.other_failures += 1
