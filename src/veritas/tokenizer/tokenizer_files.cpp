#include "veritas/tokenizer/tokenizer_files.hpp"

#include <nlohmann/json.hpp>

#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/util/config.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace fs = std::filesystem;

namespace veritas {


Tokenizer load_tokenizer_files(const fs::path& tokenizer_json) {
  const fs::path dir = tokenizer_json.parent_path();
  Tokenizer tok = Tokenizer::load(tokenizer_json);
  // End of sequence: generation_config.json's eos_token_id (a number or a list: the
  // first; the rest are stop tokens of the chat template), else tokenizer_config's eos_token.
  const fs::path gen = dir / "generation_config.json", tc = dir / "tokenizer_config.json";
  auto set_eos = [&](int64_t id, const std::string& where) {
    check(id >= 0 && id < tok.vocab_size(), where + " = " + std::to_string(id) + " is not a token id");
    tok.set_eos_id((int32_t)id);
  };
  bool have_eos = false;
  if (fs::exists(gen)) {
    nlohmann::json g = read_json_file(gen);
    if (g.is_object() && g.contains("eos_token_id")) {
      const auto& e = g["eos_token_id"];
      if (e.is_number_integer()) {
        set_eos(e.get<int64_t>(), gen.string() + ": eos_token_id");
        have_eos = true;
      } else if (e.is_array() && !e.empty() && e[0].is_number_integer()) {
        set_eos(e[0].get<int64_t>(), gen.string() + ": eos_token_id[0]");
        have_eos = true;
      }
    }
  }
  std::string jinja, jinja_where;
  if (fs::exists(tc)) {
    nlohmann::json t = read_json_file(tc);
    if (t.is_object()) {
      if (!have_eos && t.contains("eos_token")) {
        const auto& e = t["eos_token"];
        std::string s = e.is_string() ? e.get<std::string>()
                        : e.is_object() && e.contains("content") && e["content"].is_string() ? e["content"].get<std::string>()
                                                                                             : "";
        auto id = tok.token_id(s);
        check(id.has_value(), tc.string() + ": eos_token \"" + s + "\" is not a token of tokenizer.json");
        tok.set_eos_id(*id);
      }
      if (t.contains("chat_template")) {
        check(t["chat_template"].is_string(), tc.string() + ": chat_template must be a string (named templates "
                                                            "are not supported)");
        jinja = t["chat_template"].get<std::string>();
        jinja_where = tc.string() + ": chat_template";
      }
    }
  }
  const fs::path jf = dir / "chat_template.jinja";
  if (jinja.empty() && fs::exists(jf)) {
    jinja = read_file(jf);
    jinja_where = jf.string();
  }
  if (!jinja.empty()) {
    recognize_chat_template(jinja, jinja_where);  // an unknown template fails here, at load
    tok.set_chat_template(jinja);
  }
  return tok;
}

const std::vector<std::string>& tokenizer_side_files() {
  static const std::vector<std::string> names = {"tokenizer_config.json", "generation_config.json",
                                                 "chat_template.jinja"};
  return names;
}

void save_tokenizer_files(const Tokenizer& tok, const fs::path& dir) {
  tok.save(dir / "tokenizer.json");
  nlohmann::json tc = nlohmann::json::object();
  if (!tok.chat_template().empty()) tc["chat_template"] = tok.chat_template();
  if (tok.eos_id()) tc["eos_token"] = tok.token_bytes(*tok.eos_id());
  if (!tc.empty()) atomic_write_file(dir / "tokenizer_config.json", tc.dump(2) + "\n");
}

}  // namespace veritas
