// veritas eval: ask a model (local checkpoint, OpenAI-compatible endpoint or test double)
// every question of the chosen suites, score each answer with the verifiers, and write
// results.json, report.md, answers.jsonl and SVG plots (docs/eval.md).
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "veritas/cli/commands.hpp"
#include "veritas/eval/answerer.hpp"
#include "veritas/eval/endpoint.hpp"
#include "veritas/eval/harness.hpp"
#include "veritas/eval/local.hpp"
#include "veritas/util/error.hpp"

namespace veritas::cli {

namespace {

struct EvalArgs {
  std::vector<std::string> suites;
  int n = 100;
  uint64_t seed = 0;
  std::string split = "test", tasks_file, difficulty, out;
  int samples = 1, parallel = 0;
  std::string model, endpoint, api_key, double_kind, prompt_dir;
  eval::EndpointOptions ep;
  eval::LocalOptions local;
  eval::DoubleOptions dbl;
  double temperature = 0, sample_temperature = 0.7;
  int max_tokens = 512;
  bool no_system = false, no_n = false;
};

void run(const EvalArgs& a) {
  int sources = !a.endpoint.empty() + !a.double_kind.empty() + (a.endpoint.empty() && !a.model.empty());
  check(sources == 1, "choose exactly one answerer: --model DIR, --endpoint URL or --double KIND");
  check(a.prompt_dir.empty() || !a.no_system, "--prompt and --no-system-prompt exclude each other");
  nlohmann::json difficulty;
  if (!a.difficulty.empty()) {
    try {
      difficulty = nlohmann::json::parse(a.difficulty);
    } catch (const nlohmann::json::parse_error& e) {
      throw Error("--difficulty is not valid JSON (at byte " + std::to_string(e.byte) + "): " + a.difficulty);
    } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
      throw Error(std::string("--difficulty is not valid JSON: ") + e.what());
    }
  }
  std::unique_ptr<eval::Answerer> answerer;
  if (!a.endpoint.empty()) {
    eval::EndpointOptions o = a.ep;
    o.url = a.endpoint;
    o.model = a.model;
    o.api_key = a.api_key;
    if (o.api_key.empty())
      if (const char* k = std::getenv("OPENAI_API_KEY")) o.api_key = k;
    o.temperature = a.temperature;
    o.sample_temperature = a.sample_temperature;
    o.max_tokens = a.max_tokens;
    o.system_prompt = !a.no_system;
    o.use_n = !a.no_n;
    o.prompt_dir = a.prompt_dir;
    if (a.parallel > 0) o.parallel = a.parallel;
    answerer = std::make_unique<eval::EndpointAnswerer>(o);
  } else if (!a.double_kind.empty()) {
    eval::DoubleOptions o = a.dbl;
    o.kind = a.double_kind;
    check(a.prompt_dir.empty(), "--prompt applies to a model (--model or --endpoint), not to a test double");
    answerer = eval::make_double(o);
  } else {
    eval::LocalOptions o = a.local;
    o.dir = a.model;
    o.temperature = a.temperature;
    o.sample_temperature = a.sample_temperature;
    o.max_tokens = a.max_tokens;
    o.system_prompt = !a.no_system;
    o.prompt_dir = a.prompt_dir;
    o.seed = a.seed;
    answerer = std::make_unique<eval::LocalAnswerer>(o);
  }
  auto tasks = eval::load_tasks(a.suites, a.n, a.seed, a.split, a.tasks_file, difficulty);
  eval::EvalOptions eo;
  eo.samples = a.samples;
  eo.parallel = a.parallel;
  eo.config = {{"suites", a.suites}, {"split", a.split}, {"n", a.n}, {"seed", a.seed}};
  if (!a.tasks_file.empty()) eo.config = {{"tasks_file", a.tasks_file}, {"suites", a.suites}};
  if (!difficulty.is_null()) eo.config["difficulty"] = difficulty;
  auto result = eval::run_eval(std::move(tasks), *answerer, eo);
  eval::write_outputs(a.out, result);
  const auto& o = result.results["overall"];
  std::printf("%s: %lld answers: correct %.1f%%, wrong %.1f%%, abstained %.1f%%, malformed %.1f%%\n",
              result.describe.c_str(), (long long)o["answers"].get<int64_t>(), 100 * o["correct_rate"].get<double>(),
              100 * o["wrong_rate"].get<double>(), 100 * o["abstained_rate"].get<double>(),
              100 * o["malformed_rate"].get<double>());
  if (o["calibration"].is_object())
    std::printf("ECE %.4f, Brier %.4f, AURC %.4f\n", o["calibration"]["ece"].get<double>(),
                o["calibration"]["brier"].get<double>(), o["risk_coverage"]["aurc"].get<double>());
  std::printf("report: %s/report.md\n", a.out.c_str());
}

}  // namespace

