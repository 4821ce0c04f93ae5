"""The phone: state machine, screens and call-progress tones (no I/O)."""
