"""The SRTP context of one media stream and when it may send: built once per set of keys, kept.

RFC 3711 §9.1: a key and a packet index are never used twice. The keying builds one SRTP context
per set of keys and keeps it: keys it already has (a repeated Secure, a hold/resume re-INVITE,
anything else) change nothing, so the rollover counter and the SRTCP index (which a new context
would restart at 1) go on from where they were. `contexts_built` counts the contexts (MediaStats:
more than one only for really new keys).

A context may exist before we may send with it (`receive_with`): a ZRTP initiator between Confirm1
and Conf2ACK (RFC 6189 §4.6) decrypts the peer's SRTP but sends nothing, and the first packet
that authenticates is its implicit Conf2ACK (§5.8, receive.py reports it). The later
`send_with` with the same keys turns sending on in that same context; once sending, the keying
never steps back to receive-only.

The stream (stream.py) protects what it sends with `context` only while `secure`, and hands the
context to its receive side; this module owns no socket and no packet.
"""

from __future__ import annotations

from deskphone.media.srtp import SrtpContext, SrtpKeysLike


class SrtpKeying:
    def __init__(self) -> None:
        self.context: SrtpContext | None = None
        self._material: tuple[str, bytes, bytes, bytes, bytes] | None = None  # what context has
        self.sending = False  # False while the context only receives (receive_with)
        self.contexts_built = 0

    @property
    def secure(self) -> bool:
        """Keys are set and we may send with them."""
        return self.context is not None and self.sending

    def send_with(self, keys: SrtpKeysLike) -> None:
        """Protect and check with `keys` from now on (the same keys again keep the context)."""
        self._key_context(keys)
        self.sending = True

    def receive_with(self, keys: SrtpKeysLike) -> bool:
        """Check what arrives with `keys` but send nothing yet; False (and nothing changed) when
        already sending with keys of its own."""
        if self.sending:
            return False
        self._key_context(keys)
        return True

    def _key_context(self, keys: SrtpKeysLike) -> None:
        material = (keys.profile, keys.local_key, keys.local_salt, keys.remote_key,
                    keys.remote_salt)
        if material == self._material:
            return  # RFC 3711 §9.1: a rebuilt context would reuse (key, index) pairs
        self.context = SrtpContext(keys)
        self._material = material
        self.contexts_built += 1
