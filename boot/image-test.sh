#!/usr/bin/env bash
# Boot the built SD image under qemu-system-aarch64 and check that the real deskphone.service
# reaches READY=1 as its own sandboxed user, after a provisioned and after an unprovisioned
# first boot (make image-test; needs boot/build-image.sh's output, not root).
#
#   boot/image-test.sh [--out DIR] [--case provisioned|unprovisioned|all] [--timeout SECONDS]
#
# Each case boots its own copy of OUT/deskphone.img (partition table, RASPIFIRM, RASPIROOT):
#   provisioned:   the FAT partition gets a deskphone.toml with an account (SIP password),
#                  [network] and [network.wifi], which deskphone-firstboot.service must apply;
#   unprovisioned: no deskphone.toml: the phone starts on LAN defaults (extension 100); an
#                  authorized_keys (a throwaway key) turns SSH on: the VM logs in to itself
#                  with the key and sees only publickey offered without it.
# Both copies are 512 MiB bigger than the image: first boot must grow the root partition.
# Into the ext4 partition go, through debugfs (no mount, no loop device, no root):
#   - one drop-in for deskphone.service: ExecStart gets --sim --no-terminal (qemu's virt
#     machine has no GPIO, I2C or sound card), Restart=no and an OnFailure reporter; the user,
#     sandbox, directories, Type=notify and watchdog stay the unit's own;
#   - deskphone-image-test.service, Requires/After deskphone.service: systemd starts it only
#     once deskphone.service is active, which for Type=notify means READY=1 arrived; it prints
#     what it sees (status, the service's uid, groups, capabilities, seccomp, mounts, the
#     modes and owners of what first boot wrote) as DESKPHONE-IMAGE-TEST lines on the serial
#     console and powers off. If deskphone fails, OnFailure prints its status and journal.
# The console is OUT/image-test-CASE.log; this script then checks every line against what
# boot/deskphone.service and boot/firstboot.py declare. 1-3 minutes per case under TCG.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$HERE/../out/image"
TIMEOUT=600
CASES=(provisioned unprovisioned)
while [ $# -gt 0 ]; do
    case "$1" in
        --out) OUT="$(realpath -m "$2")"; shift 2 ;;
        --timeout) TIMEOUT="$2"; shift 2 ;;
        --case)
            case "$2" in
                all) CASES=(provisioned unprovisioned) ;;
                provisioned|unprovisioned) CASES=("$2") ;;
                *) echo "image-test: --case: got '$2', expected provisioned, unprovisioned or all" >&2
                   exit 2 ;;
            esac
            shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "image-test: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
die() { echo "image-test: error: $*" >&2; exit 1; }
for f in vmlinuz initrd.img deskphone.img; do
    [ -f "$OUT/$f" ] || die "$OUT/$f is missing; build the image first (make image)"
done
"$HERE/host-prereqs.sh" test || exit 1
export MTOOLS_SKIP_CHECK=1

PROVISIONED_TOML='# written by boot/image-test.sh: applied by deskphone-firstboot.service at boot
[identity]
user = "imagetest"
extension = "4242"

[[accounts]]
name = "office"
registrar = "192.0.2.1"
user = "4242"
password = "image-test-sip-secret"

[network]
address = "192.0.2.42/24"
gateway = "192.0.2.1"
dns = ["192.0.2.1"]

[network.wifi]
ssid = "imagetest"
psk = "image-test-wifi-secret"
country = "DE"
'

