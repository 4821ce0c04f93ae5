"""boot/flashcheck.py: which devices `make flash` refuses, fed recorded `lsblk --json` output."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.boot.bootmods import BOOT, load
from tests.support import require_tool

flashcheck = load(BOOT / "flashcheck.py", "deskphone_boot_flashcheck")
GiB = 2**30


def disk(name: str, *, rm: bool = False, hotplug: bool = False, tran: str | None = None,
         size: int = 32 * GiB, ro: bool = False, children: list[dict[str, Any]] | None = None,
         mounts: list[str | None] | None = None) -> dict[str, Any]:
    node = {"name": name, "path": f"/dev/{name}", "type": "disk", "rm": rm, "hotplug": hotplug,
            "ro": ro, "tran": tran, "size": size, "model": "Card Reader", "fstype": None,
            "label": None, "mountpoints": mounts or [None]}
    if children:
        node["children"] = children
    return node


def part(name: str, *, fstype: str = "vfat", label: str | None = None,
         mounts: list[str | None] | None = None) -> dict[str, Any]:
    return {"name": name, "path": f"/dev/{name}", "type": "part", "rm": False, "hotplug": False,
            "ro": False, "tran": None, "size": GiB, "model": None, "fstype": fstype,
            "label": label, "mountpoints": mounts or [None]}


SYSTEM_NVME = disk("nvme0n1", tran="nvme", children=[
    part("nvme0n1p1", mounts=["/boot/efi"]), part("nvme0n1p2", fstype="ext4", mounts=["/"])])
USB_CARD = disk("sdb", rm=True, tran="usb", children=[
    part("sdb1", label="boot"), part("sdb2", fstype="ext4", label="rootfs")])
LSBLK = {"blockdevices": [SYSTEM_NVME, disk("sda", tran="sata"), USB_CARD,
                          disk("mmcblk0", tran=None)]}


def test_usb_card_reader_is_accepted_and_described() -> None:
    target = flashcheck.check_target("/dev/sdb", LSBLK, image_size=2 * GiB)
    assert target.path == "/dev/sdb"
    assert target.partitions == ("sdb1 vfat boot", "sdb2 ext4 rootfs")
    assert "32.0 GiB" in target.describe() and "usb" in target.describe()


def test_builtin_mmc_slot_is_accepted() -> None:
    assert flashcheck.check_target("/dev/mmcblk0", LSBLK).path == "/dev/mmcblk0"


@pytest.mark.parametrize(
    ("device", "reason"),
    [
        ("/dev/nvme0n1", "holds the running system .*/boot/efi, /"),
        ("/dev/sda", "not removable .*transport sata"),
        ("/dev/sdb1", "partition of /dev/sdb; give the whole disk"),
        ("/dev/sdz", "not a block device known to lsblk"),
    ],
)
def test_refusals_name_the_device_and_the_reason(device: str, reason: str) -> None:
    with pytest.raises(flashcheck.FlashRefused, match=reason):
        flashcheck.check_target(device, LSBLK)


def test_removable_disk_holding_root_is_refused() -> None:
    # A Pi booted from a USB stick: removable, but it is the running system.
    doc = {"blockdevices": [disk("sda", rm=True, tran="usb", children=[
        part("sda1", mounts=["/boot/firmware"]), part("sda2", fstype="ext4", mounts=["/"])])]}
    with pytest.raises(flashcheck.FlashRefused, match="running system"):
        flashcheck.check_target("/dev/sda", doc)


def test_mounted_card_must_be_unmounted_first() -> None:
    doc = copy.deepcopy(LSBLK)
    doc["blockdevices"][2]["children"][0]["mountpoints"] = ["/media/me/boot"]
    with pytest.raises(flashcheck.FlashRefused, match=r"sdb1 on /media/me/boot.*umount"):
        flashcheck.check_target("/dev/sdb", doc)


def test_write_protected_card_is_refused() -> None:
    doc = {"blockdevices": [disk("sdc", rm=True, tran="usb", ro=True)]}
    with pytest.raises(flashcheck.FlashRefused, match="write-protect"):
        flashcheck.check_target("/dev/sdc", doc)


def test_card_smaller_than_the_image_is_refused() -> None:
    doc = {"blockdevices": [disk("sdc", rm=True, tran="usb", size=GiB)]}
    with pytest.raises(flashcheck.FlashRefused, match="image needs"):
        flashcheck.check_target("/dev/sdc", doc, image_size=2 * GiB)


def test_old_lsblk_flags_and_single_mountpoint_column() -> None:
    # util-linux < 2.37 prints "1"/"0" and a single MOUNTPOINT
    old = {"blockdevices": [{"name": "sdd", "type": "disk", "rm": "1", "ro": "0", "tran": "usb",
                             "size": 16 * GiB, "mountpoint": None,
                             "children": [{"name": "sdd1", "type": "part",
                                           "mountpoint": "/"}]}]}
    with pytest.raises(flashcheck.FlashRefused, match="running system"):
        flashcheck.check_target("/dev/sdd", old)
    old["blockdevices"][0]["children"][0]["mountpoint"] = None
    assert flashcheck.check_target("/dev/sdd", old).path == "/dev/sdd"


def test_this_machines_root_disk_is_refused_by_the_real_lsblk() -> None:
    import os

    require_tool("lsblk")
    require_tool("findmnt")
    import subprocess

    source = subprocess.run(["findmnt", "-n", "-o", "SOURCE", "/"], check=False,
                            capture_output=True,
                            text=True).stdout.strip()
    doc = flashcheck.read_lsblk()
    disks = [d for d in doc["blockdevices"] for n in flashcheck._walk(d)
             if n.get("path") == source]
    if not disks:
        pytest.skip(f"/ is on {source!r}, not a block device lsblk lists (container)")
    with pytest.raises(flashcheck.FlashRefused):
        flashcheck.check_target(disks[0]["path"], doc)
    assert os.path.exists(disks[0]["path"])
