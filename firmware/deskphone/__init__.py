"""deskphone: firmware of a secure SIP desk phone (direct peer media, ZRTP, SAS on the OLED)."""

__version__ = "0.1.0"
