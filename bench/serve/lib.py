"""Shared by bench/serve/run and bench/serve/overload: the CPU header, a benchmark model,
starting `veritas serve`, and one streamed request with its time to first token."""
import http.client
import json
import os
import subprocess
import tempfile
import time


def cpu_header():
    model, flags = "?", set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name") and model == "?":
            model = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile") if f in flags]
    return f"cpu: {model}, {os.cpu_count()} threads, {' '.join(simd) or 'no AVX2'}"


def make_model(bin_, out, hidden=384, layers=6, heads=6, inter=1024, vocab=8192, ctx=1024):
    """A checkpoint of the given shape (one SFT step on arithmetic demos: the weights are
    near their initialisation; serving speed does not depend on them)."""
    env = dict(os.environ, VERITAS_QUIET="1")
    with tempfile.TemporaryDirectory() as d:
        demos, text, tok = (os.path.join(d, x) for x in ("demos.jsonl", "text.txt", "tok.json"))
        subprocess.run([bin_, "tasks", "demos", "--suite", "arith", "--op", "add", "--max-digits", "2", "--n", "2000",
                        "--lang", "en", "--seed", "1", "-o", demos], check=True, capture_output=True, env=env)
        with open(text, "w") as f:
            for line in open(demos):
                j = json.loads(line)
                f.write(j["prompt"] + "\n" + j["completion"] + "\n")
        subprocess.run([bin_, "tokenizer", "train", "--input", text, "--vocab-size", "512", "--split-digits", "-o", tok],
                       check=True, capture_output=True, env=env)
        subprocess.run([bin_, "train", "--sft", demos, "--tokenizer", tok, "--vocab-size", str(vocab), "--hidden-size",
                        str(hidden), "--layers", str(layers), "--heads", str(heads), "--intermediate-size", str(inter),
                        "--max-seq-len", str(ctx), "--seq", "64", "--batch", "4", "--steps", "1", "--warmup", "1",
                        "--eval-every", "0", "--out", out], check=True, capture_output=True, env=env)
    return out


class Serve:
    def __init__(self, bin_, model, *args, env=None):
        self.dir = tempfile.mkdtemp(prefix="veritas-bench-serve-")
        pf = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.proc = subprocess.Popen([bin_, "serve", "--model", model, "--port", "0", "--port-file", pf, *args],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, VERITAS_QUIET="1", **(env or {})))
        t = time.time()
        while not os.path.exists(pf):
            if self.proc.poll() is not None or time.time() - t > 60:
                raise RuntimeError("veritas serve did not start; see " + self.log.name)
            time.sleep(0.05)
        self.port = int(open(pf).read())

    def rss_mb(self):
        return proc_mem_mb(self.proc.pid, "VmRSS")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def proc_mem_mb(pid, field):
    """A memory figure of a live process from /proc (VmRSS: now; VmHWM: the peak)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def stream_completion(port, prompt, max_tokens, headers=None, timeout=120, path="/v1/completions", deadline=None):
    """One streamed completion with ignore_eos. Returns (status, ttft_s, tokens, total_s);
    tokens counted from the usage event. At `deadline` (perf_counter time) the client
    hangs up (the server then cancels the request) and the status is "cut", with the
    tokens received until then (one per event)."""
    t0 = time.perf_counter()
    ttft, usage, chunks = None, None, 0
    body = json.dumps({"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True,
                       "ignore_eos": True, "stream_options": {"include_usage": True}})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
        if deadline is not None:
            c.sock.settimeout(max(0.05, deadline - time.perf_counter()))
        r = c.getresponse()
        if r.status != 200:
            r.read()
            return r.status, None, 0, time.perf_counter() - t0
        for line in r:
            if deadline is not None and time.perf_counter() > deadline:
                return "cut", ttft, chunks, time.perf_counter() - t0  # tokens received so far
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            j = json.loads(line[6:])
            # The server sends an event only once a token was generated (its text may be
            # empty: a token the tokenizer does not cover, or held-back bytes).
            if ttft is None and j.get("choices"):
                ttft = time.perf_counter() - t0
            if j.get("choices"):
                chunks += 1
            if j.get("usage"):
                usage = j["usage"]["completion_tokens"]
        # The usage event's count; a server that sends none is counted one token per event.
        return 200, ttft, usage if usage is not None else chunks, time.perf_counter() - t0
    except TimeoutError:
        return "cut", ttft, chunks, time.perf_counter() - t0
    finally:
        c.close()


def percentile(xs, p):
    """The p-th percentile (nearest rank) of xs: numbers, or tuples (sorted as tuples: first item first)."""
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]
