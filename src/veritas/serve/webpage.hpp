#pragma once
// The web chat page served at / : one self-contained HTML file (no external assets).
#include <string>

namespace veritas::serve {

const std::string& web_page();

}  // namespace veritas::serve
