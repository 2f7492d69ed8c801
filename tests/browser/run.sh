#!/usr/bin/env bash
# Browser tests of `fleetlab serve`: builds the binary, serves the bundled
# Contoso tenant, runs the Playwright tests against the system Chromium and
# screenshots the Rule lab into the target directory (SCREENSHOT="$PWD/docs/serve.png"
# refreshes the one the docs show, so a test run leaves the checkout clean).
# Skips with a notice when no browser or no Node.js is installed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
if [ -z "$chromium" ] || ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "notice: browser tests skipped (needs chromium and node; apt-get install -y chromium nodejs npm)"
    exit 0
fi

cargo build --quiet --bin fleetlab
target="${CARGO_TARGET_DIR:-$root/target}"
bin="$target/debug/fleetlab"

(cd "$here" && npm ci --no-audit --no-fund --silent)

out="$(mktemp)"
"$bin" serve --port 0 --devices scenarios/contoso/devices.json --tenant scenarios/contoso/tenant.toml \
    --users scenarios/contoso/users.json >"$out" 2>/dev/null &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 1 300); do
    [ -s "$out" ] && break
    kill -0 "$server" 2>/dev/null || { echo "fleetlab serve exited"; exit 1; }
    sleep 0.1
done
url="$(head -n 1 "$out")"
echo "== browser tests against $url"
(cd "$here" && FLEETLAB_URL="$url" FLEETLAB_BIN="$bin" CHROMIUM="$chromium" \
    SCREENSHOT="${SCREENSHOT:-$target/serve.png}" node --test ui.test.mjs)
