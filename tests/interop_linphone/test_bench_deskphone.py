"""The deskphone->linphonec dialled-to-SAS timing that `make bench` puts beside the reference."""

from __future__ import annotations

import asyncio

import pytest

from deskphone_tools.peers.bench_deskphone import deskphone_to_linphone
from tests.peers.conftest import processes_with_file_in_cmdline
from tests.support import require_tool


def test_zero_runs_is_refused() -> None:
    with pytest.raises(ValueError, match="runs: 0"):
        asyncio.run(deskphone_to_linphone(0))


@pytest.mark.interop
def test_one_run_times_dialled_to_sas_both_sides(tmp_path) -> None:
    require_tool("linphonec")
    result = asyncio.run(asyncio.wait_for(deskphone_to_linphone(1, workdir=tmp_path), 40))
    assert result["runs"] == 1 and result["algorithms"] == ["DH3k/S256/AES1/HS80/B32"]
    both = result["invite_to_sas_ms"]["samples"][0]
    ours = result["invite_to_ours_sas_ms"]["samples"][0]
    theirs = result["invite_to_linphone_sas_ms"]["samples"][0]
    assert both == max(ours, theirs) and ours > 0 and theirs > 0
    assert result["our_roles"][0] in ("initiator", "responder")
    assert not processes_with_file_in_cmdline(tmp_path)
    assert not list(tmp_path.iterdir()), "the bench left its scratch directory behind"