# Runs inside the VM as root once deskphone.service is active (READY=1 arrived).
FACTS_SCRIPT='#!/bin/sh
say() { echo "DESKPHONE-IMAGE-TEST: $*"; }
pid=$(systemctl show -p MainPID --value deskphone.service)
field() { awk -v k="$1:" '\''$1 == k { $1 = ""; sub(/^ /, ""); print; exit }'\'' /proc/$pid/status; }
mountopt() { awk -v m="$1" '\''$5 == m { o = $6 } END { split(o, a, ","); print (o == "" ? "none" : a[1]) }'\'' /proc/$pid/mountinfo; }
modeowner() { stat -c "%a %U:%G" "$1" 2>/dev/null || echo absent; }
names=""
for g in $(field Groups); do names="$names $(getent group "$g" | cut -d: -f1)"; done
say "READY after $(cut -d" " -f1 /proc/uptime) s uptime"
say "FACT status=$(systemctl show -p StatusText --value deskphone.service)"
say "FACT active=$(systemctl is-active deskphone.service)"
say "FACT process_user=$(stat -c %U /proc/$pid)"
say "FACT uid=$(field Uid | cut -d" " -f1) deskphone_uid=$(id -u deskphone)"
say "FACT groups=$(echo $names | tr " " "\n" | sort | tr "\n" " " | sed "s/ $//")"
say "FACT nonewprivs=$(field NoNewPrivs) seccomp=$(field Seccomp)"
say "FACT capeff=$(field CapEff) capbnd=$(field CapBnd)"
say "FACT own_mount_ns=$([ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] && echo yes || echo no)"
say "FACT root_mount=$(mountopt /) state_mount=$(mountopt /var/lib/deskphone) home_mount=$(mountopt /home)"
say "FACT config=$(modeowner /etc/deskphone/deskphone.toml)"
say "FACT config_dir=$(modeowner /etc/deskphone)"
say "FACT state_dir=$(modeowner /var/lib/deskphone)"
say "FACT wpa=$(modeowner /etc/wpa_supplicant/wpa_supplicant-wlan0.conf)"
say "FACT wifi_network=$(modeowner /etc/systemd/network/10-deskphone-wifi.network)"
say "FACT hostname=$(hostname)"
say "FACT mode_warnings=$(journalctl -b --no-pager | grep -c "mode is different")"
say "FACT tracebacks=$(journalctl -b --no-pager -u deskphone.service | grep -c Traceback)"
rootdev="$(readlink -f "$(findmnt -no SOURCE /)")"
rootname="$(basename "$rootdev")"
disk="/dev/$(lsblk -no PKNAME "$rootdev" | head -1)"
say "FACT growroot=$(systemctl show -p Result --value deskphone-growroot.service) root_fs_mib=$(df -m --output=size / | tail -1 | tr -d " ")"
say "FACT disk_mib=$(( $(blockdev --getsize64 "$disk") / 1048576 )) root_end_mib=$(( ($(cat /sys/class/block/$rootname/start) + $(cat /sys/class/block/$rootname/size)) / 2048 ))"
say "FACT ssh_enabled=$(systemctl is-enabled ssh.service 2>/dev/null || true) host_keys=$(ls /etc/ssh/ssh_host_*_key 2>/dev/null | wc -l)"
if [ -f /root/image-test-key ]; then
    opts="-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10"
    key_login=refused
    for i in $(seq 1 30); do
        if ssh $opts -i /root/image-test-key root@127.0.0.1 true 2>/dev/null; then key_login=ok; break; fi
        sleep 2
    done
    # the same account without the key: password and keyboard-interactive must not even be offered
    methods="$(ssh $opts -o PubkeyAuthentication=no root@127.0.0.1 true 2>&1 | sed -n "s/.*Permission denied (\(.*\)).*/\1/p")"
    say "FACT ssh_key_login=$key_login ssh_other_methods=${methods:-none}"
fi
say "FACT secrets_in_journal=$(journalctl -b --no-pager | grep -c -e image-test-sip-secret -e image-test-wifi-secret)"
say "DONE"
'

DROPIN='[Unit]
OnFailure=deskphone-image-test-failed.service
[Service]
Restart=no
Environment=DESKPHONE_LOG=DEBUG
# qemu virt has no I2C OLED, GPIO or sound card: simulated devices, everything else as shipped.
ExecStart=
ExecStart=/opt/deskphone/venv/bin/deskphone run --sim --no-terminal --data-dir /var/lib/deskphone
'

