// Versioned prompt sets (prompts/answer-protocol/vN): the files reach the model verbatim
// (system message, few-shot turns, question, through the model's chat template), the
// version and hash are reported, every set's worked answers follow the protocol, and a
// missing file is an error that names it.
#include <gtest/gtest.h>

#include <fstream>

#include "veritas/eval/harness.hpp"
#include "veritas/eval/local.hpp"
#include "veritas/eval/prompt.hpp"
#include "veritas/model/config.hpp"
#include "veritas/model/model.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/verify/answer.hpp"
#include "../infer/byte_tokenizer.hpp"

using namespace veritas;
using namespace veritas::eval;

namespace {

fs::path source_dir() { return fs::path(VERITAS_SOURCE_DIR); }

fs::path v1() { return source_dir() / "prompts" / "answer-protocol" / "v1"; }

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  EXPECT_TRUE(f.good()) << p;
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// The files read here independently of load_prompt_set: system text without its final
// newline, few-shot pairs in file order.
struct Raw {
  std::string system;
  std::vector<std::pair<std::string, std::string>> shots;
};
Raw raw(const fs::path& dir, const std::string& lang) {
  Raw r;
  r.system = slurp(dir / ("system." + lang + ".txt"));
  if (!r.system.empty() && r.system.back() == '\n') r.system.pop_back();
  std::ifstream f(dir / ("fewshot." + lang + ".jsonl"));
  for (std::string line; std::getline(f, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line);
    r.shots.emplace_back(j["question"].get<std::string>(), j["answer"].get<std::string>());
  }
  return r;
}

fs::path tiny_checkpoint() {
  return test::tiny_checkpoint("eval-prompt", 1, 4096);  // the few-shot prompt in byte tokens
}

}  // namespace

TEST(EvalPrompt, LocalModelReadsTheFilesVerbatim) {
  fs::path dir = tiny_checkpoint();
  LocalOptions o;
  o.dir = dir.string();
  o.max_tokens = 2;
  o.prompt_dir = v1().string();
  LocalAnswerer a(o);
  for (const char* lang : {"en", "zh"}) {
    Task t = load_tasks({"arith"}, 1, 3, "test", "", {{"lang", lang}})[0];
    ASSERT_EQ(t.lang, lang);
    Raw r = raw(v1(), lang);
    ASSERT_FALSE(r.shots.empty());
    // veritas's own template: <|role|>\n{content}<|end|>\n ... <|assistant|>\n
    std::string want = "<|system|>\n" + r.system + "<|end|>\n";
    for (const auto& [q, ans] : r.shots) want += "<|user|>\n" + q + "<|end|>\n<|assistant|>\n" + ans + "<|end|>\n";
    want += "<|user|>\n" + t.question + "<|end|>\n<|assistant|>\n";
    EXPECT_EQ(a.prompt_text(t), want);
    EXPECT_EQ(a.prompt_tokens(t), a.tokenizer().encode_with_specials(want));
  }
  // The version reaches results.json and the report.
  auto tasks = load_tasks({"arith"}, 2, 1, "test", "");
  EvalOptions eo;
  eo.progress = false;
  auto run = run_eval(tasks, a, eo);
  PromptSet ps = load_prompt_set(v1().string());
  EXPECT_EQ(run.results["prompt"]["version"], "answer-protocol/v1");
  EXPECT_EQ(run.results["prompt"]["hash"], ps.hash);
  EXPECT_NE(report_markdown(run).find("answer-protocol/v1"), std::string::npos);
  EXPECT_NE(run.describe.find("answer-protocol/v1"), std::string::npos);
  EXPECT_TRUE(run.results["suite_lang"].contains("arith/en") || run.results["suite_lang"].contains("arith/zh"));
  fs::remove_all(dir);
}

TEST(EvalPrompt, ChatMLRendersSystemFewShotAndQuestion) {
  Task t = load_tasks({"facts"}, 1, 2, "test", "", {{"lang", "en"}})[0];
  PromptSet ps = load_prompt_set(v1().string());
  Raw r = raw(v1(), "en");
  ChatTemplate chatml;
  chatml.format = ChatFormat::ChatML;
  chatml.default_system = "You are a helpful AI assistant named SmolLM";  // replaced by ours
  std::string want = "<|im_start|>system\n" + r.system + "<|im_end|>\n";
  for (const auto& [q, ans] : r.shots)
    want += "<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n" + ans + "<|im_end|>\n";
  want += "<|im_start|>user\n" + t.question + "<|im_end|>\n<|im_start|>assistant\n";
  EXPECT_EQ(chat_text(chatml, prompt_messages(&ps, true, t), true), want);
  // Without a set: the built-in system prompt, no few-shot turns.
  auto plain = prompt_messages(nullptr, true, t);
  ASSERT_EQ(plain.size(), 2u);
  EXPECT_EQ(plain[0].content, protocol_prompt("en"));
  EXPECT_EQ(prompt_messages(nullptr, false, t).size(), 1u);
}

TEST(EvalPrompt, EveryVersionTeachesTheProtocol) {
  int sets = 0;
  for (const auto& e : fs::directory_iterator(source_dir() / "prompts" / "answer-protocol")) {
    if (!e.is_directory()) continue;
    PromptSet ps = load_prompt_set(e.path().string());
    ++sets;
    for (const auto& [lang, p] : ps.langs) {
      // Worked examples, or (a set without any, for short fine-tuning prompts) a system
      // message that names both final lines.
      if (p.fewshot.empty()) {
        const bool zh = lang == "zh";
        EXPECT_NE(p.system.find(zh ? "答案：" : "Answer:"), std::string::npos) << ps.version << " " << lang;
        EXPECT_NE(p.system.find(zh ? "置信度：" : "Confidence:"), std::string::npos) << ps.version << " " << lang;
      }
      for (const auto& [q, ans] : p.fewshot) {
        auto parsed = parse_answer(ans);
        EXPECT_NE(parsed.kind, ParsedAnswer::Kind::Malformed) << ps.version << ": " << ans << " (" << parsed.error << ")";
        EXPECT_TRUE(parsed.confidence.has_value()) << ps.version << ": " << ans;
      }
    }
  }
  EXPECT_GE(sets, 1);
}

TEST(EvalPrompt, MissingFileIsNamed) {
  fs::path dir = make_temp_dir("eval-prompt-set");
  fs::copy(v1(), dir, fs::copy_options::recursive);
  fs::remove(dir / "fewshot.zh.jsonl");
  auto load_error = [&] {
    try {
      load_prompt_set(dir.string());
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::string e = load_error();
  EXPECT_NE(e.find("fewshot.zh.jsonl"), std::string::npos) << e;
  { std::ofstream(dir / "fewshot.zh.jsonl") << "{\"question\": \"q\"}\n"; }
  e = load_error();
  EXPECT_NE(e.find("fewshot.zh.jsonl:1"), std::string::npos) << e;
  // A number beyond the double range is out_of_range in nlohmann, not a parse_error.
  { std::ofstream(dir / "fewshot.zh.jsonl") << "{\"question\": \"q\", \"answer\": \"a\", \"n\": 1e999}\n"; }
  e = load_error();
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
  EXPECT_THROW(load_prompt_set((dir / "nope").string()), Error);
  fs::remove_all(dir);
}
