#!/bin/sh
# deskphone-growroot.service: grow the partition holding / to the end of its disk, then the
# ext4 in it. Does nothing (successfully) when / is not the last partition or already fills it.
set -eu
part="$(findmnt -no SOURCE /)"
part="$(readlink -f "$part")"
name="$(basename "$part")"
disk="/dev/$(lsblk -no PKNAME "$part" | head -1)"
number="$(cat "/sys/class/block/$name/partition")"
before="$(lsblk -bno SIZE "$part")"
# sfdisk: ", +" = keep the start, take all the space after it; --no-reread: the disk is in use.
echo ", +" | sfdisk --quiet --no-reread --no-tell-kernel -N "$number" "$disk"
partx --update --nr "$number" "$disk"
resize2fs "$part"
after="$(lsblk -bno SIZE "$part")"
echo "deskphone-growroot: $part $((before / 1048576)) MiB -> $((after / 1048576)) MiB"
