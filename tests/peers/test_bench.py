"""The linphonec<->linphonec reference timing that `make bench` compares against."""

from __future__ import annotations

import asyncio

import pytest

from deskphone_tools.peers.bench import can_capture, linphone_to_linphone, summarize
from tests.peers.conftest import processes_with_file_in_cmdline
from tests.support import require_tool


def test_summary_is_min_median_max_of_the_samples() -> None:
    assert summarize([120.04, 101.0, 163.26]) == {
        "min": 101.0,
        "median": 120.0,
        "max": 163.3,
        "samples": [120.0, 101.0, 163.3],
    }
    assert summarize([])["median"] is None


def test_zero_runs_is_refused() -> None:
    with pytest.raises(ValueError, match="runs: 0"):
        asyncio.run(linphone_to_linphone(0))


@pytest.mark.interop
def test_one_run_times_invite_to_sas_on_both_sides_and_leaves_nothing(tmp_path) -> None:
    require_tool("linphonec")
    wire = can_capture()
    result = asyncio.run(
        asyncio.wait_for(
            linphone_to_linphone(1, key_agreement="X255", wire=wire, workdir=tmp_path),
            40,
        )
    )
    assert result["runs"] == 1 and result["key_agreement"] == "X255"
    both = result["invite_to_sas_ms"]
    caller = result["invite_to_caller_sas_ms"]
    callee = result["invite_to_callee_sas_ms"]
    assert both["samples"][0] == max(caller["samples"][0], callee["samples"][0])
    assert both["min"] == both["median"] == both["max"] > 0
    if wire:
        handshake = result["hello_to_conf2ack_ms"]["samples"]
        assert len(handshake) == 1 and 0 < handshake[0] < both["max"]
    assert not processes_with_file_in_cmdline(tmp_path)
    assert not list(tmp_path.iterdir()), "the bench left its scratch directory behind"
