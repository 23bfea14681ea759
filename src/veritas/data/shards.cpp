#include "veritas/data/shards.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/util/rng.hpp"

namespace veritas {

namespace {

constexpr size_t kHeaderBytes = 32;

void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
void put_u64(unsigned char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = (unsigned char)(v >> (8 * i));
}
uint32_t get_u32(const unsigned char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string where(const std::filesystem::path& path, uint64_t offset) {
  return path.string() + " at byte offset " + std::to_string(offset);
}

}  // namespace

void write_shard(const std::filesystem::path& path, const std::vector<int32_t>& tokens, int token_bytes) {
  int32_t max_id = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    check(tokens[i] >= 0, "write_shard " + path.string() + ": negative token id " +
                              std::to_string(tokens[i]) + " at index " + std::to_string(i));
    max_id = std::max(max_id, tokens[i]);
  }
  if (token_bytes == 0) token_bytes = max_id <= 0xFFFF ? 2 : 4;
  check(token_bytes == 2 || token_bytes == 4,
        "write_shard " + path.string() + ": token width must be 2 or 4, not " + std::to_string(token_bytes));
  check(token_bytes == 4 || max_id <= 0xFFFF,
        "write_shard " + path.string() + ": token id " + std::to_string(max_id) + " does not fit in 2 bytes");

  unsigned char header[kHeaderBytes] = {};
  std::memcpy(header, ShardHeader::kMagic, 8);
  put_u32(header + 8, 1);
  put_u32(header + 12, (uint32_t)token_bytes);
  put_u64(header + 16, tokens.size());
  // bytes 24..31 stay zero (reserved)

