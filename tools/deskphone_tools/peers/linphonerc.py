"""The linphonerc file that makes one linphonec instance a predictable loopback ZRTP peer.

linphonec (Debian `linphone-cli`, Linphone 5.1, ZRTP by bzrtp) reads an INI-style rc file given with
`-c` and *rewrites it on exit* (it adds every default it used), so the file is rendered afresh from
`LinphoneConfig` before every start and never edited in place.

What each setting is for (found by running linphonec 5.1 on loopback):
- `[sip] ipv6_migration_done=1`, `use_ipv6=0`: without them linphonec re-enables IPv6 on first start
  and offers an IPv6 address.
- `[sip] bind_address` / `[rtp] bind_address`: without the RTP one its SDP carries the machine's
  non-loopback address.
- `[sip] guess_hostname=0`: with the default (1) the From header carries the host's primary address
  (`sip:alice@192.0.2.2`) instead of the configured contact's host.
- `sip_tcp_port=-1`, `sip_tls_port=-1`: UDP only, so one free UDP port is all a test needs.
- `[sip] zrtp_*_suites`: bzrtp's algorithm preferences, comma separated `MS_ZRTP_*` names, most
  preferred first (names this build does not support, e.g. EC25, are silently dropped by it).
- `[audio_codec_N]`: a single section is *not* enough to restrict codecs: linphonec re-adds every
  codec it knows with its default enablement, so every known codec gets a section here, enabled
  only if asked for (default enablement otherwise, as linphonec 5.1 writes them back).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# bzrtp's algorithm name prefixes (mediastreamer2 `MSZrtp*` enums as linphone spells them in rc).
KEY_AGREEMENT_PREFIX = "MS_ZRTP_KEY_AGREEMENT_"
SAS_PREFIX = "MS_ZRTP_SAS_"
HASH_PREFIX = "MS_ZRTP_HASH_"
CIPHER_PREFIX = "MS_ZRTP_CIPHER_"
AUTH_TAG_PREFIX = "MS_ZRTP_AUTHTAG_"

_SUITE_NAME = re.compile(r"^[A-Z0-9_]+$")


@dataclass(frozen=True)
class LinphoneCodec:
    """One `[audio_codec_N]` section as linphonec 5.1 writes it back (order = its preference)."""

    mime: str
    rate: int
    channels: int
    enabled_by_default: bool
    recv_fmtp: str | None = None


# The audio codecs linphonec 5.1 on Debian 12 knows, in the order and with the defaults it writes
# back to its rc file (`codec list` prints the same list).
LINPHONE_AUDIO_CODECS: tuple[LinphoneCodec, ...] = (
    LinphoneCodec("opus", 48000, 2, True, "useinbandfec=1"),
    LinphoneCodec("speex", 16000, 1, True, "vbr=on"),
    LinphoneCodec("speex", 8000, 1, True, "vbr=on"),
    LinphoneCodec("PCMU", 8000, 1, True),
    LinphoneCodec("PCMA", 8000, 1, True),
    LinphoneCodec("GSM", 8000, 1, False),
    LinphoneCodec("G722", 8000, 1, False),
    LinphoneCodec("G729", 8000, 1, True, "annexb=yes"),
    LinphoneCodec("speex", 32000, 1, False, "vbr=on"),
    LinphoneCodec("G726-16", 8000, 1, False),
    LinphoneCodec("G726-24", 8000, 1, False),
    LinphoneCodec("G726-32", 8000, 1, False),
    LinphoneCodec("G726-40", 8000, 1, False),
    LinphoneCodec("AAL2-G726-16", 8000, 1, False),
    LinphoneCodec("AAL2-G726-24", 8000, 1, False),
    LinphoneCodec("AAL2-G726-32", 8000, 1, False),
    LinphoneCodec("AAL2-G726-40", 8000, 1, False),
    LinphoneCodec("L16", 44100, 2, False),
    LinphoneCodec("L16", 44100, 1, False),
)

MEDIA_ENCRYPTIONS = ("zrtp", "srtp", "dtls", "none")


def suite_names(prefix: str, names: Iterable[str] | None, what: str) -> list[str] | None:
    """Full bzrtp names for `names`, which may be given short ("X255") or full.

    Raises ValueError naming the setting and the bad value.
    """
    if names is None:
        return None
    if isinstance(names, str):
        raise ValueError(
            f"{what}: expected a list of names such as [{prefix}...], got the string {names!r}"
        )
    full: list[str] = []
    for name in names:
        candidate = name if name.startswith(prefix) else prefix + name
        if not _SUITE_NAME.match(candidate) or candidate == prefix:
            raise ValueError(
                f"{what}: {name!r} is not a ZRTP algorithm name (expected e.g. {prefix}XXXX)"
            )
        full.append(candidate)
    if not full:
        raise ValueError(f"{what}: expected at least one algorithm, got an empty list")
    return full


def _codec_key(codec: LinphoneCodec) -> set[str]:
    """The ways a caller may name a codec: "PCMU", "opus", "speex/16000", "L16/44100/2"."""
    return {
        codec.mime.lower(),
        f"{codec.mime}/{codec.rate}".lower(),
        f"{codec.mime}/{codec.rate}/{codec.channels}".lower(),
    }


def codec_sections(codecs: Iterable[str] | None) -> list[tuple[LinphoneCodec, bool]]:
    """Every known codec with its enablement; `codecs` None keeps linphonec's defaults.

    Asked-for codecs come first, in the order asked (linphone offers in section order).
    """
    if codecs is None:
        return [(codec, codec.enabled_by_default) for codec in LINPHONE_AUDIO_CODECS]
    if isinstance(codecs, str):
        raise ValueError(f"codecs: expected a list such as ['PCMU'], got the string {codecs!r}")
    wanted: list[LinphoneCodec] = []
    for name in codecs:
        matches = [c for c in LINPHONE_AUDIO_CODECS if name.lower() in _codec_key(c)]
        if not matches:
            known = sorted({c.mime for c in LINPHONE_AUDIO_CODECS})
            raise ValueError(
                f"codecs: {name!r} is not a linphonec audio codec (expected one of {known})"
            )
        wanted.extend(c for c in matches if c not in wanted)
    if not wanted:
        raise ValueError("codecs: expected at least one codec, got an empty list")
    rest = [c for c in LINPHONE_AUDIO_CODECS if c not in wanted]
    return [(c, True) for c in wanted] + [(c, False) for c in rest]


@dataclass(frozen=True)
class LinphoneConfig:
    """Everything that goes into one instance's rc file."""

    user: str
    sip_port: int
    rtp_port: int
    host: str = "127.0.0.1"
    media_encryption: str = "zrtp"
    zrtp_mandatory: bool = True
    key_agreements: list[str] | None = None
    sas_types: list[str] | None = None
    hashes: list[str] | None = None
    ciphers: list[str] | None = None
    auth_tags: list[str] | None = None
    codecs: list[str] | None = None
    # Anything else, {section: {key: value}}; applied last so it can override the above.
    extra: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9._~-]+", self.user):
            raise ValueError(
                f"user: {self.user!r} is not a plain SIP user name (expected e.g. 'alice')"
            )
        for what, port in (("sip_port", self.sip_port), ("rtp_port", self.rtp_port)):
            if not 1 <= port <= 65535 - 4:
                raise ValueError(f"{what}: {port} is not a usable UDP port (expected 1..65531)")
        if self.media_encryption not in MEDIA_ENCRYPTIONS:
            raise ValueError(
                f"media_encryption: {self.media_encryption!r} is not one of {MEDIA_ENCRYPTIONS}"
            )
        # Validate early so a typo fails at construction, not as a silent default inside linphonec.
        self.zrtp_suites()
        codec_sections(self.codecs)

    @property
    def sip_uri(self) -> str:
        return f"sip:{self.user}@{self.host}:{self.sip_port}"

    def zrtp_suites(self) -> dict[str, str]:
        """The `[sip] zrtp_*_suites` lines for the algorithms that were asked for."""
        chosen = {
            "zrtp_key_agreements_suites": suite_names(
                KEY_AGREEMENT_PREFIX, self.key_agreements, "key_agreements"
            ),
            "zrtp_sas_suites": suite_names(SAS_PREFIX, self.sas_types, "sas_types"),
            "zrtp_hash_suites": suite_names(HASH_PREFIX, self.hashes, "hashes"),
            "zrtp_cipher_suites": suite_names(CIPHER_PREFIX, self.ciphers, "ciphers"),
            "zrtp_auth_suites": suite_names(AUTH_TAG_PREFIX, self.auth_tags, "auth_tags"),
        }
        return {key: ", ".join(names) for key, names in chosen.items() if names}

    def sections(self) -> dict[str, dict[str, str]]:
        sip = {
            "sip_port": str(self.sip_port),
            "sip_tcp_port": "-1",
            "sip_tls_port": "-1",
            "ipv6_migration_done": "1",
            "use_ipv6": "0",
            "bind_address": self.host,
            "guess_hostname": "0",
            "default_proxy": "-1",
            "contact": f'"{self.user}" <sip:{self.user}@{self.host}>',
            "media_encryption": self.media_encryption,
            "media_encryption_mandatory": "1" if self.zrtp_mandatory else "0",
            **self.zrtp_suites(),
        }
        sections: dict[str, dict[str, str]] = {
            "sip": sip,
            "rtp": {
                "bind_address": self.host,
                "audio_rtp_port": str(self.rtp_port),
                # Video and text are disabled, but linphone still reserves ports: keep them apart
                # from other instances by deriving them from the audio port.
                "video_rtp_port": str(self.rtp_port + 2),
                "text_rtp_port": str(self.rtp_port + 4),
            },
            "video": {
                "enabled": "0",
                "capture": "0",
                "display": "0",
                "automatically_initiate": "0",
                "automatically_accept": "0",
            },
            "sound": {"echocancellation": "0"},
        }
        for index, (codec, enabled) in enumerate(codec_sections(self.codecs)):
            section = {
                "mime": codec.mime,
                "rate": str(codec.rate),
                "channels": str(codec.channels),
                "enabled": "1" if enabled else "0",
            }
            if codec.recv_fmtp:
                section["recv_fmtp"] = codec.recv_fmtp
            sections[f"audio_codec_{index}"] = section
        for name, values in self.extra.items():
            sections.setdefault(name, {}).update({k: str(v) for k, v in values.items()})
        return sections

    def render(self) -> str:
        out: list[str] = []
        for name, values in self.sections().items():
            out.append(f"[{name}]")
            for key, value in values.items():
                if "\n" in value or "\n" in key:
                    raise ValueError(
                        f"[{name}] {key}: value {value!r} spans lines (expected one line)"
                    )
                out.append(f"{key}={value}")
            out.append("")
        return "\n".join(out)
