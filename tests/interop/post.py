"""Posts signed bodies over HTTP (urllib) to hookwire's axum receiver, for
tests/interop/run.sh. Prints `<status> <response body>`.

    python post.py hex <url> <raw-secret> <body-file> [tamper]
    python post.py standard <url> <whsec-secret> <id> <body-file> [tamper]

hex: HMAC-SHA256 (hmac module) in x-intelligems-signature; standard: PyPI
standardwebhooks' sign(), signed now. `tamper` sends the body with one more
byte than was signed.
"""
import hashlib
import hmac
import sys
import urllib.error
import urllib.request
from datetime import datetime, timezone

from standardwebhooks import Webhook


def main(argv):
    scheme, url, *a = argv
    if scheme == "hex":
        secret, body_file = a[:2]
        body = open(body_file, "rb").read()
        headers = {"x-intelligems-signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}
    elif scheme == "standard":
        secret, msg_id, body_file = a[:3]
        body = open(body_file, "rb").read()
        now = datetime.now(tz=timezone.utc)
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
        }
    else:
        raise SystemExit(f"unknown scheme {scheme}")
    if argv[-1] == "tamper":
        body += b" "
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    print(f"{status} {text}")


if __name__ == "__main__":
    main(sys.argv[1:])
