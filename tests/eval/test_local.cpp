// The local-model answerer on a tiny random checkpoint (written here): it loads through
// infer's Engine, prompts with the chat template, returns k texts, is reproducible, and
// its answers go through the verifier like anyone's (random weights: mostly malformed).
#include <gtest/gtest.h>

#include "veritas/eval/harness.hpp"
#include "veritas/eval/local.hpp"
#include "veritas/model/config.hpp"
#include "veritas/model/model.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "../infer/byte_tokenizer.hpp"

using namespace veritas;
using namespace veritas::eval;

namespace {

fs::path tiny_checkpoint(bool with_tokenizer) {
  return test::tiny_checkpoint("eval-local", 2, 1024, with_tokenizer);  // room for the protocol prompt
}

}  // namespace

TEST(EvalLocal, AnswersThroughTheEngine) {
  fs::path dir = tiny_checkpoint(true);
  LocalOptions o;
  o.dir = dir.string();
  o.max_tokens = 6;
  LocalAnswerer a(o);
  auto tasks = load_tasks({"arith"}, 3, 1, "test", "");
  auto one = a.answer(tasks[0], 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one, a.answer(tasks[0], 1));  // greedy: reproducible
  auto three = a.answer(tasks[0], 3);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_EQ(three, a.answer(tasks[0], 3));  // sampled, but seeded by the task
  EvalOptions eo;
  eo.progress = false;
  eo.samples = 2;
  auto run = run_eval(tasks, a, eo);
  EXPECT_EQ(run.results["overall"]["answers"].get<int>(), 6);
  EXPECT_NE(run.describe.find(dir.string()), std::string::npos);
  fs::remove_all(dir);
}

TEST(EvalLocal, CheckpointWithoutTokenizerIsAClearError) {
  fs::path dir = tiny_checkpoint(false);
  LocalOptions o;
  o.dir = dir.string();
  try {
    LocalAnswerer a(o);
    ADD_FAILURE() << "expected an error";
  } catch (const veritas::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
  }
  o.dir = (dir / "missing").string();
  EXPECT_THROW(LocalAnswerer{o}, veritas::Error);
  fs::remove_all(dir);
}
