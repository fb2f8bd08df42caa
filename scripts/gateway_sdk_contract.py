"""The sandbox held to the official SDKs: the `razorpay` and `stripe` Python packages,
pointed at a running `checkout sandbox`, do what our clients do, and verify the
sandbox's webhooks and Razorpay's callback signature with their own verifiers.

Run by scripts/gateway-sdk-contract, which starts the sandbox and passes:
SANDBOX (http://host:port/sandbox) and the keys and secrets the sandbox uses.
Prints one line per check, then `N passed, N failed`; exits 1 on any failure.
"""

import http.server
import json
import os
import sys
import threading
import time
import traceback
import urllib.request

import razorpay
import stripe

SANDBOX = os.environ["SANDBOX"]
RZP_KEY_ID = os.environ["RZP_KEY_ID"]
RZP_KEY_SECRET = os.environ["RZP_KEY_SECRET"]
RZP_WEBHOOK_SECRET = os.environ["RZP_WEBHOOK_SECRET"]
STRIPE_SECRET_KEY = os.environ["STRIPE_SECRET_KEY"]
STRIPE_WEBHOOK_SECRET = os.environ["STRIPE_WEBHOOK_SECRET"]

rzp = razorpay.Client(auth=(RZP_KEY_ID, RZP_KEY_SECRET), base_url=SANDBOX + "/razorpay")
rzp.enable_retry(False)
stripe.api_key = STRIPE_SECRET_KEY
stripe.api_base = SANDBOX + "/stripe"
stripe.max_network_retries = 0

results = {"passed": 0, "failed": 0}


