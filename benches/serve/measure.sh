#!/usr/bin/env bash
# API latency of `fleetlab serve` on a packed fleet under concurrent clients,
# and the server's memory. Needs wrk (apt-get install wrk) and a release build.
#   benches/serve/measure.sh [DEVICES] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
devices="${1:-1000000}"
seconds="${2:-20}"
bin="${CARGO_TARGET_DIR:-target}/release/fleetlab"
fleet="${FLEET:-/tmp/fleetlab-serve-$devices.fleet}"
[ -x "$bin" ] || { echo "build first: cargo build --release"; exit 2; }
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)"; exit 2; }
if [ ! -s "$fleet" ]; then
    # The JSON Lines only until they are packed.
    "$bin" generate --devices "$devices" --seed 1 -o "$fleet.jsonl"
    "$bin" inventory pack "$fleet.jsonl" -o "$fleet"
    rm -f "$fleet.jsonl"
fi
out="$(mktemp)"
"$bin" serve --port 0 --no-watch --budget 30 --devices "$fleet" >"$out" 2>/dev/null &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$out"' EXIT
until [ -s "$out" ]; do kill -0 "$server"; sleep 0.2; done
url="$(head -n 1 "$out")"
rss() { awk '/VmRSS|VmHWM/ {printf "%s %.0f MiB  ", $1, $2 / 1024} END {print ""}' "/proc/$server/status"; }
echo "fleet: $devices devices ($fleet, $(du -h "$fleet" | cut -f1)); after load: $(rss)"
lua="benches/serve/eval.lua"
# Rules as they appear inside a JSON string (quotes escaped).
for rule in 'device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\")' \
            '(device.deviceOSType -eq \"Windows\") -and (device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\"))' \
            'device.displayName -match \"^CPC-\"'; do
    # One request first: a wrong body would otherwise be timed as fast errors.
    curl -sf "$url/api/v1/eval" -H 'content-type: application/json' -d "{\"rule\": \"$rule\", \"limit\": 0}" \
        | sed 's/^/answer: /'; echo
    for c in 1 4 16; do
        echo "== rule: $rule; $c concurrent clients, ${seconds}s, count only"
        RULE="$rule" wrk -t "$(( c < 2 ? 1 : 2 ))" -c "$c" -d "${seconds}s" --timeout 30s -s "$lua" "$url/api/v1/eval" | sed -n '/^requests/,$p'
    done
done
echo "== first page of 10,000 ids with names, 4 clients"
RULE='device.devicePhysicalIds -any (_ -startsWith \"[ZTDId]\")' LIMIT=10000 \
    wrk -t 2 -c 4 -d "${seconds}s" --timeout 30s -s "$lua" "$url/api/v1/eval" | sed -n '/^requests/,$p'
echo "server memory at the end: $(rss)"
