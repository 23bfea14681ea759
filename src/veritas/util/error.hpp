#pragma once
// Errors: veritas throws veritas::Error with a message a user can act on (what failed,
// where: file, offset or line). The CLI catches it at the top and exits non-zero.
#include <stdexcept>
#include <string>

namespace veritas {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws Error(msg) when cond is false. For input checks, not for programming bugs.
inline void check(bool cond, const std::string& msg) {
  if (!cond) throw Error(msg);
}

}  // namespace veritas
