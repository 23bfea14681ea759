#pragma once
// Text helpers shared by every stage: UTF-8 validation, JSON-safe strings, line reading.
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace veritas {

// Returns the byte offset of the first invalid UTF-8 sequence, or npos when valid.
size_t utf8_invalid_offset(std::string_view s);
inline bool is_valid_utf8(std::string_view s) { return utf8_invalid_offset(s) == std::string_view::npos; }
// Replaces every invalid sequence with U+FFFD (so it can be stored in JSON).
std::string utf8_sanitize(std::string_view s);

// Reads a file (or "-" for stdin) line by line with a bounded line length; a longer line
// is reported (not silently split). Lines exclude the trailing '\n'.
class LineReader {
 public:
  explicit LineReader(const std::string& path, size_t max_line = 64u << 20);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;
  // false at end of input. too_long is set when the line exceeded max_line (the line
  // is then truncated to max_line bytes and the rest skipped).
  bool next(std::string& line, bool* too_long = nullptr);
  int64_t line_number() const { return line_no_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* f_;
  bool owned_;
  size_t max_line_;
  int64_t line_no_ = 0;
};

std::string human_bytes(double bytes);  // "1.5 MiB"

}  // namespace veritas
