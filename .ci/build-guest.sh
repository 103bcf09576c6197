#!/usr/bin/env bash
# Builds the tiny guest of the KVM launcher's boot test: the Debian kernel and
# a gzipped cpio initramfs holding busybox, qemu_fw_cfg.ko and an /init that
# prints the SHA-256 of the Ignition blob QEMU hands over through fw_cfg,
# then powers off.
# Usage: .ci/build-guest.sh KERNEL_PKG_DIR BUSYBOX_PKG_DIR OUT_DIR
set -euo pipefail

kernel_dir="$1"
busybox_dir="$2"
out="$3"

vmlinuz="$(ls "$kernel_dir"/boot/vmlinuz-* | head -n1)"
version="${vmlinuz##*/vmlinuz-}"
fw_cfg="$kernel_dir/lib/modules/$version/kernel/drivers/firmware/qemu_fw_cfg.ko"
for f in "$vmlinuz" "$fw_cfg" "$busybox_dir/bin/busybox"; do
    [ -f "$f" ] || { echo "build-guest: missing $f" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/lib" "$work/proc" "$work/sys" "$work/dev"
cp "$busybox_dir/bin/busybox" "$work/bin/busybox"
cp "$fw_cfg" "$work/lib/qemu_fw_cfg.ko"
# virtio-net and its dependencies, in load order, so the guest can show the
# MAC of the NIC the launcher gave it (Debian builds them as modules).
modules="$kernel_dir/lib/modules/$version/kernel"
net_modules="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev
    drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover
    drivers/net/net_failover drivers/net/virtio_net"
mkdir -p "$work/lib/net" "$work/lib/acpi"
cp "$modules/drivers/acpi/button.ko" "$modules/drivers/input/evdev.ko" "$work/lib/acpi/"
n=0
for m in $net_modules; do
    n=$((n + 1))
    cp "$modules/$m.ko" "$work/lib/net/$(printf '%02d' "$n")-${m##*/}.ko"
done
cat > "$work/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
echo "g8s-guest: booted"
insmod /lib/qemu_fw_cfg.ko
for m in /lib/net/*.ko; do insmod "$m" 2>/dev/null; done
if [ -e /sys/class/net/eth0/address ]; then
    echo "g8s-guest: mac=$(cat /sys/class/net/eth0/address)"
fi
blob=/sys/firmware/qemu_fw_cfg/by_name/opt/org.flatcar-linux/config/raw
if [ -f "$blob" ]; then
    echo "g8s-guest: ignition-sha256=$(sha256sum "$blob" | cut -d' ' -f1)"
else
    echo "g8s-guest: ignition-missing"
fi
# g8s.acpi: stay up until the ACPI power button is pressed (the launcher's
# SIGTERM path through QMP system_powerdown), then power off.
# g8s.wait: stay up and ignore the button, so that the launcher's timeout
# (QMP quit) can be exercised. Otherwise power off straight away.
if grep -q g8s.acpi /proc/cmdline; then
    mount -t devtmpfs dev /dev
    insmod /lib/acpi/evdev.ko
    insmod /lib/acpi/button.ko
    # devtmpfs creates device nodes asynchronously: wait until every input
    # event device sysfs knows of has its node, or the button may be missed.
    tries=0
    while [ "$(ls /dev/input 2>/dev/null | grep -c '^event')" -lt \
            "$(ls /sys/class/input | grep -c '^event')" ] && [ $tries -lt 20 ]; do
        sleep 1
        tries=$((tries + 1))
    done
    for e in /dev/input/event*; do
        (dd if="$e" bs=24 count=1 >/dev/null 2>&1; echo "g8s-guest: power button"; poweroff -f) &
    done
    echo "g8s-guest: waiting"
    while true; do sleep 1; done
fi
if grep -q g8s.wait /proc/cmdline; then
    echo "g8s-guest: waiting"
    while true; do sleep 1; done
fi
poweroff -f
INIT
chmod +x "$work/init"
mkdir -p "$out"
(cd "$work" && find . | "$busybox_dir/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -9) > "$out/initramfs.gz.tmp"
mv "$out/initramfs.gz.tmp" "$out/initramfs.gz"
cp "$vmlinuz" "$out/vmlinuz"
echo "build-guest: $out/vmlinuz ($version) and $out/initramfs.gz"
