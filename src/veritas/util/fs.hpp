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

// The folder of the running executable ("" if /proc/self/exe cannot be read).
fs::path exe_dir();
// Files that ship beside the source tree (data/facts, prompts/, the project's .venv):
// the first `ancestor / rel` that exists, for every ancestor of the executable's folder,
// then of the current folder; empty if none. `tried`, when given, receives every candidate.
fs::path find_upwards(const fs::path& rel, std::vector<fs::path>* tried = nullptr);

}  // namespace veritas
