#include "veritas/util/line_reader.hpp"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

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

LineReader::LineReader(const std::string& path, size_t max_line)
    : path_(path), src_(open_byte_source(path)), max_line_(max_line) {
  buf_.resize(1 << 20);
}

bool LineReader::fill() {
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

bool LineReader::next(std::string& line, bool* too_long) {
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

void for_each_json_line(const std::string& path,
                        const std::function<void(const nlohmann::json& value, const std::string& where)>& fn,
                        size_t max_line) {
  LineReader reader(path, max_line);
  std::string line;
  bool too_long = false;
  while (reader.next(line, &too_long)) {
    const std::string where = path + ":" + std::to_string(reader.line_number());
    check(!too_long, where + ": line is too long (over " + std::to_string(max_line) + " bytes)");
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error(where + ": not valid JSON (column " + std::to_string(e.byte) + "): " + e.what());
    } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
      throw Error(where + ": not valid JSON: " + e.what());
    }
    auto located = [&](const std::string& msg) {
      return msg.rfind(where + ":", 0) == 0 ? msg : where + ": " + msg;
    };
    try {
      fn(j, where);
    } catch (const Error& e) {
      throw Error(located(e.what()));
    } catch (const nlohmann::json::exception& e) {
      throw Error(located(e.what()));
    }
  }
}

}  // namespace veritas