void register_eval(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  auto* cmd = app.add_subcommand(
      "eval",
      "evaluate a local model, an OpenAI-compatible endpoint or a test double on verifier-scored suites:\n"
      "correct / wrong / abstained / malformed, calibration (ECE, Brier), risk-coverage, pass@k, majority@k");
  cmd->footer(
      "Examples:\n"
      "  veritas eval --suite arith algebra --n 50 --double perfect -o out/eval\n"
      "  veritas eval --suite arith --model runs/default/checkpoint -o out/eval\n"
      "  veritas eval --tasks tasks.jsonl --model model.gguf --precision gguf --prompt prompts/answer-protocol/v4 -o out/eval\n"
      "  veritas eval --suite arith facts --endpoint http://127.0.0.1:8080 --model NAME --samples 4 -o out/eval\n"
      "Outputs: OUT/results.json, OUT/report.md, OUT/answers.jsonl, OUT/reliability.svg, OUT/risk_coverage.svg,\n"
      "OUT/accuracy_by_difficulty.svg. Metrics and formulas: docs/eval.md.");
  // Tasks.
  cmd->add_option("--suite", a->suites, "suites to ask (arith algebra units physics facts impossible)");
  cmd->add_option("--n", a->n, "questions per suite")->capture_default_str();
  cmd->add_option("--seed", a->seed, "task generation seed (also seeds local sampling)")->capture_default_str();
  cmd->add_option("--split", a->split, "train | dev | test")->capture_default_str();
  cmd->add_option("--tasks", a->tasks_file, "read tasks from this JSONL file instead (filtered by --suite if given)");
  cmd->add_option("--difficulty", a->difficulty, "suite difficulty knobs as a JSON object, e.g. '{\"digits\": 6}'");
  cmd->add_option("--samples,-k", a->samples, "answers per question (k > 1 adds pass@k and majority@k)")->capture_default_str();
  cmd->add_option("-o,--out", a->out, "output folder")->required();
  // Who answers.
  cmd->add_option("--model", a->model,
                  "checkpoint or Hugging Face folder, or GGUF file, of the local model; with --endpoint: the model name to request");
  cmd->add_option("--endpoint", a->endpoint, "OpenAI-compatible server, e.g. http://127.0.0.1:8080 (POST /v1/chat/completions)");
  cmd->add_option("--double", a->double_kind, "test double: perfect | abstain | random | calibrated");
  cmd->add_option("--api-key", a->api_key, "endpoint key (default: $OPENAI_API_KEY)");
  // Generation.
  cmd->add_option("--temperature", a->temperature, "sampling temperature when k = 1")->capture_default_str();
  cmd->add_option("--sample-temperature", a->sample_temperature, "sampling temperature when k > 1")->capture_default_str();
  cmd->add_option("--max-tokens", a->max_tokens, "longest answer in tokens")->capture_default_str();
  cmd->add_flag("--no-system-prompt", a->no_system, "do not send the built-in answer-protocol system prompt");
  cmd->add_option("--prompt", a->prompt_dir,
                  "versioned prompt set: a folder with system.{en,zh}.txt and fewshot.{en,zh}.jsonl, e.g.\n"
                  "prompts/answer-protocol/v4 (default: the built-in system prompt, no few-shot); its version\n"
                  "and hash are recorded in results.json and report.md");
  cmd->add_option("--precision", a->local.precision, "local model weights: fp32 | bf16 | int8 | gguf (a GGUF file's own quantized blocks)")->capture_default_str();
  cmd->add_option("--device", a->local.device, "where the local model runs: cpu, or cuda (weights in bf16, or fp32 with --precision fp32)")->capture_default_str();
  // Endpoint transport.
  cmd->add_option("--parallel", a->parallel, "questions in flight at once (default: 4 for endpoints, 1 for a local model)");
  cmd->add_option("--timeout", a->ep.timeout_s, "seconds before one request times out")->capture_default_str();
  cmd->add_option("--retries", a->ep.retries, "extra tries after a network error, timeout, 429 or 5xx")->capture_default_str();
  cmd->add_option("--backoff", a->ep.backoff_s, "first wait between tries in seconds (doubles each try)")->capture_default_str();
  cmd->add_flag("--no-n", a->no_n, "send k requests instead of one request with n = k");
  // Test doubles.
  cmd->add_option("--p-correct", a->dbl.p_correct, "random/calibrated double: share of right answers")->capture_default_str();
  cmd->add_option("--p-wrong", a->dbl.p_wrong, "random/calibrated double: share of wrong answers")->capture_default_str();
  cmd->add_option("--p-abstain", a->dbl.p_abstain, "random/calibrated double: share of abstentions (rest: malformed)")->capture_default_str();
  cmd->add_option("--double-seed", a->dbl.seed, "random/calibrated double: seed")->capture_default_str();
  cmd->callback([a] { run(*a); });
}

}  // namespace veritas::cli
