// Fuzzes the safetensors reader: any bytes must either parse or throw veritas::Error.
// A file that parses must satisfy the invariants the reader promises (tensors tile the
// data section, sizes agree with shapes) and every tensor must convert to fp32.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "veritas/model/safetensors.hpp"
#include "veritas/util/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  try {
    veritas::SafeTensors st = veritas::SafeTensors::parse(in, "fuzz.safetensors");
    size_t covered = 0;
    for (const auto& t : st.tensors()) {
      if ((size_t)t.numel() * veritas::dtype_size(t.dtype) != t.nbytes) std::abort();
      if (t.offset + t.nbytes > size) std::abort();
      covered += t.nbytes;
      if (t.numel() <= (1 << 20)) {
        std::vector<float> out((size_t)t.numel());
        st.read_f32(t.name, t.shape, out.data());
      }
    }
    if (covered > size) std::abort();
  } catch (const veritas::Error&) {
  }
  return 0;
}
