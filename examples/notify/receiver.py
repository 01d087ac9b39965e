#!/usr/bin/env python3
"""A webhook to try the worker with: prints each notification POSTed to it
and answers 204 No Content.

    python3 examples/notify/receiver.py [port]        # default 8000
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        print(f"POST {self.path} Idempotency-Key: {self.headers.get('Idempotency-Key')}")
        print(json.dumps(json.loads(body), indent=2, ensure_ascii=False), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
print(f"listening on http://127.0.0.1:{port}/", flush=True)
HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
