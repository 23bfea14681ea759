// Placeholder: this subcommand is not built yet; it says so instead of pretending.
#include "veritas/cli/commands.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_curate(CLI::App& app) {
  auto* cmd = app.add_subcommand("curate", "curate raw documents into clean training text (not implemented yet)");
  cmd->callback([] { throw Error("'veritas curate' is not implemented yet"); });
}

}  // namespace veritas::cli
