#!/bin/sh
# deskphone-ssh.service: install the public keys from the boot partition for root, create this
# phone's own host keys (the image ships none: every card would share them) and start sshd.
set -eu
source_keys="$1"
keys=/root/.ssh/authorized_keys
install -d -m 0700 /root/.ssh
# Key lines only (RFC 4253 key types, FIDO sk- keys); comments and anything else are dropped.
if ! grep -E '^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) ' \
        "$source_keys" > "$keys.new"; then
    rm -f "$keys.new"
    echo "deskphone-ssh: no public key in $source_keys: SSH stays off" >&2
    exit 1
fi
chmod 0600 "$keys.new"
mv "$keys.new" "$keys"
ssh-keygen -A
systemctl enable ssh.service
systemctl start --no-block ssh.service
echo "deskphone-ssh: SSH on for root with $(wc -l < "$keys") key(s) from $source_keys"
