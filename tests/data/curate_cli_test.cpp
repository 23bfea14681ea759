// The curate subcommands through the binary (VERITAS_BIN): synth, a 2-task scale-out
// run with a relaunch, the dedup merge, and a clear error for a missing input; score-spun.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "veritas/data/spun.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/temp_dir.hpp"

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
  const TempDir tmp("veritas-curate-cli-");
  const fs::path d = tmp.path();
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

// Failures that say so: nothing readable exits 1 (the card still written), a share of
// unreadable lines over 1% warns, and a misspelt setting or section is named.
TEST(CurateCli, UnreadableInputAndUnknownSettingsAreLoud) {
  const std::string b = std::string(VERITAS_BINARY_DIR) + "/veritas";
  const TempDir tmp("veritas-curate-loud-");
  const fs::path d = tmp.path();
  std::string out;
  atomic_write_file(d / "bad.jsonl", "{not json\n[1, 2]\n\xff\xfe\n\n");
  EXPECT_EQ(run(b + " curate --input " + (d / "bad.jsonl").string() + " -o " + (d / "bad").string(), &out), 1) << out;
  EXPECT_NE(out.find("no document could be read (4 lines, 3 malformed"), std::string::npos) << out;
  auto card = nlohmann::json::parse(read_file(d / "bad" / "card.json"));
  EXPECT_EQ(card["documents"]["in"], 4);

  std::string good;
  for (int i = 0; i < 20; ++i)
    good += "{\"id\": \"d" + std::to_string(i) + "\", \"text\": \"Line number " + std::to_string(i) + " of a small test.\"}\n";
  atomic_write_file(d / "mixed.jsonl", good + "{broken\n");
  EXPECT_EQ(run(b + " curate --input " + (d / "mixed.jsonl").string() + " -o " + (d / "mixed").string(), &out), 0) << out;
  EXPECT_NE(out.find("warning: 1 of 21 lines (4.8 %) could not be read"), std::string::npos) << out;
  atomic_write_file(d / "good.jsonl", good);
  EXPECT_EQ(run(b + " curate --input " + (d / "good.jsonl").string() + " -o " + (d / "good").string(), &out), 0) << out;
  EXPECT_EQ(out.find("warning"), std::string::npos) << out;

  atomic_write_file(d / "typo.toml", "[quality]\nmin_wrds = 3\n");
  EXPECT_EQ(run(b + " curate -c " + (d / "typo.toml").string() + " --input " + (d / "good.jsonl").string() + " -o " +
                    (d / "typo").string(), &out), 1) << out;
  EXPECT_NE(out.find("unknown setting \"min_wrds\" in [quality]"), std::string::npos) << out;
  atomic_write_file(d / "typo2.toml", "[qualty]\nenabled = false\n");
  EXPECT_EQ(run(b + " curate -c " + (d / "typo2.toml").string() + " --input " + (d / "good.jsonl").string() + " -o " +
                    (d / "typo2").string(), &out), 1) << out;
  EXPECT_NE(out.find("unknown section [qualty]"), std::string::npos) << out;
}

// `curate score-spun`: every line back with its "spun" object (null when too short or in
// another language), the same prob as the curate filter would compute, other fields kept;
// a bad line is an error naming file:line and leaves no output behind.
TEST(CurateCli, ScoreSpunKeepsFieldsAndNamesBadLines) {
  const std::string b = std::string(VERITAS_BINARY_DIR) + "/veritas";
  const std::string cache = " --cache-dir " VERITAS_BINARY_DIR "/cache";
  fs::path d = make_temp_dir("veritas-score-spun-");
  const std::string en =
      "The council met on Tuesday to discuss the new budget for the city's public schools. Several members argued "
      "that the money should go to teachers rather than new buildings.";
  const std::string zh = "今天天气很好，我们一起去公园散步，看到很多人在湖边钓鱼，孩子们在草地上放风筝，大家都很开心。晚上我们回家做饭，吃完饭以后一起看电视。";
  nlohmann::json lines[] = {{{"id", 1}, {"text", en}, {"lang", "en"}},
                            {{"id", 2}, {"text", zh}},
                            {{"id", 3}, {"text", "Too short."}, {"extra", {1, 2}}}};
  std::string in;
  for (auto& l : lines) in += l.dump() + "\n";
  atomic_write_file(d / "in.jsonl", in);
  std::string out;
  ASSERT_EQ(run(b + " curate score-spun -i " + (d / "in.jsonl").string() + " -o " + (d / "out.jsonl").string() + cache, &out), 0) << out;
  std::vector<nlohmann::json> got;
  std::istringstream lines_out(read_file(d / "out.jsonl"));
  for (std::string l; std::getline(lines_out, l);) got.push_back(nlohmann::json::parse(l));
  ASSERT_EQ(got.size(), 3u);
  SpunConfig cfg;
  cfg.cache_dir = VERITAS_BINARY_DIR "/cache";
  const SpunModel& m = SpunModel::get(cfg);
  EXPECT_DOUBLE_EQ(got[0]["spun"]["prob"].get<double>(), m.score(en, Lang::En).prob);
  EXPECT_DOUBLE_EQ(got[1]["spun"]["prob"].get<double>(), m.score(zh, Lang::Zh).prob);  // language identified
  EXPECT_TRUE(got[1]["spun"].contains("char_pairs_unseen"));
  EXPECT_TRUE(got[2]["spun"].is_null());
  EXPECT_EQ(got[2]["extra"], nlohmann::json({1, 2}));
  EXPECT_EQ(got[0]["id"], 1);

  atomic_write_file(d / "bad.jsonl", in + "{\"text\": \"x\", \"lang\": \"fr\"}\n");
  EXPECT_EQ(run(b + " curate score-spun -i " + (d / "bad.jsonl").string() + " -o " + (d / "bad-out.jsonl").string() + cache, &out), 1);
  EXPECT_NE(out.find("bad.jsonl:4"), std::string::npos) << out;
  EXPECT_NE(out.find("\"lang\" must be \"en\" or \"zh\""), std::string::npos) << out;
  atomic_write_file(d / "bad2.jsonl", "[1]\n");
  EXPECT_EQ(run(b + " curate score-spun -i " + (d / "bad2.jsonl").string() + " -o " + (d / "bad-out.jsonl").string() + cache, &out), 1);
  EXPECT_NE(out.find("bad2.jsonl:1: expected an object with a string \"text\""), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(d / "bad-out.jsonl"));
  // Per-token evidence comes from a language model (tests/curate_lm checks its columns).
  EXPECT_EQ(run(b + " curate score-spun --per-token -i " + (d / "in.jsonl").string() + " -o " + (d / "bad-out.jsonl").string() + cache, &out), 1);
  EXPECT_NE(out.find("--per-token needs --lm-en or --lm-zh"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(d / "bad-out.jsonl"));
}
