#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>

#include "veritas/util/cpu_features.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/svg.hpp"
#include "veritas/util/text.hpp"
#include "veritas/util/thread_pool.hpp"

using namespace veritas;

TEST(Utf8, ValidAndInvalid) {
  EXPECT_TRUE(is_valid_utf8("hello 世界 😀"));
  EXPECT_EQ(utf8_invalid_offset(std::string("ab\xff", 3)), 2u);
  EXPECT_EQ(utf8_invalid_offset("\xc0\xaf"), 0u);          // overlong '/'
  EXPECT_EQ(utf8_invalid_offset("\xed\xa0\x80"), 0u);      // surrogate
  EXPECT_EQ(utf8_invalid_offset("\xf4\x90\x80\x80"), 0u);  // > U+10FFFF
  EXPECT_EQ(utf8_invalid_offset("a\xe4\xb8"), 1u);         // truncated
  EXPECT_EQ(utf8_sanitize(std::string("a\xffz", 3)), "a\xEF\xBF\xBDz");
}

TEST(Fs, AtomicWriteReplacesAndLeavesNoTemp) {
  auto dir = make_temp_dir("veritas-util-");
  auto p = dir / "x.txt";
  atomic_write_file(p, "one");
  atomic_write_file(p, "two");
  EXPECT_EQ(read_file(p), "two");
  int n = 0;
  for (auto& e : fs::directory_iterator(dir)) (void)e, ++n;
  EXPECT_EQ(n, 1);
  {
    AtomicFile f(dir / "y.txt");
    f.write("abandoned");
  }  // destroyed without commit: target must not exist
  EXPECT_FALSE(fs::exists(dir / "y.txt"));
  EXPECT_THROW(read_file(dir / "missing"), Error);
  fs::remove_all(dir);
}

TEST(Rng, DeterministicAndRestorable) {
  Rng a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next(), b.next());
  auto st = a.state();
  uint64_t x = a.next();
  a.set_state(st);
  EXPECT_EQ(a.next(), x);
  for (int i = 0; i < 1000; ++i) {
    auto v = a.below(7);
    EXPECT_LT(v, 7u);
    double u = a.uniform();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
  }
}

TEST(ThreadPool, CoversEveryIndexOnce) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(1000);
  for (int rep = 0; rep < 20; ++rep)
    pool.parallel_for(1000, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
    });
  for (auto& h : hits) EXPECT_EQ(h.load(), 20);
}

TEST(Svg, ContainsSeries) {
  Chart c;
  c.title = "loss";
  c.series.push_back({"train", {0, 1, 2}, {3, 2, 1}});
  auto s = c.to_svg();
  EXPECT_NE(s.find("<svg"), std::string::npos);
  EXPECT_NE(s.find("polyline"), std::string::npos);
  EXPECT_NE(s.find("train"), std::string::npos);
}

#include "veritas/util/config.hpp"

TEST(Config, TomlAndJson) {
  auto j = parse_toml("[train]\nlr = 0.001\nsteps = 10\nname = \"x\"\n");
  EXPECT_DOUBLE_EQ(j["train"]["lr"].get<double>(), 0.001);
  EXPECT_EQ(get_or<int>(j["train"], "steps", 0), 10);
  EXPECT_EQ(get_or<int>(j["train"], "missing", 7), 7);
  EXPECT_THROW(parse_toml("[bad\n"), Error);
  auto dir = make_temp_dir("veritas-cfg-");
  atomic_write_file(dir / "c.json", "{\"a\": 1}");
  EXPECT_EQ(load_config(dir / "c.json")["a"], 1);
  atomic_write_file(dir / "bad.json", "{\"a\": ");
  EXPECT_THROW(load_config(dir / "bad.json"), Error);
  fs::remove_all(dir);
}

// The run-time feature detection agrees with the kernel's own view (/proc/cpuinfo's
// flags line), which also accounts for what the OS enables.
TEST(CpuFeatures, MatchProcCpuinfo) {
  std::ifstream in("/proc/cpuinfo");
  ASSERT_TRUE(in) << "/proc/cpuinfo is unreadable";
  std::string line;
  std::set<std::string> flags;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      std::istringstream words(line.substr(line.find(':') + 1));
      for (std::string w; words >> w;) flags.insert(w);
      break;
    }
  }
  ASSERT_FALSE(flags.empty()) << "no flags line in /proc/cpuinfo";
  const veritas::CpuFeatures& f = veritas::cpu_features();
  EXPECT_EQ(f.avx2, flags.count("avx2") == 1);
  EXPECT_EQ(f.fma, flags.count("fma") == 1);
  EXPECT_EQ(f.f16c, flags.count("f16c") == 1);
  EXPECT_EQ(f.avx512f, flags.count("avx512f") == 1);
  EXPECT_EQ(f.avx512bw, flags.count("avx512bw") == 1);
  EXPECT_EQ(f.avx512vl, flags.count("avx512vl") == 1);
  EXPECT_EQ(f.avx512_vnni, flags.count("avx512_vnni") == 1);
  EXPECT_EQ(f.avx512_bf16, flags.count("avx512_bf16") == 1);
  EXPECT_EQ(f.avx_vnni, flags.count("avx_vnni") == 1);
  EXPECT_EQ(f.amx_tile, flags.count("amx_tile") == 1);
  EXPECT_EQ(f.amx_bf16, flags.count("amx_bf16") == 1);
  EXPECT_EQ(f.amx_int8, flags.count("amx_int8") == 1);
  std::string s = veritas::cpu_summary();
  EXPECT_EQ(s.find("cpu: "), 0u);
  EXPECT_NE(s.find("features:"), std::string::npos);
  EXPECT_EQ(s.find("avx2") != std::string::npos, f.avx2) << s;
}
