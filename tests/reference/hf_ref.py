"""References for veritas's Hugging Face directory import (tests/infer/hf_test.cpp). Runs
in the project's .venv; writes everything into OUT (a folder in the build tree).

  hf_ref.py tokenizers OUT   tokenizer.json files with SmolLM2's vocabulary (taken from
                             the GGUF through transformers) under three pre-tokenizers:
                             smollm2/ (Sequence[Digits, ByteLevel], as SmolLM2's own
                             file), llama3/ (Split(Llama 3 pattern) + ByteLevel(use_regex=
                             false), ignore_merges) and qwen2/ (Split(Qwen2 pattern) +
                             ByteLevel(use_regex=false), NFC normalizer); text.txt (>= 1 MB
                             of mixed text) and ids-NAME.i32 from Hugging Face tokenizers.
"""
import copy
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_ref import LLAMA3_PATTERN, QWEN2_PATTERN, mixed_text, smollm_path  # noqa: E402

# Cases only some configurations treat differently: NFC (decomposed accents, Hangul
# jamo), upper-case contractions, digit runs, whitespace and newline runs.
EXTRA = ("Cafe\u0301 n\u0303o A\u030a \u1100\u1161\u11a8 \uff21\u2460 I'LL WE'VE 12345678 \r\n\r\n \t x\n\n\n  y"
         " 😀👍🏽 <|im_start|>user\nhi<|im_end|>\n") * 200


def smollm2_tokenizer_json():
    """SmolLM2's vocabulary, merges and added tokens as transformers converts the GGUF."""
    from transformers import AutoTokenizer

    d, f = os.path.split(smollm_path())
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    return json.loads(tok.backend_tokenizer.to_str())


def split_then_byte_level(pattern):
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}


def tokenizer_variants():
    base = smollm2_tokenizer_json()
    out = {}
    j = copy.deepcopy(base)  # SmolLM2's own tokenizer.json pre-tokenizer
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    out["smollm2"] = j
    j = copy.deepcopy(base)
    j["pre_tokenizer"] = split_then_byte_level(LLAMA3_PATTERN)
    j["model"]["ignore_merges"] = True
    out["llama3"] = j
    j = copy.deepcopy(base)
    j["pre_tokenizer"] = split_then_byte_level(QWEN2_PATTERN)
    j["normalizer"] = {"type": "NFC"}
    out["qwen2"] = j
    return out


def cmd_tokenizers(out):
    from tokenizers import Tokenizer

    text = mixed_text() + EXTRA
    open(os.path.join(out, "text.txt"), "wb").write(text.encode())
    for name, j in tokenizer_variants().items():
        os.makedirs(os.path.join(out, name), exist_ok=True)
        path = os.path.join(out, name, "tokenizer.json")
        json.dump(j, open(path, "w"), ensure_ascii=False)
        ids = Tokenizer.from_file(path).encode(text, add_special_tokens=False).ids
        np.array(ids, dtype="<i4").tofile(os.path.join(out, f"ids-{name}.i32"))
        print(name, len(ids), "ids")


if __name__ == "__main__":
    modes = {"tokenizers": cmd_tokenizers}
    if len(sys.argv) != 3 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    os.makedirs(sys.argv[2], exist_ok=True)
    modes[sys.argv[1]](sys.argv[2])
