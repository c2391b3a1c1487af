"""PyPI `standardwebhooks` as verifier and signer for tests/interop/run.sh.

    python check.py sw-verify <whsec-secret> <id> <timestamp> <signature> <body-file>
    python check.py sw-sign <whsec-secret> <id> <timestamp> <body-file>

Exit 0 when verified (or signed), 1 otherwise.
"""
import sys
from datetime import datetime, timezone

from standardwebhooks import Webhook


def main(argv):
    cmd, *a = argv
    if cmd == "sw-verify":
        secret, msg_id, ts, sig, body_file = a
        with open(body_file, "rb") as f:
            body = f.read()
        headers = {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig}
        Webhook(secret).verify(body, headers, json_parse=False)
        return True
    if cmd == "sw-sign":
        secret, msg_id, ts, body_file = a
        with open(body_file, "rb") as f:
            body = f.read().decode()
        when = datetime.fromtimestamp(int(ts), tz=timezone.utc)
        print(Webhook(secret).sign(msg_id, when, body))
        return True
    raise SystemExit(f"unknown command {cmd}")


if __name__ == "__main__":
    try:
        ok = main(sys.argv[1:])
    except Exception as e:  # a verification failure is an exception
        print(f"check.py: {type(e).__name__}: {e}", file=sys.stderr)
        ok = False
    sys.exit(0 if ok else 1)
