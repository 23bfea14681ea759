#include "veritas/infer/import.hpp"

#include <unistd.h>

#include "veritas/infer/gguf_model.hpp"
#include "veritas/infer/hf_model.hpp"
#include "veritas/model/gguf.hpp"
#include "veritas/model/model.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/tokenizer_files.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace fs = std::filesystem;

namespace veritas::infer {

ImportResult import_checkpoint(const fs::path& src, const fs::path& out) {
  check(fs::exists(src), src.string() + ": no such file or folder");
  std::error_code ec;
  check(!fs::exists(out, ec) || (fs::is_directory(out, ec) && fs::is_empty(out, ec)),
        out.string() + " already exists and is not an empty folder");
  const bool gguf = fs::is_regular_file(src);
  std::optional<GgufFile> gf;
  std::optional<HfWeights> hw;
  ModelConfig cfg;
  if (gguf) {
    gf.emplace(GgufFile::open(src));
    cfg = gguf_config(*gf);
  } else {
    check(fs::exists(src / "config.json"), src.string() + ": not a GGUF file nor a folder with config.json");
    cfg = hf_config(src);
    hw.emplace(HfWeights::open(src, cfg));
  }
  check(!cfg.attention_bias, src.string() + ": q/k/v biases (qwen2) are not supported by the training model");
  Tokenizer tok = gguf ? gguf_tokenizer(*gf) : hf_tokenizer(src);
  check(tok.vocab_size() <= cfg.vocab_size, src.string() + ": the tokenizer has more tokens than vocab_size");

  // The training model's own tensors, filled from the source: every one must be there.
  Model model(cfg, 1, 1);
  const WeightSource ws = gguf ? gguf_weights(*gf, cfg) : hw->source();
  ImportResult r;
  for (Param& p : model.params()) {
    check(ws(p.name, p.shape, p.data), src.string() + ": has no tensor " + p.name);
    r.params += p.size;
  }

  // Written beside OUT and renamed into place: a failed or killed import leaves no half
  // checkpoint, and a failure here removes the partial folder.
  const fs::path tmp = out.string() + ".tmp-" + std::to_string(::getpid());
  fs::remove_all(tmp);
  try {
    fs::create_directories(tmp);
    cfg.save(tmp / "config.json");
    model.save(tmp / "model.safetensors");
    save_tokenizer_files(tok, tmp);
    fsync_dir(tmp);
    if (fs::exists(out, ec)) fs::remove(out);  // the empty folder
    fs::rename(tmp, out);
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  if (out.has_parent_path()) fsync_dir(out.parent_path());
  r.config = cfg;
  r.chat_template = chat_template_of(tok).name();
  return r;
}

}  // namespace veritas::infer
