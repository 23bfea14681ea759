#pragma once
// Token shards: a fixed 32-byte little-endian header, then the tokens (2 or 4 bytes each).
// Layout and validation rules: docs/formats.md. Readers validate the header and the
// file size and report a corrupt or truncated shard with its path and byte offset.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace veritas {

struct ShardHeader {
  static constexpr char kMagic[8] = {'V', 'R', 'T', 'S', 'H', 'R', 'D', '1'};
  uint32_t version = 1;
  uint32_t token_bytes = 2;  // 2 (vocab <= 65536) or 4
  uint64_t count = 0;        // number of tokens
};

// Atomic write. token_bytes = 0 chooses 2 when every id fits, else 4.
void write_shard(const std::filesystem::path& path, const std::vector<int32_t>& tokens, int token_bytes = 0);

class Shard {
 public:
  static Shard open(const std::filesystem::path& path);  // reads all tokens; throws Error
  // Same checks on a shard already in memory; `name` is used in error messages.
  static Shard from_bytes(std::string_view bytes, const std::filesystem::path& name);
  const std::vector<int32_t>& tokens() const { return tokens_; }
  size_t size() const { return tokens_.size(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::vector<int32_t> tokens_;
};

// The shards `veritas tokenize` wrote into `dir` for a split ("train" or "val"):
// <split>_000000.bin, <split>_000001.bin ... in order. Throws if there are none.
std::vector<std::filesystem::path> list_shards(const std::filesystem::path& dir, const std::string& split);

// Batches of B windows of T+1 tokens (inputs = window[0..T), targets = window[1..T]).
// Training: windows at random offsets, deterministic for a seed. Validation
// (sequential = true): consecutive windows from the start, wrapping at the end.
class DataLoader {
 public:
  DataLoader(const std::vector<std::filesystem::path>& shards, int B, int T, uint64_t seed, bool sequential);
  void next(int32_t* inputs, int32_t* targets);  // each B*T
  size_t num_tokens() const;
  int32_t max_token() const;                // largest id in the data (check it against the vocab)
  nlohmann::json state() const;            // cursor + RNG, saved with checkpoints
  void set_state(const nlohmann::json& s);  // resume exactly where state() was taken
  void reset();                             // back to the start (validation passes)

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace veritas
