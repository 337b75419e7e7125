#!/usr/bin/env bash
# Restarts one lab daemon's libvirtd process (host1 or host2), for tests of the agent's reconnect.
# Running guests are not touched by libvirtd's exit; the new daemon re-adopts them.
# Usage: scripts/lab/restart-daemon.sh host1|host2
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

require_root
take_lab_lock
host="${1:-}"
require_lab_host "$host"
stop_daemon "$host"
log "$host: libvirtd stopped; starting it again"
start_daemon "$host"
wait_until_ready "$host"
log "$host: ready again"
