#pragma once
// The message of the veritas::Error that f throws, or "" when it throws none.
#include <functional>
#include <string>

#include "veritas/util/error.hpp"

namespace veritas::test {

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace veritas::test
