"""Serve 200 on 127.0.0.1:<port> after an optional delay, like a service that takes a while."""

import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer


class Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write(f"request {args[0] if args else ''}\n")


port = int(sys.argv[1])
delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
sys.stdout.write("warming up\n")
time.sleep(delay)
server = HTTPServer(("127.0.0.1", port), Ok)
sys.stdout.write(f"listening on 127.0.0.1:{port}\n")
server.serve_forever()
