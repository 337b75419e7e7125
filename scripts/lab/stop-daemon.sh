#!/usr/bin/env bash
# Stops one lab daemon's libvirtd (host1 or host2) and leaves it stopped: its QEMU guests run on, as
# they do when libvirtd dies on a real host. For tests of the agent while libvirtd is down; bring it
# back with start-daemon.sh (or restart-daemon.sh).
# Usage: scripts/lab/stop-daemon.sh host1|host2
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

require_root
take_lab_lock
host="${1:-}"
require_lab_host "$host"
stop_daemon "$host"
log "$host: libvirtd stopped (guests keep running)"
