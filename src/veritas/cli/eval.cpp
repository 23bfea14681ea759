// Placeholder: this subcommand is not built yet; it says so instead of pretending.
#include "veritas/cli/commands.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "evaluate a model or endpoint: correct, wrong, abstained, calibration (not implemented yet)");
  cmd->callback([] { throw Error("'veritas eval' is not implemented yet"); });
}

}  // namespace veritas::cli
