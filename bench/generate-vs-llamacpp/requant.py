#!/usr/bin/env python3
"""Rewrites a GGUF model with its 2-d weight matrices stored as another type (Q8_0 or
F16), metadata unchanged, with the `gguf` package: the Q8_0 and F16 files of
bench/generate-vs-llamacpp come from the Q4_1 reference model this way.
  requant.py IN.gguf OUT.gguf Q8_0|F16"""
import sys

import gguf
import gguf.quants as q
import numpy as np


def main(src, dst, kind):
    T = gguf.GGMLQuantizationType
    want = {"Q8_0": T.Q8_0, "F16": T.F16}[kind]
    r = gguf.GGUFReader(src)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    w = gguf.GGUFWriter(dst, arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        vt = f.types[0]
        if vt == gguf.GGUFValueType.ARRAY:
            sub = f.types[-1]
            vals = [bytes(f.parts[i]).decode() if sub == gguf.GGUFValueType.STRING else f.parts[i].tolist()[0] for i in f.data]
            w.add_key_value(name, vals, vt, sub_type=sub)
        elif vt == gguf.GGUFValueType.STRING:
            w.add_key_value(name, bytes(f.parts[-1]).decode(), vt)
        else:
            w.add_key_value(name, f.parts[-1].tolist()[0], vt)
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape.tolist())]  # numpy order
        x = q.dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float32)
        if x.ndim == 2:
            data = q.quantize(x, want) if want != T.F16 else x.astype(np.float16)
            w.add_tensor(t.name, data, raw_dtype=want if want != T.F16 else None)
        else:
            w.add_tensor(t.name, x)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
