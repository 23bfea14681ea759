// Fuzzes the GGUF reader and what is built from a parsed file: any bytes must either
// parse or throw veritas::Error (no crash, hang, sanitizer report or huge allocation).
// A file that parses must keep its promises (every tensor's bytes inside the input) and
// every tensor must dequantize; the model config and tokenizer importers must either
// succeed or throw Error.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "veritas/infer/gguf_model.hpp"
#include "veritas/model/gguf.hpp"
#include "veritas/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  try {
    veritas::GgufFile f = veritas::GgufFile::parse(in.data(), in.size(), "fuzz.gguf");
    for (const auto& t : f.tensors()) {
      if (t.offset > size || t.nbytes > size - t.offset) std::abort();
      if (t.numel() <= (1 << 20)) {
        std::vector<float> out((size_t)t.numel());
        f.read_f32(t.name, t.numel(), out.data());
      }
    }
    try {
      veritas::infer::gguf_config(f);
    } catch (const veritas::Error&) {
    }
    veritas::Tokenizer tok = veritas::infer::gguf_tokenizer(f);
    std::string s = "Hello 123 <|im_start|>";
    if (tok.decode(tok.encode(s)).size() > s.size()) std::abort();
  } catch (const veritas::Error&) {
  }
  return 0;
}
