"""References for veritas's Hugging Face directory import (tests/infer/hf_test.cpp). Runs
in the project's .venv; writes everything into OUT (a folder in the build tree).

  hf_ref.py tokenizers OUT   tokenizer.json files with SmolLM2's vocabulary (taken from
                             the GGUF through transformers) under three pre-tokenizers:
                             smollm2/ (Sequence[Digits, ByteLevel], as SmolLM2's own
                             file), llama3/ (Split(Llama 3 pattern) + ByteLevel(use_regex=
                             false), ignore_merges) and qwen2/ (Split(Qwen2 pattern) +
                             ByteLevel(use_regex=false), NFC normalizer); text.txt (>= 1 MB
                             of mixed text) and ids-NAME.i32 from Hugging Face tokenizers.
  hf_ref.py models OUT       Hugging Face directories written by transformers'
                             save_pretrained: llama/ (tiny random LlamaForCausalLM, GQA,
                             untied head, bf16, one model.safetensors, Llama 3 tokenizer),
                             qwen2/ (tiny random Qwen2ForCausalLM, q/k/v biases, tied, f32,
                             sharded with an index, Qwen2 tokenizer), smollm2/ (SmolLM2's
                             GGUF dequantized by transformers, f32); for each, NAME.json
                             (prompts, their ids, greedy 32 tokens) and NAME-logitsI.f32
                             (transformers' fp32 logits of every position).
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


PROMPTS = ["The capital of France is", "def fib(n):\n    return", "今天天气很好，我们去", "Numbers: 12345 and 678,",
           "<|im_start|>user\nWhat's 2+2?<|im_end|>\n<|im_start|>assistant\n"]


def reference_outputs(name, model, tk, out, steps=32):
    import torch

    meta = []
    with torch.no_grad():
        for i, p in enumerate(PROMPTS):
            ids = tk.encode(p, add_special_tokens=False).ids
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
            logits.astype("<f4").tofile(os.path.join(out, f"{name}-logits{i}.f32"))
            res = model(torch.tensor([ids]), use_cache=True)
            past, nxt, gen = res.past_key_values, int(res.logits[0, -1].argmax()), []
            for _ in range(steps):
                gen.append(nxt)
                res = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past, nxt = res.past_key_values, int(res.logits[0, -1].argmax())
            meta.append({"prompt": p, "ids": ids, "greedy": gen})
    json.dump({"prompts": meta}, open(os.path.join(out, f"{name}.json"), "w"))


def write_tokenizer(d, j, chat_template):
    from tokenizers import Tokenizer

    json.dump(j, open(os.path.join(d, "tokenizer.json"), "w"), ensure_ascii=False)
    json.dump({"bos_token": None, "eos_token": "<|im_end|>", "chat_template": chat_template},
              open(os.path.join(d, "tokenizer_config.json"), "w"), ensure_ascii=False)
    return Tokenizer.from_file(os.path.join(d, "tokenizer.json"))


def cmd_models(out):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, \
        Qwen2ForCausalLM

    torch.manual_seed(0)
    variants = tokenizer_variants()
    d, f = os.path.split(smollm_path())
    chat_template = AutoTokenizer.from_pretrained(d, gguf_file=f).chat_template
    vocab = 49152
    common = dict(vocab_size=vocab, hidden_size=64, intermediate_size=160, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=10000.0)

    def grow(m):  # random weights larger than the init's 0.02 so the logits are not flat
        with torch.no_grad():
            for p in m.parameters():
                p.normal_(0.0, 0.15) if p.dim() > 1 else p.uniform_(-0.5, 1.5)

    llama = LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=False)).eval()
    grow(llama)
    ld = os.path.join(out, "llama")
    llama.to(torch.bfloat16).save_pretrained(ld)
    tk = write_tokenizer(ld, variants["llama3"], chat_template)
    reference_outputs("llama", AutoModelForCausalLM.from_pretrained(ld, dtype=torch.float32).eval(), tk, out)

    qwen = Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=True)).eval()
    grow(qwen)
    qd = os.path.join(out, "qwen2")
    qwen.save_pretrained(qd, max_shard_size="2MB")
    if not os.path.exists(os.path.join(qd, "model.safetensors.index.json")):
        sys.exit("qwen2: save_pretrained wrote no index (shards expected)")
    tk = write_tokenizer(qd, variants["qwen2"], chat_template)
    reference_outputs("qwen2", AutoModelForCausalLM.from_pretrained(qd, dtype=torch.float32).eval(), tk, out)

    # transformers refuses to save a model loaded from GGUF: copy its dequantized weights
    # into a plain LlamaForCausalLM of the same configuration.
    sm = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    cfg = copy.deepcopy(sm.config)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    plain = LlamaForCausalLM(cfg).eval()
    plain.load_state_dict(sm.state_dict())
    sd = os.path.join(out, "smollm2")
    plain.save_pretrained(sd)
    sm = plain
    tk = write_tokenizer(sd, variants["smollm2"], chat_template)
    reference_outputs("smollm2", sm, tk, out)


if __name__ == "__main__":
    modes = {"tokenizers": cmd_tokenizers, "models": cmd_models}
    if len(sys.argv) != 3 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    os.makedirs(sys.argv[2], exist_ok=True)
    modes[sys.argv[1]](sys.argv[2])
