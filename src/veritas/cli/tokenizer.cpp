// Placeholder: this subcommand is not built yet; it says so instead of pretending.
#include "veritas/cli/commands.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

void register_tokenizer(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenizer", "train, encode, decode and import byte-level BPE tokenizers (tokenizer.json) (not implemented yet)");
  cmd->callback([] { throw Error("'veritas tokenizer' is not implemented yet"); });
}

}  // namespace veritas::cli
