#!/usr/bin/env bash
# The demo: vigild (single replica, embedded SQLite) and one vigil-agent on
# libvirt's test driver, driven with vigilctl. Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh demo
npm run --silent build

port="${VIGIL_DEMO_PORT:-7400}"
endpoint="127.0.0.1:$port"
work="$(mktemp -d /tmp/vigil-demo.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

vigilctl() { echo "\$ vigilctl $*" >&2; node dist/controlplane/cli/vigilctl.js --endpoints "$endpoint" "$@"; echo >&2; }

echo "== starting vigild (single replica, data in $work/vigild) on $endpoint"
node dist/controlplane/main.js --insecure --id cp1 --listen "$endpoint" --data-dir "$work/vigild" > "$work/vigild.log" 2>&1 &
pids+=($!)
echo "== starting vigil-agent for host demo-h1 on libvirt test:///default"
node dist/agent/main.js --insecure --host-id demo-h1 --control-plane "$endpoint" --libvirt-uri test:///default --state-dir "$work/agent" > "$work/agent.log" 2>&1 &
pids+=($!)

# Bounded wait for the host and its VM to be reported.
for _ in $(seq 1 100); do
  if node dist/controlplane/cli/vigilctl.js --endpoints "$endpoint" -o json vm list 2>/dev/null | grep -q '"state": *"running"'; then break; fi
  sleep 0.2
done

vigilctl cluster status
vigilctl host list
vigilctl vm list
vigilctl vm stop test
vigilctl vm list
vigilctl vm start test
vigilctl vm list
vigilctl events
echo "== demo finished; stopping vigild and the agent (logs were in $work)"
