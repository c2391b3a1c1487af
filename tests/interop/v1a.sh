# (e) Standard Webhooks `v1a` (Ed25519), over HTTP, both ways. Sourced by
# run.sh, whose expect, tamper, die, PY, HERE, ROOT, WORK, FIXTURES,
# TARGET_DIR and WHSEC it uses.
#
#  - hookwire signs (the interop example's post-v1a, and the `send` example
#    through the whole pipeline, `v1a` alone and mixed with `v1`); receivers
#    built on Node.js's own crypto.verify and on PyPI `cryptography` verify;
#  - Node.js and Python sign with their own libraries and POST to the
#    `listen` example (`--scheme v1a --secret whpk_...`), which verifies;
#  - every receiver refuses a tampered body and a wrong key.
# Keys come from each side's own generator (whsk_ = seed and public key).

if ! "$PY" -c "import cryptography" 2>/dev/null; then
  echo "interop: installing PyPI cryptography"
  "$PY" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" || die "pip install"
fi
echo "interop: building interop, send and listen with --features ed25519"
(cd "$ROOT" && cargo build --quiet --features ed25519 --example interop --example send --example listen) ||
  die "cargo build --features ed25519"
V1A_EX="$TARGET_DIR/debug/examples"

V1A_PIDS=()
v1a_cleanup() { for p in "${V1A_PIDS[@]}"; do kill "$p" 2>/dev/null; done; }
trap v1a_cleanup EXIT

v1a_port_file() { # wait for a receiver to write its port into $1
  for _ in $(seq 300); do [ -s "$1" ] && { cat "$1"; return 0; }; sleep 0.1; done
  return 1
}
v1a_wait_tcp() { # wait for 127.0.0.1:$1 to accept
  for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
v1a_id() { echo "msg_$(python3 -c 'import secrets; print(secrets.token_hex(8))')"; }
node_v1a() { node "$HERE/v1a.js" "$@"; }
py_v1a() { "$PY" "$HERE/v1a.py" "$@"; }

read -r HW_SK HW_PK <<<"$(py_v1a keygen)"
read -r WRONG_SK _ <<<"$(node_v1a keygen)"
[ -n "${HW_SK:-}" ] && [ -n "${WRONG_SK:-}" ] || die "v1a keygen"

# ---- hookwire signs, Node.js and Python verify
for lib in node_v1a py_v1a; do
  rm -f "$WORK/v1a-port"
  $lib serve "$WORK/v1a-port" "$HW_PK" >"$WORK/$lib-serve.log" 2>&1 &
  V1A_PIDS+=($!)
  port="$(v1a_port_file "$WORK/v1a-port")" || die "$lib serve did not start: $(cat "$WORK/$lib-serve.log")"
  url="http://127.0.0.1:$port/hook"
  for body in "${FIXTURES[@]}" "$WORK"/random-text-*.txt; do
    name="$(basename "$body")"
    expect ok "$lib verifies hookwire v1a over HTTP: $name" "$V1A_EX/interop" post-v1a "$url" "$HW_SK" "$(v1a_id)" "$body"
    expect fail "$lib rejects a tampered body (v1a): $name" "$V1A_EX/interop" post-v1a "$url" "$HW_SK" "$(v1a_id)" "$(tamper "$body")" "$body"
    expect fail "$lib rejects a wrong key (v1a): $name" "$V1A_EX/interop" post-v1a "$url" "$WRONG_SK" "$(v1a_id)" "$body"
  done
  expect ok "$lib verifies send --scheme v1a" \
    "$V1A_EX/send" --url "$url" --secret "$HW_SK" --scheme v1a --allow-private --event "${FIXTURES[0]}"
  expect ok "$lib verifies the v1a entry of send --scheme standard+v1a" \
    "$V1A_EX/send" --url "$url" --secret "$WHSEC" --secret "$HW_SK" --scheme standard+v1a --allow-private --event "${FIXTURES[1]}"
done

# ---- Node.js and Python sign, hookwire's listen verifies
for lib in node_v1a py_v1a; do
  read -r SK PK <<<"$($lib keygen)"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$V1A_EX/listen" --port "$port" --scheme v1a --secret "$PK" >"$WORK/listen-$lib.log" 2>&1 &
  V1A_PIDS+=($!)
  v1a_wait_tcp "$port" || die "listen did not start: $(cat "$WORK/listen-$lib.log")"
  url="http://127.0.0.1:$port/"
  # JSON bodies only: listen answers 400 to a verified body that is not JSON.
  for body in "${FIXTURES[@]}"; do
    name="$(basename "$body")"
    expect ok "hookwire listen verifies $lib v1a: $name" $lib post "$url" "$SK" "$(v1a_id)" "$body"
    expect fail "hookwire listen rejects a tampered body ($lib): $name" $lib post "$url" "$SK" "$(v1a_id)" "$(tamper "$body")" "$body"
    expect fail "hookwire listen rejects a wrong key ($lib): $name" $lib post "$url" "$WRONG_SK" "$(v1a_id)" "$body"
  done
done
# A receiver given the secret key, a sender given the public key: refused
# with the reason, before any network.
v1a_refuses() { # expected-text program args...
  local want="$1"; shift
  local out
  out="$(timeout 10 "$@" 2>&1)" && return 1 # it must fail
  grep -q -- "$want" <<<"$out"
}
expect ok "listen refuses a whsk_ secret key" \
  v1a_refuses "secret key was given where" "$V1A_EX/listen" --port 1 --scheme v1a --secret "$HW_SK"
expect ok "send refuses a whpk_ public key" \
  v1a_refuses "public key was given where" "$V1A_EX/send" --url http://127.0.0.1:1/ --secret "$HW_PK" --scheme v1a --allow-private
v1a_cleanup
