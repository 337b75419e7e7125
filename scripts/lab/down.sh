#!/usr/bin/env bash
# Tears down the lab that up.sh started: destroys running domains, stops both daemons (bounded),
# kills any QEMU they left behind, and removes $VIGIL_LAB_DIR. Safe to run when nothing is up.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"

require_root
take_lab_lock
rm -f "$VIGIL_LAB_DIR/env"
for host in host1 host2; do
  destroy_running_domains "$host"
  stop_daemon "$host"
  kill_leftover_qemu "$host"
  log "$host: stopped"
done
rm -rf "$VIGIL_LAB_DIR"
