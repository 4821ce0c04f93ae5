#!/usr/bin/env bash
# Boot the built image's root filesystem under qemu-system-aarch64 and pass when the firmware
# reports ready (make image-test; needs boot/build-image.sh's output, not root).
#
#   boot/image-test.sh [--out DIR] [--timeout SECONDS] [--smoke]
#
# A copy of the whole OUT/deskphone.img (partition table, RASPIFIRM, RASPIROOT) is booted:
#   - its FAT partition gets a deskphone.toml (extension 4242, a static address, a hostname),
#     so the first-boot service must validate and apply it before the phone starts;
# and its ext4 partition gets, through debugfs (no mount, no loop device):
#   - a drop-in for deskphone.service: GPIOZERO_PIN_FACTORY=mock and `run --sim` (qemu's
#     virt machine has no GPIO, I2C or sound card), same user, sandbox and watchdog;
#   - deskphone-image-test.service, ordered after deskphone.service: systemd starts it only
#     once deskphone.service is active, which for Type=notify means READY=1 arrived; it prints
#     DESKPHONE-IMAGE-TEST: READY on the serial console and powers the VM off. If deskphone
#     fails, OnFailure prints DESKPHONE-IMAGE-TEST: FAILED with the unit's status.
# --smoke replaces ExecStart with a minimal program (the image's venv, deskphone.systemd)
#     that sends READY=1 and then idles on WATCHDOG=1: it checks the image, the unit's
#     sandboxing and the venv while `deskphone run` is not finished.
# Then: qemu-system-aarch64 -M virt -cpu cortex-a72 -m 1024 -nic none with the image's kernel
# and initrd, root=LABEL=RASPIROOT; the serial console is OUT/image-test.log. It passes when
# READY=1 arrived with the provisioned extension in STATUS= and the card holds
# deskphone.toml.result instead of deskphone.toml. Typically 1-3 minutes (TCG emulation).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/../out/image"
TIMEOUT=600
SMOKE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT="$(realpath -m "$2")"; shift 2 ;;
        --timeout) TIMEOUT="$2"; shift 2 ;;
        --smoke) SMOKE=1; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "image-test: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
die() { echo "image-test: error: $*" >&2; exit 1; }
for f in vmlinuz initrd.img deskphone.img; do
    [ -f "$OUT/$f" ] || die "$OUT/$f is missing; build the image first (make image)"
done
for tool in qemu-system-aarch64 debugfs timeout sfdisk mcopy mtype mdir; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install \
qemu-system-arm e2fsprogs coreutils fdisk mtools)"
done

START=$(date +%s)
TEST="$OUT/image-test"
rm -rf "$TEST"; mkdir -p "$TEST/files"
cp --sparse=always "$OUT/deskphone.img" "$TEST/disk.img"
# partition start sectors from the MBR: p1 RASPIFIRM, p2 RASPIROOT
read -r FAT_START ROOT_START < <(sfdisk -d "$TEST/disk.img" \
    | sed -n 's/.*start= *\([0-9]*\),.*/\1/p' | head -2 | tr '\n' ' '; echo)
[ -n "${ROOT_START:-}" ] || die "no partition table in $OUT/deskphone.img"
FAT="$TEST/disk.img@@$((FAT_START * 512))"
EXT4="$TEST/disk.img?offset=$((ROOT_START * 512))"
export MTOOLS_SKIP_CHECK=1
cat > "$TEST/files/deskphone.toml" <<'EOF'
# written by boot/image-test.sh: applied by deskphone-firstboot.service at boot
[identity]
user = "imagetest"
extension = "4242"

[network]
hostname = "deskphone-imagetest"
address = "192.0.2.42/24"
gateway = "192.0.2.1"
EOF
mcopy -o -i "$FAT" "$TEST/files/deskphone.toml" ::deskphone.toml

cat > "$TEST/files/10-image-test.conf" <<'EOF'
[Unit]
OnFailure=deskphone-image-test-failed.service
[Service]
Environment=GPIOZERO_PIN_FACTORY=mock DESKPHONE_LOG=DEBUG
Restart=no
# qemu's virt machine has no I2C OLED and no sound card: simulated display and audio.
ExecStart=
ExecStart=/opt/deskphone/venv/bin/deskphone run --sim --no-terminal --data-dir /var/lib/deskphone
EOF
if [ "$SMOKE" -eq 1 ]; then
    cat > "$TEST/files/20-smoke.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/opt/deskphone/venv/bin/python3 -c "import time, deskphone.systemd as s, gpiozero, luma.oled.device, alsaaudio, cryptography, pylibsrtp, google_crc32c, zeroconf, gpiod; n = s.SystemdNotifier.from_environment(); n.ready('image smoke test'); [ (n.watchdog(), time.sleep(n.watchdog_ping_interval() or 5)) for _ in iter(int, 1) ]"
