// veritas: one binary, one subcommand per pipeline stage (see README.md).
#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "veritas/cli/commands.hpp"
#include "veritas/util/cpu_features.hpp"
#include "veritas/util/error.hpp"
#ifdef VERITAS_HAVE_CUDA
#include "veritas/cuda/ops.hpp"
#endif

// The version, the CPU's run-time features and whether the CUDA backend was compiled in:
// figures from machines of the same kind differ with these.
static std::string version_text() {
#ifdef VERITAS_HAVE_CUDA
  std::string cuda = veritas::cuda::summary();
#else
  std::string cuda = "cuda: not built (configure with -DVERITAS_CUDA=ON where nvcc is installed)";
#endif
  return "veritas 0.1.0\n" + veritas::cpu_summary() + "\n" + cuda;
}

int main(int argc, char** argv) {
  CLI::App app{"veritas: a truth-seeking language-model stack (curate, train, verify, evaluate, serve)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::function<std::string()>(version_text));
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
  register_self_improve(app);
  register_serve(app);
  register_keys(app);
  register_export(app);
  register_import(app);
  register_perplexity(app);
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
