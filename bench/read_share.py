#!/usr/bin/env python3
"""The share of the database's statement time spent on reads a Redis cache could serve.

Reads a PostgreSQL server log written with `log_min_duration_statement = 0` (every
parse, bind and execute with its duration; log_line_prefix '%m [%p] %q%u@%d ') from
byte OFFSET on, keeps the statements of database DB, and sums their durations in two
classes: *cacheable* (a plain select, no FOR UPDATE/SHARE, reading the catalog, coupon,
sale or FX tables: what a catalog/FX/coupon cache would answer instead) and all. An
upper bound: a cacheable-class statement that also reads live rows (seats, usage
counts, a cart's lines) could not be served from a cache entirely.

    bench/read_share.py LOG OFFSET DB CHECKOUTS  ->  JSON on stdout
"""
import json
import re
import sys

CACHEABLE_TABLES = re.compile(r"\b(programs|plans|cohorts|coupons|fx_rates|sales)\b", re.I)
LOCKING = re.compile(r"\bfor\s+(update|share|no key update)\b", re.I)
HEAD = re.compile(r"^\S+ \S+ \S+ \[\d+\] \S*@(\S+) LOG:  duration: ([0-9.]+) ms  (parse|bind|execute|statement)[^:]*: ?(.*)$")


def records(lines):
    current = None
    for line in lines:
        m = HEAD.match(line)
        if m:
            if current:
                yield current
            current = [m.group(1), float(m.group(2)), m.group(3), m.group(4)]
        elif current and line.startswith("\t"):
            current[3] += " " + line.strip()
        else:
            if current:
                yield current
            current = None
    if current:
        yield current


def main():
    log, offset, db, checkouts = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace").splitlines()
    total = {"ms": 0.0, "executes": 0}
    cacheable = {"ms": 0.0, "executes": 0}
    examples = {}
    for rec_db, ms, phase, sql in records(text):
        if rec_db != db:
            continue
        total["ms"] += ms
        if phase in ("execute", "statement"):
            total["executes"] += 1
        body = sql.strip()
        if body.lower().startswith("select") and CACHEABLE_TABLES.search(body) and not LOCKING.search(body):
            cacheable["ms"] += ms
            if phase in ("execute", "statement"):
                cacheable["executes"] += 1
                key = body[:90]
                examples[key] = examples.get(key, 0) + 1
    n = max(checkouts, 1)
    print(json.dumps({
        "checkouts": checkouts,
        "statements_per_checkout": round(total["executes"] / n, 1),
        "cacheable_statements_per_checkout": round(cacheable["executes"] / n, 1),
        "statement_ms_per_checkout": round(total["ms"] / n, 3),
        "cacheable_ms_per_checkout": round(cacheable["ms"] / n, 3),
        "cacheable_share_of_statements": round(cacheable["executes"] / max(total["executes"], 1), 3),
        "cacheable_share_of_statement_time": round(cacheable["ms"] / max(total["ms"], 1e-9), 3),
        "cacheable_statements": sorted(examples.items(), key=lambda kv: -kv[1])[:15],
    }, indent=2))


if __name__ == "__main__":
    main()
