#!/usr/bin/env bash
# Every test: installs what is needed (Debian packages, npm packages), starts
# the two-daemon libvirtd lab for the real-libvirt tests, builds, runs all tests.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
scripts/install-deps.sh test
if [ "$(id -u)" -eq 0 ] && [ -x scripts/lab/up.sh ]; then
  scripts/lab/up.sh
  trap 'scripts/lab/down.sh || true' EXIT
fi
npm test
# Packages: build the four packages, lint them, and test their lifecycle under a real systemd
# (a booted container), about 10 minutes. Needs root; skipped visibly otherwise.
if [ "$(id -u)" -eq 0 ]; then
  timeout 25m packaging/test.sh
else
  echo "test.sh: SKIPPED the packaging tests: they need root (mmdebstrap, systemd-nspawn, dpkg -i)"
fi
echo "test.sh: finished in $(( $(date +%s) - started )) s"
