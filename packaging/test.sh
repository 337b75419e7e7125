#!/usr/bin/env bash
# The packaging tests, as CI runs them (a separate step: builds and a booted
# systemd container do not belong in `npm test`). On a fresh Debian 12 machine
# as root:
#   1. installs the build and test tools (idempotently),
#   2. builds all four packages with scripts/package.sh (fast compression),
#   3. runs test/packaging: lintian and rpmlint, unit hardening scores, the
#      .rpm inspected and test-installed, the .deb lifecycle under a real
#      systemd (mmdebstrap + systemd-nspawn -b), metrics over curl.
# Budget: about 10 minutes on 2 cores (3 of them compile better-sqlite3 once).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

scripts/install-deps.sh packaging

export VIGIL_PACKAGES_DIR="${VIGIL_PACKAGES_DIR:-$PWD/packaging/out}"
VIGIL_PACKAGE_COMPRESSION="${VIGIL_PACKAGE_COMPRESSION:-fast}" VIGIL_PACKAGE_OUT="$VIGIL_PACKAGES_DIR" scripts/package.sh
build_seconds=$((SECONDS - started))

# One test file at a time: the container test and the linters each want both cores.
VIGIL_TEST_CONCURRENCY=1 node scripts/run-tests.mjs test/packaging/
echo "packaging/test.sh: finished in $((SECONDS - started)) s (packages built in $build_seconds s)"
