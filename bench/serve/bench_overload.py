"""Overload: measure the server's capacity (requests/s with every slot busy), then offer
10x that rate for a bounded time. Every response must be 200, 429 (a key over its rate
limit) or 503 (queue full); printed: their counts, p50/p99 latency of admitted requests,
the server's memory over the run (flat: no growth with load), and that no slot or queue
entry is left behind afterwards. Exit status 1 when any of these fails."""
import argparse
import concurrent.futures
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from lib import Serve, cpu_header, make_model, percentile, stream_completion  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--model")
ap.add_argument("--slots", type=int, default=4)
ap.add_argument("--queue", type=int, default=8)
ap.add_argument("--seconds", type=float, default=20, help="length of the overload phase")
ap.add_argument("--factor", type=float, default=10)
ap.add_argument("--max-tokens", type=int, default=32)
a = ap.parse_args()

print(cpu_header())
tmp = tempfile.mkdtemp(prefix="veritas-bench-overload-")
model = a.model or make_model(a.bin, os.path.join(tmp, "model"))
db = os.path.join(tmp, "keys.db")
env = dict(os.environ, VERITAS_QUIET="1")


def key(name, rpm):
    return subprocess.run([a.bin, "keys", "add", "--db", db, "--name", name, "--rpm", str(rpm)], check=True,
                          capture_output=True, text=True, env=env).stdout.strip()


open_key, limited_key = key("open", 0), key("limited", 30)  # a tenth of the traffic uses a 30/min key
srv = Serve(a.bin, model, "--parallel", str(a.slots), "--queue", str(a.queue), "--context", "256", "--keys", db)
auth_open = {"Authorization": "Bearer " + open_key}
failed = []
try:
    # Capacity: closed loop with two clients per slot (the slots never wait for a client).
    stop = time.perf_counter() + 5
    done = [0]

    def cap_client(i):
        k = 0
        while time.perf_counter() < stop:
            st, _, _, _ = stream_completion(srv.port, f"cap {i} {k}", a.max_tokens, auth_open)
            k += 1
            if st == 200:
                done[0] += 1
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(2 * a.slots) as ex:
        list(ex.map(cap_client, range(2 * a.slots)))
    capacity = done[0] / (time.perf_counter() - t0)
    rate = a.factor * capacity
    print(f"capacity: {capacity:.1f} requests/s ({a.slots} slots, {a.max_tokens} tokens each); "
          f"offering {rate:.1f} requests/s ({a.factor:.0f}x) for {a.seconds:.0f} s, queue {a.queue}")

    # Overload: open loop (Poisson arrivals), each request on its own thread.
    statuses, latencies, rss = {}, [], []
    lock = threading.Lock()

    def one(i):
        hdr = {"Authorization": "Bearer " + (limited_key if i % 10 == 0 else open_key)}
        try:
            st, _, _, total = stream_completion(srv.port, f"load {i}", a.max_tokens, hdr, timeout=60)
        except Exception as e:  # a reset or timeout is a failure of the server
            st, total = type(e).__name__, 0
        with lock:
            statuses[st] = statuses.get(st, 0) + 1
            if st == 200:
                latencies.append(total)

    rng = random.Random(1)
    ex = concurrent.futures.ThreadPoolExecutor(512)
    t0 = time.perf_counter()
    next_sample, i = t0, 0
    while time.perf_counter() - t0 < a.seconds:
        ex.submit(one, i)
        i += 1
        now = time.perf_counter()
        if now >= next_sample:
            rss.append(srv.rss_mb())
            next_sample = now + 1
        time.sleep(rng.expovariate(rate))
    ex.shutdown(wait=True)
    wall = time.perf_counter() - t0
    rss.append(srv.rss_mb())

    # Nothing left behind: every slot free, the queue empty.
    h = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/health", timeout=10).read())
    print(f"sent {i} requests in {wall:.1f} s: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)))
    print(f"admitted latency: p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms")
    print(f"server memory (RSS): start {rss[0]:.0f} MB, max {max(rss):.0f} MB, end {rss[-1]:.0f} MB")
    print(f"after the load: {h['slots_busy']} busy slots, {h['queued']} queued")
    bad = {k: v for k, v in statuses.items() if k not in (200, 429, 503)}
    if bad:
        failed.append(f"responses other than 200/429/503: {bad}")
    if not statuses.get(503) or not statuses.get(429) or not statuses.get(200):
        failed.append("expected some 200, some 429 and some 503 at 10x capacity")
    if max(rss) > rss[0] * 1.5 + 50:
        failed.append("memory grew under load")
    if h["slots_busy"] or h["queued"]:
        failed.append("slots or queue entries left behind")
    if srv.proc.poll() is not None:
        failed.append("the server died")
finally:
    srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)
print("overload: " + ("OK" if not failed else "FAILED: " + "; ".join(failed)))
sys.exit(1 if failed else 0)