REPORTER='[Unit]
Description=deskphone image test: report what deskphone.service looks like once ready
Requires=deskphone.service
After=deskphone.service deskphone-growroot.service deskphone-ssh.service
[Service]
Type=oneshot
StandardOutput=tty
TTYPath=/dev/ttyAMA0
ExecStart=/bin/sh /usr/local/lib/deskphone-image-test-facts
ExecStartPost=/bin/systemctl --no-block poweroff
[Install]
WantedBy=multi-user.target
'

FAILED_REPORTER='[Unit]
Description=deskphone image test: report that deskphone.service failed
[Service]
Type=oneshot
StandardOutput=tty
TTYPath=/dev/ttyAMA0
ExecStart=/bin/sh -c '\''echo "DESKPHONE-IMAGE-TEST: FAILED"; systemctl status --no-pager -l -n 40 deskphone.service; journalctl -b --no-pager -n 60 -u deskphone-firstboot.service -u deskphone.service'\''
ExecStartPost=/bin/systemctl --no-block poweroff
'

# expect NAME ACTUAL WANTED: one check, printed either way
failures=0
expect() {
    if [ "$2" = "$3" ]; then
        echo "image-test:   ok    $1 = $2"
    else
        echo "image-test:   FAIL  $1 = '$2', expected '$3'" >&2
        failures=$((failures + 1))
    fi
}
unit_value() { sed -n "s/^$1=//p" "$HERE/deskphone.service" | tail -1; }

