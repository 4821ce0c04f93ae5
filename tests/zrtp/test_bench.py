"""The benchmark entry point runs (figures are for `make bench`, not asserted here)."""

from deskphone_tools.zrtp_bench import measure_handshakes


def test_measure_handshakes_reports_every_key_agreement():
    results = measure_handshakes(rounds=1, key_agreements=("X255", "EC25"))
    assert set(results) == {"X255", "EC25"}
    assert all(r["rounds"] == 1 and r["median_ms"] > 0 for r in results.values())
