// Placeholder: this subcommand is not built yet; it says so instead of pretending.
#include "veritas/cli/commands.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_tasks(CLI::App& app) {
  auto* cmd = app.add_subcommand("tasks", "generate verifier-backed task suites and score answers (not implemented yet)");
  cmd->callback([] { throw Error("'veritas tasks' is not implemented yet"); });
}

}  // namespace veritas::cli
