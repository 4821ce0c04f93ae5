"""The benchmark entry point runs (figures are for `make bench`, not asserted here)."""

from deskphone_tools.zrtp_bench import measure_cache_writes, measure_handshakes


def test_measure_handshakes_reports_every_key_agreement():
    results = measure_handshakes(rounds=1, key_agreements=("X255", "EC25"))
    assert set(results) == {"X255", "EC25"}
    assert all(r["rounds"] == 1 and r["median_ms"] > 0 for r in results.values())


def test_measure_handshakes_includes_dpq1_with_its_packet_sizes():
    results = measure_handshakes(rounds=1, key_agreements=("DPQ1",))
    assert results["DPQ1"]["largest_packet_bytes"] == results["DPQ1"]["packet_bytes"]["Commit"]
    assert results["DPQ1"]["packet_bytes"]["DHPart2"] == 116  # the nonce, not a public value


def test_measure_cache_writes_reports_inline_and_writer_figures(tmp_path):
    results = measure_cache_writes(rounds=2, directory=str(tmp_path))
    assert results["rounds"] == 2
    for figures in (results["inline"]["loop_held"], results["cache_writer"]["loop_held"],
                    results["cache_writer"]["until_durable"]):
        assert figures["median_ms"] >= 0 and figures["max_ms"] >= figures["median_ms"]
