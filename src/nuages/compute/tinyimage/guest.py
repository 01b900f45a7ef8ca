"""The scripts and configuration files that run inside the tiny guest.

They are busybox ``sh`` scripts: the guest has busybox, dropbear and nothing else.
Every step logs one line on the serial console (``nuages-tiny[<uptime>]: ...``) so a
console log shows where a boot spent its time or stopped.
"""

from __future__ import annotations

# Printed by the guest when SSH is about to be served; tests and benchmarks may wait for it.
READY_MARKER = "nuages-tiny: ready"
# Printed by the acceleration probe's guest just before it powers off.
PROBE_MARKER = "NUAGES-PROBE-OK"

_LOG = """log() { echo "nuages-tiny[$(cut -d' ' -f1 /proc/uptime)]: $*"; }"""

# /init of the initramfs: load the drivers, mount the disk, hand over to its /sbin/init.
INITRAMFS_INIT = (
    """#!/bin/busybox sh
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /newroot
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
"""
    + _LOG
    + """
log "initramfs: loading drivers"
while read -r mod; do
  insmod "/lib/modules/$mod" 2>/dev/null || log "initramfs: could not load $mod"
done < /etc/modules.order

root=/dev/vda
fstype=ext4
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    root=*) root="${arg#root=}" ;;
    rootfstype=*) fstype="${arg#rootfstype=}" ;;
  esac
done

# Drivers probe asynchronously; give the disk a few seconds to appear.
i=0
while [ ! -b "$root" ] && [ $i -lt 100 ]; do usleep 100000; i=$((i+1)); done
if mount -t "$fstype" -o rw "$root" /newroot; then
  log "initramfs: mounted $root, switching root"
  mount --move /dev /newroot/dev
  umount /proc /sys
  exec switch_root /newroot /sbin/init
fi
log "initramfs: cannot mount $root ($fstype); rescue shell on the console"
exec sh
"""
)

# /init of the acceleration probe's initramfs: prove user space ran, then power off.
PROBE_INIT = f"""#!/bin/busybox sh
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bin/busybox echo "{PROBE_MARKER}" > /dev/console
/bin/busybox poweroff -f
"""

INITTAB = """\
::sysinit:/etc/nuages-tiny/rcS
::respawn:/usr/sbin/dropbear -F -E -s -p 22 -r /etc/dropbear/dropbear_ed25519_host_key
::respawn:/sbin/acpid -f -c /etc/acpi -l /run/acpid.log
ttyS0::respawn:/sbin/getty -n -l /etc/nuages-tiny/console-shell -L 115200 ttyS0 vt100
::ctrlaltdel:/sbin/reboot
::shutdown:/etc/nuages-tiny/rc.shutdown
"""

# The serial console's program (getty -n -l): root's login shell without a password.
# Why no login prompt: root has no password (SSH keys only); the console is reached only
# through the platform's single-use console token, given to those who may operate the
# VM (issue 14.3), as a provider's rescue console is.
CONSOLE_SHELL = """#!/bin/sh
cd /root
exec /bin/sh -l
"""

