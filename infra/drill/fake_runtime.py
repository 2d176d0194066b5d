#!/usr/bin/env python3
"""A minimal AWS Lambda Runtime API on 127.0.0.1, for cold-start drills.

It serves what a custom runtime (lambda_runtime, lambda_http) calls:

  GET  /2018-06-01/runtime/invocation/next               answers a queued event, else holds
  POST /2018-06-01/runtime/invocation/<id>/response      recorded, 202
  POST /2018-06-01/runtime/invocation/<id>/error         recorded, 202
  POST /2018-06-01/runtime/init/error                    recorded, 202

and records `time.monotonic()` of the first `next` request: the moment the function finished its
init and is ready for work. Used as a library by `coldstart.py`; run alone it prints one JSON line
per request it receives:

  python3 infra/drill/fake_runtime.py --port 9001 [--event event.json ...]
"""

import argparse
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class FakeRuntime:
    """One Runtime API endpoint for one function process. Not reusable across processes."""

    def __init__(self, port=0, events=(), on_request=None):
        self.first_next = None  # time.monotonic() of the first GET .../next
        self.next_count = 0
        self.responses = []  # (request id, body bytes)
        self.errors = []  # (request id or "init", body bytes)
        self._events = list(events)  # bodies (bytes) answered to `next`, in order
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._on_request = on_request
        runtime = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def do_GET(self):
                now = time.monotonic()
                if self.path != PREFIX + "/invocation/next":
                    return self._reply(404, b'{"errorType":"NotFound"}')
                with runtime._lock:
                    runtime.next_count += 1
                    if runtime.first_next is None:
                        runtime.first_next = now
                        runtime._ready.set()
                    event = runtime._events.pop(0) if runtime._events else None
                runtime._notify("next", None, now)
                if event is None:
                    # Hold, as Lambda does between invocations, until the drill stops us.
                    runtime._stop.wait()
                    return
                request_id = str(uuid.uuid4())
                deadline = int(time.time() * 1000) + 30_000
                try:
                    self._reply(
                        200,
                        event,
                        [
                            ("Lambda-Runtime-Aws-Request-Id", request_id),
                            ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                            (
                                "Lambda-Runtime-Invoked-Function-Arn",
                                "arn:aws:lambda:eu-west-1:000000000000:function:drill",
                            ),
                            ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
                        ],
                    )
                except OSError:
                    pass

            def do_POST(self):
                now = time.monotonic()
                body = self._body()
                parts = self.path[len(PREFIX) :].strip("/").split("/")
                if parts == ["init", "error"]:
                    runtime.errors.append(("init", body))
                    runtime._notify("init_error", body, now)
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] == "response":
                    runtime.responses.append((parts[1], body))
                    runtime._notify("response", body, now)
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] == "error":
                    runtime.errors.append((parts[1], body))
                    runtime._notify("error", body, now)
                else:
                    return self._reply(404, b'{"errorType":"NotFound"}')
                self._reply(202, b'{"status":"OK"}')

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _notify(self, kind, body, at):
        if self._on_request:
            self._on_request(kind, body, at)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        self._thread.start()
        return self

    def wait_ready(self, timeout):
        """Waits for the first `next`; True if it came."""
        return self._ready.wait(timeout)

    def init_failed(self):
        return any(who == "init" for who, _ in self.errors)

    def stop(self):
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--event", action="append", default=[], help="event file answered to next")
    args = ap.parse_args()
    events = [open(p, "rb").read() for p in args.event]
    t0 = time.monotonic()

    def show(kind, body, at):
        line = {"t_ms": round((at - t0) * 1000, 3), "request": kind}
        if body is not None:
            line["body"] = body.decode("utf-8", "replace")
        print(json.dumps(line), flush=True)

    rt = FakeRuntime(args.port, events, on_request=show).start()
    print(f"AWS_LAMBDA_RUNTIME_API={rt.address}", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        rt.stop()


if __name__ == "__main__":
    main()
