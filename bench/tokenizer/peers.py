"""Encode throughput of the peers on the same text and GPT-2 files: tiktoken and Hugging
Face tokenizers (its GPT-2 BPE built from the same encoder.json and vocab.bpe), on T
threads, with the same cuts as bench_tokenizer.cpp. Each pass builds a fresh encoder,
so caches start empty (tiktoken keeps none; tokenizers keeps a word cache).

usage: python peers.py ENCODER_JSON VOCAB_BPE TEXT PASSES THREADS
Prints "<peer> tokens: N" and "<peer> cold MB/s: X" lines for bench/tokenizer/run.
"""
import os
import sys
import time

enc_json, vocab_bpe, text_path, passes, threads = sys.argv[1:6]
passes, threads = int(passes), int(threads)
# Hugging Face tokenizers sizes its rayon pool from this, read at first use.
os.environ["RAYON_NUM_THREADS"] = str(threads)
os.environ["TOKENIZERS_PARALLELISM"] = "true"

import tiktoken  # noqa: E402
import tokenizers  # noqa: E402
from tiktoken.load import data_gym_to_mergeable_bpe_ranks  # noqa: E402
from tiktoken_ext.openai_public import r50k_pat_str  # noqa: E402


def cut(data, parts):
    """bench_tokenizer.cpp's cuts: a '\\n' between two printable ASCII bytes."""
    out, start = [], 0
    printable = lambda b: 0x21 <= b <= 0x7E
    for p in range(1, parts):
        if start >= len(data):
            break
        end = max(start + 2, len(data) * p // parts)
        while end < len(data) and not (data[end - 1] == 0x0A and printable(data[end - 2]) and printable(data[end])):
            end += 1
        out.append(data[start:end])
        start = end
    if start < len(data):
        out.append(data[start:])
    return [c.decode("utf-8") for c in out]


def make_tiktoken():
    ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=vocab_bpe, encoder_json_file=enc_json)
    enc = tiktoken.Encoding(name="gpt2-local", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                            special_tokens={"<|endoftext|>": 50256})
    if threads == 1:
        return lambda chunks: [enc.encode_ordinary(chunks[0])]
    return lambda chunks: enc.encode_ordinary_batch(chunks, num_threads=threads)


def make_hf():
    from tokenizers import decoders, models, pre_tokenizers
    tok = tokenizers.Tokenizer(models.BPE.from_file(enc_json, vocab_bpe))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # encode_batch_fast: the batch API without offsets, the fastest the library offers.
    return lambda chunks: [e.ids for e in tok.encode_batch_fast(chunks, add_special_tokens=False)]


with open(text_path, "rb") as f:
    data = f.read()
chunks = cut(data, threads)
mb = len(data) / 1e6
results = {}
for name, make in (("tiktoken", make_tiktoken), ("hf-tokenizers", make_hf)):
    best = 1e30
    for p in range(1, passes + 1):
        encode = make()
        t0 = time.perf_counter()
        ids = encode(chunks)
        s = time.perf_counter() - t0
        best = min(best, s)
        print(f"{name} pass {p}: {s:.3f} s ({mb / s:.2f} MB/s)")
    results[name] = [i for part in ids for i in part]
    print(f"{name} tokens: {len(results[name])}")
    print(f"{name} cold MB/s: {mb / best:.3f}")
if results["tiktoken"] != results["hf-tokenizers"]:
    sys.exit("tiktoken and tokenizers disagree on this text")
