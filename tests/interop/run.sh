#!/usr/bin/env bash
# Interop: hookwire's signatures against real third-party verifiers, and theirs
# against hookwire's verifier.
#
#  (a) the seed's own Node.js verifyWebhookSignature (copied verbatim into
#      check.js) verifies hookwire's hex signatures, for every fixture and for
#      random binary bodies;
#  (b) npm `standardwebhooks` and PyPI `standardwebhooks` verify hookwire's
#      Standard Webhooks signatures (including a rotation with two secrets);
#  (c) hookwire verifies the signatures those two packages (and Node's crypto,
#      for hex) produce;
#  (d) every side rejects a tampered body and a wrong secret;
#  (e) Standard Webhooks v1a (Ed25519) over HTTP both ways, against Node.js's
#      own crypto and PyPI `cryptography` (tests/interop/v1a.sh).
#
# Installs its tools into tests/interop/node/node_modules and tests/interop/.venv
# (ignored by git). Needs only the npm and PyPI registries. Exits non-zero on
# any failure; the last line reads `interop: N passed, M failed`.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="$HERE/work"
PASS=0
FAIL=0

die() { echo "interop: setup failed: $*" >&2; echo "interop: $PASS passed, 1 failed"; exit 1; }

# ---------------------------------------------------------------- setup
command -v node >/dev/null || die "node is not installed"
command -v npm >/dev/null || die "npm is not installed"
command -v python3 >/dev/null || die "python3 is not installed"

