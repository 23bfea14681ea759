#pragma once
#include <CLI/CLI.hpp>

namespace veritas::cli {
// Adds `veritas curate train-classifier` under the given curate subcommand.
void register_curate_classifier(CLI::App* curate);
// Adds `veritas curate score-spun` (curate_score_spun.cpp).
void register_curate_score_spun(CLI::App* curate);
}  // namespace veritas::cli
