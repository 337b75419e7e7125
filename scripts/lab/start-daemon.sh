#!/usr/bin/env bash
# Starts one lab daemon's libvirtd (host1 or host2) again after stop-daemon.sh and waits until it
# answers; the daemon re-adopts the QEMU guests that ran on. A no-op when it already runs.
# Usage: scripts/lab/start-daemon.sh host1|host2
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

require_root
take_lab_lock
host="${1:-}"
require_lab_host "$host"
if daemon_running "$host"; then
  log "$host: libvirtd already runs"
  exit 0
fi
start_daemon "$host"
wait_until_ready "$host"
log "$host: ready again"