  AtomicFile f(path);
  f.write(header, kHeaderBytes);
  // Encode in blocks so a large shard never needs a second full-size copy.
  std::vector<unsigned char> buf;
  const size_t block = 1 << 16;
  for (size_t i = 0; i < tokens.size(); i += block) {
    size_t n = std::min(block, tokens.size() - i);
    buf.resize(n * token_bytes);
    unsigned char* p = buf.data();
    for (size_t j = 0; j < n; ++j, p += token_bytes) {
      uint32_t v = (uint32_t)tokens[i + j];
      p[0] = (unsigned char)v;
      p[1] = (unsigned char)(v >> 8);
      if (token_bytes == 4) {
        p[2] = (unsigned char)(v >> 16);
        p[3] = (unsigned char)(v >> 24);
      }
    }
    f.write(buf.data(), buf.size());
  }
  f.commit();
}

namespace {

struct Layout {
  uint32_t width;
  uint64_t count;
};

// Validates the 32 header bytes against the file size; throws naming the offset.
Layout check_header(const unsigned char* h, size_t got, uint64_t file_size, const std::filesystem::path& path) {
  if (got < kHeaderBytes)
    throw Error("truncated shard " + where(path, got) + ": the header needs 32 bytes, the file has " +
                std::to_string(got));
  if (std::memcmp(h, ShardHeader::kMagic, 8) != 0)
    throw Error("not a token shard " + where(path, 0) + ": bad magic (expected \"VRTSHRD1\")");
  uint32_t version = get_u32(h + 8);
  if (version != 1)
    throw Error("unsupported shard version " + std::to_string(version) + " in " + where(path, 8));
  uint32_t width = get_u32(h + 12);
  if (width != 2 && width != 4)
    throw Error("corrupt shard " + where(path, 12) + ": token width " + std::to_string(width) +
                " (must be 2 or 4)");
  uint64_t count = get_u64(h + 16);
  for (int i = 24; i < 32; ++i)
    if (h[i] != 0) throw Error("corrupt shard " + where(path, (uint64_t)i) + ": reserved header byte is not zero");
  // Check the size before allocating: a corrupt count must not trigger a huge allocation.
  uint64_t max_count = (file_size - kHeaderBytes) / width;
  if (count > max_count)
    throw Error("truncated shard " + where(path, file_size) + ": header says " + std::to_string(count) +
                " tokens (" + (count < (1ull << 60) ? std::to_string(kHeaderBytes + count * (uint64_t)width) : "too many") +
                " bytes expected), the file ends after " + std::to_string(file_size) + " bytes");
  uint64_t expected = kHeaderBytes + count * width;
  if (file_size != expected)
    throw Error("corrupt shard " + where(path, expected) + ": " + std::to_string(file_size - expected) +
                " unexpected bytes after the last token");
  return {width, count};
}

// Decodes n little-endian tokens starting at token index first.
void decode_tokens(const unsigned char* p, size_t n, uint32_t width, uint64_t first, int32_t* out,
                   const std::filesystem::path& path) {
  if (width == 2) {
    for (size_t j = 0; j < n; ++j, p += 2) out[j] = (int32_t)(p[0] | (p[1] << 8));
    return;
  }
  for (size_t j = 0; j < n; ++j, p += 4) {
    uint32_t v = get_u32(p);
    if (v > 0x7FFFFFFFu)
      throw Error("corrupt shard " + where(path, kHeaderBytes + (first + j) * 4) + ": token id " + std::to_string(v) +
                  " is out of range");
    out[j] = (int32_t)v;
  }
}

}  // namespace

Shard Shard::from_bytes(std::string_view bytes, const std::filesystem::path& name) {
  Shard s;
  s.path_ = name;
  const auto* h = reinterpret_cast<const unsigned char*>(bytes.data());
  Layout l = check_header(h, std::min(bytes.size(), kHeaderBytes), bytes.size(), name);
  s.tokens_.resize(l.count);
  decode_tokens(h + kHeaderBytes, l.count, l.width, 0, s.tokens_.data(), name);
  return s;
}

Shard Shard::open(const std::filesystem::path& path) {
  Shard s;
  s.path_ = path;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error("cannot open shard " + path.string() + ": " + std::strerror(errno));
  struct Closer {
    std::FILE* f;
    ~Closer() { std::fclose(f); }
  } closer{f};
  std::error_code ec;
  uint64_t file_size = std::filesystem::file_size(path, ec);
  if (ec) throw Error("cannot stat shard " + path.string() + ": " + ec.message());

  unsigned char h[kHeaderBytes];
  size_t got = std::fread(h, 1, kHeaderBytes, f);
  Layout l = check_header(h, got, file_size, path);
  s.tokens_.resize(l.count);
  std::vector<unsigned char> buf;
  const size_t block = 1 << 16;
  for (uint64_t i = 0; i < l.count; i += block) {
    size_t n = (size_t)std::min<uint64_t>(block, l.count - i);
    buf.resize(n * l.width);
    size_t r = std::fread(buf.data(), 1, buf.size(), f);
    if (r != buf.size())
      throw Error("truncated shard " + where(path, kHeaderBytes + i * l.width + r) + ": read failed");
    decode_tokens(buf.data(), n, l.width, i, s.tokens_.data() + i, path);
  }
  return s;
}

std::vector<std::filesystem::path> list_shards(const std::filesystem::path& dir, const std::string& split) {
  std::error_code ec;
  check(std::filesystem::is_directory(dir, ec), "shard folder " + dir.string() + " does not exist");
  std::vector<std::filesystem::path> out;
  const std::string prefix = split + "_";
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    std::string name = e.path().filename().string();
    if (name.size() == prefix.size() + 10 && name.compare(0, prefix.size(), prefix) == 0 &&
        name.compare(name.size() - 4, 4, ".bin") == 0 &&
        std::all_of(name.begin() + prefix.size(), name.end() - 4, [](char c) { return c >= '0' && c <= '9'; }))
      out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  check(!out.empty(), "no " + split + "_NNNNNN.bin shards in " + dir.string());
  return out;
}

// The loader keeps every shard's tokens in one stream. Each document in a shard is
// followed by <|endoftext|>, so joining shards never glues two documents together.
struct DataLoader::Impl {
  std::vector<int32_t> tokens;
  std::vector<std::string> names;
  int B = 0, T = 0;
  uint64_t seed = 0;
  bool sequential = false;
  Rng rng;
  uint64_t pos = 0;       // sequential cursor
  uint64_t batches = 0;   // batches served since the start (for the record)
};

DataLoader::DataLoader(const std::vector<std::filesystem::path>& shards, int B, int T, uint64_t seed,
                       bool sequential)
    : impl_(std::make_shared<Impl>()) {
  check(B > 0 && T > 0, "DataLoader: batch size and sequence length must be positive (B=" + std::to_string(B) +
                            ", T=" + std::to_string(T) + ")");
  check(!shards.empty(), "DataLoader: no shard files given");
  auto& m = *impl_;
  m.B = B;
  m.T = T;
  m.seed = seed;
  m.sequential = sequential;
  for (const auto& p : shards) {
    Shard s = Shard::open(p);
    m.tokens.insert(m.tokens.end(), s.tokens().begin(), s.tokens().end());
    m.names.push_back(p.filename().string());
  }
  check(m.tokens.size() >= (size_t)T + 1,
        "DataLoader: the shards hold " + std::to_string(m.tokens.size()) + " tokens, fewer than one window of " +
            std::to_string(T + 1) + " (T+1) tokens (first shard: " + shards[0].string() + ")");
  reset();
}

void DataLoader::reset() {
  impl_->rng.reseed(impl_->seed);
  impl_->pos = 0;
  impl_->batches = 0;
}

size_t DataLoader::num_tokens() const { return impl_->tokens.size(); }

int32_t DataLoader::max_token() const {
  int32_t m = -1;
  for (int32_t t : impl_->tokens) m = std::max(m, t);
  return m;
}

void DataLoader::next(int32_t* inputs, int32_t* targets) {
  auto& m = *impl_;
  const uint64_t n = m.tokens.size(), T = (uint64_t)m.T;
  for (int b = 0; b < m.B; ++b) {
    uint64_t start;
    if (m.sequential) {
      if (m.pos + T + 1 > n) m.pos = 0;  // wrap: the next pass starts over
      start = m.pos;
      m.pos += T;
    } else {
      start = m.rng.below(n - T);  // every start whose window of T+1 fits
    }
    const int32_t* w = m.tokens.data() + start;
    std::memcpy(inputs + (size_t)b * T, w, T * sizeof(int32_t));
    std::memcpy(targets + (size_t)b * T, w + 1, T * sizeof(int32_t));
  }
  ++m.batches;
}

nlohmann::json DataLoader::state() const {
  const auto& m = *impl_;
  auto rs = m.rng.state();
  return {{"sequential", m.sequential},
          {"B", m.B},
          {"T", m.T},
          {"seed", m.seed},
          {"num_tokens", m.tokens.size()},
          {"pos", m.pos},
          {"batches", m.batches},
          {"rng", {rs[0], rs[1], rs[2], rs[3]}}};
}

void DataLoader::set_state(const nlohmann::json& s) {
  auto& m = *impl_;
  try {
    check(s.at("num_tokens").get<uint64_t>() == m.tokens.size(),
          "DataLoader state was saved for " + std::to_string(s.at("num_tokens").get<uint64_t>()) +
              " tokens, but the shards now hold " + std::to_string(m.tokens.size()) + " (different data?)");
    check(s.at("sequential").get<bool>() == m.sequential,
          "DataLoader state was saved for a " +
              std::string(s.at("sequential").get<bool>() ? "sequential" : "random") + " loader");
    auto r = s.at("rng");
    check(r.is_array() && r.size() == 4, "DataLoader state: rng must be 4 numbers");
    std::array<uint64_t, 4> rs{r[0].get<uint64_t>(), r[1].get<uint64_t>(), r[2].get<uint64_t>(),
                               r[3].get<uint64_t>()};
    uint64_t pos = s.at("pos").get<uint64_t>();
    check(pos <= m.tokens.size(), "DataLoader state: cursor " + std::to_string(pos) + " is past the end");
    // B and T may change between runs (the loader then continues from the same cursor).
    m.rng.set_state(rs);
    m.pos = pos;
    m.batches = s.value("batches", (uint64_t)0);
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("DataLoader state is malformed: ") + e.what());
  }
}

}  // namespace veritas