if [ ! -d "$HERE/node/node_modules/standardwebhooks" ]; then
  echo "interop: installing npm standardwebhooks"
  (cd "$HERE/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    (cd "$HERE/node" && npm install --no-audit --no-fund --loglevel=error >/dev/null) ||
    die "npm install"
fi
PY="$HERE/.venv/bin/python"
if ! "$PY" -c "import standardwebhooks" 2>/dev/null; then
  echo "interop: installing PyPI standardwebhooks"
  rm -rf "$HERE/.venv"
  python3 -m venv "$HERE/.venv" || die "python3 -m venv"
  "$PY" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" || die "pip install"
fi

echo "interop: building the interop example"
(cd "$ROOT" && cargo build --quiet --example interop) || die "cargo build --example interop"
TARGET_DIR="$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')" || die "cargo metadata"
HW="$TARGET_DIR/debug/examples/interop"
[ -x "$HW" ] || die "no binary at $HW"

rm -rf "$WORK" && mkdir -p "$WORK"

# Fixtures plus random bodies: binary for hex (the seed verifier hashes the raw
# Buffer), UTF-8 text for Standard Webhooks (both libraries hash a string).
python3 - "$WORK" <<'PY' || die "making bodies"
import os, random, sys
work = sys.argv[1]
rng = random.Random(int.from_bytes(os.urandom(8), "big"))
for i, n in enumerate([0, 1, 63, 64, 65, 1000, 6000, 70000]):
    with open(f"{work}/random-bin-{i}.bin", "wb") as f:
        f.write(os.urandom(n))
alphabet = "abcXYZ019 {}[]\":,.-_\\/\té日本語🚀\u00a0\n"
for i, n in enumerate([0, 1, 50, 500, 5000]):
    with open(f"{work}/random-text-{i}.txt", "w", encoding="utf-8") as f:
        f.write("".join(rng.choice(alphabet) for _ in range(n)))
PY

FIXTURES=()
for f in "$ROOT"/tests/fixtures/experience/*.json "$ROOT"/tests/fixtures/journey/*.json; do
  [ -f "$f" ] && FIXTURES+=("$f")
done
[ "${#FIXTURES[@]}" -ge 6 ] || die "expected 6 fixtures under tests/fixtures, found ${#FIXTURES[@]}"

RAW_SECRET="hookwire-interop-$(python3 -c 'import secrets; print(secrets.token_hex(12))')"
RAW_WRONG="hookwire-interop-wrong-secret"
mkwhsec() { python3 -c 'import base64, os; print("whsec_" + base64.b64encode(os.urandom(24)).decode())'; }
WHSEC="$(mkwhsec)"
WHSEC_OLD="$(mkwhsec)"
WHSEC_WRONG="$(mkwhsec)"

tamper() { # a copy of $1 with one more byte
  cp "$1" "$WORK/tampered" && printf 'x' >> "$WORK/tampered" && echo "$WORK/tampered"
}

# expect ok|fail NAME COMMAND...
expect() {
  local want="$1" name="$2"; shift 2
  local got=fail
  if "$@" >"$WORK/out" 2>&1; then got=ok; fi
  if [ "$got" = "$want" ]; then
    PASS=$((PASS + 1))
  else
    FAIL=$((FAIL + 1))
    echo "FAIL: $name (expected $want, got $got): $(head -c 300 "$WORK/out")"
  fi
}

node_() { node "$HERE/check.js" "$@"; }
py_() { "$PY" "$HERE/check.py" "$@"; }

# ---------------------------------------------------------------- (a) hex
for body in "${FIXTURES[@]}" "$WORK"/random-bin-*.bin "$WORK"/random-text-*.txt; do
  name="$(basename "$body")"
  sig="$("$HW" sign-hex "$RAW_SECRET" "$body")" || die "sign-hex $name"
  expect ok "seed verifies hookwire hex: $name" node_ seed-verify "$body" "$sig" "$RAW_SECRET"
  expect fail "seed rejects tampered body: $name" node_ seed-verify "$(tamper "$body")" "$sig" "$RAW_SECRET"
  expect fail "seed rejects wrong secret: $name" node_ seed-verify "$body" "$sig" "$RAW_WRONG"
  nsig="$(node_ hex-sign "$body" "$RAW_SECRET")" || die "node hex-sign $name"
  expect ok "hookwire verifies node crypto hex: $name" "$HW" verify-hex "$RAW_SECRET" "$nsig" "$body"
  expect fail "hookwire rejects tampered body (hex): $name" "$HW" verify-hex "$RAW_SECRET" "$nsig" "$(tamper "$body")"
  expect fail "hookwire rejects wrong secret (hex): $name" "$HW" verify-hex "$RAW_WRONG" "$nsig" "$body"
done

# ---------------------------------------------------------------- (b)-(d) standard
TS="$(date +%s)"
for body in "${FIXTURES[@]}" "$WORK"/random-text-*.txt; do
  name="$(basename "$body")"
  id="msg_$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
  sig="$("$HW" sign-standard "$WHSEC" "$id" "$TS" "$body")" || die "sign-standard $name"
  for lib in node_ py_; do
    expect ok "$lib verifies hookwire standard: $name" $lib sw-verify "$WHSEC" "$id" "$TS" "$sig" "$body"
    expect fail "$lib rejects tampered body: $name" $lib sw-verify "$WHSEC" "$id" "$TS" "$sig" "$(tamper "$body")"
    expect fail "$lib rejects wrong secret: $name" $lib sw-verify "$WHSEC_WRONG" "$id" "$TS" "$sig" "$body"

    theirs="$($lib sw-sign "$WHSEC" "$id" "$TS" "$body")" || die "$lib sw-sign $name"
    expect ok "hookwire verifies $lib standard: $name" "$HW" verify-standard "$WHSEC" "$id" "$TS" "$theirs" "$body"
    expect fail "hookwire rejects tampered body ($lib): $name" "$HW" verify-standard "$WHSEC" "$id" "$TS" "$theirs" "$(tamper "$body")"
    expect fail "hookwire rejects wrong secret ($lib): $name" "$HW" verify-standard "$WHSEC_WRONG" "$id" "$TS" "$theirs" "$body"
  done
done

# Rotation: hookwire signs with a new and an old secret; receivers on either verify.
body="${FIXTURES[0]}"
id="msg_rotation"
sig="$("$HW" sign-standard "$WHSEC,$WHSEC_OLD" "$id" "$TS" "$body")" || die "sign-standard rotation"
for lib in node_ py_; do
  expect ok "$lib verifies rotated signature with the new secret" $lib sw-verify "$WHSEC" "$id" "$TS" "$sig" "$body"
  expect ok "$lib verifies rotated signature with the old secret" $lib sw-verify "$WHSEC_OLD" "$id" "$TS" "$sig" "$body"
  expect fail "$lib rejects rotated signature with a wrong secret" $lib sw-verify "$WHSEC_WRONG" "$id" "$TS" "$sig" "$body"
done

# The published test vector, through all three.
printf '%s' '{"test": 2432232314}' > "$WORK/vector-b.json"
VB_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VB_SIG="v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
expect ok "hookwire signs vector B" test "$("$HW" sign-standard "$VB_SECRET" msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330 "$WORK/vector-b.json")" = "$VB_SIG"
expect ok "node signs vector B" test "$(node_ sw-sign "$VB_SECRET" msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330 "$WORK/vector-b.json")" = "$VB_SIG"
expect ok "python signs vector B" test "$(py_ sw-sign "$VB_SECRET" msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330 "$WORK/vector-b.json")" = "$VB_SIG"
expect ok "hookwire verifies vector B" "$HW" verify-standard "$VB_SECRET" msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330 "$VB_SIG" "$WORK/vector-b.json" 1614265330

# ---- over HTTP: the axum receiver (examples/listen, hookwire's Webhook extractor): begin
# Node's fetch and Python's urllib POST what the seed's HMAC, npm
# `standardwebhooks` and PyPI `standardwebhooks` sign to two `listen`
# receivers (hex with the raw secret, Standard Webhooks with the whsec
# secret): 200 for each valid body (then `duplicate` for the same body
# again), 401 for a tampered one.
echo "interop: building the listen example (the axum receiver)"
(cd "$ROOT" && cargo build --quiet --example listen) || die "cargo build --example listen"
LISTEN="$TARGET_DIR/debug/examples/listen"
[ -x "$LISTEN" ] || die "no binary at $LISTEN"
LISTEN_PIDS=()
stop_listeners() { for pid in "${LISTEN_PIDS[@]}"; do kill "$pid" 2>/dev/null; done; }
trap stop_listeners EXIT
start_listener() { # scheme secret -> prints the base URL
  local log="$WORK/listen-$1.log"
  "$LISTEN" --scheme "$1" --secret "$2" --port 0 >"$log" 2>&1 &
  LISTEN_PIDS+=("$!")
  for _ in $(seq 1 100); do
    local url
    url="$(sed -n 's|^listening on \(http://[0-9.:]*\).*|\1|p' "$log")"
    if [ -n "$url" ]; then echo "$url/webhooks"; return 0; fi
    sleep 0.1
  done
  return 1
}
HEX_URL="$(start_listener hex "$RAW_SECRET")" || die "listen (hex) did not start: $(cat "$WORK/listen-hex.log")"
STD_URL="$(start_listener standard "$WHSEC")" || die "listen (standard) did not start: $(cat "$WORK/listen-standard.log")"

# Every fixture, timestamped now (the hex scheme's body timestamp is checked),
# one copy per sender so that none is another's duplicate.
python3 - "$WORK" "${FIXTURES[@]}" <<'PY' || die "making HTTP bodies"
import json, sys, time
from datetime import datetime, timezone
work, files = sys.argv[1], sys.argv[2:]
now_ms = int(time.time() * 1000)
now_text = datetime.now(tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
for i, path in enumerate(files):
    body = json.load(open(path))
    body["timestamp"] = now_ms if isinstance(body.get("timestamp"), int) else now_text
    for sender in ["node-hex", "py-hex", "node-standard", "py-standard"]:
        body["interopSender"] = sender
        with open(f"{work}/http-{i}-{sender}.json", "w") as f:
            json.dump(body, f)
PY

# expect_http WANT_PREFIX NAME COMMAND...: the command prints `<status> <body>`.
expect_http() {
  local want="$1" name="$2"; shift 2
  local got
  got="$("$@" 2>&1)"
  case "$got" in
    "$want"*) PASS=$((PASS + 1)) ;;
    *) FAIL=$((FAIL + 1)); echo "FAIL: $name (expected '$want', got '$(printf '%s' "$got" | head -c 300)')" ;;
  esac
}
post_js() { node "$HERE/post.js" "$@"; }
post_py() { "$PY" "$HERE/post.py" "$@"; }

for first in "$WORK"/http-*-node-hex.json; do
  stem="${first%-node-hex.json}"
  name="fixture $(basename "$stem")"
  for lib in node py; do
    poster=post_js
    [ "$lib" = py ] && poster=post_py
    hex="$stem-$lib-hex.json"
    std="$stem-$lib-standard.json"
    expect_http "200 ok" "$lib hex over HTTP: $name" $poster hex "$HEX_URL" "$RAW_SECRET" "$hex"
    expect_http "200 duplicate" "$lib hex over HTTP, again: $name" $poster hex "$HEX_URL" "$RAW_SECRET" "$hex"
    expect_http "401 " "$lib hex over HTTP, tampered: $name" $poster hex "$HEX_URL" "$RAW_SECRET" "$hex" tamper
    expect_http "401 " "$lib hex over HTTP, wrong secret: $name" $poster hex "$HEX_URL" "$RAW_WRONG" "$hex"
    id="msg_$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
    expect_http "200 ok" "$lib standard over HTTP: $name" $poster standard "$STD_URL" "$WHSEC" "$id" "$std"
    expect_http "401 " "$lib standard over HTTP, tampered: $name" $poster standard "$STD_URL" "$WHSEC" "$id" "$std" tamper
    expect_http "401 " "$lib standard over HTTP, wrong secret: $name" $poster standard "$STD_URL" "$WHSEC_WRONG" "$id" "$std"
  done
done
stop_listeners
# ---- over HTTP: end
# ================================================ (e) v1a: begin (branch ed25519)
# Kept in its own file so this block stays small; it builds what it needs
# with --features ed25519 and uses the helpers, fixtures and WHSEC above.
# shellcheck source=tests/interop/v1a.sh
source "$HERE/v1a.sh"
# ================================================ (e) v1a: end

echo "interop: $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
