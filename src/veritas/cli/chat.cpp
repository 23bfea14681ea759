// Placeholder: this subcommand is not built yet; it says so instead of pretending.
#include "veritas/cli/commands.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_chat(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "chat with a checkpoint in the terminal (not implemented yet)");
  cmd->callback([] { throw Error("'veritas chat' is not implemented yet"); });
}

}  // namespace veritas::cli
