#!/usr/bin/env bash
# Install headless Debian Chromium for the browser tests (tests/test_browser.py).
# Idempotent: does nothing when /usr/bin/chromium is already present.
# Needs root (or sudo). Usage: scripts/install-browser.sh
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(command -v chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3; do  # a passing mirror hiccup should not fail CI
    if $SUDO apt-get update && \
       $SUDO apt-get install -y --no-install-recommends chromium chromium-driver fonts-dejavu-core; then
        chromium --version
        exit 0
    fi
    echo "apt-get failed (attempt $attempt); retrying in 10 s" >&2
    sleep 10
done
exit 1
