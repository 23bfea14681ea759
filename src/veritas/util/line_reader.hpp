#pragma once
// The one line reader: plain text, gzip (zlib) or zstd (libzstd), chosen by the file's
// magic bytes, not its name ("-" reads stdin). Lines are bounded: a line longer than
// max_line is reported (truncated, the rest skipped) so one bad line cannot exhaust
// memory. A corrupt compressed stream throws Error naming the file and byte offset.
// for_each_json_line reads JSON Lines on top of it, naming file:line on every error.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace veritas {

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual size_t read(char* buf, size_t n) = 0;  // 0 at end; throws Error on corruption
};
std::unique_ptr<ByteSource> open_byte_source(const std::string& path);

class LineReader {
 public:
  static constexpr size_t kDefaultMaxLine = size_t(64) << 20;
  explicit LineReader(const std::string& path, size_t max_line = kDefaultMaxLine);
  // false at end of input. *too_long is set when the line exceeded max_line. Lines
  // exclude the trailing '\n' and a '\r' before it.
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

// Calls fn(value, where) for each non-blank line of a JSON Lines file, where = "path:line".
// A line over max_line bytes or one that is not JSON throws Error naming path:line;
// an Error or nlohmann::json exception thrown by fn is re-thrown with "path:line: " in
// front (unless fn already put it there).
void for_each_json_line(const std::string& path,
                        const std::function<void(const nlohmann::json& value, const std::string& where)>& fn,
                        size_t max_line = LineReader::kDefaultMaxLine);

}  // namespace veritas
