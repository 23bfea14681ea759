// Placeholder: this subcommand is not built yet; it says so instead of pretending.
#include "veritas/cli/commands.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_train(CLI::App& app) {
  auto* cmd = app.add_subcommand("train", "train a model (pretraining or SFT) with checkpoints and resume (not implemented yet)");
  cmd->callback([] { throw Error("'veritas train' is not implemented yet"); });
}

}  // namespace veritas::cli
