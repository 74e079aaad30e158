#!/usr/bin/env python3
"""webhook_server.py - a challenge webhook as an MDM would run it, for t_webhook.sh.

    webhook_server.py PORT KEYFILE RECORD [CERT KEY]

Listens on 127.0.0.1:PORT (one thread per request), with TLS when CERT and KEY (PEM)
are given. KEYFILE holds the shared secret
in base64, as step-ca's webhook secrets are written; the HMAC-SHA256 key is the
decoded bytes. Every POST is checked the way a step-ca webhook server checks it: the
X-Smallstep-Signature header must be the hex HMAC of the exact body bytes, else 401.
Each signed request is appended to RECORD as one JSON line: {"id": the
X-Smallstep-Webhook-ID header, "content_type": ..., "body": the parsed body}.

The answer is chosen by the challenge's prefix:
    allow-...    200 {"allow": true}
    deny-...     200 {"allow": false, "error": {"code": "...", "message": "..."}}
    err500-...   500
    slow-...     sleeps 4 s (beyond scepd's timeout), then allows
    garbage-...  200 with a body that is not JSON
    noallow-...  200 {"data": {}} (no allow)
    stringy-...  200 {"allow": "true"} (a string, not true)
    echo-...     200 {"allow": false, "error": {"message": "unknown challenge <it>"}}
    huge-...     200 {"allow": true, "pad": 70000 bytes} (over scepd's 64 KiB bound)
    redirect-... 307 to a URL of this server that would allow
"""
import base64
import hashlib
import hmac
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
with open(sys.argv[2], "rb") as f:
    KEY = base64.b64decode(f.read().strip())
RECORD = sys.argv[3]
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: the record says enough
        pass

    def answer(self, status, body):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        want = hmac.new(KEY, raw, hashlib.sha256).hexdigest()
        got = self.headers.get("X-Smallstep-Signature", "")
        if not hmac.compare_digest(want, got):
            self.answer(401, '{"error": "bad signature"}')
            return
        body = json.loads(raw)
        with LOCK:
            with open(RECORD, "a") as out:
                out.write(json.dumps({
                    "id": self.headers.get("X-Smallstep-Webhook-ID"),
                    "content_type": self.headers.get("Content-Type"),
                    "body": body,
                }) + "\n")
        challenge = body.get("scepChallenge", "")
        if challenge.startswith("allow-"):
            self.answer(200, '{"allow": true}')
        elif challenge.startswith("deny-"):
            self.answer(200, json.dumps({"allow": False, "error": {
                "code": "unknown-device", "message": "no such device"}}))
        elif challenge.startswith("err500-"):
            self.answer(500, "internal error")
        elif challenge.startswith("slow-"):
            time.sleep(4)
            self.answer(200, '{"allow": true}')
        elif challenge.startswith("garbage-"):
            self.answer(200, "<html>this is not JSON</html>")
        elif challenge.startswith("noallow-"):
            self.answer(200, '{"data": {}}')
        elif challenge.startswith("echo-"):
            self.answer(200, json.dumps({"allow": False, "error": {
                "message": "unknown challenge " + challenge}}))
        elif challenge.startswith("huge-"):
            self.answer(200, '{"allow": true, "pad": "' + "x" * 70000 + '"}')
        elif challenge.startswith("redirect-"):
            self.send_response(307)
            self.send_header("Location", "/allow")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif challenge.startswith("stringy-"):
            self.answer(200, '{"allow": "true"}')
        else:
            self.answer(200, '{"allow": false}')


ThreadingHTTPServer.daemon_threads = True
server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
if len(sys.argv) > 5:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
