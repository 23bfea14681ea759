#include "veritas/data/jsonl.hpp"

#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>
#include <simdjson.h>

#include "veritas/util/error.hpp"

namespace veritas {
namespace {

class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::string& path) : path_(path) {
    f_ = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
    if (!f_) throw Error("cannot open " + path + ": " + std::strerror(errno));
  }
  ~FileSource() override {
    if (f_ && f_ != stdin) std::fclose(f_);
  }
  size_t read(char* buf, size_t n) override {
    size_t got = std::fread(buf, 1, n, f_);
    if (got == 0 && std::ferror(f_)) throw Error("read error in " + path_ + ": " + std::strerror(errno));
    offset_ += got;
    return got;
  }
  uint64_t offset() const { return offset_; }

 private:
  std::string path_;
  std::FILE* f_;
  uint64_t offset_ = 0;
};

class GzipSource : public ByteSource {
 public:
  explicit GzipSource(const std::string& path) : path_(path) {
    g_ = gzopen(path.c_str(), "rb");
    if (!g_) throw Error("cannot open " + path + ": " + std::strerror(errno));
    gzbuffer(g_, 1 << 20);
  }
  ~GzipSource() override { gzclose(g_); }
  size_t read(char* buf, size_t n) override {
    int got = gzread(g_, buf, (unsigned)n);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(g_, &code);
      throw Error("corrupt gzip stream in " + path_ + " near compressed offset " +
                  std::to_string(gzoffset(g_)) + ": " + msg);
    }
    return (size_t)got;
  }

 private:
  std::string path_;
  gzFile g_;
};

class ZstdSource : public ByteSource {
 public:
  explicit ZstdSource(const std::string& path) : path_(path), file_(path) {
    ctx_ = ZSTD_createDCtx();
    in_buf_.resize(ZSTD_DStreamInSize());
  }
  ~ZstdSource() override { ZSTD_freeDCtx(ctx_); }
  size_t read(char* buf, size_t n) override {
    ZSTD_outBuffer out{buf, n, 0};
    while (out.pos == 0) {
      if (in_.pos == in_.size) {
        size_t got = file_.read(in_buf_.data(), in_buf_.size());
        if (got == 0) {
          if (last_ret_ != 0)
            throw Error("truncated zstd stream in " + path_ + " at compressed offset " +
                        std::to_string(file_.offset()));
          return 0;
        }
        in_ = {in_buf_.data(), got, 0};
      }
      size_t ret = ZSTD_decompressStream(ctx_, &out, &in_);
      if (ZSTD_isError(ret))
        throw Error("corrupt zstd stream in " + path_ + " near compressed offset " +
                    std::to_string(file_.offset() - (in_.size - in_.pos)) + ": " + ZSTD_getErrorName(ret));
      last_ret_ = ret;
    }
    return out.pos;
  }

 private:
  std::string path_;
  FileSource file_;
  ZSTD_DCtx* ctx_;
  std::string in_buf_;
  ZSTD_inBuffer in_{nullptr, 0, 0};
  size_t last_ret_ = 0;
};

}  // namespace

std::unique_ptr<ByteSource> open_byte_source(const std::string& path) {
  unsigned char magic[4] = {0, 0, 0, 0};
  if (path != "-") {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw Error("cannot open " + path + ": " + std::strerror(errno));
    size_t got = std::fread(magic, 1, 4, f);
    std::fclose(f);
    if (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return std::make_unique<GzipSource>(path);
    if (got == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
      return std::make_unique<ZstdSource>(path);
  }
  return std::make_unique<FileSource>(path);
}

JsonlReader::JsonlReader(const std::string& path, size_t max_line)
    : path_(path), src_(open_byte_source(path)), max_line_(max_line) {
  buf_.resize(1 << 20);
}

bool JsonlReader::fill() {
  if (eof_) return false;
  // Move the unread tail to the front, then read more after it.
  if (pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);
  size_t got = src_->read(buf_.data() + end_, buf_.size() - end_);
  if (got == 0) {
    eof_ = true;
    return false;
  }
  end_ += got;
  return true;
}

bool JsonlReader::next(std::string& line, bool* too_long) {
  line.clear();
  if (too_long) *too_long = false;
  bool any = false, over = false;
  for (;;) {
    const char* start = buf_.data() + pos_;
    const char* nl = (const char*)std::memchr(start, '\n', end_ - pos_);
    size_t chunk = nl ? (size_t)(nl - start) : end_ - pos_;
    if (chunk > 0) any = true;
    // Keep at most max_line bytes of the line; count the rest as skipped.
    size_t room = line.size() < max_line_ ? max_line_ - line.size() : 0;
    if (chunk > room) over = true;
    line.append(start, std::min(chunk, room));
    bytes_ += chunk;
    if (nl) {
      pos_ += chunk + 1;
      bytes_ += 1;
      any = true;
      break;
    }
    pos_ = end_;
    if (!fill()) break;
  }
  if (!any) return false;
  ++line_no_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (too_long) *too_long = over;
  return true;
}

void append_json_string(std::string& out, std::string_view s) {
  // Invalid UTF-8 is rare (a detail cut inside a character): nlohmann's replacement
  // rules decide those bytes.
  if (!simdjson::validate_utf8(s.data(), s.size())) {
    out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return;
  }
  append_json_string_valid(out, s);
}

void append_json_string_valid(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  // Whether any of 8 bytes is < 0x20, '"' or '\\' (exact for "any": SWAR zero-byte tests).
  auto needs_escape = [](uint64_t w) {
    constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
    auto zero_byte = [&](uint64_t x) { return (x - kOnes) & ~x & kHigh; };
    return (((w - kOnes * 0x20) & ~w & kHigh) | zero_byte(w ^ (kOnes * '"')) | zero_byte(w ^ (kOnes * '\\'))) != 0;
  };
  out += '"';
  size_t run = 0;  // start of the bytes not yet copied
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (!needs_escape(w)) {
        i += 7;
        continue;
      }
    }
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    out += '\\';
    switch (c) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '\b': out += 'b'; break;
      case '\t': out += 't'; break;
      case '\n': out += 'n'; break;
      case '\f': out += 'f'; break;
      case '\r': out += 'r'; break;
      default:
        out += "u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  // Integral values below 1e15 print as their digits and ".0" (as nlohmann does);
  // the common case for counts, and much cheaper than the shortest-digits search.
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    if (v == 0) {
      out += std::signbit(v) ? "-0.0" : "0.0";
      return;
    }
    out += std::to_string((int64_t)v);
    out += ".0";
    return;
  }
  // Otherwise nlohmann's own float formatting (Grisu2).
  char buf[64];
  char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

}  // namespace veritas
