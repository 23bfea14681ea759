#pragma once
#include <CLI/CLI.hpp>

namespace veritas::cli {
// Adds `veritas curate train-classifier` under the given curate subcommand.
void register_curate_classifier(CLI::App* curate);
}  // namespace veritas::cli
