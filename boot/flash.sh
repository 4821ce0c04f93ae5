#!/usr/bin/env bash
# Write the deskphone image to an SD card:  sudo boot/flash.sh /dev/sdX [IMAGE]
# (make flash DEVICE=/dev/sdX). Refuses partitions, internal/non-removable disks, the disk
# holding the running system, anything mounted and write-protected cards (boot/flashcheck.py),
# shows what will be overwritten, asks you to type the device name, writes with dd conv=fsync,
# then reads the card back (O_DIRECT, not the page cache) and compares SHA-256 digests.
# Non-interactive use: DESKPHONE_FLASH_CONFIRM=sdX (the device name being overwritten).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEVICE="${1:-}"
IMAGE="${2:-$HERE/../out/image/deskphone.img}"
die() { echo "flash: $*" >&2; exit 1; }

[ -n "$DEVICE" ] || die "usage: $0 /dev/sdX [IMAGE]  (list cards with: lsblk -o NAME,SIZE,TRAN,RM,MODEL)"
[ -f "$IMAGE" ] || die "no image at $IMAGE; build it first with: make image"
[ "$(id -u)" -eq 0 ] || die "must run as root to write $DEVICE; try: sudo $0 $*"
[ -b "$DEVICE" ] || die "$DEVICE is not a block device"

description="$(python3 "$HERE/flashcheck.py" --image "$IMAGE" "$DEVICE")" || exit 1
name="$(basename "$(realpath "$DEVICE")")"
echo "About to ERASE and overwrite:"
echo "  $description"
echo "with $IMAGE ($(du -h --apparent-size "$IMAGE" | cut -f1))."
if [ -n "${DESKPHONE_FLASH_CONFIRM:-}" ]; then
    answer="$DESKPHONE_FLASH_CONFIRM"
elif [ -t 0 ]; then
    read -r -p "Type the device name ($name) to continue: " answer
else
    die "no terminal to confirm on; set DESKPHONE_FLASH_CONFIRM=$name to confirm"
fi
[ "$answer" = "$name" ] || die "confirmation '$answer' does not match '$name'; nothing written"

size=$(stat -c %s "$IMAGE")
start=$(date +%s)
echo "flash: writing $size bytes to $DEVICE ..."
dd if="$IMAGE" of="$DEVICE" bs=4M conv=fsync status=progress
sync
echo "flash: verifying (reading $size bytes back from the card) ..."
blockdev --flushbufs "$DEVICE" 2>/dev/null || true
want="$(sha256sum "$IMAGE" | cut -d' ' -f1)"
got="$(dd if="$DEVICE" iflag=direct,count_bytes count="$size" bs=4M status=none | sha256sum | cut -d' ' -f1)"
[ "$want" = "$got" ] || die "VERIFY FAILED: the card reads back $got, the image is $want; \
the card may be failing or counterfeit"
blockdev --rereadpt "$DEVICE" 2>/dev/null || partprobe "$DEVICE" 2>/dev/null || true
echo "flash: done in $(( $(date +%s) - start )) s, verified sha256 $want."
echo "flash: optional: copy a deskphone.toml onto the RASPIFIRM partition before first boot."
