#!/bin/bash
# mmdebstrap customize hook: install the gateway exactly as `make install` does, inside the
# image (venv built in the chroot so native wheels are arm64), users from sysusers.d.
set -euo pipefail
ROOT=$1 REPO=$2
make -C "$REPO" --no-print-directory install-files DESTDIR="$ROOT"
chroot "$ROOT" python3 -m venv /opt/helserom/.tools
chroot "$ROOT" /opt/helserom/.tools/bin/pip install --quiet uv
( cd "$REPO" && uv export --frozen --no-dev --no-hashes --no-emit-project ) > "$ROOT/opt/helserom/requirements.txt"
chroot "$ROOT" /opt/helserom/.tools/bin/uv venv /opt/helserom/.venv
chroot "$ROOT" env VIRTUAL_ENV=/opt/helserom/.venv /opt/helserom/.tools/bin/uv pip install \
  -r /opt/helserom/requirements.txt
chroot "$ROOT" env VIRTUAL_ENV=/opt/helserom/.venv /opt/helserom/.tools/bin/uv pip install \
  --no-deps /opt/helserom/app
chroot "$ROOT" systemd-sysusers
chroot "$ROOT" systemctl enable helserom-gateway.service helserom-kiosk.service \
  systemd-timesyncd.service bluetooth.service
chroot "$ROOT" systemctl set-default graphical.target
# no default passwords; IT adds an SSH key at first boot or in the image pipeline
chroot "$ROOT" passwd --lock root
rm -f "$ROOT/etc/ssh/ssh_host_"*  # regenerated per device on first boot
echo "helserom" > "$ROOT/etc/hostname"
# /var/lib/helserom lives on the data partition (kept across A/B updates)
cat >> "$ROOT/etc/fstab" <<'FSTAB'
LABEL=HS_BOOT  /boot/firmware   vfat  defaults,noatime  0 2
LABEL=HS_DATA  /var/lib/helserom ext4 defaults,noatime,nosuid,nodev,noexec 0 2
FSTAB
