#!/usr/bin/env python3
"""K-quant references for veritas's block kernels (tests/infer/kquant_test.cpp). Runs in the
project's .venv. gguf 0.19's gguf.quants dequantizes Q4_K/Q5_K/Q6_K but cannot quantize
them, so the block encoders are written here in numpy from the GGUF layouts (simple
min/max scales, not llama.cpp's search) and each encoded tensor is checked to decode,
through gguf.quants.dequantize, to exactly the values the encoder meant.

  kquant_ref.py tensors OUT   SmolLM2 tensors (dequantized from the Q4_1 file) encoded as
                              Q4_K, Q5_K and Q6_K: OUT/<name>.<type>.bin (blocks) and
                              .f32 (gguf's dequantization), listed in OUT/tensors.json
  kquant_ref.py model OUT     SmolLM2 re-quantized: OUT/smollm2-q4_k.gguf and
                              OUT/smollm2-q6_k.gguf (every matrix whose rows are a
                              multiple of 256 in that type, the rest as shipped); 1,024
                              token ids of mixed text and llama.cpp's top-1 token at each
                              position of each file and of the shipped Q4_1 file
                              (OUT/model.json)
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_ref import mixed_text, reference_tokenizer, smollm_path  # noqa: E402

import gguf  # noqa: E402
import gguf.quants as gq  # noqa: E402

T = gguf.GGMLQuantizationType


def f16(x):
    return np.asarray(x, np.float32).astype(np.float16)


def enc_q4_k(w, five=False):
    """Rows of w (cols % 256 == 0) -> Q4_K (or Q5_K) blocks and the values they decode to."""
    nq = 31 if five else 15
    x = w.reshape(-1, 8, 32).astype(np.float32)  # super-blocks x sub-blocks x 32
    lo = np.minimum(x.min(axis=2), 0)
    hi = x.max(axis=2)
    scale = (hi - lo) / nq
    d = f16(scale.max(axis=1) / 63)
    dmin = f16((-lo).max(axis=1) / 63)
    df, dmf = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    sc = np.clip(np.round(np.divide(scale, df, out=np.zeros_like(scale), where=df > 0)), 0, 63).astype(np.uint8)
    m = np.clip(np.round(np.divide(-lo, dmf, out=np.zeros_like(lo), where=dmf > 0)), 0, 63).astype(np.uint8)
    step = (df * sc)[:, :, None]
    off = (dmf * m)[:, :, None]
    q = np.clip(np.round(np.divide(x + off, step, out=np.zeros_like(x), where=step > 0)), 0, nq).astype(np.uint8)
    dec = (step * q - off).reshape(w.shape)
    n = x.shape[0]
    scales = np.zeros((n, 12), np.uint8)
    scales[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    scales[:, 4:8] = m[:, 0:4] | ((m[:, 4:8] >> 4) << 6)
    scales[:, 8:12] = (sc[:, 4:8] & 0xF) | ((m[:, 4:8] & 0xF) << 4)
    qq = q.reshape(n, 4, 2, 32)  # 64-weight chunks: sub-block 2c in the low nibbles, 2c+1 high
    qs = ((qq[:, :, 0] & 0xF) | ((qq[:, :, 1] & 0xF) << 4)).reshape(n, 128)
    parts = [d.view(np.uint8).reshape(n, 2), dmin.view(np.uint8).reshape(n, 2), scales]
    if five:
        hb = (qq >> 4).astype(np.uint8)  # fifth bit; qh[l] bit 2c: sub-block 2c, bit 2c+1: 2c+1
        qh = np.zeros((n, 32), np.uint8)
        for c in range(4):
            qh |= hb[:, c, 0] << (2 * c)
            qh |= hb[:, c, 1] << (2 * c + 1)
        parts.append(qh)
    parts.append(qs)
    return np.concatenate(parts, axis=1).reshape(w.shape[0], -1), dec.astype(np.float32)


def enc_q6_k(w):
    x = w.reshape(-1, 16, 16).astype(np.float32)  # super-blocks x sub-blocks of 16
    scale = np.abs(x).max(axis=2) / 31
    d = f16(scale.max(axis=1) / 127)
    df = d.astype(np.float32)[:, None]
    sc = np.clip(np.round(np.divide(scale, df, out=np.zeros_like(scale), where=df > 0)), -128, 127).astype(np.int8)
    step = (df * sc)[:, :, None]
    q = np.clip(np.round(np.divide(x, step, out=np.zeros_like(x), where=step > 0)), -32, 31)
    dec = (step * q).reshape(w.shape)
    u = (q + 32).astype(np.uint8).reshape(-1, 2, 4, 32)  # halves of 128 x (l, l+32, l+64, l+96)
    n = u.shape[0]
    ql = np.concatenate([(u[:, :, 0] & 0xF) | ((u[:, :, 2] & 0xF) << 4), (u[:, :, 1] & 0xF) | ((u[:, :, 3] & 0xF) << 4)],
                        axis=2).reshape(n, 128)
    qh = ((u[:, :, 0] >> 4) | ((u[:, :, 1] >> 4) << 2) | ((u[:, :, 2] >> 4) << 4) | ((u[:, :, 3] >> 4) << 6)).reshape(n, 64)
    blocks = np.concatenate([ql, qh, sc.view(np.uint8), d.view(np.uint8).reshape(n, 2)], axis=1)
    return blocks.reshape(w.shape[0], -1), dec.astype(np.float32)


ENCODERS = {T.Q4_K: enc_q4_k, T.Q5_K: lambda w: enc_q4_k(w, five=True), T.Q6_K: enc_q6_k}


def encode(w, qtype):
    """Blocks of w; fails unless gguf's dequantization gives exactly what the encoder meant."""
    blocks, meant = ENCODERS[qtype](w)
    got = gq.dequantize(blocks, qtype).reshape(w.shape)
    if not np.array_equal(got, meant):
        sys.exit(f"{qtype.name} encoder disagrees with gguf.quants.dequantize: max {np.abs(got - meant).max()}")
    return blocks, got


