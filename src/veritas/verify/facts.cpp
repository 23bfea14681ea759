// Fact tables and the facts suite (elements, planets, constants).
#include "veritas/verify/facts.hpp"


#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"
#include "veritas/verify/suites.hpp"
#include "veritas/verify/units.hpp"

namespace veritas {

namespace {

struct Tsv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<int> lines;
};

std::vector<std::string> split_tabs(const std::string& s) {
  std::vector<std::string> out;
  size_t st = 0;
  for (size_t i = 0; i <= s.size(); i++)
    if (i == s.size() || s[i] == '\t') {
      out.push_back(s.substr(st, i - st));
      st = i + 1;
    }
  return out;
}

Tsv read_tsv(const std::string& path) {
  std::string text = read_file(path);
  Tsv t;
  std::istringstream in(text);
  std::string line;
  int no = 0;
  while (std::getline(in, line)) {
    no++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto f = split_tabs(line);
    if (t.header.empty()) {
      t.header = f;
      continue;
    }
    check(f.size() == t.header.size(), path + ":" + std::to_string(no) + ": expected " + std::to_string(t.header.size()) +
                                           " tab-separated fields, found " + std::to_string(f.size()));
    t.rows.push_back(f);
    t.lines.push_back(no);
  }
  check(!t.header.empty(), path + ": no header line");
  return t;
}

struct Row {
  const Tsv& t;
  size_t r;
  const std::string& path;
  std::string get(const char* col) const {
    for (size_t i = 0; i < t.header.size(); i++)
      if (t.header[i] == col) return t.rows[r][i];
    throw Error(path + ": missing column '" + col + "'");
  }
  std::string where() const { return path + ":" + std::to_string(t.lines[r]); }
  double num(const char* col) const {
    std::string s = get(col);
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    check(!s.empty() && end == s.c_str() + s.size() && std::isfinite(v), where() + ": column '" + col + "': not a number: '" + s + "'");
    return v;
  }
  int integer(const char* col) const {
    double v = num(col);
    check(v == std::floor(v), where() + ": column '" + col + "' must be an integer");
    return (int)v;
  }
};

}  // namespace

const Element* FactTables::element_by_number(int z) const {
  if (z >= 1 && z <= (int)elements.size() && elements[z - 1].number == z) return &elements[z - 1];
  return nullptr;
}

std::string find_facts_dir() {
  if (const char* env = std::getenv("VERITAS_FACTS_DIR")) {
    check(fs::exists(fs::path(env) / "elements.tsv"), std::string("VERITAS_FACTS_DIR=") + env + " has no elements.tsv");
    return env;
  }
  if (fs::path p = find_upwards(fs::path("data") / "facts" / "elements.tsv"); !p.empty()) return p.parent_path().string();
  fs::path sys = "/usr/share/veritas/facts";
  if (fs::exists(sys / "elements.tsv")) return sys.string();
  throw Error("cannot find the fact tables (data/facts/elements.tsv); set VERITAS_FACTS_DIR (looked above " + exe_dir().string() +
              " and " + fs::current_path().string() + ")");
}

FactTables load_facts(const std::string& dir) {
  FactTables f;
  f.dir = dir;
  {
    std::string path = dir + "/elements.tsv";
    Tsv t = read_tsv(path);
    for (size_t r = 0; r < t.rows.size(); r++) {
      Row row{t, r, path};
      Element e;
      e.number = row.integer("number");
      check(e.number == (int)f.elements.size() + 1, row.where() + ": elements must be listed in order of atomic number");
      e.symbol = row.get("symbol");
      e.name = row.get("name");
      e.name_zh = row.get("name_zh");
      if (row.get("atomic_weight") != "-") e.atomic_weight = row.num("atomic_weight");
      e.group = row.get("group") == "-" ? 0 : row.integer("group");
      e.period = row.integer("period");
      e.source = row.get("source");
      check(!e.source.empty(), row.where() + ": every value needs a source");
      f.elements.push_back(e);
    }
  }
  {
    std::string path = dir + "/planets.tsv";
    Tsv t = read_tsv(path);
    for (size_t r = 0; r < t.rows.size(); r++) {
      Row row{t, r, path};
      Planet p;
      p.name = row.get("name");
      p.name_zh = row.get("name_zh");
      p.order = row.integer("order");
      p.mass_kg = row.num("mass_kg");
      p.diameter_km = row.num("diameter_km");
      p.distance_km = row.num("distance_km");
      p.period_days = row.num("period_days");
      p.gravity = row.num("gravity_m_s2");
      p.source = row.get("source");
      check(!p.source.empty(), row.where() + ": every value needs a source");
      f.planets.push_back(p);
    }
  }
  {
    std::string path = dir + "/constants.tsv";
    Tsv t = read_tsv(path);
    for (size_t r = 0; r < t.rows.size(); r++) {
      Row row{t, r, path};
      Constant c;
      c.key = row.get("key");
      c.name = row.get("name");
      c.name_zh = row.get("name_zh");
      c.symbol = row.get("symbol");
      c.value = row.num("value");
      c.unit = row.get("unit");
      c.exact = row.get("exact") == "yes";
      c.source = row.get("source");
      check(!c.source.empty(), row.where() + ": every value needs a source");
      try {
        units::parse_unit(c.unit);
      } catch (const Error& e) {
        throw Error(row.where() + ": " + e.what());
      }
      f.constants.push_back(c);
    }
  }
  return f;
}

