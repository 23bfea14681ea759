"""Starting and stopping `veritas serve` for the Python tests (loopback only, bounded waits)."""
import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

fail = []


def expect(cond, what):
    if not cond:
        fail.append(what)
        print("FAIL:", what, flush=True)
    return cond


def temp_dir(prefix):
    """A new folder under the system's temporary one, removed when the test exits."""
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    return d


class Server:
    def __init__(self, bin_, model, *args, env=None):
        self.dir = temp_dir("veritas-serve-")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen([bin_, "serve", "--model", model, "--port", "0", "--port-file", port_file, *args],
                                     stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 30
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("server did not start: " + self.logs())
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        self.url = f"http://127.0.0.1:{self.port}"

    def logs(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-2000:]

    def request(self, method, path, body=None, headers=None, timeout=60):
        """(status, headers, body bytes); never raises on an HTTP error status."""
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                fail.append("server did not stop within %d s after signal %d" % (timeout, sig))
        return self.proc.returncode


def finish(name):
    if fail:
        print(f"{name}: {len(fail)} failure(s)")
        for f in fail:
            print("  -", f)
        raise SystemExit(1)
    print(f"{name}: all checks passed")
