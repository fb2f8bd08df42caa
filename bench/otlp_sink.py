#!/usr/bin/env python3
"""A local OTLP/HTTP trace sink for bench/run's `otel` phase.

Accepts POST /v1/traces (protobuf ExportTraceServiceRequest), counts requests and the
spans in them by walking the protobuf wire format, and discards them. GET /count answers
{"requests": N, "spans": N}. Prints `listening on http://127.0.0.1:PORT` once bound.
Loopback only; stops on SIGTERM.
"""
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
counts = {"requests": 0, "spans": 0}


def varint(buf, i):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def fields(buf):
    """(field number, payload) of each length-delimited field; others skipped."""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, i = varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            n, i = varint(buf, i)
            yield number, buf[i:i + n]
            i += n
        else:
            raise ValueError(f"wire type {wire}")


def spans_in(body):
    # ExportTraceServiceRequest.resource_spans (1) -> ResourceSpans.scope_spans (2)
    # -> ScopeSpans.spans (2)
    return sum(
        1
        for f, resource in fields(body) if f == 1
        for g, scope in fields(resource) if g == 2
        for h, _ in fields(scope) if h == 2
    )


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/traces":
            self.reply(404, b"")
            return
        n = spans_in(body)
        with lock:
            counts["requests"] += 1
            counts["spans"] += n
        # an empty ExportTraceServiceResponse: everything accepted
        self.reply(200, b"", "application/x-protobuf")

    def do_GET(self):
        with lock:
            self.reply(200, json.dumps(counts).encode(), "application/json")

    def reply(self, status, body, kind="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Sink)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
