// The curate subcommands through the binary (VERITAS_BIN): synth, a 2-task scale-out
// run with a relaunch, the dedup merge, and a clear error for a missing input.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "veritas/util/fs.hpp"

using namespace veritas;

namespace {
int run(const std::string& cmd, std::string* out = nullptr) {
  std::string full = "VERITAS_QUIET=1 " + cmd + " 2>&1";
  std::FILE* p = ::popen(full.c_str(), "r");
  std::string o;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) o.append(buf, n);
  int rc = ::pclose(p);
  if (out) *out = o;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
}  // namespace

TEST(CurateCli, SynthTasksRelaunchMergeAndErrors) {
  const char* bin = std::getenv("VERITAS_BIN");
  if (!bin || !fs::exists(bin)) GTEST_SKIP() << "VERITAS_BIN not built";
  fs::path d = make_temp_dir("veritas-curate-cli-");
  std::string b = bin, out;
  ASSERT_EQ(run(b + " curate synth -o " + (d / "a.jsonl").string() + " --docs 300 --seed 5", &out), 0) << out;
  ASSERT_EQ(run(b + " curate synth -o " + (d / "b.jsonl").string() + " --docs 300 --seed 6", &out), 0) << out;
  std::string inputs = " --input " + (d / "a.jsonl").string() + " " + (d / "b.jsonl").string() + " " + (d / "a.jsonl").string();
  std::string o = " -o " + (d / "out").string();
  for (int t = 0; t < 2; ++t)
    ASSERT_EQ(run(b + " curate" + inputs + o + " --task " + std::to_string(t) + " --tasks 2", &out), 0) << out;
  ASSERT_EQ(run(b + " curate" + inputs + o + " --task 0 --tasks 2", &out), 0) << out;
  EXPECT_NE(out.find("already complete"), std::string::npos) << out;
  ASSERT_EQ(run(b + " curate dedup" + o + " --tasks 2", &out), 0) << out;
  auto card = nlohmann::json::parse(read_file(d / "out" / "card.json"));
  EXPECT_EQ(card["documents"]["in"], 900);
  EXPECT_TRUE(card["documents"]["balanced"].get<bool>());
  // The third input repeats the first: every document of it that reached dedup is an
  // exact duplicate found across tasks (task 0 read files 0 and 2).
  EXPECT_GE(card["reasons"]["dedup.exact"].get<int>(), 200);
  EXPECT_EQ(run(b + " curate --input " + (d / "missing.jsonl").string() + o, &out), 1);
  EXPECT_NE(out.find("missing.jsonl"), std::string::npos) << out;
  EXPECT_EQ(run(b + " curate dedup -o " + (d / "nothing").string() + " --tasks 3", &out), 1);
  EXPECT_NE(out.find("task 0"), std::string::npos) << out;
}
