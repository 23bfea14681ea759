"""Serving throughput: aggregate generated tokens/s and p50/p99 time to first token at 1, 4,
16 and 64 concurrent streaming clients, on one model file. Peers measured in the same run:
(1) the same server with one slot (--parallel 1: no batching; skipped with --no-1slot), and
(2) llama.cpp's server on the same GGUF file (--gguf, which veritas then serves too, with
its Q4/Q8 blocks as stored): llama.cpp's C++ llama-server (--llama-server PATH, built by
bench/serve/build-llama-server) with the same slots (--parallel), continuous batching, the
same threads and the same context per slot; else llama-cpp-python's Python server when its
[server] extras are installed. Same prompts, max_tokens and greedy decoding on both sides."""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from lib import Serve, cpu_header, make_model, percentile, proc_mem_mb, stream_completion  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import figures  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--model", help="checkpoint folder; default: a SMALL-shaped model made here")
ap.add_argument("--gguf", help="the same model as GGUF, for llama.cpp's server")
ap.add_argument("--slots", type=int, default=16)
ap.add_argument("--clients", default="1,4,16,64")
ap.add_argument("--seconds", type=float, default=10,
                help="per measurement, times clients / slots where there are more clients than slots (64 clients "
                     "on 16 slots: 4x), so that queued requests get served and the TTFT percentiles are not "
                     "mostly of requests still waiting")
ap.add_argument("--max-tokens", type=int, default=64)
ap.add_argument("--context", type=int, default=256, help="KV positions per slot, both servers")
ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads, both servers")
ap.add_argument("--llama-server", help="llama.cpp's llama-server binary (bench/serve/build-llama-server)")
ap.add_argument("--no-1slot", action="store_true", help="skip the one-slot veritas peer")
a = ap.parse_args()

print(cpu_header())
print("load average at start: %.2f %.2f %.2f" % os.getloadavg())
import shutil  # noqa: E402
import tempfile  # noqa: E402
tmp = tempfile.mkdtemp(prefix="veritas-bench-serve-")
model = a.gguf or a.model or make_model(a.bin, os.path.join(tmp, "model"))
print(f"model: {model}; {a.max_tokens} generated tokens per request (ignore_eos), greedy, streamed")


def measure(port, clients, path="/v1/completions"):
    """Closed loop: each client sends a request as soon as its last one ended, for
    a.seconds (times clients / slots when above 1); at the end clients hang up on unfinished
    requests. Tokens are those streamed within the window (completed requests by their usage
    count, unfinished ones one per event). A request still waiting for its first token when
    the window closed counts in the TTFT percentiles at its wait so far, a lower bound:
    leaving it out would favour the server that started fewer requests (at 64 clients most
    of them wait). Returns (tok/s, p50 ttft, p99 ttft, requests started, errors, waiting,
    p50 is a lower bound, p99 is one)."""
    stop = time.perf_counter() + a.seconds * max(1.0, clients / a.slots)
    lock = threading.Lock()
    ttfts, toks, errors, waiting = [], [0], [0], [0]  # ttfts: (seconds, still waiting)

    def client(i):
        k = 0
        while time.perf_counter() < stop:
            # Distinct prompts: no client reuses another's cached prefix.
            st, ttft, n, spent = stream_completion(port, f"Client {i} request {k}: What is {i} + {k}?", a.max_tokens,
                                               path=path, deadline=stop)
            k += 1
            with lock:
                if st == "cut":  # its first token still counts for TTFT; a request never started is "waiting"
                    if ttft is not None:
                        ttfts.append((ttft, False))
                        toks[0] += n  # the tokens it streamed within the window
                    else:
                        ttfts.append((spent, True))
                        waiting[0] += 1
                elif st == 200 and ttft is not None:
                    ttfts.append((ttft, False))
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
    p50, p99 = (percentile(ttfts, 50), percentile(ttfts, 99)) if ttfts else ((float("nan"), False),) * 2
    return (toks[0] / wall, p50[0], p99[0], len(ttfts) - waiting[0], errors[0], waiting[0], p50[1], p99[1])


clients = [int(c) for c in a.clients.split(",")]
results = {}
peak = {}  # server -> peak resident memory (MB) over its whole run
runs = [("veritas", a.slots)] + ([] if a.no_1slot else [("veritas-1slot", 1)])
for name, slots in runs:
    # On a GGUF file: its blocks as stored and an fp16 KV cache, as llama.cpp runs it.
    extra = ["--precision", "gguf", "--kv-cache", "f16"] if a.gguf else []
    srv = Serve(a.bin, model, "--parallel", str(slots), "--queue", "256", "--context", str(a.context), *extra,
                env={"VERITAS_THREADS": str(a.threads), "OMP_NUM_THREADS": str(a.threads)})
    try:
        measure(srv.port, 1)  # warm-up (pages in the weights)
        for c in clients:
            results[(name, c)] = measure(srv.port, c)
        peak[name] = proc_mem_mb(srv.proc.pid, "VmHWM")
    finally:
        srv.stop()

def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_ready(port, proc, what, limit=120):
    import http.client
    t = time.time()
    while time.time() - t < limit:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready")


