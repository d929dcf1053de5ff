#!/usr/bin/env bash
# The README's promise, checked: in a fresh clone, with Node and redis-server installed and no
# Redis running for us, the two commands of the README's first screen work as written.
#
#   bash test/fresh-clone.sh
#
# 1. clones the committed repository (HEAD) into a temporary directory;
# 2. runs the README's first command (`npm ci && npm run demo`) in its own process group,
#    waits for the one URL it prints, checks that the sandbox page and the scripted agent's gates
#    are served, then sends Ctrl-C (SIGINT to the group) and checks that no process is left;
# 3. runs the README's second command (`npm ci && npm test`), by default on a small subset
#    of the suite: FRESH_CLONE_TESTS="all" runs every test, or name other test paths.
#
# Environment: FRESH_CLONE_SOURCE (default: this repository), FRESH_CLONE_TESTS (default:
# "test/unit/evidence-hash.test.ts test/integration/openapi.test.ts"), FRESH_CLONE_KEEP=1 keeps
# the clone for inspection.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
source_repo="${FRESH_CLONE_SOURCE:-$here}"
tests="${FRESH_CLONE_TESTS:-test/unit/evidence-hash.test.ts test/integration/openapi.test.ts}"
work="$(mktemp -d "${TMPDIR:-/tmp}/countersign-fresh-XXXXXX")"
demo_pid=""

fail() { echo "fresh-clone: FAIL: $*" >&2; exit 1; }
cleanup() {
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then kill -KILL -- "-$demo_pid" 2>/dev/null || true; fi
  if [ "${FRESH_CLONE_KEEP:-}" = "1" ]; then echo "fresh-clone: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

for tool in git node npm redis-server curl setsid; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
# Nothing of the developer's environment may help: no Redis, no Slack, no secrets.
unset REDIS_URL PORT SANDBOX_PORT COUNTERSIGN_KEYS COUNTERSIGN_POLICIES COUNTERSIGN_PUBLIC_URL \
  SLACK_BOT_TOKEN SLACK_SIGNING_SECRET SLACK_APP_TOKEN SLACK_API_URL COUNTERSIGN_URL
for v in $(env | grep -o '^COUNTERSIGN_AGENT_[A-Z0-9_]*_SECRET' || true); do unset "$v"; done

echo "fresh-clone: cloning $source_repo"
git clone --quiet "$source_repo" "$work/countersign"
cd "$work/countersign"

# The commands exactly as the README's first code block writes them (comments dropped).
mapfile -t commands < <(awk '/^```sh$/ { inblock = 1; next } inblock && /^```$/ { exit } inblock' README.md | sed -E 's/[[:space:]]+#.*$//' | grep -v '^[[:space:]]*$')
[ "${#commands[@]}" -eq 2 ] || fail "the README's first code block should hold two commands, found ${#commands[@]}: ${commands[*]:-none}"
first="${commands[0]}"
second="${commands[1]}"
[[ "$first" == *"npm run demo"* ]] || fail "the first command is not the demo: $first"
[[ "$second" == *"npm test"* ]] || fail "the second command does not run the tests: $second"

echo "fresh-clone: first command: $first"
log="$work/demo.log"
setsid bash -c "$first" >"$log" 2>&1 &
demo_pid=$!
url=""
for _ in $(seq 1 600); do
  url="$(grep -oE 'http://127\.0\.0\.1:[0-9]+/[^ ]*' "$log" | head -n 1 || true)"
  [ -n "$url" ] && break
  kill -0 "$demo_pid" 2>/dev/null || { cat "$log" >&2; fail "the demo exited before printing its URL"; }
  sleep 1
done
[ -n "$url" ] || { tail -n 40 "$log" >&2; fail "the demo printed no URL within 10 minutes"; }
[ "$(grep -vE '^npm ' "$log" | grep -cE 'https?://')" -eq 1 ] || { cat "$log" >&2; fail "the demo should print exactly one URL"; }
echo "fresh-clone: the demo serves $url"
base="$(printf '%s' "$url" | grep -oE '^http://[^/]+')"
curl -fsS "$url" | grep -q 'Countersign sandbox' || fail "the page at $url is not the sandbox"
for _ in $(seq 1 60); do
  curl -fsS "$base/sandbox/snapshot" | grep -q 'iam.attach_role_policy' && break
  sleep 1
done
curl -fsS "$base/sandbox/snapshot" | grep -q 'iam.attach_role_policy' || { cat "$log" >&2; fail "no change record reached the sandbox"; }
grep -q 'logs-read-only: redeemed grant' "$log" || { cat "$log" >&2; fail "the scripted agent redeemed no grant"; }

echo "fresh-clone: Ctrl-C"
kill -INT -- "-$demo_pid"
for _ in $(seq 1 30); do
  pgrep -g "$demo_pid" >/dev/null || break
  sleep 1
done
if pgrep -g "$demo_pid" >/dev/null; then
  ps -o pid,cmd -g "$demo_pid" >&2 || true
  fail "processes are left after Ctrl-C"
fi
curl -fsS --max-time 2 "$url" >/dev/null 2>&1 && fail "the sandbox still answers after Ctrl-C"
demo_pid=""
echo "fresh-clone: nothing left behind"

if [ "$tests" = "all" ]; then run="$second"; else run="$second -- $tests"; fi
echo "fresh-clone: second command: $run"
bash -c "$run" || fail "the second command failed"
echo "fresh-clone: OK"
