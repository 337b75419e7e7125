#!/usr/bin/env bash
# Stops or starts one lab daemon's libvirtd (host1 or host2), for tests of the agent while libvirtd
# is down. "stop" leaves it stopped with its QEMU guests running on, as when libvirtd dies on a real
# host; "start" brings it back (a no-op when it runs) and waits until it answers, re-adopting them.
# Usage: scripts/lab/daemon.sh stop|start host1|host2
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

require_root
take_lab_lock
LAB_USAGE="stop|start host1|host2"
verb="${1:-}"
host="${2:-}"
require_lab_host "$host"
case "$verb" in
  stop)
    stop_daemon "$host"
    log "$host: libvirtd stopped (guests keep running)"
    ;;
  start)
    if daemon_running "$host"; then
      log "$host: libvirtd already runs"
      exit 0
    fi
    start_daemon "$host"
    wait_until_ready "$host"
    log "$host: ready again"
    ;;
  *) die "usage: $0 stop|start host1|host2" ;;
esac
