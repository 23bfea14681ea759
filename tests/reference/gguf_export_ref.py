"""llama.cpp (llama-cpp-python) on GGUF files written by `veritas export --gguf`.

usage: gguf_export_ref.py IN.json OUT.json
IN:  {"files": {"f32": path, ...}, "prompts": [[ids]], "n": N, "texts": [str]}
OUT: {"f32": {"greedy": [[ids]], "tokens": [[ids]], "n_vocab": V, "chat_template": str}, ...}
Greedy decoding feeds token ids (no text round trip): eval(prompt), then N times the
argmax of the last logits. `tokens` is llama.cpp's tokenization of each text (no BOS,
special strings as plain text). A missing llama_cpp is an error, not a skip.
"""
import json
import sys

import numpy as np

try:
    import llama_cpp
except ImportError as e:  # the test must fail loudly
    sys.exit(f"llama_cpp (llama-cpp-python) is not importable: {e} (run scripts/setup --tests)")


def main():
    spec = json.load(open(sys.argv[1]))
    out = {}
    for kind, path in spec["files"].items():
        llm = llama_cpp.Llama(model_path=path, n_ctx=256, logits_all=True, n_threads=2, verbose=False)
        greedy = []
        for prompt in spec["prompts"]:
            llm.reset()
            llm.eval(prompt)
            gen = []
            for _ in range(spec["n"]):
                tok = int(np.argmax(llm.scores[llm.n_tokens - 1]))
                gen.append(tok)
                llm.eval([tok])
            greedy.append(gen)
        tokens = [llm.tokenize(t.encode("utf-8"), add_bos=False, special=False) for t in spec["texts"]]
        out[kind] = {
            "greedy": greedy,
            "tokens": tokens,
            "n_vocab": llm.n_vocab(),
            "chat_template": llm.metadata.get("tokenizer.chat_template", ""),
            "eos": llm.token_eos(),
        }
        del llm
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
