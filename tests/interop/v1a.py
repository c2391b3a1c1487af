"""PyPI `cryptography`'s Ed25519 on both ends of Standard Webhooks `v1a`,
over HTTP, for tests/interop/v1a.sh.

    python v1a.py keygen
        prints `whsk_<base64 seed+public> whpk_<base64 public>`
    python v1a.py serve <port-file> <whpk-key>
        a receiver on 127.0.0.1 (port written to <port-file>): 204 when a
        `v1a` entry of `webhook-signature` is the key's signature of
        `id.timestamp.body` and the timestamp is within 5 minutes, else 401
    python v1a.py post <url> <whsk-key> <id> <body-file> [signed-body-file]
        signs <signed-body-file> (default: the body) at now, POSTs the body;
        exit 0 on a 2xx
"""
import base64
import http.server
import sys
import time
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)


def decode_key(text, prefix, lengths):
    if not text.startswith(prefix):
        raise SystemExit(f"key does not start with {prefix}")
    raw = base64.b64decode(text[len(prefix):], validate=True)
    if len(raw) not in lengths:
        raise SystemExit(f"key is {len(raw)} bytes")
    return raw


def raw_public(key):
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def private_key(whsk):
    raw = decode_key(whsk, "whsk_", (32, 64))
    key = Ed25519PrivateKey.from_private_bytes(raw[:32])
    if len(raw) == 64 and raw_public(key.public_key()) != raw[32:]:
        raise SystemExit("key pair halves do not match")
    return key


def signed_content(msg_id, ts, body):
    return f"{msg_id}.{ts}.".encode() + body


def verify(key, headers, body):
    msg_id, ts, sigs = (headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and ts and sigs and ts.isdigit()) or abs(time.time() - int(ts)) > 300:
        return False
    content = signed_content(msg_id, ts, body)
    for entry in sigs.split(" "):
        if not entry.startswith("v1a,"):
            continue
        try:
            key.verify(base64.b64decode(entry[4:], validate=True), content)
            return True
        except (InvalidSignature, ValueError):
            continue
    return False


def serve(port_file, whpk):
    key = Ed25519PublicKey.from_public_bytes(decode_key(whpk, "whpk_", (32,)))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            ok = verify(key, self.headers, body)
            self.send_response(204 if ok else 401)
            self.end_headers()
            print("verified" if ok else "refused", self.headers.get("webhook-id"), flush=True)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


def post(url, whsk, msg_id, body_file, signed_file=None):
    with open(body_file, "rb") as f:
        body = f.read()
    signed = body
    if signed_file:
        with open(signed_file, "rb") as f:
            signed = f.read()
    ts = str(int(time.time()))
    sig = base64.b64encode(private_key(whsk).sign(signed_content(msg_id, ts, signed))).decode()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": f"v1a,{sig}",
    })
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as e:
        status = e.code
    print(status)
    return 200 <= status < 300


def main(argv):
    cmd, *a = argv
    if cmd == "keygen":
        key = Ed25519PrivateKey.generate()
        seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        pk = raw_public(key.public_key())
        print(f"whsk_{base64.b64encode(seed + pk).decode()} whpk_{base64.b64encode(pk).decode()}")
        return True
    if cmd == "serve":
        serve(*a)
        return True
    if cmd == "post":
        return post(*a)
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1:]) else 1)
