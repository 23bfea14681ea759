// Placeholder: this subcommand is not built yet; it says so instead of pretending.
#include "veritas/cli/commands.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_run(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "run the whole pipeline on the bundled default corpus (not implemented yet)");
  cmd->callback([] { throw Error("'veritas run' is not implemented yet"); });
}

}  // namespace veritas::cli
