#pragma once
// Streaming line input for curation: plain text, gzip (zlib) or zstd (libzstd), chosen
// by the file's magic bytes, not its name. Lines are bounded: a line longer than
// max_line is reported (truncated, the rest skipped) so one bad line cannot exhaust
// memory. A corrupt compressed stream throws Error naming the file and byte offset.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace veritas {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual size_t read(char* buf, size_t n) = 0;  // 0 at end; throws Error on corruption
};
std::unique_ptr<ByteSource> open_byte_source(const std::string& path);

class JsonlReader {
 public:
  explicit JsonlReader(const std::string& path, size_t max_line = 4u << 20);
  // false at end of input. *too_long is set when the line exceeded max_line.
  bool next(std::string& line, bool* too_long = nullptr);
  int64_t line_number() const { return line_no_; }
  uint64_t bytes() const { return bytes_; }  // uncompressed bytes consumed so far
  const std::string& path() const { return path_; }

 private:
  bool fill();
  std::string path_;
  std::unique_ptr<ByteSource> src_;
  std::string buf_;
  size_t pos_ = 0, end_ = 0, max_line_;
  bool eof_ = false;
  int64_t line_no_ = 0;
  uint64_t bytes_ = 0;
};

// JSON output with the bytes of nlohmann::json::dump() (compact, ensure_ascii off,
// invalid UTF-8 replaced by U+FFFD), so records need no intermediate json object.
void append_json_string(std::string& out, std::string_view s);  // quoted and escaped
void append_json_string_valid(std::string& out, std::string_view s);  // s known to be valid UTF-8
void append_json_number(std::string& out, double v);            // shortest round-trip; null if not finite

}  // namespace veritas