const FactTables& facts() {
  static const FactTables f = load_facts(find_facts_dir());
  return f;
}

namespace suites {

namespace {

json dim_json(const units::Dim& d) {
  json j = json::array();
  for (int i = 0; i < 7; i++) j.push_back((int)d[i]);
  return j;
}

std::vector<std::string> element_names(const Element& e) {
  std::vector<std::string> n = {e.name, e.name_zh, e.symbol};
  if (e.name == "aluminium") n.push_back("aluminum");
  if (e.name == "caesium") n.push_back("cesium");
  if (e.name == "sulfur") n.push_back("sulphur");
  return n;
}

std::string ordinal(int k) {
  static const char* s[] = {"", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"};
  return s[k];
}

}  // namespace

Candidate gen_facts(Rng& rng, const json& diff, const std::string& lang) {
  double imp = diff.value("impossible_rate", 0.1);
  if (rng.uniform() < imp) return gen_impossible_kind(rng, rng.below(2) ? "nonexistent_element" : "false_premise", lang);
  const FactTables& F = facts();
  bool zh = lang == "zh";
  std::string table = diff.value("table", std::string());
  if (table.empty()) {
    double u = rng.uniform();
    table = u < 0.6 ? "elements" : u < 0.85 ? "planets" : "constants";
  }
  Candidate c;
  c.lang = lang;
  std::string A = zh ? "答案：" : "Answer: ";
  if (table == "elements") {
    static const std::vector<std::string> attrs = {"number", "symbol", "name", "weight", "group", "period"};
    std::string attr = diff.value("attribute", std::string());
    if (attr.empty()) attr = pick(rng, attrs);
    const Element* e = &F.elements[rng.below(F.elements.size())];
    for (int t = 0; t < 1000 && ((attr == "weight" && !e->atomic_weight) || (attr == "group" && e->group == 0)); t++)
      e = &F.elements[rng.below(F.elements.size())];
    std::string ename = zh ? e->name_zh : e->name;
    c.difficulty = {{"table", "elements"}, {"attribute", attr}, {"quantities", 1}};
    if (attr == "number") {
      bool by_sym = rng.below(2);
      std::string who = by_sym ? e->symbol : ename;
      c.key = "facts:el:" + std::to_string(e->number) + ":number:" + (by_sym ? "sym" : "name");
      c.question = zh ? (by_sym ? "元素符号为 " + who + " 的元素的原子序数是多少？" : "元素" + who + "的原子序数是多少？")
                      : (by_sym ? "What is the atomic number of the element with symbol " + who + "?" : "What is the atomic number of " + who + "?");
      c.truth = {{"kind", "exact"}, {"value", std::to_string(e->number)}};
      c.reference = A + std::to_string(e->number);
    } else if (attr == "symbol") {
      c.key = "facts:el:" + std::to_string(e->number) + ":symbol";
      c.question = zh ? "元素" + ename + "的元素符号是什么？" : "What is the chemical symbol of " + ename + "?";
      c.truth = {{"kind", "text"}, {"accept", {e->symbol}}};
      c.reference = A + e->symbol;
    } else if (attr == "name") {
      c.key = "facts:el:" + std::to_string(e->number) + ":name";
      c.question = zh ? "原子序数为 " + std::to_string(e->number) + " 的元素是什么？" : "Which element has atomic number " + std::to_string(e->number) + "?";
      c.truth = {{"kind", "text"}, {"accept", element_names(*e)}};
      c.reference = A + ename;
    } else if (attr == "weight") {
      c.key = "facts:el:" + std::to_string(e->number) + ":weight";
      c.question = zh ? "元素" + ename + "的标准原子量是多少？（保留 4 位有效数字）" : "What is the standard atomic weight of " + ename + "? Give 4 significant figures.";
      // Atomic weights are dimensionless ratios; "55.85 u" and "55.85 g/mol" are accepted too.
      c.truth = {{"kind", "number"}, {"value", *e->atomic_weight}, {"rel_tol", 2e-3}, {"units_ok", {"", "u", "Da", "g/mol", "amu"}},
                 {"source", e->source}};
      c.reference = A + fmt_double(*e->atomic_weight, 5);
    } else if (attr == "group") {
      c.key = "facts:el:" + std::to_string(e->number) + ":group";
      c.question = zh ? "元素" + ename + "位于元素周期表的第几族？（按 IUPAC 1-18 族编号）" : "In which group (IUPAC numbering 1-18) of the periodic table is " + ename + "?";
      c.truth = {{"kind", "exact"}, {"value", std::to_string(e->group)}};
      c.reference = A + std::to_string(e->group);
    } else if (attr == "period") {
      c.key = "facts:el:" + std::to_string(e->number) + ":period";
      c.question = zh ? "元素" + ename + "位于元素周期表的第几周期？" : "In which period of the periodic table is " + ename + "?";
      c.truth = {{"kind", "exact"}, {"value", std::to_string(e->period)}};
      c.reference = A + std::to_string(e->period);
    } else {
      throw Error("facts: unknown element attribute '" + attr + "'");
    }
    return c;
  }
  if (table == "planets") {
    static const std::vector<std::string> attrs = {"order", "which", "mass", "diameter", "distance", "period", "gravity", "largest"};
    std::string attr = diff.value("attribute", std::string());
    if (attr.empty()) attr = pick(rng, attrs);
    const Planet& p = F.planets[rng.below(F.planets.size())];
    std::string pname = zh ? p.name_zh : p.name;
    c.difficulty = {{"table", "planets"}, {"attribute", attr}, {"quantities", 1}};
    auto quantity = [&](double si, const std::string& unit, double tol, const char* en_what, const char* zh_what) {
      units::ParsedUnit u = units::parse_unit(unit);
      c.key = "facts:planet:" + p.name + ":" + attr;
      c.question = zh ? pname + "的" + zh_what + "是多少？（单位：" + unit + "，保留 3 位有效数字）"
                      : "What is the " + std::string(en_what) + " of " + pname + ", in " + unit + "? Give 3 significant figures.";
      c.truth = {{"kind", "quantity"}, {"value", si * u.factor}, {"dim", dim_json(u.dim)}, {"unit", unit}, {"rel_tol", tol}, {"source", p.source}};
      c.reference = A + fmt_double(si, 4) + " " + unit;
    };
    if (attr == "order") {
      c.key = "facts:planet:" + p.name + ":order";
      c.question = zh ? pname + "是离太阳第几近的行星？" : "Counting outward from the Sun, what is the position of " + pname + " among the planets?";
      c.truth = {{"kind", "exact"}, {"value", std::to_string(p.order)}};
      c.reference = A + std::to_string(p.order);
    } else if (attr == "which") {
      c.key = "facts:planet:" + p.name + ":which";
      c.question = zh ? "离太阳第 " + std::to_string(p.order) + " 近的行星是哪一颗？" : "Which planet is the " + ordinal(p.order) + " planet from the Sun?";
      c.truth = {{"kind", "text"}, {"accept", {p.name, p.name_zh}}};
      c.reference = A + pname;
    } else if (attr == "mass") quantity(p.mass_kg, "kg", 0.015, "mass", "质量");
    else if (attr == "diameter") quantity(p.diameter_km, "km", 0.015, "equatorial diameter", "赤道直径");
    else if (attr == "distance") quantity(p.distance_km, "km", 0.015, "mean distance from the Sun", "到太阳的平均距离");
    else if (attr == "period") quantity(p.period_days, "day", 0.015, "orbital period", "公转周期");
    else if (attr == "gravity") quantity(p.gravity, "m/s^2", 0.03, "surface gravity", "表面重力加速度");
    else if (attr == "largest") {
      bool largest = rng.below(2);
      const Planet* best = &F.planets[0];
      for (const auto& q : F.planets)
        if (largest ? q.diameter_km > best->diameter_km : q.diameter_km < best->diameter_km) best = &q;
      c.key = std::string("facts:planet:") + (largest ? "largest" : "smallest");
      c.question = zh ? std::string("太阳系中") + (largest ? "最大" : "最小") + "的行星是哪一颗？"
                      : std::string("Which is the ") + (largest ? "largest" : "smallest") + " planet of the Solar System?";
      c.truth = {{"kind", "text"}, {"accept", {best->name, best->name_zh}}};
      c.reference = A + (zh ? best->name_zh : best->name);
    } else throw Error("facts: unknown planet attribute '" + attr + "'");
    return c;
  }
  if (table == "constants") {
    const Constant& k = F.constants[rng.below(F.constants.size())];
    units::ParsedUnit u = units::parse_unit(k.unit);
    c.key = "facts:const:" + k.key;
    c.question = zh ? k.name_zh + "的数值是多少？（单位：" + k.unit + "，至少保留 4 位有效数字）"
                    : "What is the value of the " + k.name + ", in " + k.unit + "? Give at least 4 significant figures.";
    c.truth = {{"kind", "quantity"}, {"value", k.value * u.factor}, {"dim", dim_json(u.dim)}, {"unit", k.unit}, {"rel_tol", 5e-4}, {"source", k.source}};
    c.difficulty = {{"table", "constants"}, {"attribute", k.key}, {"quantities", 1}};
    c.reference = A + fmt_double(k.value, 10) + " " + k.unit;
    return c;
  }
  throw Error("facts: unknown table '" + table + "' (elements, planets, constants)");
}

}  // namespace suites

}  // namespace veritas
