"""`veritas serve` lifecycle: SIGTERM lets a running streamed answer finish, refuses new
work, then exits 0; SIGKILL loses no key or limit state (a daily cap still holds after a
restart); a client that hangs up mid-answer frees its slot."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from serve_common import Server, expect, finish, temp_dir  # noqa: E402

BIN, MODEL = sys.argv[1], sys.argv[2]
ENV = dict(os.environ, VERITAS_QUIET="1")
MSG = [{"role": "user", "content": "What is 4 + 5?"}]


def stream_lines(url, body, out, started):
    req = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        for line in r:
            out.append(line.decode())
            started.set()


# A port in use is a clear error, not a silently shared port.
first = Server(BIN, MODEL, env=ENV)
r = subprocess.run([BIN, "serve", "--model", MODEL, "--port", str(first.port)], capture_output=True, text=True,
                   timeout=60, env=ENV)
expect(r.returncode == 1 and "cannot bind" in r.stderr, f"second server on a used port: {r.returncode} {r.stderr[-200:]}")
first.stop()

# SIGTERM drains: a long streamed answer (3000 tokens) is running when
# SIGTERM arrives; it must run to its end.
srv = Server(BIN, MODEL, "--parallel", "2", "--context", "4096", env=ENV)
lines, started = [], threading.Event()
th = threading.Thread(target=stream_lines, args=(srv.url, {"messages": MSG, "max_tokens": 3000, "temperature": 1.0,
                                                           "seed": 3, "stream": True, "ignore_eos": True}, lines,
                                                 started))
th.start()
expect(started.wait(30), "stream started")
srv.proc.send_signal(signal.SIGTERM)
th.join(60)
expect(any("[DONE]" in l for l in lines), f"the running answer finished after SIGTERM: {lines[-3:]}")
expect(any('"finish_reason":"length"' in l for l in lines), "it ran to max_tokens")
try:
    s, _, b = srv.request("POST", "/v1/chat/completions", {"messages": MSG}, timeout=5)
    expect(s == 503, f"new work during the drain: {s}")
except OSError:
    pass  # already closed: also refused
try:
    code = srv.proc.wait(30)
except subprocess.TimeoutExpired:
    code = None
    srv.proc.kill()
expect(code == 0, f"exit code after SIGTERM: {code}: {srv.logs()}")

# SIGKILL keeps key state: a daily cap of 2 requests still holds after a restart.
db = os.path.join(temp_dir("veritas-keys-"), "keys.db")
key = subprocess.run([BIN, "keys", "add", "--db", db, "--name", "capped", "--rpm", "0", "--daily-requests", "2"],
                     capture_output=True, text=True, check=True).stdout.strip()
auth = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
srv = Server(BIN, MODEL, "--keys", db, env=ENV)
codes = [srv.request("POST", "/v1/chat/completions", {"messages": MSG, "max_tokens": 3}, auth)[0] for _ in range(2)]
srv.stop(signal.SIGKILL)
srv = Server(BIN, MODEL, "--keys", db, env=ENV)
s, h, b = srv.request("POST", "/v1/chat/completions", {"messages": MSG, "max_tokens": 3}, auth)
expect(codes == [200, 200] and s == 429 and "daily" in json.loads(b)["error"]["message"] and int(h["Retry-After"]) > 0,
       f"daily cap survives SIGKILL: {codes} then {s} {b[:120]!r}")
listing = subprocess.run([BIN, "keys", "list", "--db", db], capture_output=True, text=True, check=True).stdout
expect(" 2 " in listing.split("\n")[1], f"usage kept: {listing}")
subprocess.run([BIN, "keys", "revoke", "--db", db, "--name", "capped"], check=True, capture_output=True)
s, _, _ = srv.request("POST", "/v1/chat/completions", {"messages": MSG, "max_tokens": 3}, auth)
expect(s == 401, f"revoked key: {s}")
srv.stop()

# A client that hangs up mid-answer frees its slot (non-streamed and streamed).
srv = Server(BIN, MODEL, "--parallel", "1", "--context", "16384", "--max-tokens", "16000", env=ENV)
# Long enough to be running after 0.2 s: the test model wrote 4000 tokens in about 0.25 s
# on 2 cores (2026-12-07); 16000 take over a second, attention growing with the position.
long_prompt = {"prompt": "Column 1:", "max_tokens": 16000, "temperature": 1.0, "ignore_eos": True}


def generated():
    m = srv.request("GET", "/metrics")[2].decode()
    return float([l.split()[-1] for l in m.splitlines() if l.startswith("veritas_generation_tokens_total")][0])


for stream in (False, True):
    before = generated()
    body = json.dumps(dict(long_prompt, stream=stream)).encode()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
              str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(0.2)
    expect(json.loads(srv.request("GET", "/health")[2])["slots_busy"] == 1, "the answer is being generated")
    s.close()
    t = time.time()
    busy = None
    while time.time() - t < 10:
        busy = json.loads(srv.request("GET", "/health")[2])["slots_busy"]
        if busy == 0:
            break
        time.sleep(0.005)
    expect(busy == 0, f"slot freed after the client hung up (stream={stream})")
    took = time.time() - t
    time.sleep(0.1)
    n = generated() - before
    expect(0 < n < 16000, f"generation stopped early: {n} of 16000 tokens (stream={stream})")
    print(f"stream={stream}: slot free {took * 1000:.0f} ms after the hang-up, {n:.0f} of 16000 tokens generated")
srv.stop()

# Per-request timeout: a 16000-token answer under --timeout 0.3 ends with 504 (non-streamed)
# or an error event (streamed), and frees its slot.
srv = Server(BIN, MODEL, "--parallel", "1", "--context", "16384", "--max-tokens", "16000", "--timeout", "0.3", env=ENV)
t = time.time()
s, _, b = srv.request("POST", "/v1/completions", long_prompt)
expect(s == 504 and json.loads(b)["error"]["code"] == "timeout" and time.time() - t < 5, f"timeout: {s} {b[:100]!r}")
st, _, b = srv.request("POST", "/v1/completions", dict(long_prompt, stream=True))
expect(st == 200 and b'"code":"timeout"' in b and b.rstrip().endswith(b"data: [DONE]"), f"streamed timeout: {b[-200:]!r}")
expect(json.loads(srv.request("GET", "/health")[2])["slots_busy"] == 0, "slot free after the timeouts")
srv.stop()

finish("serve_lifecycle")