peer, cmd = None, None
if not a.gguf:
    print("llama.cpp peer: not measured (it needs the model as GGUF: --gguf)")
elif a.llama_server:
    peer = "llama-server"
    port = free_port()
    # -c is the whole KV cache, shared by the slots: context per slot times slots.
    cmd = [a.llama_server, "-m", a.gguf, "--host", "127.0.0.1", "--port", str(port), "--parallel", str(a.slots), "-cb",
           "-c", str(a.context * a.slots), "-t", str(a.threads), "-tb", str(a.threads), "-b", "2048", "-ub", "512",
           "--no-warmup", "--log-disable"]
else:
    try:
        import llama_cpp.server.app  # noqa: F401  (needs llama-cpp-python[server]: fastapi, uvicorn, ...)
        peer = "llama-cpp-python"
        port = free_port()
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", a.gguf, "--host", "127.0.0.1", "--port", str(port),
               "--n_ctx", str(a.context * a.slots), "--n_threads", str(a.threads), "--n_threads_batch", str(a.threads)]
    except ImportError:
        print("llama.cpp peer: not measured (give --llama-server, or install llama-cpp-python[server])")
if peer:
    import subprocess
    print("llama.cpp peer:", peer, " ".join(cmd[1:]))
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(port, proc, peer)
        measure(port, 1)  # warm-up, as for veritas
        for c in clients:
            results[("llama.cpp", c)] = measure(port, c)
        peak["llama.cpp"] = proc_mem_mb(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait(30)

print(f"\n{'server':<15}{'clients':>8}{'tok/s':>10}{'TTFT p50 ms':>13}{'TTFT p99 ms':>13}{'started':>9}{'errors':>8}"
      f"{'no token at end':>17}")
def ms(v, lower_bound):
    return ("≥ " if lower_bound else "") + f"{v * 1000:.1f}"


for (name, c), (tps, p50, p99, n, err, wait, low50, low99) in results.items():
    print(f"{name:<15}{c:>8}{tps:>10.1f}{ms(p50, low50):>13}{ms(p99, low99):>13}{n:>9}{err:>8}{wait:>17}")
print("('no token at end': requests still waiting when the window closed; they count in the TTFT percentiles at their "
      "wait so far, and a percentile that falls on one is a lower bound, marked ≥)")
print()
for c in clients:
    v = results[("veritas", c)]
    parts = []
    if ("veritas-1slot", c) in results:
        parts.append(f"veritas ({a.slots} slots) / veritas (1 slot) = {v[0] / results[('veritas-1slot', c)][0]:.2f}x tok/s")
    if ("llama.cpp", c) in results:
        lc = results[("llama.cpp", c)]
        if lc[0] > 0 and lc[3] > 0:
            parts.append(f"veritas / llama.cpp = {v[0] / lc[0]:.2f}x tok/s, TTFT p50 {v[1] / lc[1]:.2f}x, "
                         f"p99 {v[2] / lc[2]:.2f}x (below 1 is faster)")
        else:  # the peer streamed nothing in the window (its threads spin-wait on a busy machine)
            parts.append("veritas / llama.cpp: no ratio, llama.cpp streamed no token in the window")
    print(f"{c:>3} clients: " + "; ".join(parts))
    shape = f"{c} clients, {a.slots} slots, {a.max_tokens} tokens a request"
    if ("veritas-1slot", c) in results:
        figures.emit("serving tokens/s (continuous batching)", v[0], "tok/s", peer="veritas, 1 slot",
                     peer_value=results[("veritas-1slot", c)][0], shape=shape)
    if ("llama.cpp", c) in results:
        lc = results[("llama.cpp", c)]
        figures.emit("serving tokens/s", v[0], "tok/s", peer="llama.cpp llama-server", peer_value=lc[0], shape=shape,
                     goal=">= 1.0x")
        if lc[3] > 0:  # no time to first token when the peer started nothing in the window
            bound = [w for w, low in (("veritas", v[7]), ("llama.cpp", lc[7])) if low]
            figures.emit("time to first token, p99", v[2] * 1000, "ms", peer="llama.cpp llama-server",
                         peer_value=lc[2] * 1000, lower_is_better=True, shape=shape,
                         **({"note": f"{' and '.join(bound)}: a lower bound, requests still waiting when the "
                                     "window closed"} if bound else {}))
print("peak resident memory (VmHWM, whole run): " + ", ".join(f"{k} {v:.0f} MB" for k, v in peak.items()) +
      (f"; veritas / llama.cpp = {peak['veritas'] / peak['llama.cpp']:.2f}x" if "llama.cpp" in peak else ""))
if "llama.cpp" in peak:
    figures.emit("peak resident memory (VmHWM)", peak["veritas"], "MB", peer="llama.cpp llama-server",
                 peer_value=peak["llama.cpp"], lower_is_better=True,
                 shape=f"{a.slots} slots x {a.context} positions", goal=">= 1.0x")
print("load average at end: %.2f %.2f %.2f" % os.getloadavg())

shutil.rmtree(tmp, ignore_errors=True)
