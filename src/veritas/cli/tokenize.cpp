// Placeholder: this subcommand is not built yet; it says so instead of pretending.
#include "veritas/cli/commands.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "turn text or JSONL into token shards (not implemented yet)");
  cmd->callback([] { throw Error("'veritas tokenize' is not implemented yet"); });
}

}  // namespace veritas::cli