# Boot script of the disk root. cloud-init semantics kept: SSH keys and a user-data
# script are applied once per instance-id; the hostname at every boot.
RCS = (
    """#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
"""
    + _LOG
    + """
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -o remount,rw /
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
log "root file system mounted read-write"

state=/var/lib/nuages-tiny
mkdir -p $state
if [ ! -e $state/owned ]; then
  # The image may have been built by an unprivileged user: give the system to root.
  chown 0:0 /
  for d in bin sbin usr lib lib64 etc root var home; do
    [ -e /$d ] && chown -hR 0:0 /$d
  done
  chmod 0700 /root
  touch $state/owned
fi

# Grow the file system to the disk (the disk may have been enlarged while shut off).
resize2fs /dev/vda >/dev/null 2>&1 && log "file system fills the disk"

unquote() { sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e 's/^"\\(.*\\)"$/\\1/' \\
  -e "s/^'\\(.*\\)'\\$/\\1/"; }
seed=/run/seed
mkdir -p $seed
dev=$(findfs LABEL=cidata 2>/dev/null || findfs LABEL=CIDATA 2>/dev/null || echo /dev/sr0)
if mount -t iso9660 -o ro "$dev" $seed 2>/dev/null; then
  log "seed found on $dev"
  iid=$(sed -n 's/^instance-id:[[:space:]]*//p' $seed/meta-data | unquote)
  name=$(sed -n 's/^local-hostname:[[:space:]]*//p' $seed/meta-data | unquote)
  if head -n1 $seed/user-data | grep -q '^#cloud-config'; then
    uname=$(sed -n 's/^hostname:[[:space:]]*//p' $seed/user-data | unquote)
    [ -n "$uname" ] && name=$uname
  fi
  [ -n "$name" ] && echo "$name" > /etc/hostname
  if [ -n "$iid" ] && [ "$iid" != "$(cat $state/instance-id 2>/dev/null)" ]; then
    log "new instance $iid: applying user-data"
    if head -n1 $seed/user-data | grep -q '^#cloud-config'; then
      mkdir -p /root/.ssh
      chmod 0700 /root/.ssh
      awk -f /etc/nuages-tiny/keys.awk $seed/user-data | unquote > /root/.ssh/authorized_keys
      chmod 0600 /root/.ssh/authorized_keys
      log "$(wc -l < /root/.ssh/authorized_keys) SSH key(s) authorised for root"
    elif head -n1 $seed/user-data | grep -q '^#!'; then
      cp $seed/user-data $state/user-script
      chmod 0700 $state/user-script
      touch $state/user-script.pending
    fi
    echo "$iid" > $state/instance-id
  fi
  umount $seed
else
  log "no seed found; keeping the previous configuration"
fi
hostname -F /etc/hostname 2>/dev/null
log "hostname $(hostname)"

if [ ! -s /etc/dropbear/dropbear_ed25519_host_key ]; then
  mkdir -p /etc/dropbear
  dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key >/dev/null 2>&1
  log "SSH host key generated"
fi

ip link set lo up
if ip link show eth0 >/dev/null 2>&1; then
  ip link set eth0 up
  if udhcpc -i eth0 -s /etc/nuages-tiny/udhcpc.script -q -n -t 10 -T 1 >/dev/null 2>&1; then
    log "eth0 $(ip -4 -o addr show dev eth0 | awk '{print $4}')"
  else
    log "eth0: no DHCP answer"
  fi
fi

if [ -e $state/user-script.pending ]; then
  log "running the user-data script"
  $state/user-script 2>&1 | sed 's/^/user-data: /'
  rm -f $state/user-script.pending
fi
sync
log "ready (ssh on port 22)"
"""
)

# Picks the items of every ``ssh_authorized_keys:`` block list of a #cloud-config.
KEYS_AWK = r"""
function indent(s) { match(s, /^[ \t]*/); return RLENGTH }
/^[ \t]*ssh_authorized_keys:[ \t]*$/ { inlist = 1; base = indent($0); next }
inlist && /^[ \t]*-[ \t]/ && indent($0) >= base {
  line = $0; sub(/^[ \t]*-[ \t]*/, "", line); print line; next
}
inlist && (/^[ \t]*$/ || /^[ \t]*#/) { next }
{ inlist = 0 }
"""

RC_SHUTDOWN = (
    """#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
"""
    + _LOG
    + """
log "shutting down"
killall dropbear acpid udhcpc 2>/dev/null
# killall does not wait; a process still holding a file open for writing would make
# the read-only remount fail.
i=0
while pidof dropbear acpid udhcpc >/dev/null && [ $i -lt 30 ]; do usleep 100000; i=$((i+1)); done
sync
# Only the disk matters (/run and /tmp are tmpfs); 'umount -a' would take /proc and
# with it the mount table that remount needs.
if mount -o remount,ro /; then
  log "root file system read-only"
else
  log "root file system still writable (busy); synced"
fi
"""
)

# busybox acpid runs /etc/acpi/PWRF/00000080 when the power button is pressed (ACPI
# shutdown from the hypervisor; a libvirt reboot is a power-off the host turns into a reset).
ACPI_POWER_BUTTON = """#!/bin/sh
exec /sbin/poweroff
"""

UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  deconfig)
    ip -4 addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
      ip route replace default via "${router%% *}" dev "$interface"
    fi
    ;;
esac
exit 0
"""

USERS_FILE = "root:x:0:0:root:/root:/bin/sh\n"  # /etc/passwd: no secret in it
# '*' (not '!'): no password can match, yet dropbear does not treat the account as locked.
ETC_SHADOW = "root:*:19000:0:99999:7:::\n"
GROUP = "root:x:0:\n"
SHELLS = "/bin/sh\n/bin/ash\n"
PROFILE = 'export PATH=/sbin:/bin:/usr/sbin:/usr/bin\nexport PS1="\\h:\\w\\$ "\n'
HOSTS = "127.0.0.1 localhost\n::1 localhost\n"
OS_RELEASE = 'NAME="nuages tiny"\nID=nuages-tiny\nPRETTY_NAME="nuages tiny guest"\n'
