// Fuzzes the tokenizer.json reader: any input must either load or throw veritas::Error
// (no crash, hang or sanitizer report). A tokenizer that loads must round-trip text.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    veritas::Tokenizer t = veritas::Tokenizer::from_json(in, "fuzz.json");
    // Encode a fixed text and a slice of the input itself (arbitrary bytes).
    for (std::string_view text : {std::string_view("Hello world, it's 2024! 世界 \xff\xfe  \n\n"), in.substr(0, 256)}) {
      std::string back = t.decode(t.encode(text));
      if (back != text) std::abort();
      back = t.decode(t.encode_with_specials(text));
      if (back != text) std::abort();
    }
  } catch (const veritas::Error&) {
  }
  return 0;
}
