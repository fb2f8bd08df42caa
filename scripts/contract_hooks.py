"""schemathesis hooks for scripts/contract (loaded through SCHEMATHESIS_HOOKS).

- Idempotency-Key: the fuzzer draws the same few keys again and again, so nearly every
  POST would be refused as "key reused for another request" (6001) before reaching
  its handler. A valid generated key gets a unique suffix; invalid ones stay invalid.
- Seeded identifiers: random tokens only ever find 404. Half of the requests that name
  a cart, an order, a payment, a plan or a program get a real one created by the
  script (CONTRACT_* environment variables), so the handlers' own logic runs too.
"""

import os
import random
import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]([ -~]*[!-~])?$")
RNG = random.Random(os.environ.get("CONTRACT_SEED", "0"))


def pool(name):
    return [v for v in os.environ.get(name, "").split() if v]


CARTS = pool("CONTRACT_CART_TOKENS")
ORDERS = pool("CONTRACT_ORDER_TOKENS")
PAYMENTS = pool("CONTRACT_PAYMENT_TOKENS")
PLANS = pool("CONTRACT_PLAN_IDS")
PROGRAMS = pool("CONTRACT_PROGRAM_IDS")
ITEMS = pool("CONTRACT_ITEM_IDS")

PATH_POOLS = {
    "token": CARTS,
    "order_token": ORDERS,
    "payment_token": PAYMENTS,
    "plan_id": PLANS,
    "item_id": ITEMS,
}


def maybe(values, current):
    if values and RNG.random() < 0.5:
        return RNG.choice(values)
    return current


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            key = headers[name]
            if isinstance(key, str) and VALID_KEY.match(key):
                headers[name] = f"{key[:200]}-{uuid.uuid4().hex}"
    case.headers = headers

    params = case.path_parameters or {}
    for name, values in PATH_POOLS.items():
        if name in params:
            params[name] = maybe(values, params[name])
    # `/internships/{id}` only: `DELETE /auth/sessions/{id}` must not end our session.
    if "id" in params and case.operation.path.startswith("/api/v1/internships/"):
        params["id"] = maybe(PROGRAMS, params["id"])
    case.path_parameters = params

    if isinstance(case.body, dict) and "cart_token" in case.body:
        case.body["cart_token"] = maybe(CARTS, case.body["cart_token"])
