"""Serving throughput: aggregate generated tokens/s and p50/p99 time to first token at 1, 4,
16 and 64 concurrent streaming clients, on one model file. Peers measured in the same run:
(1) the same server with one slot (--parallel 1: no batching), and (2) llama.cpp's server
from llama-cpp-python when it is installed and the model exists as GGUF (--gguf)."""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import Serve, cpu_header, make_model, percentile, stream_completion  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--model", help="checkpoint folder; default: a SMALL-shaped model made here")
ap.add_argument("--gguf", help="the same model as GGUF, for llama.cpp's server")
ap.add_argument("--slots", type=int, default=16)
ap.add_argument("--clients", default="1,4,16,64")
ap.add_argument("--seconds", type=float, default=10, help="per measurement")
ap.add_argument("--max-tokens", type=int, default=64)
a = ap.parse_args()

print(cpu_header())
import shutil  # noqa: E402
import tempfile  # noqa: E402
tmp = tempfile.mkdtemp(prefix="veritas-bench-serve-")
model = a.model or make_model(a.bin, os.path.join(tmp, "model"))
print(f"model: {model}; {a.max_tokens} generated tokens per request (ignore_eos), greedy, streamed")


def measure(port, clients, path="/v1/completions"):
    """Closed loop: each client sends a request as soon as its last one ended, for
    a.seconds; at the end clients hang up on unfinished requests, which are not counted
    (only tokens of requests completed in the window). Returns (tok/s, p50 ttft, p99
    ttft, requests, errors)."""
    stop = time.perf_counter() + a.seconds
    lock = threading.Lock()
    ttfts, toks, errors, waiting = [], [0], [0], [0]

    def client(i):
        k = 0
        while time.perf_counter() < stop:
            # Distinct prompts: no client reuses another's cached prefix.
            st, ttft, n, _ = stream_completion(port, f"Client {i} request {k}: What is {i} + {k}?", a.max_tokens,
                                               path=path, deadline=stop)
            k += 1
            with lock:
                if st == "cut":  # its first token still counts for TTFT; a request never started is "waiting"
                    if ttft is not None:
                        ttfts.append(ttft)
                    else:
                        waiting[0] += 1
                elif st == 200 and ttft is not None:
                    ttfts.append(ttft)
                    toks[0] += n
                else:
                    errors[0] += 1
    t0 = time.perf_counter()
    th = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.perf_counter() - t0
    time.sleep(0.5)  # hung-up requests end within a step; let the server settle
    return toks[0] / wall, percentile(ttfts, 50), percentile(ttfts, 99), len(ttfts), errors[0], waiting[0]


clients = [int(c) for c in a.clients.split(",")]
results = {}
for name, slots in (("veritas", a.slots), ("veritas-1slot", 1)):
    srv = Serve(a.bin, model, "--parallel", str(slots), "--queue", "256", "--context", "256")
    try:
        measure(srv.port, 1)  # warm-up (pages in the weights)
        for c in clients:
            results[(name, c)] = measure(srv.port, c)
    finally:
        srv.stop()

peer = None
try:
    import llama_cpp  # noqa: F401
    if a.gguf:
        peer = "llama.cpp"
    else:
        print("llama.cpp peer: llama-cpp-python is installed but no --gguf model was given")
except ImportError:
    print("llama.cpp peer: not measured (llama-cpp-python is not installed in this environment, and "
          "it needs the model as GGUF)")
if peer:
    import subprocess
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", a.gguf, "--host", "127.0.0.1",
                             "--port", str(port), "--n_ctx", str(256 * a.slots), "--n_threads", str(os.cpu_count())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5)
        for c in clients:
            results[("llama.cpp", c)] = measure(port, c)
    finally:
        proc.terminate()
        proc.wait(30)

print(f"\n{'server':<15}{'clients':>8}{'tok/s':>10}{'TTFT p50 ms':>13}{'TTFT p99 ms':>13}{'started':>9}{'errors':>8}"
      f"{'no token at end':>17}")
for (name, c), (tps, p50, p99, n, err, wait) in results.items():
    print(f"{name:<15}{c:>8}{tps:>10.1f}{p50 * 1000:>13.1f}{p99 * 1000:>13.1f}{n:>9}{err:>8}{wait:>17}")
print("(TTFT over requests that got a first token in the window; 'no token at end': requests still waiting when it closed)")
print()
for c in clients:
    base = results[("veritas-1slot", c)][0]
    line = f"{c:>3} clients: veritas ({a.slots} slots) / veritas (1 slot) = {results[('veritas', c)][0] / base:.2f}x tok/s"
    if ("llama.cpp", c) in results:
        line += f"; veritas / llama.cpp = {results[('veritas', c)][0] / results[('llama.cpp', c)][0]:.2f}x tok/s"
    print(line)

shutil.rmtree(tmp, ignore_errors=True)
