// Fuzzes the tokenizer.json reader: any input must either load or throw veritas::Error
// (no crash, hang or sanitizer report). A tokenizer that loads must encode and decode any
// text, and round-trip it when it has a token for every byte (a byte without one is
// dropped, as Hugging Face drops it).
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
    bool every_byte = true;
    for (int b = 0; b < 256 && every_byte; ++b) {
      const std::string one(1, (char)b);
      every_byte = t.decode(t.encode(one)) == one;
    }
    // Encode a fixed text and a slice of the input itself (arbitrary bytes).
    for (std::string_view text : {std::string_view("Hello world, it's 2024! 世界 \xff\xfe  \n\n"), in.substr(0, 256)}) {
      std::string back = t.decode(t.encode(text));
      if (every_byte && back != text) std::abort();
      back = t.decode(t.encode_with_specials(text));
      if (every_byte && back != text) std::abort();
    }
  } catch (const veritas::Error&) {
  }
  return 0;
}
