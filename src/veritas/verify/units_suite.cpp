// The units suite (conversions and sums of quantities) and the physics suite (formulas
// over quantities given in mixed units). Truths are SI values with a dimension and a
// relative tolerance; each task also records its formula in a syntax that both our unit
// engine and GNU units read, for the cross-check in tests/verify.
#include <cmath>

#include "veritas/verify/suites.hpp"
#include "veritas/verify/units.hpp"

namespace veritas::suites {

namespace {

struct U {
  const char* show;  // as written in the question
  const char* gnu;   // as GNU units (and our formula parser) spells it
  const char* zh;    // Chinese name, or nullptr to use the symbol
};

struct Category {
  const char* name;
  std::vector<U> units;
};

const std::vector<Category>& categories() {
  static const std::vector<Category> c = {
      {"length", {{"m", "m", "米"}, {"km", "km", "千米"}, {"cm", "cm", "厘米"}, {"mm", "mm", "毫米"}, {"mile", "mile", "英里"},
                  {"ft", "ft", "英尺"}, {"in", "inch", "英寸"}, {"yd", "yd", "码"}, {"nmi", "nmi", "海里"}, {"µm", "micrometer", "微米"}}},
      {"mass", {{"kg", "kg", "千克"}, {"g", "g", "克"}, {"mg", "mg", "毫克"}, {"t", "tonne", "吨"}, {"lb", "lb", "磅"}, {"oz", "oz", "盎司"}}},
      {"time", {{"s", "s", "秒"}, {"min", "min", "分钟"}, {"h", "hr", "小时"}, {"day", "day", "天"}, {"ms", "ms", "毫秒"}}},
      {"speed", {{"m/s", "m/s", "米/秒"}, {"km/h", "km/hr", "千米/小时"}, {"mph", "mph", nullptr}, {"knot", "knot", "节"}, {"cm/s", "cm/s", "厘米/秒"}}},
      {"energy", {{"J", "J", "焦耳"}, {"kJ", "kJ", "千焦"}, {"kWh", "kWh", "千瓦时"}, {"cal", "cal", "卡"}, {"kcal", "kcal", "千卡"}, {"eV", "eV", "电子伏特"}, {"MJ", "MJ", "兆焦"}}},
      {"pressure", {{"Pa", "Pa", "帕"}, {"kPa", "kPa", "千帕"}, {"bar", "bar", "巴"}, {"atm", "atm", "标准大气压"}, {"psi", "psi", nullptr}, {"mmHg", "mmHg", "毫米汞柱"}}},
      {"power", {{"W", "W", "瓦"}, {"kW", "kW", "千瓦"}, {"MW", "MW", "兆瓦"}, {"hp", "hp", nullptr}}},
      {"volume", {{"L", "L", "升"}, {"mL", "mL", "毫升"}, {"m^3", "m^3", "立方米"}, {"cm^3", "cm^3", "立方厘米"}, {"gal", "gallon", "加仑"}}},
      {"area", {{"m^2", "m^2", "平方米"}, {"km^2", "km^2", "平方千米"}, {"ha", "hectare", "公顷"}, {"cm^2", "cm^2", "平方厘米"}, {"ft^2", "ft^2", "平方英尺"}}},
      {"force", {{"N", "N", "牛"}, {"kN", "kN", "千牛"}, {"dyn", "dyne", nullptr}}},
      {"temperature", {{"°C", "tempC", "摄氏度"}, {"°F", "tempF", "华氏度"}, {"K", "tempK", "开尔文"}}},
  };
  return c;
}

// A value with 1-4 significant digits over a few decades.
double draw_value(Rng& rng, int sig) {
  double mant = (double)rng.range((int64_t)std::pow(10, sig - 1), (int64_t)std::pow(10, sig) - 1);
  int shift = (int)rng.range(-2, 3) - (sig - 1);
  return mant * std::pow(10.0, shift);
}

json dim_json(const units::Dim& d) {
  json j = json::array();
  for (int i = 0; i < 7; i++) j.push_back((int)d[i]);
  return j;
}

std::string show_unit(const U& u, bool zh) { return zh && u.zh ? u.zh : u.show; }

}  // namespace

Candidate gen_units(Rng& rng, const json& diff, const std::string& lang) {
  double imp = diff.value("impossible_rate", 0.1);
  if (rng.uniform() < imp) return gen_impossible_kind(rng, "dimension_mismatch", lang);
  bool zh = lang == "zh";
  int nq = diff.value("quantities", 0);
  if (nq <= 0) nq = rng.below(3) == 0 ? 2 : 1;
  check(nq >= 1 && nq <= 6, "units: quantities must be 1..6");
  int sig = diff.value("digits", 0);
  if (sig <= 0) sig = 1 + (int)rng.below(4);
  check(sig <= 8, "units: digits (significant digits of the givens) must be <= 8");
  const auto& cats = categories();
  const Category* cat = &pick(rng, cats);
  std::string cname = diff.value("category", std::string());
  if (!cname.empty()) {
    cat = nullptr;
    for (const auto& c : cats)
      if (cname == c.name) cat = &c;
    check(cat != nullptr, "units: unknown category '" + cname + "'");
  }
  bool temp = std::string(cat->name) == "temperature";
  if (temp) nq = 1;  // sums of absolute temperatures are not meaningful
  const U& to = pick(rng, cat->units);
  Candidate c;
  c.lang = lang;
  std::string formula, shown;
  std::string gnu_from;
  for (int i = 0; i < nq; i++) {
    const U* from = &pick(rng, cat->units);
    if (nq == 1)
      while (from == &to) from = &pick(rng, cat->units);
    double v = draw_value(rng, sig);
    if (temp && std::string(from->show) == "K") v = std::fabs(v) + 200;  // stay above absolute zero
    std::string vs = fmt_double(v, sig);
    if (temp) {
      formula = std::string(from->gnu) + "(" + vs + ")";
      shown = vs + " " + show_unit(*from, zh);
      break;
    }
    formula += (i ? " + " : "") + std::string("(") + vs + " " + from->gnu + ")";
    shown += (i ? " + " : "") + vs + " " + show_unit(*from, zh);
  }
  double si;
  units::Dim dim;
  if (temp) {
    // tempC(x) / tempF(x) / tempK(x): absolute temperatures (GNU units' notation).
    std::string scale = formula.substr(0, 5), arg = formula.substr(6, formula.size() - 7);
    double x = std::atof(arg.c_str());
    si = scale == "tempC" ? x + 273.15 : scale == "tempF" ? (x - 32) * 5.0 / 9 + 273.15 : x;
    dim = units::Dim{0, 0, 0, 0, 1, 0, 0};
  } else {
    units::Quantity q = units::eval(formula);
    si = q.value;
    dim = q.dim;
  }
  std::string to_unit = temp ? std::string(to.show) : std::string(to.gnu);
  c.key = "units:" + formula + "->" + to.gnu;
  if (nq == 1)
    c.question = zh ? (rng.below(2) ? "把 " + shown + " 换算成" + show_unit(to, zh) + "。" : shown + " 等于多少" + show_unit(to, zh) + "？")
                    : (rng.below(2) ? "Convert " + shown + " to " + to.show + "." : "How many " + std::string(to.show) + " is " + shown + "?");
  else
    c.question = zh ? "计算 " + shown + "，用" + show_unit(to, zh) + "表示。" : "What is " + shown + ", expressed in " + to.show + "?";
  c.question += zh ? "（保留 4 位有效数字）" : " Give 4 significant figures.";
  c.truth = {{"kind", "quantity"}, {"value", si}, {"dim", dim_json(dim)}, {"unit", to_unit}, {"rel_tol", 1e-3},
             {"formula", formula}, {"gnu_to", to.gnu}};
  c.difficulty = {{"quantities", nq}, {"digits", sig}, {"category", cat->name}};
  c.reference = std::string(zh ? "答案：" : "Answer: ") + fmt_double(units::from_si(si, to_unit), 6) + " " + to.show;
  return c;
}

namespace {

// A given quantity: value in a unit chosen from `choices` (the same dimension).
struct Given {
  std::string sym;      // "u", shown in the structured template
  std::string text;     // "36 km/h"
  std::string formula;  // "(36 km/hr)"
  double si;
};

Given give(Rng& rng, double si_lo, double si_hi, const std::vector<U>& choices, int sig, bool zh) {
  const U& u = pick(rng, choices);
  double f = units::parse_unit(u.gnu).factor;
  double si = si_lo * std::pow(si_hi / si_lo, rng.uniform());
  double v = std::stod(fmt_double(si / f, sig));
  std::string vs = fmt_double(v, sig);
  return Given{"", vs + " " + (zh && u.zh ? u.zh : u.show), "(" + vs + " " + u.gnu + ")", v * f};
}

}  // namespace

Candidate gen_physics(Rng& rng, const json& diff, const std::string& lang) {
  double imp = diff.value("impossible_rate", 0.1);
  if (rng.uniform() < imp) {
    static const std::vector<std::string> k = {"dimension_mismatch", "contradictory", "underdetermined"};
    return gen_impossible_kind(rng, pick(rng, k), lang);
  }
  bool zh = lang == "zh";
  int sig = diff.value("digits", 0);
  if (sig <= 0) sig = 2 + (int)rng.below(2);
  static const std::vector<std::string> topics = {"velocity", "distance", "kinetic", "potential", "power_work", "power_force",
                                                  "ohm", "electric_power", "charge", "energy_kwh", "gravitation", "surface_gravity"};
  std::string topic = diff.value("topic", std::string());
  if (topic.empty()) topic = pick(rng, topics);
  const std::vector<U> speed = {{"m/s", "m/s", "米/秒"}, {"km/h", "km/hr", "千米/小时"}};
  const std::vector<U> accel = {{"m/s^2", "m/s^2", "米/秒²"}};
  const std::vector<U> time = {{"s", "s", "秒"}, {"min", "min", "分钟"}};
  const std::vector<U> mass = {{"kg", "kg", "千克"}, {"g", "g", "克"}};
  const std::vector<U> length = {{"m", "m", "米"}, {"km", "km", "千米"}, {"cm", "cm", "厘米"}};
  const std::vector<U> energy = {{"J", "J", "焦耳"}, {"kJ", "kJ", "千焦"}};
  const std::vector<U> force = {{"N", "N", "牛"}, {"kN", "kN", "千牛"}};
  const std::vector<U> current = {{"A", "A", "安"}, {"mA", "mA", "毫安"}};
  const std::vector<U> resist = {{"ohm", "ohm", "欧"}, {"kohm", "kohm", "千欧"}};
  const std::vector<U> voltage = {{"V", "V", "伏"}};
  const std::vector<U> power = {{"W", "W", "瓦"}, {"kW", "kW", "千瓦"}};
  std::vector<Given> gv;
  std::string formula, ask_en, ask_zh, out_unit, out_zh;
  auto G = [&](const char* sym, double lo, double hi, const std::vector<U>& ch) {
    gv.push_back(give(rng, lo, hi, ch, sig, zh));
    gv.back().sym = sym;
    return gv.back();
  };
  // The structured template: "<context>: u = 3 m/s, a = 2 m/s^2. Find <what> in <unit>."
  std::string ctx_en, ctx_zh, find_en, find_zh;
  std::string q_en, q_zh;
  if (topic == "velocity") {
    Given u = G("u", 0.5, 30, speed), a = G("a", 0.2, 10, accel), t = G("t", 1, 120, time);
    ctx_en = "Uniform acceleration from initial speed u"; ctx_zh = "匀加速直线运动，初速度为 u"; find_en = "the final speed v"; find_zh = "末速度 v";
    formula = u.formula + " + " + a.formula + " * " + t.formula;
    q_en = "A body moving at " + u.text + " accelerates uniformly at " + a.text + " for " + t.text + ". What is its final speed in m/s?";
    q_zh = "一个物体以 " + u.text + " 的速度运动，以 " + a.text + " 的加速度匀加速 " + t.text + "。它的末速度是多少米/秒？";
    out_unit = "m/s";
  } else if (topic == "distance") {
    Given u = G("u", 0.5, 30, speed), a = G("a", 0.2, 10, accel), t = G("t", 1, 120, time);
    ctx_en = "Uniform acceleration from initial speed u"; ctx_zh = "匀加速直线运动，初速度为 u"; find_en = "the distance s travelled in time t"; find_zh = "时间 t 内的位移 s";
    formula = u.formula + " * " + t.formula + " + 0.5 * " + a.formula + " * " + t.formula + "^2";
    q_en = "Starting at " + u.text + " and accelerating uniformly at " + a.text + ", how far (in m) does a body travel in " + t.text + "?";
    q_zh = "一个物体初速度为 " + u.text + "，以 " + a.text + " 的加速度匀加速运动，" + t.text + " 内走过多少米？";
    out_unit = "m";
  } else if (topic == "kinetic") {
    Given m = G("m", 0.05, 2000, mass), v = G("v", 0.5, 40, speed);
    ctx_en = "A body of mass m moves at speed v"; ctx_zh = "质量为 m 的物体以速度 v 运动"; find_en = "its kinetic energy"; find_zh = "它的动能";
    formula = "0.5 * " + m.formula + " * " + v.formula + "^2";
    q_en = "What is the kinetic energy (in J) of a " + m.text + " object moving at " + v.text + "?";
    q_zh = "质量为 " + m.text + " 的物体以 " + v.text + " 运动，它的动能是多少焦耳？";
    out_unit = "J";
  } else if (topic == "potential") {
    Given m = G("m", 0.05, 2000, mass), h = G("h", 0.5, 500, length);
    ctx_en = "A mass m is raised by a height h, with g = 9.81 m/s^2"; ctx_zh = "质量为 m 的物体被举高 h，取 g = 9.81 m/s²"; find_en = "the increase in potential energy"; find_zh = "重力势能的增加量";
    formula = m.formula + " * (9.81 m/s^2) * " + h.formula;
    q_en = "Taking g = 9.81 m/s^2, by how much (in J) does the potential energy of a " + m.text + " mass increase when it is raised " + h.text + "?";
    q_zh = "取 g = 9.81 m/s²，把质量为 " + m.text + " 的物体举高 " + h.text + "，重力势能增加多少焦耳？";
    out_unit = "J";
  } else if (topic == "power_work") {
    Given w = G("W", 10, 1e6, energy), t = G("t", 1, 3600, time);
    ctx_en = "A machine does work W in time t"; ctx_zh = "机器在时间 t 内做功 W"; find_en = "its average power"; find_zh = "平均功率";
    formula = w.formula + " / " + t.formula;
    q_en = "A machine does " + w.text + " of work in " + t.text + ". What is its average power in W?";
    q_zh = "一台机器在 " + t.text + " 内做功 " + w.text + "，平均功率是多少瓦？";
    out_unit = "W";
  } else if (topic == "power_force") {
    Given f = G("F", 1, 1e5, force), v = G("v", 0.5, 40, speed);
    ctx_en = "A force F moves a load at constant speed v"; ctx_zh = "力 F 使物体以速度 v 匀速运动"; find_en = "the power delivered"; find_zh = "功率";
    formula = f.formula + " * " + v.formula;
    q_en = "A force of " + f.text + " moves a load at a steady " + v.text + ". What power (in W) does it deliver?";
    q_zh = "一个 " + f.text + " 的力使物体以 " + v.text + " 匀速运动，功率是多少瓦？";
    out_unit = "W";
  } else if (topic == "ohm") {
    Given i = G("I", 0.001, 20, current), r = G("R", 1, 1e5, resist);
    ctx_en = "A current I flows through a resistance R"; ctx_zh = "电流 I 流过电阻 R"; find_en = "the voltage across the resistor"; find_zh = "电阻两端的电压";
    formula = i.formula + " * " + r.formula;
    q_en = "A current of " + i.text + " flows through a " + r.text + " resistor. What is the voltage across it in V?";
    q_zh = "电流 " + i.text + " 流过阻值为 " + r.text + " 的电阻，电阻两端的电压是多少伏？";
    out_unit = "V";
  } else if (topic == "electric_power") {
    Given v = G("V", 1, 400, voltage), r = G("R", 1, 1e4, resist);
    ctx_en = "A voltage V is applied across a resistance R"; ctx_zh = "在电阻 R 两端加电压 V"; find_en = "the power dissipated"; find_zh = "电阻消耗的功率";
    formula = v.formula + "^2 / " + r.formula;
    q_en = "A voltage of " + v.text + " is applied across a " + r.text + " resistor. What power (in W) does it dissipate?";
    q_zh = "在阻值为 " + r.text + " 的电阻两端加 " + v.text + " 的电压，电阻消耗的功率是多少瓦？";
    out_unit = "W";
  } else if (topic == "charge") {
    Given i = G("I", 0.001, 20, current), t = G("t", 1, 3600, time);
    ctx_en = "A steady current I flows for a time t"; ctx_zh = "恒定电流 I 持续时间 t"; find_en = "the charge that passes"; find_zh = "通过的电荷量";
    formula = i.formula + " * " + t.formula;
    q_en = "A steady current of " + i.text + " flows for " + t.text + ". How much charge (in C) passes?";
    q_zh = "恒定电流 " + i.text + " 持续 " + t.text + "，通过的电荷量是多少库仑？";
    out_unit = "C";
  } else if (topic == "energy_kwh") {
    Given p = G("P", 5, 5000, power);
    ctx_en = "An appliance of power P runs for a time t"; ctx_zh = "功率为 P 的电器工作时间 t"; find_en = "the energy it uses"; find_zh = "消耗的电能";
    double hours = (double)rng.range(1, 48);
    std::string hs = fmt_double(hours, 3);
    formula = p.formula + " * (" + hs + " hr)";
    gv.push_back({"t", hs + (zh ? " 小时" : " h"), "(" + hs + " hr)", hours * 3600});
    q_en = "A " + p.text + " appliance runs for " + hs + " hours. How much energy does it use, in kWh?";
    q_zh = "一台 " + p.text + " 的电器工作 " + hs + " 小时，消耗多少千瓦时电能？";
    out_unit = "kWh";
  } else if (topic == "gravitation") {
    const std::vector<U> big = {{"kg", "kg", "千克"}, {"t", "tonne", "吨"}};
    Given m1 = G("m1", 1, 1e6, big), m2 = G("m2", 1, 1e6, big), r = G("r", 0.5, 1000, length);
    ctx_en = "Two masses m1 and m2 are a distance r apart, with G = 6.674e-11 N m^2/kg^2"; ctx_zh = "两个质量 m1、m2 相距 r，取 G = 6.674e-11 N·m²/kg²"; find_en = "the gravitational force between them"; find_zh = "它们之间的万有引力";
    formula = "(6.674e-11 N m^2/kg^2) * " + m1.formula + " * " + m2.formula + " / " + r.formula + "^2";
    q_en = "Taking G = 6.674e-11 N m^2/kg^2, what is the gravitational force (in N) between masses of " + m1.text + " and " + m2.text +
           " whose centres are " + r.text + " apart?";
    q_zh = "取 G = 6.674e-11 N·m²/kg²，质量分别为 " + m1.text + " 和 " + m2.text + "、中心相距 " + r.text + " 的两个物体之间的万有引力是多少牛？";
    out_unit = "N";
  } else if (topic == "surface_gravity") {
    double mant = 1 + 9 * rng.uniform();
    int e = (int)rng.range(22, 27);
    std::string ms = fmt_double(mant, sig) + "e" + std::to_string(e);
    double rkm = std::stod(fmt_double(1000 + 69000 * rng.uniform(), sig));
    std::string rs = fmt_double(rkm, sig);
    formula = "(6.674e-11 N m^2/kg^2) * (" + ms + " kg) / (" + rs + " km)^2";
    q_en = "Taking G = 6.674e-11 N m^2/kg^2, what is the gravitational acceleration (in m/s^2) at the surface of a planet of mass " + ms +
           " kg and radius " + rs + " km?";
    q_zh = "取 G = 6.674e-11 N·m²/kg²，质量为 " + ms + " kg、半径为 " + rs + " km 的行星表面的重力加速度是多少 m/s²？";
    out_unit = "m/s^2";
    gv.push_back({"M", ms + " kg", "", 0});
    gv.push_back({"R", rs + " km", "", 0});
    ctx_en = "A planet has mass M and radius R, with G = 6.674e-11 N m^2/kg^2"; ctx_zh = "行星质量为 M、半径为 R，取 G = 6.674e-11 N·m²/kg²";
    find_en = "the gravitational acceleration at its surface"; find_zh = "其表面的重力加速度";
  } else {
    throw Error("physics: unknown topic '" + topic + "'");
  }
  units::Quantity q = units::eval(formula);
  units::ParsedUnit ou = units::parse_unit(out_unit);
  check(units::same_dim(q.dim, ou.dim), "physics: internal dimension error in " + formula);
  Candidate c;
  c.lang = lang;
  c.key = "physics:" + topic + ":" + formula;
  if (rng.below(2)) {
    std::string given;
    for (size_t k = 0; k < gv.size(); k++) given += (k ? (zh ? "，" : ", ") : "") + gv[k].sym + " = " + gv[k].text;
    c.question = zh ? ctx_zh + "。已知 " + given + "。求" + find_zh + "（单位：" + out_unit + "）。"
                    : ctx_en + ". Given " + given + ", find " + find_en + " in " + out_unit + ".";
  } else {
    c.question = zh ? q_zh : q_en;
  }
  c.question += zh ? "（保留 3 位有效数字）" : " Give 3 significant figures.";
  // 3 significant figures are within 0.5%; the tolerance leaves room for rounding the givens.
  c.truth = {{"kind", "quantity"}, {"value", q.value}, {"dim", dim_json(q.dim)}, {"unit", out_unit}, {"rel_tol", 0.01},
             {"formula", formula}, {"gnu_to", out_unit}};
  c.difficulty = {{"topic", topic}, {"quantities", (int)gv.size()}, {"digits", sig}};
  c.reference = std::string(zh ? "答案：" : "Answer: ") + fmt_double(q.value / ou.factor, 4) + " " + out_unit;
  return c;
}

}  // namespace veritas::suites
