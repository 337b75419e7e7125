#!/usr/bin/env bash
# Starts the two-daemon libvirt lab: two libvirtd + QEMU (TCG) daemons on this machine acting as
# "host 1" and "host 2", as LAB.md describes. Idempotent: when both daemons already answer, it only
# prints the environment. Needs root. Tear down with scripts/lab/down.sh.
#
# Each daemon runs in the foreground under `tini -s`, in its own mount namespace where
# $VIGIL_LAB_DIR/hostN/{etc,run,lib,log} are bound over /etc/libvirt, /run/libvirt, /var/lib/libvirt
# and /var/log/libvirt, with its own host_uuid. Both namespaces (not only host 2's) are private so
# that the machine's own libvirt configuration stays untouched, and both sockets live under
# $VIGIL_LAB_DIR, visible from either namespace: peer-to-peer migration works in both directions.
#
# How tests and tools find the lab: the fixed directory $VIGIL_LAB_DIR (default /run/vigil-lab)
# holds `env`, a shell file of `export KEY='value'` lines, written only once both daemons answer:
#   VIGIL_LAB_HOST1_URI      qemu+unix:///system?socket=/run/vigil-lab/host1/run/libvirt-sock
#   VIGIL_LAB_HOST2_URI      qemu+unix:///system?socket=/run/vigil-lab/host2/run/libvirt-sock
#   VIGIL_LAB_MIGRATION_URI  tcp://127.0.0.1   (QEMU's migration data channel)
#   VIGIL_LAB_HOST1_UUID, VIGIL_LAB_HOST2_UUID, VIGIL_LAB_IMAGES (a directory for disk images)
# `. /run/vigil-lab/env` exports them in a shell; this script also prints them on stdout.
# The URIs name the unix transport (qemu+unix://) on purpose: libvirt refuses a peer-to-peer
# destination URI without a host ("Attempt to migrate guest to the same host") unless it does.
# Restart one daemon's libvirtd with restart-daemon.sh host1|host2. Needs a kernel that lets root
# create mount namespaces (unshare --mount). up.sh, down.sh and restart-daemon.sh serialize on
# $VIGIL_LAB_DIR.lock; test runs that use the lab serialize on $VIGIL_LAB_DIR.tests.lock.
# Logs: $VIGIL_LAB_DIR/hostN/daemon.log and hostN/log/libvirtd.log.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

require_root
take_lab_lock
ensure_packages $LAB_PACKAGES
ensure_qemu_user
mkdir -p "$VIGIL_LAB_DIR/images"

for host in host1 host2; do
  if daemon_running "$host" && virsh -q -c "$(host_uri "$host")" list --all >/dev/null 2>&1; then
    log "$host: already running"
    continue
  fi
  stop_daemon "$host"
  kill_leftover_qemu "$host"
  write_host_config "$host"
  log "$host: starting libvirtd"
  start_daemon "$host"
done
for host in host1 host2; do
  wait_until_ready "$host"
  log "$host: ready at $(host_uri "$host")"
done
write_env_file
cat "$VIGIL_LAB_DIR/env"
