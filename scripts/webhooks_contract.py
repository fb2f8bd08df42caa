"""Our webhook deliveries verified by the official `standardwebhooks` package.

Run by scripts/webhooks-contract, which gives us BIN (the checkout binary), a migrated
DATABASE_URL and a `checkout worker` on it. A local receiver records what arrives; the
deliveries are made by the worker (the real job, signer and HTTP client) after
`checkout admin subscriptions redeliver`.
"""

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import traceback
import uuid

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BIN = os.environ["BIN"]
DATABASE_URL = os.environ["DATABASE_URL"]
VERBOSE = os.environ.get("WEBHOOKS_CONTRACT_VERBOSE") == "1"

results = {"passed": 0, "failed": 0}


def check(name):
    def run(fn):
        try:
            fn()
            results["passed"] += 1
            print(f"ok      {name}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
            results["failed"] += 1
            print(f"FAILED  {name}: {e!r}")
            if VERBOSE:
                traceback.print_exc()
        return fn

    return run


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def raises(exc_type, fn, message):
    try:
        fn()
    except exc_type:
        return
    raise AssertionError(message)


received = []
arrived = threading.Condition()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with arrived:
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            arrived.notify_all()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
URL = f"http://127.0.0.1:{server.server_address[1]}/hook"


def admin(*args):
    out = subprocess.run(
        [BIN, "admin", "--json", "--actor", "webhooks-contract", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise AssertionError(f"checkout admin {' '.join(args)}: {out.stderr.strip()}")
    return json.loads(out.stdout)


def psql(sql):
    subprocess.run(
        ["psql", DATABASE_URL, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
        check=True,
        capture_output=True,
    )


def deliver(delivery_id):
    """Redelivers and waits for the request it makes."""
    with arrived:
        before = len(received)
    admin("subscriptions", "redeliver", delivery_id)
    deadline = time.monotonic() + 20
    with arrived:
        while len(received) == before:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"delivery {delivery_id} did not arrive within 20 s")
            arrived.wait(left)
        return received[before]


subscription = admin("subscriptions", "add", URL, "--all", "--description", "contract")
SECRET = subscription["secret"]

# An envelope as the relay stores it (docs/events.md), with non-ASCII data: the
# signature covers the exact bytes sent.
event_id = str(uuid.uuid4())
envelope = {
    "id": event_id,
    "type": "order.paid",
    "version": 1,
    "occurred_at": "2026-12-07T03:14:15.926535Z",
    "aggregate": {"type": "order", "id": str(uuid.uuid4())},
    "sequence": 7,
    "correlation_id": "b1f0c6a2e6d54c7f",
    "data": {"gateway": "razorpay", "amount": 589882, "currency": "INR", "note": "₹ 5,898.82 — paid"},
}
delivery_id = str(uuid.uuid4())
payload = json.dumps(envelope, ensure_ascii=False)
psql(
    "insert into webhook_deliveries (id, subscription_id, event_id, event_type, payload) "
    f"values ('{delivery_id}', '{subscription['id']}', '{event_id}', 'order.paid', "
    f"$json${payload}$json$::jsonb)"
)

headers, body = deliver(delivery_id)


@check("a delivery verifies with Webhook(secret).verify and carries the envelope")
def _():
    verified = Webhook(SECRET).verify(body, headers)
    expect(verified == envelope, f"payload {verified!r}")
    expect(headers.get("webhook-id") == event_id, f"webhook-id {headers.get('webhook-id')}")
    expect(headers.get("content-type") == "application/json", f"content-type {headers}")


@check("a tampered body fails verification")
def _():
    tampered = body.replace(b"589882", b"589883")
    expect(tampered != body, "the amount is in the body")
    raises(WebhookVerificationError, lambda: Webhook(SECRET).verify(tampered, headers), "tampered body verified")


@check("another id or timestamp fails verification")
def _():
    other_id = dict(headers, **{"webhook-id": str(uuid.uuid4())})
    raises(WebhookVerificationError, lambda: Webhook(SECRET).verify(body, other_id), "other id verified")
    other_ts = dict(headers, **{"webhook-timestamp": str(int(headers["webhook-timestamp"]) - 1)})
    raises(WebhookVerificationError, lambda: Webhook(SECRET).verify(body, other_ts), "other timestamp verified")


@check("another secret fails verification")
def _():
    other = admin("subscriptions", "add", URL, "--types", "order.paid")["secret"]
    raises(WebhookVerificationError, lambda: Webhook(other).verify(body, headers), "other secret verified")


@check("after rotate-secret the redelivery verifies with the new and the old secret")
def _():
    rotated = admin("subscriptions", "rotate-secret", subscription["id"])
    new_secret = rotated["secret"]
    expect(new_secret != SECRET, "a new secret")
    h, b = deliver(delivery_id)
    expect(len(h["webhook-signature"].split(" ")) == 2, f"two signatures: {h['webhook-signature']}")
    expect(Webhook(new_secret).verify(b, h) == envelope, "new secret")
    expect(Webhook(SECRET).verify(b, h) == envelope, "old secret in its grace period")


print(f"{results['passed']} passed, {results['failed']} failed")
server.shutdown()
sys.exit(1 if results["failed"] else 0)
