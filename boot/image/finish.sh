#!/usr/bin/env bash
# The last, package-free step of the rootfs, shared by a full build (customize.sh runs it) and
# by build-image.sh --reuse-rootfs (and a cached rootfs): everything here comes from the
# repository, not from Debian, so a reused rootfs gets exactly what a clean build would.
#
#   boot/image/finish.sh ROOTFS
#
# The boot/rootfs overlay, the units and first-boot script, their enablement, and the owners
# and modes of the phone's directories (deskphone.service and boot/firstboot.py agree on them).
set -euo pipefail
ROOT="$1"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "[finish] $*"; }
in_root() { chroot "$ROOT" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"; }

say "overlay: boot/rootfs (udev rules, sysusers, modules, fstab, hostname, networkd)"
(cd "$HERE/rootfs" && find . -type d) | while read -r d; do
    install -d -m 0755 "$ROOT/$d"
done
(cd "$HERE/rootfs" && find . -type f) | while read -r f; do
    install -m 0644 "$HERE/rootfs/$f" "$ROOT/$f"
done

# After every pip install (a full build or a reused rootfs): pip and setuptools only install
# (build-image.sh --reuse-rootfs bootstraps pip again with ensurepip), and test suites that
# wheels carry are never run on the phone. Bytecode stays: pip compiled it at install, and
# deskphone.service's read-only /opt could not cache it, so without it every start would
# compile every module again.
say "venv: without pip, setuptools and packages' tests/ (bytecode compiled at install stays)"
if in_root /opt/deskphone/venv/bin/python3 -c 'import pip' 2>/dev/null; then
    in_root /opt/deskphone/venv/bin/python3 -m pip uninstall -y -q pip setuptools
fi
find "$ROOT/opt/deskphone/venv/lib" -depth -type d -name tests -path '*/site-packages/*' \
    -exec rm -rf {} +

say "users: systemd-sysusers (deskphone in gpio, i2c, audio)"
in_root systemd-sysusers

say "units: deskphone.service, deskphone-firstboot.service and /opt/deskphone/firstboot.py"
install -m 0644 "$HERE/deskphone.service" "$HERE/deskphone-firstboot.service" \
    "$ROOT/etc/systemd/system/"
install -d -m 0755 "$ROOT/opt/deskphone"
install -m 0755 "$HERE/firstboot.py" "$ROOT/opt/deskphone/firstboot.py"
install -m 0644 "$HERE/../hw/README.md" "$ROOT/opt/deskphone/README.md" 2>/dev/null || true
in_root systemctl enable deskphone.service deskphone-firstboot.service \
    systemd-networkd.service systemd-resolved.service systemd-timesyncd.service

say "directories: /etc/deskphone root:root 0755, /var/lib/deskphone deskphone 0700"
# ConfigurationDirectoryMode=0755: systemd never chowns it and only warns about another mode.
install -d -m 0755 -o 0 -g 0 "$ROOT/etc/deskphone"
phone_uid="$(awk -F: '$1 == "deskphone" { print $3 }' "$ROOT/etc/passwd")"
phone_gid="$(awk -F: '$1 == "deskphone" { print $3 }' "$ROOT/etc/group")"
[ -n "$phone_uid" ] && [ -n "$phone_gid" ] || { echo "finish: no deskphone user" >&2; exit 1; }
install -d -m 0700 -o "$phone_uid" -g "$phone_gid" "$ROOT/var/lib/deskphone"

if [ -x "$ROOT/usr/sbin/sshd" ]; then
    say "ssh: off and without host keys until deskphone-ssh.service finds an authorized_keys"
    in_root systemctl disable ssh.service ssh.socket >/dev/null 2>&1 || true
    rm -f "$ROOT"/etc/ssh/ssh_host_*
    in_root systemctl enable deskphone-ssh.service
fi

say "first boot: deskphone-growroot.service grows the root partition to the card"
in_root systemctl enable deskphone-growroot.service
rm -f "$ROOT/var/lib/deskphone-growroot.done"
