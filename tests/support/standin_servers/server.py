"""The stand-in HTTP server inside every app and vector-store stand-in image (Python 3, stdlib only).

It answers what the engine tier asks of a service, on every path (so any healthcheck path is healthy):
- any request: 200 with JSON `{service, method, path, query, headers}` (prefix stripping, forwarded
  headers and routing are read from it);
- `Upgrade: websocket` on any path: a WebSocket (RFC 6455) that echoes text frames;
- `/__standin/sse` (under any prefix, so a route that keeps its prefix reaches it too): Server-Sent Events, three events 0.5 s apart (an unbuffered route delivers the
  first long before the last);
- `/__standin/data`: PUT writes the body to `$STANDIN_DATA_DIR/standin.txt`, GET reads it back
  (volumes, ownership, data surviving a replacement);
- `/api/tags`: `{"models": []}` (Ollama's list, which `ollama list` asks).

Port: `--port N` (Chroma's and Ollama's command lines), else `$STANDIN_PORT`, `$PORT`, the port of
`$OLLAMA_HOST`, else 8000. Other arguments are ignored: app files give their real servers' arguments.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SERVICE = os.environ.get("STANDIN_SERVICE", os.environ.get("HOSTNAME", "standin"))


def port_from(argv: list[str]) -> int:
    if "--port" in argv[:-1]:
        return int(argv[argv.index("--port") + 1])
    for name in ("STANDIN_PORT", "PORT"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    if ":" in os.environ.get("OLLAMA_HOST", ""):
        return int(os.environ["OLLAMA_HOST"].rsplit(":", 1)[1])
    return 8000


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # to the container's log, as servers do
        sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _echo(self) -> None:
        path, _, query = self.path.partition("?")
        body = json.dumps({"service": SERVICE, "method": self.command, "path": path, "query": query,
                           "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
        self._send(200, body)

    def _data_file(self) -> str:
        return os.path.join(os.environ.get("STANDIN_DATA_DIR", "/tmp"), "standin.txt")

    def do_GET(self):
        if self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        path = self.path.partition("?")[0]
        if path.endswith("/__standin/sse"):
            return self._events()
        if path.endswith("/__standin/data"):
            try:
                with open(self._data_file(), "rb") as f:
                    return self._send(200, f.read(), "text/plain")
            except FileNotFoundError:
                return self._send(404, b"no data", "text/plain")
        if path == "/api/tags":
            return self._send(200, b'{"models": []}')
        return self._echo()

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.partition("?")[0].endswith("/__standin/data"):
            try:
                with open(self._data_file(), "wb") as f:
                    f.write(body)
            except OSError as err:
                return self._send(500, str(err).encode(), "text/plain")
            return self._send(201, b"written", "text/plain")
        return self._echo()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        return self._echo()

    do_HEAD = do_GET  # noqa: N815

    def _events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for n in range(3):
            self.wfile.write(f"data: event {n} at {time.time():.3f}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.5)
        self.close_connection = True

    def _websocket(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            frame = read_frame(self.rfile)
            if frame is None or frame[0] == 0x8:  # closed, or a close frame
                break
            opcode, payload = frame
            if opcode == 0x9:  # ping -> pong
                self.wfile.write(encode_frame(0xA, payload))
            elif opcode in (0x1, 0x2):
                self.wfile.write(encode_frame(opcode, payload))
            self.wfile.flush()
        self.close_connection = True


def read_frame(stream):
    head = stream.read(2)
    if len(head) < 2:
        return None
    opcode, length, masked = head[0] & 0x0F, head[1] & 0x7F, head[1] & 0x80
    if length == 126:
        length = struct.unpack(">H", stream.read(2))[0]
    elif length == 127:
        length = struct.unpack(">Q", stream.read(8))[0]
    mask = stream.read(4) if masked else b"\0\0\0\0"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(stream.read(length)))
    return opcode, payload


def encode_frame(opcode: int, payload: bytes) -> bytes:
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        head += bytes([len(payload)])
    elif len(payload) < 65536:
        head += bytes([126]) + struct.pack(">H", len(payload))
    else:
        head += bytes([127]) + struct.pack(">Q", len(payload))
    return head + payload


class Server(ThreadingHTTPServer):
    daemon_threads = True
    address_family = socket.AF_INET


if __name__ == "__main__":
    port = port_from(sys.argv[1:])
    sys.stderr.write(f"stand-in {SERVICE} listening on 0.0.0.0:{port}\n")
    Server(("0.0.0.0", port), Handler).serve_forever()
