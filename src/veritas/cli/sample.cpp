// Placeholder: this subcommand is not built yet; it says so instead of pretending.
#include "veritas/cli/commands.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_sample(CLI::App& app) {
  auto* cmd = app.add_subcommand("sample", "generate text from a checkpoint (not implemented yet)");
  cmd->callback([] { throw Error("'veritas sample' is not implemented yet"); });
}

}  // namespace veritas::cli