run_case() {
    local case="$1" start test fat ext4 log status
    start=$(date +%s)
    test="$OUT/image-test-$case"
    log="$OUT/image-test-$case.log"
    rm -rf "$test"; mkdir -p "$test/files"
    cp --sparse=always "$OUT/deskphone.img" "$test/disk.img"
    # A card bigger than the image: first boot must grow the root partition to its end.
    truncate -s +512M "$test/disk.img"
    # partition start sectors from the MBR: p1 RASPIFIRM, p2 RASPIROOT
    local fat_start root_start
    read -r fat_start root_start < <(sfdisk -d "$test/disk.img" \
        | sed -n 's/.*start= *\([0-9]*\),.*/\1/p' | head -2 | tr '\n' ' '; echo)
    [ -n "${root_start:-}" ] || die "no partition table in $OUT/deskphone.img"
    fat="$test/disk.img@@$((fat_start * 512))"
    ext4="$test/disk.img?offset=$((root_start * 512))"
    local image_root_mib
    image_root_mib=$(( $(sfdisk -d "$test/disk.img" | sed -n 's/.*size= *\([0-9]*\),.*/\1/p' \
        | sed -n 2p) / 2048 ))
    local ssh=0
    [ "$case" = unprovisioned ] && ssh=1
    if [ "$ssh" -eq 1 ]; then
        # SSH the Raspberry Pi OS way, keys only: a throwaway key; the VM tries it on itself.
        ssh-keygen -q -t ed25519 -N "" -C image-test -f "$test/files/key"
        mcopy -o -i "$fat" "$test/files/key.pub" ::authorized_keys
    fi
    if [ "$case" = provisioned ]; then
        printf '%s' "$PROVISIONED_TOML" > "$test/files/deskphone.toml"
        mcopy -o -i "$fat" "$test/files/deskphone.toml" ::deskphone.toml
    fi
    printf '%s' "$DROPIN" > "$test/files/10-image-test.conf"
    printf '%s' "$REPORTER" > "$test/files/deskphone-image-test.service"
    printf '%s' "$FAILED_REPORTER" > "$test/files/deskphone-image-test-failed.service"
    printf '%s' "$FACTS_SCRIPT" > "$test/files/facts"
    local sd=/etc/systemd/system
    cat > "$test/debugfs.cmds" <<EOF
mkdir $sd/deskphone.service.d
write $test/files/10-image-test.conf $sd/deskphone.service.d/10-image-test.conf
write $test/files/deskphone-image-test.service $sd/deskphone-image-test.service
write $test/files/deskphone-image-test-failed.service $sd/deskphone-image-test-failed.service
symlink $sd/multi-user.target.wants/deskphone-image-test.service $sd/deskphone-image-test.service
mkdir /usr/local/lib
write $test/files/facts /usr/local/lib/deskphone-image-test-facts
EOF
    if [ "$ssh" -eq 1 ]; then
        printf '%s\n' "write $test/files/key /root/image-test-key" \
            "set_inode_field /root/image-test-key mode 0100600" >> "$test/debugfs.cmds"
    fi
    # debugfs writes into the ext4 image directly (e2fsprogs); files come out root-owned.
    debugfs -w -f "$test/debugfs.cmds" "$ext4" >"$test/debugfs.log" 2>&1 \
        || die "debugfs could not edit RASPIROOT of $test/disk.img (see $test/debugfs.log)"

    echo "image-test: [$case] booting a copy of $OUT/deskphone.img under qemu-system-aarch64" \
         "(timeout ${TIMEOUT} s); console in $log"
    set +e
    timeout --foreground "$TIMEOUT" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1024 \
        -nographic -nic none -no-reboot \
        -kernel "$OUT/vmlinuz" -initrd "$OUT/initrd.img" \
        -append "root=LABEL=RASPIROOT rw console=ttyAMA0 systemd.show_status=1" \
        -drive "file=$test/disk.img,if=virtio,format=raw" </dev/null >"$log" 2>&1
    status=$?
    set -e
    local elapsed=$(( $(date +%s) - start ))
    tr -d '\r' < "$log" > "$test/console.txt"
    if ! grep -q "DESKPHONE-IMAGE-TEST: DONE" "$test/console.txt"; then
        if grep -q "DESKPHONE-IMAGE-TEST: FAILED" "$test/console.txt"; then
            echo "image-test: [$case] FAIL in ${elapsed} s: deskphone.service failed; its status and journal:" >&2
            sed -n '/DESKPHONE-IMAGE-TEST: FAILED/,$p' "$test/console.txt" | head -150 >&2
        else
            echo "image-test: [$case] FAIL in ${elapsed} s: no READY=1 report within ${TIMEOUT} s (qemu exit $status); last console lines:" >&2
            tail -40 "$test/console.txt" >&2
        fi
        return 1
    fi
    fact() { sed -n "s/.*DESKPHONE-IMAGE-TEST: FACT .*\<$1=\([^ ]*\).*/\1/p" "$test/console.txt" | head -1; }
    factline() { sed -n "s/.*DESKPHONE-IMAGE-TEST: FACT $1=\(.*\)$/\1/p" "$test/console.txt" | head -1; }
    echo "image-test: [$case] $(grep -o 'DESKPHONE-IMAGE-TEST: READY.*' "$test/console.txt" | head -1)"
    failures=0
    local extension=100
    [ "$case" = unprovisioned ] || extension=4242
    expect "deskphone.service STATUS" "$(factline status)" "extension $extension"
    expect "deskphone.service state" "$(fact active)" "active"
    expect "process user" "$(fact process_user)" "$(unit_value User)"
    expect "process uid" "$(fact uid)" "$(fact deskphone_uid)"
    # systemd gives the process the user's group list (its own group included) plus the unit's
    # SupplementaryGroups=: Group= and those, nothing else.
    expect "groups (Group= + SupplementaryGroups=)" "$(factline groups)" \
        "$(echo "$(unit_value Group) $(unit_value SupplementaryGroups)" | tr ' ' '\n' | sort -u \
        | tr '\n' ' ' | sed 's/ $//')"
    expect "NoNewPrivs (NoNewPrivileges=yes)" "$(fact nonewprivs)" 1
    expect "seccomp filter (SystemCallFilter=)" "$(fact seccomp)" 2
    expect "effective capabilities" "$(fact capeff)" 0000000000000000
    expect "bounding set (CapabilityBoundingSet=)" "$(fact capbnd)" 0000000000000000
    expect "own mount namespace" "$(fact own_mount_ns)" yes
    expect "/ in its namespace (ProtectSystem=strict)" "$(fact root_mount)" ro
    expect "/var/lib/deskphone in its namespace (StateDirectory=)" "$(fact state_mount)" rw
    expect "state dir (StateDirectoryMode=)" "$(factline state_dir)" \
        "$(unit_value StateDirectoryMode | sed 's/^0//') deskphone:deskphone"
    expect "config dir (ConfigurationDirectoryMode=)" "$(factline config_dir)" \
        "$(unit_value ConfigurationDirectoryMode | sed 's/^0//') root:root"
    expect "systemd 'mode is different' warnings" "$(fact mode_warnings)" 0
    expect "tracebacks in the journal" "$(fact tracebacks)" 0
    expect "deskphone-growroot.service" "$(fact growroot)" success
    expect "root partition ends at the end of the disk" \
        "$(( $(fact disk_mib) - $(fact root_end_mib) <= 1 ))" 1
    expect "root file system grown by the card's extra 512 MiB" \
        "$(( $(fact root_fs_mib) >= image_root_mib + 400 ))" 1
    if [ "$ssh" -eq 1 ]; then
        expect "ssh.service with an authorized_keys on the card" "$(fact ssh_enabled)" enabled
        expect "host keys made on the phone" "$(( $(fact host_keys) >= 1 ))" 1
        expect "SSH login with the key" "$(fact ssh_key_login)" ok
        expect "SSH methods offered without the key" "$(fact ssh_other_methods)" publickey
    else
        expect "ssh.service without authorized_keys" "$(fact ssh_enabled)" disabled
        expect "host keys in the image" "$(fact host_keys)" 0
    fi
    if [ "$case" = provisioned ]; then
        expect "/etc/deskphone/deskphone.toml" "$(factline config)" "640 root:deskphone"
        expect "wpa_supplicant-wlan0.conf" "$(factline wpa)" "600 root:root"
        expect "10-deskphone-wifi.network" "$(factline wifi_network)" "644 root:root"
        expect "host name (from the extension)" "$(fact hostname)" "deskphone-4242"
        expect "passwords in the journal" "$(fact secrets_in_journal)" 0
        local result
        result="$(mtype -i "$fat" ::deskphone.toml.result 2>/dev/null || true)"
        expect "deskphone.toml.result on the card" "$([ -n "$result" ] && echo present || echo absent)" present
        expect "deskphone.toml left on the card" \
            "$(mdir -i "$fat" ::deskphone.toml >/dev/null 2>&1 && echo present || echo absent)" absent
        [ -z "$result" ] || echo "image-test:   first boot left on the card: $(echo "$result" | tr '\n' ' ')"
    else
        expect "/etc/deskphone/deskphone.toml" "$(factline config)" absent
        expect "host name" "$(fact hostname)" deskphone
    fi
    if [ "$failures" -gt 0 ]; then
        echo "image-test: [$case] FAIL in ${elapsed} s: $failures check(s) failed (console: $log)" >&2
        return 1
    fi
    echo "image-test: [$case] PASS in ${elapsed} s"
    rm -rf "$test"
}

START=$(date +%s)
result=0
for c in "${CASES[@]}"; do
    run_case "$c" || result=1
done
if [ "$result" -eq 0 ]; then
    echo "image-test: PASS (${CASES[*]}) in $(( $(date +%s) - START )) s"
else
    echo "image-test: FAIL (${CASES[*]}) after $(( $(date +%s) - START )) s" >&2
fi
exit "$result"
