#!/usr/bin/env bash
# The whole real-kernel loop (npm run test:capture): fetch Debian's arm64 kernel and busybox-static through a
# private apt state (scripts/fetch-arm64-debs.sh; the mirror comes from this machine's apt sources), boot it
# under QEMU with `smmuv3-tlbi capture`, and require `audit --capture` to give 0 findings with every request
# reproduced word for word by the linux policy. Exit 0 pass, 1 fail, 77 skipped (prints why).
#
#   CAPTURE_CACHE   where the .deb files are kept (default .cache/capture)
#   CAPTURE_MODE    strict (default) or lazy
#   CAPTURE_TIMEOUT seconds for the boot and workload (default 1200)
set -uo pipefail
cd "$(dirname "$0")/.."
cache=${CAPTURE_CACHE:-.cache/capture}
mode=${CAPTURE_MODE:-strict}
timeout=${CAPTURE_TIMEOUT:-1200}
say() { printf 'test:capture: %s\n' "$*" >&2; }
skip() { say "SKIPPED: $*"; exit 77; }

if ! command -v qemu-system-aarch64 >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing qemu-system-arm"
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-system-arm) >&2 \
      || skip "qemu-system-aarch64 is not installed and apt-get install qemu-system-arm failed"
  else
    skip "qemu-system-aarch64 is not installed (Debian/Ubuntu: apt-get install qemu-system-arm)"
  fi
fi
command -v apt-get >/dev/null || skip "no apt-get to fetch the Debian arm64 kernel with"

mkdir -p "$cache"
if ! ls "$cache"/linux-image-*_arm64.deb >/dev/null 2>&1 || ! ls "$cache"/busybox-static_*_arm64.deb >/dev/null 2>&1; then
  say "fetching the kernel and busybox-static (arm64) into $cache"
  scripts/fetch-arm64-debs.sh "$cache" >/dev/null || skip "could not fetch the Debian arm64 packages (see above)"
fi
kernel=$(ls "$cache"/linux-image-*_arm64.deb | sort -V | tail -1)
busybox=$(ls "$cache"/busybox-static_*_arm64.deb | tail -1)
out=$(mktemp -d "${TMPDIR:-/tmp}/test-capture-XXXXXX")
trap 'rm -rf "$out"' EXIT
cli() { node --import tsx --input-type=module -e 'import { main } from "./src/cli/main.ts"; await main(["node", "smmuv3-tlbi", ...process.argv.slice(1)]);' "$@"; }

say "capture: $(basename "$kernel") ($mode)"
start=$(date +%s)
cli capture --kernel "$kernel" --busybox "$busybox" "--$mode" --timeout "$timeout" --out "$out/cap" >/dev/null
rc=$?
secs=$(( $(date +%s) - start ))
if [ $rc -ne 0 ]; then
  say "FAILED: capture exited $rc after ${secs}s"; cat "$out/cap/INCOMPLETE.txt" >&2 2>/dev/null; exit 1
fi
cli audit --capture "$out/cap" --json > "$out/audit.json"
arc=$?
cli audit --capture "$out/cap" | sed -n '1,/^verdict/p' >&2
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const c = r.counts, p = r.reproduction;
const ok = c.findings === 0 && c.ringFindings === 0 && c.requests > 0 && c.unmaps > 0 &&
  c.unmapsCovered === c.unmaps && p.identical === p.requests && p.skipped === 0;
console.error(`test:capture: ${c.requests} requests, ${c.unmaps} unmaps, ${r.capture.ring.entriesWritten} ring entries, ` +
  `${p.identical}/${p.requests} reproduced, ${c.findings} findings; capture ${process.argv[2]} s`);
process.exit(ok ? 0 : 1);
' "$out/audit.json" "$secs"
vrc=$?
if [ $arc -ne 0 ] || [ $vrc -ne 0 ]; then say "FAILED: audit exit $arc, verdict check $vrc"; exit 1; fi
say "passed"
