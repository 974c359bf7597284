#!/usr/bin/env bash
# Install Debian's PostgreSQL server for the PostgreSQL end-to-end test
# (tests/flows/test_prefect_postgres.py starts its own server in a temporary data directory).
# Idempotent: does nothing when an initdb is already under /usr/lib/postgresql/*/bin.
# Needs root (or sudo). Usage: scripts/install-postgres.sh
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    echo "postgresql already installed: $(ls -d /usr/lib/postgresql/*/bin | tail -1)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

# The test starts its own server: no cluster on port 5432 is needed, so none is created.
$SUDO mkdir -p /etc/postgresql-common/createcluster.d
echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/refusal-audit.conf >/dev/null

export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3; do  # a passing mirror hiccup should not fail CI
    if $SUDO apt-get update && \
       $SUDO apt-get install -y --no-install-recommends postgresql; then
        ls -d /usr/lib/postgresql/*/bin
        exit 0
    fi
    echo "apt-get failed (attempt $attempt); retrying in 10 s" >&2
    sleep 10
done
exit 1
