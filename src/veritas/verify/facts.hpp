#pragma once
// Curated fact tables (data/facts/*.tsv), each value with its source beside it. Loaded at
// run time from the first of: $VERITAS_FACTS_DIR, <dir>/data/facts for the executable's
// folder and its ancestors, the working directory and its ancestors, and
// /usr/share/veritas/facts.
#include <optional>
#include <string>
#include <vector>

namespace veritas {

struct Element {
  int number = 0;
  std::string symbol, name, name_zh;
  std::optional<double> atomic_weight;  // none for elements without a standard atomic weight
  int group = 0;                         // 0 = not assigned (lanthanoids/actinoids)
  int period = 0;
  std::string source;
};

struct Planet {
  std::string name, name_zh;
  int order = 0;
  double mass_kg = 0, diameter_km = 0, distance_km = 0, period_days = 0, gravity = 0;
  std::string source;
};

struct Constant {
  std::string key, name, name_zh, symbol, unit, source;
  double value = 0;  // in `unit`
  bool exact = false;
};

struct FactTables {
  std::string dir;
  std::vector<Element> elements;
  std::vector<Planet> planets;
  std::vector<Constant> constants;
  const Element* element_by_number(int z) const;
};

std::string find_facts_dir();                     // throws Error listing where it looked
FactTables load_facts(const std::string& dir);    // throws Error naming file:line
const FactTables& facts();                        // loaded once, thread-safe

}  // namespace veritas