EOF
fi
cat > "$TEST/files/deskphone-image-test.service" <<'EOF'
[Unit]
Description=deskphone image test: report that deskphone.service is ready
Requires=deskphone.service
After=deskphone.service
[Service]
Type=oneshot
StandardOutput=tty
TTYPath=/dev/ttyAMA0
ExecStart=/bin/sh -c 'echo "DESKPHONE-IMAGE-TEST: READY after $(cut -d" " -f1 /proc/uptime) s uptime: $(systemctl show -p StatusText --value deskphone.service)"'
ExecStartPost=/bin/systemctl --no-block poweroff
[Install]
WantedBy=multi-user.target
EOF
cat > "$TEST/files/deskphone-image-test-failed.service" <<'EOF'
[Unit]
Description=deskphone image test: report that deskphone.service failed
[Service]
Type=oneshot
StandardOutput=tty
TTYPath=/dev/ttyAMA0
ExecStart=/bin/sh -c 'echo "DESKPHONE-IMAGE-TEST: FAILED"; systemctl status --no-pager -l -n 40 deskphone.service; journalctl -b --no-pager -n 60 -u deskphone.service'
ExecStartPost=/bin/systemctl --no-block poweroff
EOF

# debugfs writes into the ext4 image directly (e2fsprogs; no mount, no root).
{
    echo "mkdir /etc/systemd/system/deskphone.service.d"
    echo "write $TEST/files/10-image-test.conf /etc/systemd/system/deskphone.service.d/10-image-test.conf"
    [ "$SMOKE" -eq 0 ] || echo "write $TEST/files/20-smoke.conf /etc/systemd/system/deskphone.service.d/20-smoke.conf"
    echo "write $TEST/files/deskphone-image-test.service /etc/systemd/system/deskphone-image-test.service"
    echo "write $TEST/files/deskphone-image-test-failed.service /etc/systemd/system/deskphone-image-test-failed.service"
    echo "symlink /etc/systemd/system/multi-user.target.wants/deskphone-image-test.service /etc/systemd/system/deskphone-image-test.service"
} > "$TEST/debugfs.cmds"
debugfs -w -f "$TEST/debugfs.cmds" "$EXT4" >"$TEST/debugfs.log" 2>&1 \
    || die "debugfs could not edit the RASPIROOT partition of $TEST/disk.img (see $TEST/debugfs.log)"
# debugfs writes files as uid/gid 0, mode 0644 from the source: what systemd expects.

LOG="$OUT/image-test.log"
echo "image-test: booting a copy of $OUT/deskphone.img under qemu-system-aarch64, timeout ${TIMEOUT}s;" \
     "console in $LOG"
set +e
timeout --foreground "$TIMEOUT" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 \
    -nographic -nic none -no-reboot \
    -kernel "$OUT/vmlinuz" -initrd "$OUT/initrd.img" \
    -append "root=LABEL=RASPIROOT rw console=ttyAMA0 systemd.show_status=1" \
    -drive "file=$TEST/disk.img,if=virtio,format=raw" </dev/null >"$LOG" 2>&1
status=$?
set -e
elapsed=$(( $(date +%s) - START ))
if grep -q "DESKPHONE-IMAGE-TEST: READY" "$LOG"; then
    ready="$(grep -a 'DESKPHONE-IMAGE-TEST: READY' "$LOG" | head -1 | tr -d '\r' \
        | sed 's/.*DESKPHONE-IMAGE-TEST/DESKPHONE-IMAGE-TEST/')"
    echo "image-test: $ready"
    if [ "$SMOKE" -eq 0 ] && ! echo "$ready" | grep -q "extension 4242"; then
        echo "image-test: FAIL in ${elapsed} s: the phone did not run with the provisioned" \
             "deskphone.toml (expected extension 4242 in its status)" >&2
        exit 1
    fi
    result="$(mtype -i "$FAT" ::deskphone.toml.result 2>/dev/null || true)"
    if [ -z "$result" ] || mdir -i "$FAT" ::deskphone.toml >/dev/null 2>&1; then
        echo "image-test: FAIL in ${elapsed} s: first boot did not apply deskphone.toml:" >&2
        mtype -i "$FAT" ::deskphone.toml.error >&2 2>/dev/null || true
        exit 1
    fi
    echo "image-test: first boot left on the card: $(echo "$result" | tr '\n' ' ')"
    echo "image-test: PASS in ${elapsed} s"
    rm -rf "$TEST"
    exit 0
fi
if grep -q "DESKPHONE-IMAGE-TEST: FAILED" "$LOG"; then
    echo "image-test: FAIL in ${elapsed} s: deskphone.service failed; its status and journal:" >&2
    sed -n '/DESKPHONE-IMAGE-TEST: FAILED/,$p' "$LOG" | tr -d '\r' | head -120 >&2
else
    echo "image-test: FAIL in ${elapsed} s: no READY within ${TIMEOUT} s (qemu exit $status); last console lines:" >&2
    tail -40 "$LOG" | tr -d '\r' >&2
fi
exit 1
