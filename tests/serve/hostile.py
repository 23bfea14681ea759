"""Hostile clients against `veritas serve`: every one gets a clear 4xx (or its connection
closed by a timeout), the server never crashes or hangs, and serves a normal request
afterwards. Loopback only; every wait is bounded."""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from serve_common import Server, expect, finish  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
srv = Server(BIN, MODEL, "--parallel", "2", "--read-timeout", "2", "--max-tokens", "100",
             env=dict(os.environ, VERITAS_QUIET="1"))
MSG = [{"role": "user", "content": "What is 1 + 1?"}]


def raw(data, timeout=15, chunks=None, pause=0.0):
    """Sends bytes (optionally in pieces with pauses); returns (status or None, body)."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    try:
        for piece in (chunks or [data]):
            try:
                s.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            if pause:
                time.sleep(pause)
        buf = b""
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                buf += b
                if b"\r\n\r\n" in buf:
                    head, _, body = buf.partition(b"\r\n\r\n")
                    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                    if n and len(body) >= n[0]:
                        break
        except (socket.timeout, ConnectionResetError):
            pass
    finally:
        s.close()
    if not buf.startswith(b"HTTP/1.1 "):
        return None, buf
    return int(buf[9:12]), buf.partition(b"\r\n\r\n")[2]


def post(body, path="/v1/chat/completions", extra=b""):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
               str(len(data)).encode() + b"\r\n" + extra + b"Connection: close\r\n\r\n" + data)


def expect_4xx(name, status, body, code=400, field=None):
    ok = expect(status == code, f"{name}: HTTP {status}, expected {code}: {body[:200]!r}")
    if ok:
        try:
            err = json.loads(body)["error"]
            expect(err["message"], f"{name}: error has a message")
            if field:
                expect(err["param"] == field, f"{name}: param {err['param']!r}, expected {field!r}")
        except (ValueError, KeyError, TypeError):
            expect(False, f"{name}: body is not an OpenAI error: {body[:200]!r}")


try:
    t0 = time.time()
    expect_4xx("invalid JSON", *post(b'{"messages": [}'))
    expect_4xx("not an object", *post(b'"hello"'))
    expect_4xx("empty body", *post(b""))
    expect_4xx("messages wrong type", *post({"messages": {"a": 1}}), field="messages")
    expect_4xx("content wrong type", *post({"messages": [{"role": "user", "content": 12}]}), field="messages[0].content")
    expect_4xx("unknown role", *post({"messages": [{"role": "wizard", "content": "x"}]}), field="messages[0].role")
    expect_4xx("temperature string", *post({"messages": MSG, "temperature": "hot"}), field="temperature")
    expect_4xx("negative max_tokens", *post({"messages": MSG, "max_tokens": -1}), field="max_tokens")
    expect_4xx("huge max_tokens", *post({"messages": MSG, "max_tokens": 10 ** 12}), field="max_tokens")
    expect_4xx("max_tokens above the server's limit", *post({"messages": MSG, "max_tokens": 101}), field="max_tokens")
    expect_4xx("float max_tokens", *post({"messages": MSG, "max_tokens": 1.5}), field="max_tokens")
    expect_4xx("invalid UTF-8", *post(b'{"messages":[{"role":"user","content":"a\xff\xfeb"}]}'))
    expect_4xx("lone surrogate", *post(b'{"messages":[{"role":"user","content":"\\ud800"}]}'))
    expect_4xx("10,000 messages", *post({"messages": MSG * 10000}), field="messages")
    expect_4xx("deep nesting", *post(b"[" * 50000 + b"]" * 50000))
    expect_4xx("unsatisfiable schema ('not': {})",
               *post({"messages": MSG, "response_format": {"type": "json_schema", "json_schema": {"schema": {"not": {}}}}}),
               field="response_format")
    expect_4xx("unsatisfiable schema (empty enum)",
               *post({"messages": MSG, "response_format": {"type": "json_schema", "json_schema": {"schema": {
                   "type": "object", "properties": {"a": {"enum": []}}}}}}), field="response_format")
    expect_4xx("prompt longer than the context", *post({"prompt": "7 " * 5000}, "/v1/completions"),
               field="prompt")
    expect_4xx("token id outside the vocabulary", *post({"prompt": [10 ** 6]}, "/v1/completions"), field="prompt")
    expect_4xx("unknown route", *post({"x": 1}, "/v1/nothing"), code=404)
    # 10 MB body: refused as too large (413) without reading it all.
    big = json.dumps({"messages": [{"role": "user", "content": "a" * (10 << 20)}]}).encode()
    status, body = post(big)
    expect(status == 413, f"10 MB body: HTTP {status}")
    # A body shorter than its Content-Length, and an unterminated chunked body: the read
    # times out (2 s here) and the connection is answered or closed; nothing hangs.
    t = time.time()
    status, _ = raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"mess")
    expect(status in (None, 400, 408) and time.time() - t < 10, f"short body: {status} after {time.time() - t:.1f} s")
    t = time.time()
    status, _ = raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"messages\":")
    expect(status in (None, 400, 408) and time.time() - t < 10, f"unterminated chunked: {status} after {time.time() - t:.1f} s")
    # Garbage instead of HTTP.
    status, _ = raw(b"\x00\x01\x02 not http at all\r\n\r\n")
    expect(status in (None, 400), f"garbage request line: {status}")

    # Slow-loris: 40 clients trickle a header byte every 0.5 s; a normal request is still
    # served promptly (each connection has its own thread; see docs/serve.md for the limit).
    stop = threading.Event()

    def loris():
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        try:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
            for i in range(10):
                if stop.is_set():
                    return
                s.sendall(b"X-a: b\r\n"[i % 8:i % 8 + 1])
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        finally:
            s.close()
    threads = [threading.Thread(target=loris) for _ in range(40)]
    for th in threads:
        th.start()
    time.sleep(0.5)
    t = time.time()
    status, body = post({"messages": MSG, "max_tokens": 5, "temperature": 0})
    took = time.time() - t
    expect(status == 200 and took < 5, f"served during slow-loris: HTTP {status} in {took:.2f} s")
    for th in threads:
        th.join(30)
    stop.set()
    # A client that stops sending is dropped by the read timeout (2 s).
    t = time.time()
    status, _ = raw(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    expect(status in (None, 400, 408) and time.time() - t < 10, f"stalled headers: {status} after {time.time() - t:.1f} s")

    # Still alive and well.
    status, body = post({"messages": MSG, "max_tokens": 5, "temperature": 0})
    expect(status == 200 and json.loads(body)["choices"][0]["message"]["content"] is not None, "normal request after all")
    s, _, b = srv.request("GET", "/metrics")
    expect(s == 200 and b'veritas_rejected_total{reason="invalid"}' in b and b'reason="too_large"' in b,
           "rejections counted by reason")
    print(f"hostile: {time.time() - t0:.1f} s")
finally:
    expect(srv.proc.poll() is None, "server still running: " + srv.logs())
    code = srv.stop()
    expect(code == 0, f"clean exit: {code}")

finish("serve_hostile")
