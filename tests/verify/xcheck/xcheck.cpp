// Helper for the cross-check scripts in tests/verify/*.py: generates tasks and judges
// answers with the verify library alone, so the checks do not depend on other stages.
//   verify_xcheck gen SUITE N SEED SPLIT [DIFFICULTY_JSON]   -> tasks JSONL on stdout
//   verify_xcheck judge TASKS.jsonl ANSWERS.jsonl            -> one verdict name a line
//   verify_xcheck facts-dir                                  -> the fact tables' folder
#include <cstdio>
#include <string>
#include <unordered_map>

#include "veritas/util/error.hpp"
#include "veritas/util/line_reader.hpp"
#include "veritas/util/text.hpp"
#include "veritas/verify/facts.hpp"
#include "veritas/verify/task.hpp"

int main(int argc, char** argv) {
  using namespace veritas;
  try {
    std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "gen" && argc >= 6) {
      SuiteOptions o;
      o.suite = argv[2];
      o.n = std::stoi(argv[3]);
      o.seed = std::stoull(argv[4]);
      o.split = argv[5];
      o.difficulty = argc > 6 ? nlohmann::json::parse(argv[6]) : nlohmann::json::object();
      for (const auto& t : generate_tasks(o)) std::printf("%s\n", t.to_json().dump().c_str());
      return 0;
    }
    if (cmd == "judge" && argc == 4) {
      auto tasks = read_tasks_jsonl(argv[2]);
      std::unordered_map<std::string, const Task*> by_id;
      for (const auto& t : tasks) by_id[t.id] = &t;
      LineReader r(argv[3]);
      std::string line;
      while (r.next(line)) {
        auto j = nlohmann::json::parse(line);
        const Task* t = by_id.at(j.at("id").get<std::string>());
        Score s = verify(*t, j.at("answer").get<std::string>());
        std::printf("%s\t%s\n", verdict_name(s.verdict), s.reason.c_str());
      }
      return 0;
    }
    if (cmd == "facts-dir") {
      std::printf("%s\n", find_facts_dir().c_str());
      return 0;
    }
    std::fprintf(stderr, "usage: verify_xcheck gen SUITE N SEED SPLIT [JSON] | judge TASKS ANSWERS | facts-dir\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
