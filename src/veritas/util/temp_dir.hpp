#pragma once
// A temporary folder removed with everything in it when the scope ends, error or not.
#include <string>
#include <system_error>

#include "veritas/util/fs.hpp"

namespace veritas {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix) : path_(make_temp_dir(prefix)) {}
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

}  // namespace veritas