def check(name):
    """Runs the decorated function as one named check, at once."""

    def run(fn):
        try:
            fn()
        except Exception as e:  # any failure, assertion or SDK error, fails the check
            results["failed"] += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
            if os.environ.get("SDK_CONTRACT_VERBOSE"):
                traceback.print_exc()
        else:
            results["passed"] += 1
            print(f"ok   {name}")
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


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(SANDBOX + "/control" + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def pay(session_id, callback_url=None):
    body = {"outcome": "captured"}
    if callback_url:
        body["callback_url"] = callback_url
    return control("POST", f"/sessions/{session_id}/pay", body)


def eventually(fn, what, within=10.0):
    deadline = time.time() + within
    while True:
        value = fn()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ---- a webhook receiver -----------------------------------------------------------

received = []  # (gateway, headers, raw body bytes)


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        gateway = self.path.strip("/")
        received.append((gateway, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=server.serve_forever, daemon=True).start()
hook_base = f"http://127.0.0.1:{server.server_address[1]}"
control("PUT", "/webhooks/targets",
        {"razorpay": hook_base + "/razorpay", "stripe": hook_base + "/stripe"})


def webhooks(gateway, event_type, count=1):
    """The first `count` webhooks of `event_type` (Razorpay `event`, Stripe `type`)."""

    def found():
        hits = [(h, b) for g, h, b in received
                if g == gateway and json.loads(b).get("event" if gateway == "razorpay" else "type") == event_type]
        return hits if len(hits) >= count else None

    return eventually(found, f"{count} {gateway} {event_type} webhook(s)")


def account(**settings):
    current = control("GET", "/account")
    current.update(settings)
    control("PUT", "/account", current)


# ---- Razorpay ---------------------------------------------------------------------

state = {}


@check("razorpay: create, fetch and list orders")
def _():
    order = rzp.order.create({"amount": 50000, "currency": "INR", "receipt": "sdk_rzp_1",
                              "notes": {"checkout_idempotency_key": "k1"}})
    expect(order["id"].startswith("order_") and order["status"] == "created", order)
    fetched = rzp.order.fetch(order["id"])
    expect(fetched["amount"] == 50000 and fetched["receipt"] == "sdk_rzp_1", fetched)
    listed = rzp.order.all({"receipt": "sdk_rzp_1"})
    expect(listed["entity"] == "collection" and [o["id"] for o in listed["items"]] == [order["id"]], listed)
    state["rzp_order"] = order


@check("razorpay: the callback signature passes verify_payment_signature; a forged one fails")
def _():
    paid = pay(state["rzp_order"]["id"], "http://shop.test/callback")
    fields = paid["callback"]["fields"]
    expect(rzp.utility.verify_payment_signature(fields) is True, fields)
    state["rzp_payment"] = fields["razorpay_payment_id"]
    forged = dict(fields, razorpay_payment_id="pay_someoneelse00")
    raises(razorpay.errors.SignatureVerificationError,
           lambda: rzp.utility.verify_payment_signature(forged), "a forged callback verified")


@check("razorpay: fetch the payment and the order's payments")
def _():
    payment = rzp.payment.fetch(state["rzp_payment"])
    expect(payment["status"] == "captured" and payment["captured"] is True, payment)
    expect(payment["order_id"] == state["rzp_order"]["id"] and payment["amount"] == 50000, payment)
    items = rzp.order.payments(state["rzp_order"]["id"])["items"]
    expect([p["id"] for p in items] == [state["rzp_payment"]], items)


@check("razorpay: webhooks pass verify_webhook_signature; a tampered body fails")
def _():
    for event_type in ("payment.authorized", "payment.captured", "order.paid"):
        headers, body = webhooks("razorpay", event_type)[0]
        sig = headers["x-razorpay-signature"]
        expect(headers.get("x-razorpay-event-id"), "no x-razorpay-event-id")
        expect(rzp.utility.verify_webhook_signature(body.decode(), sig, RZP_WEBHOOK_SECRET) is True, event_type)
    tampered = body.decode().replace("50000", "5000", 1)
    raises(razorpay.errors.SignatureVerificationError,
           lambda: rzp.utility.verify_webhook_signature(tampered, sig, RZP_WEBHOOK_SECRET),
           "a tampered body verified")


@check("razorpay: refund, fetch the refund and the payment's refunds")
def _():
    refund = rzp.payment.refund(state["rzp_payment"], {"amount": 10000, "speed": "normal"})
    expect(refund["entity"] == "refund" and refund["status"] == "processed", refund)
    expect(rzp.refund.fetch(refund["id"])["amount"] == 10000, "refund fetch")
    listed = rzp.payment.fetch_multiple_refund(state["rzp_payment"])
    expect([r["id"] for r in listed["items"]] == [refund["id"]], listed)
    headers, body = webhooks("razorpay", "refund.processed")[0]
    expect(rzp.utility.verify_webhook_signature(body.decode(), headers["x-razorpay-signature"],
                                                RZP_WEBHOOK_SECRET), "refund.processed signature")


@check("razorpay: manual capture stops at authorized; capture takes it once")
def _():
    account(razorpay_manual_capture=True)
    try:
        order = rzp.order.create({"amount": 30000, "currency": "INR", "receipt": "sdk_rzp_2"})
        payment_id = pay(order["id"])["payment_id"]
        expect(rzp.payment.fetch(payment_id)["status"] == "authorized", "not authorized")
        expect(rzp.order.fetch(order["id"])["status"] == "attempted", "order not attempted")
        captured = rzp.payment.capture(payment_id, 30000, {"currency": "INR"})
        expect(captured["status"] == "captured" and captured["captured"] is True, captured)
        expect(rzp.order.fetch(order["id"])["status"] == "paid", "order not paid")
        raises(razorpay.errors.BadRequestError,
               lambda: rzp.payment.capture(payment_id, 30000, {"currency": "INR"}),
               "a second capture was accepted")
        state["rzp_captured"] = payment_id
    finally:
        account(razorpay_manual_capture=False)


@check("razorpay: a pending refund becomes processed; a failing one failed, with webhooks")
def _():
    account(refund_pending_ms=300)
    try:
        ok = rzp.payment.refund(state["rzp_captured"], {"amount": 10000})
        expect(ok["status"] == "pending", ok)
        control("PUT", "/faults/razorpay", {"refund_fail_next": 1})
        bad = rzp.payment.refund(state["rzp_captured"], {"amount": 10000})
        expect(bad["status"] == "pending", bad)
        eventually(lambda: rzp.refund.fetch(ok["id"])["status"] == "processed", "processed")
        eventually(lambda: rzp.refund.fetch(bad["id"])["status"] == "failed", "failed")
        headers, body = webhooks("razorpay", "refund.failed")[0]
        expect(rzp.utility.verify_webhook_signature(body.decode(), headers["x-razorpay-signature"],
                                                    RZP_WEBHOOK_SECRET), "refund.failed signature")
        expect(json.loads(body)["payload"]["refund"]["entity"]["id"] == bad["id"], "refund.failed names another refund")
        expect(rzp.payment.fetch(state["rzp_captured"])["amount_refunded"] == 10000,
               "a failed refund still counts as refunded")
    finally:
        account(refund_pending_ms=0)
        control("PUT", "/faults/razorpay", {})


# ---- Stripe -----------------------------------------------------------------------


def new_session(reference, **extra):
    return stripe.checkout.Session.create(
        mode="payment",
        line_items=[{"price_data": {"currency": "inr", "unit_amount": 50000,
                                    "product_data": {"name": "Course"}}, "quantity": 1}],
        client_reference_id=reference,
        success_url="http://shop.test/ok?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://shop.test/cancel",
        metadata={"order_token": reference},
        expires_at=int(time.time()) + 3600,
        **extra,
    )


@check("stripe: create, retrieve and list checkout sessions")
def _():
    session = new_session("sdk_stripe_1")
    expect(isinstance(session, stripe.checkout.Session) and session.id.startswith("cs_"), session)
    expect(session.amount_total == 50000 and session.status == "open", session)
    again = stripe.checkout.Session.retrieve(session.id)
    expect(again.client_reference_id == "sdk_stripe_1", again)
    other = new_session("sdk_stripe_2")
    page = stripe.checkout.Session.list(limit=1)
    expect(page.object == "list" and [s.id for s in page.data] == [other.id] and page.has_more, page)
    ids = [s.id for s in stripe.checkout.Session.list(limit=100).auto_paging_iter()]
    expect(session.id in ids and other.id in ids, ids)
    state["stripe_session"] = session


@check("stripe: pay, retrieve the session and its PaymentIntent")
def _():
    session_id = state["stripe_session"].id
    pi = pay(session_id)["payment_id"]
    session = stripe.checkout.Session.retrieve(session_id)
    expect(session.payment_status == "paid" and session.payment_intent == pi, session)
    intent = stripe.PaymentIntent.retrieve(pi, expand=["latest_charge"])
    expect(intent.status == "succeeded" and intent.latest_charge.object == "charge", intent)
    listed = stripe.checkout.Session.list(payment_intent=pi)
    expect([s.id for s in listed.data] == [session_id], listed)
    state["stripe_pi"] = pi


@check("stripe: refund and retrieve the refund")
def _():
    refund = stripe.Refund.create(payment_intent=state["stripe_pi"], amount=10000,
                                  idempotency_key="sdk_stripe_refund_1")
    expect(refund.status == "succeeded" and refund.payment_intent == state["stripe_pi"], refund)
    again = stripe.Refund.create(payment_intent=state["stripe_pi"], amount=10000,
                                 idempotency_key="sdk_stripe_refund_1")
    expect(again.id == refund.id, "the same idempotency key refunded twice")
    expect(stripe.Refund.retrieve(refund.id).amount == 10000, "refund retrieve")


@check("stripe: expire an open session")
def _():
    session = new_session("sdk_stripe_3")
    expired = stripe.checkout.Session.expire(session.id)
    expect(expired.status == "expired", expired)
    raises(stripe.InvalidRequestError, lambda: stripe.checkout.Session.expire(session.id),
           "an expired session expired again")


@check("stripe: manual capture authorizes; capture and cancel of PaymentIntents")
def _():
    session = new_session("sdk_stripe_4", payment_intent_data={"capture_method": "manual"})
    pi = pay(session.id)["payment_id"]
    intent = stripe.PaymentIntent.retrieve(pi)
    expect(intent.status == "requires_capture" and intent.amount_capturable == 50000, intent)
    expect(stripe.checkout.Session.retrieve(session.id).payment_status == "unpaid", "session paid before capture")
    captured = stripe.PaymentIntent.capture(pi, amount_to_capture=50000)
    expect(captured.status == "succeeded" and captured.amount_received == 50000, captured)
    raises(stripe.InvalidRequestError, lambda: stripe.PaymentIntent.capture(pi),
           "a captured PaymentIntent was captured again")
    session = new_session("sdk_stripe_5", payment_intent_data={"capture_method": "manual"})
    pi = pay(session.id)["payment_id"]
    cancelled = stripe.PaymentIntent.cancel(pi, cancellation_reason="abandoned")
    expect(cancelled.status == "canceled" and cancelled.cancellation_reason == "abandoned", cancelled)
    raises(stripe.InvalidRequestError, lambda: stripe.PaymentIntent.capture(pi),
           "a cancelled PaymentIntent was captured")
    state["stripe_captured"] = captured.id


@check("stripe: a pending refund succeeds; a failing one fails with a reason")
def _():
    account(refund_pending_ms=300)
    try:
        ok = stripe.Refund.create(payment_intent=state["stripe_captured"], amount=10000)
        expect(ok.status == "pending", ok)
        control("PUT", "/faults/stripe", {"refund_fail_next": 1})
        bad = stripe.Refund.create(payment_intent=state["stripe_captured"], amount=10000)
        eventually(lambda: stripe.Refund.retrieve(ok.id).status == "succeeded", "succeeded")
        failed = eventually(lambda: (r := stripe.Refund.retrieve(bad.id)).status == "failed" and r, "failed")
        expect(failed.failure_reason, failed)
        state["stripe_failed_refund"] = bad.id
    finally:
        account(refund_pending_ms=0)
        control("PUT", "/faults/stripe", {})


@check("stripe: webhooks pass Webhook.construct_event; a tampered body and a stale timestamp fail")
def _():
    expected = {"checkout.session.completed": "checkout.session", "checkout.session.expired": "checkout.session",
                "charge.refunded": "charge", "refund.updated": "refund", "charge.refund.updated": "refund",
                "refund.failed": "refund"}
    for event_type, object_type in expected.items():
        headers, body = webhooks("stripe", event_type)[0]
        event = stripe.Webhook.construct_event(body, headers["stripe-signature"], STRIPE_WEBHOOK_SECRET)
        expect(event.type == event_type and event.data.object.object == object_type, event)
    headers, body = webhooks("stripe", "refund.failed")[0]
    expect(json.loads(body)["data"]["object"]["id"] == state["stripe_failed_refund"], "refund.failed names another refund")
    tampered = body.replace(b'"amount":10000', b'"amount":1000', 1)
    expect(tampered != body, "nothing to tamper with")
    raises(stripe.SignatureVerificationError,
           lambda: stripe.Webhook.construct_event(tampered, headers["stripe-signature"], STRIPE_WEBHOOK_SECRET),
           "a tampered body verified")
    # The signature's timestamp is the sending time: a second later, a tolerance of 1 s
    # no longer covers it.
    time.sleep(2.1)
    raises(stripe.SignatureVerificationError,
           lambda: stripe.Webhook.construct_event(body, headers["stripe-signature"], STRIPE_WEBHOOK_SECRET,
                                                  tolerance=1),
           "a stale timestamp verified")


server.shutdown()
print(f"{results['passed']} passed, {results['failed']} failed")
sys.exit(1 if results["failed"] else 0)
