#pragma once
// File helpers. Every write that must survive a kill goes through atomic_write_file:
// temp file in the same folder, fsync, rename over the target, fsync the folder.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace veritas {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path);  // throws Error naming the path
void atomic_write_file(const fs::path& path, std::string_view bytes);
// Writes through a callback that receives a FILE* open on the temp file (large outputs).
class AtomicFile {
 public:
  explicit AtomicFile(fs::path target);
  ~AtomicFile();  // removes the temp file unless commit() ran
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(std::string_view bytes);
  void write(const void* data, size_t n);
  void commit();  // flush, fsync, rename, fsync folder
  std::FILE* file() { return f_; }

 private:
  fs::path target_, tmp_;
  std::FILE* f_ = nullptr;
  bool committed_ = false;
};

void fsync_dir(const fs::path& dir);
fs::path make_temp_dir(const std::string& prefix);  // under $TMPDIR or /tmp

}  // namespace veritas
