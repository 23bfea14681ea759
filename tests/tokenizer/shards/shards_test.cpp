// Token shards and the DataLoader (data/shards.hpp), plus `veritas tokenize` end to end.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "veritas/data/shards.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/tokenizer/train.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"

using namespace veritas;

namespace {

std::vector<int32_t> iota_tokens(size_t n, int32_t start = 0) {
  std::vector<int32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void corrupt(const fs::path& p, size_t offset, unsigned char value) {
  std::string b = read_file(p);
  b[offset] = (char)value;
  atomic_write_file(p, b);
}

struct TempDir {
  fs::path dir = make_temp_dir("veritas-shards-");
  ~TempDir() { fs::remove_all(dir); }
};

}  // namespace

TEST(Shard, HeaderBytesAreAsDocumented) {
  TempDir t;
  write_shard(t.dir / "a.bin", {1, 2, 0x1234});
  std::string b = read_file(t.dir / "a.bin");
  ASSERT_EQ(b.size(), 32u + 3 * 2);
  EXPECT_EQ(b.substr(0, 8), "VRTSHRD1");
  EXPECT_EQ(b.substr(8, 4), std::string("\x01\x00\x00\x00", 4));    // version
  EXPECT_EQ(b.substr(12, 4), std::string("\x02\x00\x00\x00", 4));   // token width
  EXPECT_EQ(b.substr(16, 8), std::string("\x03\0\0\0\0\0\0\0", 8));  // count
  EXPECT_EQ(b.substr(24, 8), std::string(8, '\0'));                  // reserved
  EXPECT_EQ(b.substr(32), std::string("\x01\x00\x02\x00\x34\x12", 6));  // little-endian tokens
}

TEST(Shard, RoundTripBothWidths) {
  TempDir t;
  auto small = iota_tokens(70000, 0);
  for (auto& x : small) x %= 65536;
  write_shard(t.dir / "two.bin", small);
  EXPECT_EQ(fs::file_size(t.dir / "two.bin"), 32u + 2 * small.size());
  EXPECT_EQ(Shard::open(t.dir / "two.bin").tokens(), small);
  std::vector<int32_t> big = {0, 65535, 65536, 100000, 0x7FFFFFFF};
  write_shard(t.dir / "four.bin", big);
  EXPECT_EQ(fs::file_size(t.dir / "four.bin"), 32u + 4 * big.size());
  EXPECT_EQ(Shard::open(t.dir / "four.bin").tokens(), big);
  write_shard(t.dir / "forced.bin", {1, 2, 3}, 4);
  EXPECT_EQ(fs::file_size(t.dir / "forced.bin"), 32u + 12);
  EXPECT_EQ(Shard::open(t.dir / "forced.bin").tokens(), (std::vector<int32_t>{1, 2, 3}));
  write_shard(t.dir / "empty.bin", {});
  EXPECT_EQ(Shard::open(t.dir / "empty.bin").size(), 0u);
  EXPECT_THROW(write_shard(t.dir / "x.bin", {70000}, 2), Error);
  EXPECT_THROW(write_shard(t.dir / "x.bin", {-1}), Error);
  EXPECT_THROW(write_shard(t.dir / "x.bin", {1}, 3), Error);
  EXPECT_FALSE(fs::exists(t.dir / "x.bin"));
}

TEST(Shard, CorruptOrTruncatedNamesFileAndOffset) {
  TempDir t;
  auto p = t.dir / "s.bin";
  auto fresh = [&] { write_shard(p, iota_tokens(100)); };
  auto expect = [&](const std::string& needle) {
    std::string msg = error_of([&] { Shard::open(p); });
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  };
  fresh();
  fs::resize_file(p, 32 + 2 * 100 - 1);
  expect("byte offset 231");  // the file ends there
  fresh();
  fs::resize_file(p, 20);
  expect("byte offset 20");
  fresh();
  corrupt(p, 3, 'x');
  expect("byte offset 0");
  fresh();
  corrupt(p, 8, 2);
  expect("byte offset 8");
  fresh();
  corrupt(p, 12, 3);
  expect("byte offset 12");
  fresh();
  corrupt(p, 27, 1);
  expect("byte offset 27");
  fresh();
  corrupt(p, 23, 0x40);  // count absurdly large: must fail fast, not allocate
  expect("truncated");
  fresh();
  {
    std::string b = read_file(p) + "xy";
    atomic_write_file(p, b);
  }
  expect("byte offset 232");
  write_shard(p, {1, 2, 3}, 4);
  corrupt(p, 32 + 4 * 1 + 3, 0x80);  // token 1 becomes negative as int32
  expect("byte offset 36");
  EXPECT_NE(error_of([&] { Shard::open(t.dir / "missing.bin"); }).find("missing.bin"), std::string::npos);
}

TEST(DataLoader, RandomWindowsAreDeterministicSlices) {
  TempDir t;
  auto data = iota_tokens(5000, 3);
  write_shard(t.dir / "train_000000.bin", std::vector<int32_t>(data.begin(), data.begin() + 3000));
  write_shard(t.dir / "train_000001.bin", std::vector<int32_t>(data.begin() + 3000, data.end()));
  auto shards = list_shards(t.dir, "train");
  ASSERT_EQ(shards.size(), 2u);
  const int B = 4, T = 16;
  DataLoader a(shards, B, T, 42, false), b(shards, B, T, 42, false), c(shards, B, T, 43, false);
  EXPECT_EQ(a.num_tokens(), 5000u);
  EXPECT_EQ(a.max_token(), 5002);
  std::vector<int32_t> xa(B * T), ya(B * T), xb(B * T), yb(B * T), xc(B * T), yc(B * T);
  bool differs = false;
  std::set<int32_t> starts;
  for (int step = 0; step < 50; ++step) {
    a.next(xa.data(), ya.data());
    b.next(xb.data(), yb.data());
    c.next(xc.data(), yc.data());
    ASSERT_EQ(xa, xb);
    ASSERT_EQ(ya, yb);
    differs |= xa != xc;
    for (int r = 0; r < B; ++r) {
      starts.insert(xa[r * T]);
      for (int i = 0; i < T; ++i) {
        // Windows are contiguous slices of the data (iota: consecutive values), targets shifted by one.
        ASSERT_EQ(xa[r * T + i], xa[r * T] + i);
        ASSERT_EQ(ya[r * T + i], xa[r * T + i] + 1);
      }
      ASSERT_GE(xa[r * T], 3);
      ASSERT_LE(xa[r * T] + T, 5002);
    }
  }
  EXPECT_TRUE(differs);
  EXPECT_GT(starts.size(), 150u);  // 200 windows over 4984 starts: nearly all distinct
}

TEST(DataLoader, SequentialWrapsAndResets) {
  TempDir t;
  write_shard(t.dir / "val_000000.bin", iota_tokens(100));
  const int B = 2, T = 10;
  DataLoader v({t.dir / "val_000000.bin"}, B, T, 0, true);
  std::vector<int32_t> x(B * T), y(B * T), first;
  std::vector<int32_t> seen_starts;
  for (int step = 0; step < 6; ++step) {
    v.next(x.data(), y.data());
    if (step == 0) first = x;
    seen_starts.push_back(x[0]);
    seen_starts.push_back(x[T]);
    for (int i = 0; i < B * T; ++i) ASSERT_EQ(y[i], x[i] + 1);
  }
  // windows start at 0, 10, ..., 80 (81 + 10 > 100 wraps) then 0 again
  EXPECT_EQ(seen_starts, (std::vector<int32_t>{0, 10, 20, 30, 40, 50, 60, 70, 80, 0, 10, 20}));
  v.reset();
  v.next(x.data(), y.data());
  EXPECT_EQ(x, first);
}

TEST(DataLoader, StateResumesExactly) {
  TempDir t;
  Rng rng(9);
  std::vector<int32_t> data(20000);
  for (auto& d : data) d = (int32_t)rng.below(50000);
  write_shard(t.dir / "train_000000.bin", data);
  for (bool sequential : {false, true}) {
    const int B = 3, T = 32;
    DataLoader a({t.dir / "train_000000.bin"}, B, T, 5, sequential);
    std::vector<int32_t> x(B * T), y(B * T), x2(B * T), y2(B * T);
    for (int i = 0; i < 7; ++i) a.next(x.data(), y.data());
    nlohmann::json st = nlohmann::json::parse(a.state().dump());  // through text, as in a checkpoint
    DataLoader b({t.dir / "train_000000.bin"}, B, T, 999, sequential);
    b.set_state(st);
    for (int i = 0; i < 20; ++i) {
      a.next(x.data(), y.data());
      b.next(x2.data(), y2.data());
      ASSERT_EQ(x, x2);
      ASSERT_EQ(y, y2);
    }
  }
  DataLoader a({t.dir / "train_000000.bin"}, 2, 8, 1, false);
  write_shard(t.dir / "other.bin", iota_tokens(500));
  DataLoader other({t.dir / "other.bin"}, 2, 8, 1, false);
  EXPECT_NE(error_of([&] { other.set_state(a.state()); }).find("different data"), std::string::npos);
  EXPECT_THROW(a.set_state(nlohmann::json{{"pos", 1}}), Error);
  EXPECT_THROW(DataLoader({t.dir / "other.bin"}, 2, 500, 1, false), Error);  // no window of T+1 fits
  EXPECT_THROW(list_shards(t.dir, "val"), Error);
}

TEST(TokenizeCli, ShardsHoldWholeDocumentsSeparatedByEot) {
  const char* bin = std::getenv("VERITAS_BIN");
  if (!bin || !fs::exists(bin)) GTEST_SKIP() << "VERITAS_BIN not set or not built";
  TempDir t;
  BpeTrainer tr;
  std::vector<std::string> docs;
  for (int i = 0; i < 60; ++i) {
    std::string d = "Document " + std::to_string(i) + ": the quick brown fox, 世界 " + std::string(i % 7, '!');
    if (i == 3) d += "<|endoftext|> is plain text here";
    docs.push_back(d);
    tr.add_text(d);
  }
  Tokenizer tok = tr.train(400, default_special_tokens(), 2);
  tok.save(t.dir / "tok.json");
  {
    std::ofstream f(t.dir / "docs.jsonl");
    for (auto& d : docs) f << nlohmann::json{{"id", "x"}, {"text", d}}.dump() << "\n\n";
  }
  std::string cmd = std::string(bin) + " tokenize --tokenizer " + (t.dir / "tok.json").string() + " --input " +
                    (t.dir / "docs.jsonl").string() + " -o " + (t.dir / "out").string() +
                    " --val-fraction 0.1 --shard-tokens 200 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto train = list_shards(t.dir / "out", "train");
  auto val = list_shards(t.dir / "out", "val");
  EXPECT_GT(train.size(), 2u);  // 200-token shards
  std::vector<std::string> got_train, got_val;
  auto split_docs = [&](const std::vector<fs::path>& files, std::vector<std::string>& out) {
    for (auto& f : files) {
      Shard s = Shard::open(f);
      ASSERT_FALSE(s.tokens().empty());
      ASSERT_EQ(s.tokens().back(), tok.eot_id()) << "a shard ends inside a document";
      std::vector<int32_t> cur;
      for (int32_t id : s.tokens()) {
        if (id == tok.eot_id()) {
          out.push_back(tok.decode(cur));
          cur.clear();
        } else {
          cur.push_back(id);
        }
      }
    }
  };
  split_docs(train, got_train);
  split_docs(val, got_val);
  EXPECT_EQ(got_train.size() + got_val.size(), docs.size());
  EXPECT_EQ(got_val.size(), 6u);  // 10% of 60, as whole documents
  // Every document appears exactly once, in order within each split.
  std::vector<std::string> all = got_train;
  all.insert(all.end(), got_val.begin(), got_val.end());
  std::sort(all.begin(), all.end());
  auto expect = docs;
  std::sort(expect.begin(), expect.end());
  EXPECT_EQ(all, expect);
  EXPECT_EQ(got_val[0], docs[9]);
  auto meta = nlohmann::json::parse(read_file(t.dir / "out" / "shards.json"));
  EXPECT_EQ(meta["val"]["documents"], 6);
  EXPECT_EQ(meta["eot_id"], tok.eot_id());

  // Bad input: an error naming file and line, exit code 1.
  {
    std::ofstream f(t.dir / "bad.jsonl");
    f << "{\"text\": \"ok\"}\n{\"txt\": 1}\n";
  }
  std::string bad = std::string(bin) + " tokenize --tokenizer " + (t.dir / "tok.json").string() + " --input " +
                    (t.dir / "bad.jsonl").string() + " -o " + (t.dir / "out2").string() + " 2>" +
                    (t.dir / "err.txt").string();
  EXPECT_NE(std::system(bad.c_str()), 0);
  std::string err = read_file(t.dir / "err.txt");
  EXPECT_NE(err.find("bad.jsonl:2"), std::string::npos) << err;

  // SFT lines (no "text"): a document is the messages' contents, one per line; a message
  // without a string content is an error naming the line.
  {
    std::ofstream f(t.dir / "sft.jsonl");
    f << R"({"messages":[{"role":"user","content":"What is 2 + 2?"},{"role":"assistant","content":"Answer: 4"}]})" << "\n";
    f << R"({"text":"plain","messages":[{"role":"user","content":"ignored"}]})" << "\n";
  }
  std::string sft = std::string(bin) + " tokenize --tokenizer " + (t.dir / "tok.json").string() + " --input " +
                    (t.dir / "sft.jsonl").string() + " -o " + (t.dir / "out3").string() + " --val-fraction 0 2>/dev/null";
  ASSERT_EQ(std::system(sft.c_str()), 0) << sft;
  std::vector<std::string> got_sft;
  split_docs(list_shards(t.dir / "out3", "train"), got_sft);
  EXPECT_EQ(got_sft, (std::vector<std::string>{"What is 2 + 2?\nAnswer: 4", "plain"}));
  {
    std::ofstream f(t.dir / "bad-sft.jsonl");
    f << R"({"messages":[{"role":"user","content":"ok"}]})" << "\n" << R"({"messages":[{"role":"user"}]})" << "\n";
  }
  std::string bad_sft = std::string(bin) + " tokenize --tokenizer " + (t.dir / "tok.json").string() + " --input " +
                        (t.dir / "bad-sft.jsonl").string() + " -o " + (t.dir / "out4").string() + " 2>" +
                        (t.dir / "err2.txt").string();
  EXPECT_NE(std::system(bad_sft.c_str()), 0);
  err = read_file(t.dir / "err2.txt");
  EXPECT_NE(err.find("bad-sft.jsonl:2"), std::string::npos) << err;
  EXPECT_NE(err.find("content"), std::string::npos) << err;
}