def smollm_f32(reader, name):
    t = next(t for t in reader.tensors if t.name == name)
    shape = tuple(int(s) for s in reversed(t.shape))
    return gq.dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)


def cmd_tensors(out):
    r = gguf.GGUFReader(smollm_path())
    names = ["blk.0.attn_q.weight", "blk.7.ffn_down.weight", "blk.29.ffn_gate.weight", "blk.3.attn_k.weight"]
    listing = []
    for name in names:
        w = smollm_f32(r, name)
        # SmolLM2's rows are 576 (= 2.25 x 256) long except ffn_down's (1536): the first 512
        # columns of those (llama.cpp itself stores such tensors in other types).
        w = np.ascontiguousarray(w[:, : w.shape[1] // 256 * 256])
        for qtype in ENCODERS:
            blocks, dec = encode(w, qtype)
            stem = f"{name}.{qtype.name}"
            blocks.tofile(os.path.join(out, stem + ".bin"))
            dec.tofile(os.path.join(out, stem + ".f32"))
            listing.append({"name": name, "type": qtype.name, "rows": w.shape[0], "cols": w.shape[1], "stem": stem})
    json.dump(listing, open(os.path.join(out, "tensors.json"), "w"))


def requantize(src, dst, qtype):
    """Copies src's metadata and tensors; 2-d weights whose rows are a multiple of 256 become
    qtype, the others stay as they are."""
    r = gguf.GGUFReader(src)
    arch = r.fields["general.architecture"].contents()
    w = gguf.GGUFWriter(dst, arch)
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(key, field.contents(), vtype, sub_type=sub)
    for t in r.tensors:
        shape = tuple(int(s) for s in reversed(t.shape))
        if len(shape) == 2 and shape[1] % 256 == 0:
            blocks, _ = encode(gq.dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32), qtype)
            w.add_tensor(t.name, blocks, raw_dtype=qtype)
        else:
            plain = t.tensor_type in (T.F32, T.F16)
            w.add_tensor(t.name, np.array(t.data), raw_dtype=None if plain else t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def cmd_model(out):
    from llama_cpp import Llama

    src = smollm_path()
    ids = reference_tokenizer(src).encode(mixed_text(20_000)).ids[:1024]
    res = {"ids": ids, "files": {}}
    for qtype in (T.Q4_1, T.Q4_K, T.Q6_K):  # Q4_1: the file as shipped, the baseline
        path = src if qtype == T.Q4_1 else os.path.join(out, f"smollm2-{qtype.name.lower()}.gguf")
        if qtype != T.Q4_1:
            requantize(src, path, qtype)
        llm = Llama(path, n_ctx=1100, n_batch=1100, logits_all=True, n_threads=2, n_threads_batch=2, verbose=False)
        llm.eval(ids)
        res["files"][qtype.name] = {"path": path, "top1": [int(np.argmax(llm.scores[i])) for i in range(len(ids))]}
        del llm
    json.dump(res, open(os.path.join(out, "model.json"), "w"))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("tensors", "model"):
        sys.exit(__doc__)
    os.makedirs(sys.argv[2], exist_ok=True)
    {"tensors": cmd_tensors, "model": cmd_model}[sys.argv[1]](sys.argv[2])
