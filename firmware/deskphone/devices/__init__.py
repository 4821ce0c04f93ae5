"""Hardware seams: hook switch, keypad, display, audio, ringer.

Each device takes gpiozero / luma objects (or pin numbers resolved through gpiozero's pin
factory), so tests run the real code path on gpiozero's MockFactory and luma's dummy device.
"""
