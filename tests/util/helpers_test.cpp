// The shared helpers: thread pool (nesting, errors), FNV-1a, trim, JSON Lines reading.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/temp_dir.hpp"
#include "veritas/util/hash.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/text.hpp"
#include "veritas/util/thread_pool.hpp"

using namespace veritas;

TEST(ThreadPool, NestedCallsRunInlineAndCoverEveryIndex) {
  ThreadPool pool(3);
  std::vector<std::atomic<int>> hits(40 * 50);
  pool.parallel_for(40, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallel_for(50, [&](int64_t b2, int64_t e2) {
        for (int64_t k = b2; k < e2; ++k) hits[i * 50 + k]++;
      });
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPool, CallsFromSeveralThreadsAllComplete) {
  ThreadPool pool(3);
  std::atomic<int64_t> sum{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep)
        pool.parallel_for(100, [&](int64_t b, int64_t e) { sum += e - b; });
    });
  for (auto& c : callers) c.join();
  EXPECT_EQ(sum.load(), 4 * 50 * 100);
}

TEST(ThreadPool, AWorkersExceptionReachesTheCaller) {
  ThreadPool pool(3);
  for (int64_t bad : {0, 999}) {  // in the caller's chunk, in the last worker's chunk
    std::atomic<int64_t> done{0};
    try {
      pool.parallel_for(1000, [&](int64_t b, int64_t e) {
        if (b <= bad && bad < e) throw Error("bad index " + std::to_string(bad));
        done += e - b;
      });
      ADD_FAILURE() << "no exception for index " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "bad index " + std::to_string(bad));
    }
    EXPECT_GT(done.load(), 0);  // the other chunks ran
  }
  // The pool still works after an error.
  std::atomic<int64_t> n{0};
  pool.parallel_for(1000, [&](int64_t b, int64_t e) { n += e - b; });
  EXPECT_EQ(n.load(), 1000);
}

TEST(ThreadPool, GlobalPoolTakesAnExplicitSize) {
  ThreadPool::set_global_threads(2);
  EXPECT_EQ(ThreadPool::global().size(), 2);
  ThreadPool::set_global_threads(3);
  EXPECT_EQ(ThreadPool::global().size(), 3);
}

TEST(Hash, Fnv1aMatchesThePublishedValues) {
  EXPECT_EQ(fnv1a(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(fnv1a("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fnv1a("foobar"), 0x85944171f73967e8ULL);
  EXPECT_NE(fnv1a_mixed("split:a1"), fnv1a("split:a1"));
  // The task generators' basis (the standard one short of its last digit) seeds them.
  EXPECT_EQ(kFnvBasisShort, 1469598103934665603ULL);
  EXPECT_EQ(fnv1a("", kFnvBasisShort), kFnvBasisShort);
}

TEST(Text, TrimStripsAsciiAndIdeographicSpace) {
  EXPECT_EQ(trim("  x y \t\r\n"), "x y");
  EXPECT_EQ(trim("\u3000 答案\u3000"), "答案");
  EXPECT_EQ(trim(" \n\u3000"), "");
  EXPECT_EQ(trim(""), "");
}

TEST(LineReader, StripsCrAndReportsLongLines) {
  const TempDir tmp("veritas-lines-");
  const fs::path dir = tmp.path();
  atomic_write_file(dir / "a.txt", "one\r\ntwo is long\n\nlast");
  LineReader r((dir / "a.txt").string(), 5);
  std::string line;
  bool too_long = false;
  ASSERT_TRUE(r.next(line, &too_long));
  EXPECT_EQ(line, "one");
  EXPECT_FALSE(too_long);
  ASSERT_TRUE(r.next(line, &too_long));
  EXPECT_EQ(line, "two i");
  EXPECT_TRUE(too_long);
  ASSERT_TRUE(r.next(line, &too_long));
  EXPECT_EQ(line, "");
  ASSERT_TRUE(r.next(line, &too_long));
  EXPECT_EQ(line, "last");
  EXPECT_EQ(r.line_number(), 4);
  EXPECT_FALSE(r.next(line));
  EXPECT_THROW(LineReader("/nonexistent/veritas.txt"), Error);
}

TEST(JsonLines, ErrorsNameFileAndLine) {
  const TempDir tmp("veritas-jsonl-");
  const fs::path dir = tmp.path();
  const std::string path = (dir / "in.jsonl").string();
  auto error_of = [&](const std::string& body, size_t max_line, auto fn) -> std::string {
    atomic_write_file(path, body);
    try {
      for_each_json_line(path, fn, max_line);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  auto ignore = [](const nlohmann::json&, const std::string&) {};
  EXPECT_EQ(error_of("{\"a\":1}\n  \n{\"a\":\n", 100, ignore).rfind(path + ":3: not valid JSON", 0), 0u);
  EXPECT_EQ(error_of("{\"a\":1}\n{\"a\":\"0123456789\"}\n", 10, ignore),
            path + ":2: line is too long (over 10 bytes)");
  // The callback's errors come back with the place in front, once.
  EXPECT_EQ(error_of("{\"a\":1}\n", 100, [](const nlohmann::json& j, const std::string&) { check(false, "no b"); }),
            path + ":1: no b");
  EXPECT_EQ(error_of("{\"a\":1}\n", 100,
                     [](const nlohmann::json&, const std::string& where) { check(false, where + ": no c"); }),
            path + ":1: no c");
  EXPECT_NE(error_of("[1]\n", 100, [](const nlohmann::json& j, const std::string&) { (void)j.at("x"); })
                .find(path + ":1: "),
            std::string::npos);
  // Blank lines are skipped; values come in order with their line.
  atomic_write_file(path, "{\"v\":1}\n\n{\"v\":2}\r\n");
  std::vector<std::string> seen;
  for_each_json_line(path, [&](const nlohmann::json& j, const std::string& where) {
    seen.push_back(where.substr(path.size()) + "=" + std::to_string(j["v"].get<int>()));
  });
  EXPECT_EQ(seen, (std::vector<std::string>{":1=1", ":3=2"}));
}
