#!/usr/bin/env python3
"""Decide whether a block device may be overwritten with the deskphone image (boot/flash.sh).

Refuses anything that is not plainly a removable card or USB stick: a partition instead of a
whole disk, a non-removable/internal disk (SATA, NVMe, virtio), the disk holding / or swap, a
disk with anything mounted, a write-protected card, or one smaller than the image. The decision
is a pure function of `lsblk --json` output, so it is tested on recorded lsblk documents.

    flashcheck.py [--image FILE] DEVICE   # prints what would be overwritten, exit 0; or
                                          # prints why not, exit 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

LSBLK_COLUMNS = "NAME,PATH,TYPE,RM,HOTPLUG,RO,TRAN,SIZE,MODEL,FSTYPE,LABEL,MOUNTPOINTS"
# Mount points that make a disk a system disk even when something else looks removable.
SYSTEM_MOUNTS = ("/", "/boot", "/boot/efi", "/usr", "/var", "/home", "[SWAP]")
REMOVABLE_TRANSPORTS = ("usb", "mmc", "sdio")


class FlashRefused(Exception):
    """Why the device may not be written; the message names the device and what to do."""


@dataclass(frozen=True)
class FlashTarget:
    path: str
    size: int
    model: str
    transport: str
    partitions: tuple[str, ...]    # "sdb1 vfat RASPIFIRM" lines, for the confirmation prompt

    def describe(self) -> str:
        gib = self.size / 2**30
        parts = "; ".join(self.partitions) or "no partitions"
        return (f"{self.path}: {gib:.1f} GiB, {self.model or 'unknown model'} "
                f"({self.transport or 'removable'}), holding: {parts}")


def _flag(value: Any) -> bool:
    """lsblk prints RM/HOTPLUG/RO as true/false (util-linux >= 2.33) or "1"/"0" (older)."""
    return value in (True, 1, "1", "true")


def _mountpoints(node: dict[str, Any]) -> list[str]:
    points = node.get("mountpoints")
    if points is None:
        points = [node.get("mountpoint")]
    return [p for p in points if p]


def _walk(node: dict[str, Any]):
    yield node
    for child in node.get("children") or []:
        yield from _walk(child)


def check_target(device: str, lsblk: dict[str, Any], image_size: int = 0) -> FlashTarget:
    """Return the whole-disk target for `device`, or raise FlashRefused saying why not."""
    disks = lsblk.get("blockdevices") or []
    real = os.path.realpath(device) if device.startswith("/dev/disk/") else device
    for disk in disks:
        for node in _walk(disk):
            if node is not disk and real in (node.get("path"), "/dev/" + str(node.get("name"))):
                raise FlashRefused(
                    f"{device} is a partition of {disk.get('path')}; give the whole disk, "
                    f"e.g. DEVICE={disk.get('path')}")
        if real not in (disk.get("path"), "/dev/" + str(disk.get("name"))):
            continue
        path = disk.get("path") or "/dev/" + str(disk.get("name"))
        if disk.get("type") != "disk":
            raise FlashRefused(f"{device} is of type {disk.get('type')!r}; expected a whole "
                               "disk (an SD card or USB stick)")
        mounted = [(n.get("path") or n.get("name"), m) for n in _walk(disk)
                   for m in _mountpoints(n)]
        system = [m for _, m in mounted if m in SYSTEM_MOUNTS or m.startswith("/boot")]
        if system:
            raise FlashRefused(f"{path} holds the running system (mounted at "
                               f"{', '.join(system)}); refusing to overwrite it")
        transport = str(disk.get("tran") or "")
        name = str(disk.get("name") or "")
        removable = (_flag(disk.get("rm")) or _flag(disk.get("hotplug"))
                     or transport in REMOVABLE_TRANSPORTS or name.startswith("mmcblk"))
        if not removable:
            raise FlashRefused(f"{path} is not removable (RM=0, HOTPLUG=0, transport "
                               f"{transport or 'none'}); expected an SD card or USB stick")
        if mounted:
            listing = ", ".join(f"{p} on {m}" for p, m in mounted)
            raise FlashRefused(f"{path} has mounted filesystems ({listing}); unmount them "
                               "first (umount ...) and try again")
        if _flag(disk.get("ro")):
            raise FlashRefused(f"{path} is read-only; check the card's write-protect switch")
        size = int(disk.get("size") or 0)
        if size < image_size:
            raise FlashRefused(f"{path} holds {size} bytes; the image needs {image_size}")
        parts = tuple(
            " ".join(str(x) for x in (n.get("name"), n.get("fstype"), n.get("label")) if x)
            for n in _walk(disk) if n is not disk)
        return FlashTarget(path=path, size=size, model=str(disk.get("model") or "").strip(),
                           transport=transport, partitions=parts)
    raise FlashRefused(f"{device} is not a block device known to lsblk; list them with "
                       "'lsblk -o NAME,SIZE,TRAN,RM,MODEL'")


def read_lsblk() -> dict[str, Any]:
    out = subprocess.run(["lsblk", "--json", "--bytes", "-o", LSBLK_COLUMNS],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("device")
    parser.add_argument("--image", default=None, help="image file (its size must fit)")
    args = parser.parse_args(argv)
    image_size = os.path.getsize(args.image) if args.image else 0
    try:
        target = check_target(args.device, read_lsblk(), image_size)
    except FlashRefused as exc:
        print(f"flash: refusing: {exc}", file=sys.stderr)
        return 1
    print(target.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
