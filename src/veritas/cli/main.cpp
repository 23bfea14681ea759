// veritas: one binary, one subcommand per pipeline stage (see README.md).
#include <cstdio>
#include <exception>

#include "veritas/cli/commands.hpp"
#include "veritas/util/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"veritas: a truth-seeking language-model stack (curate, train, verify, evaluate, serve)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "veritas 0.1.0");
  using namespace veritas::cli;
  register_run(app);
  register_curate(app);
  register_tokenizer(app);
  register_tokenize(app);
  register_train(app);
  register_sample(app);
  register_chat(app);
  register_tasks(app);
  register_eval(app);
  register_selfplay(app);
  register_serve(app);
  register_keys(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const veritas::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
