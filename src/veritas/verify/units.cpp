#include "veritas/verify/units.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "veritas/verify/answer.hpp"
#include "veritas/util/text.hpp"
#include "veritas/verify/exact.hpp"

namespace veritas::units {

namespace {

constexpr Dim D(int l, int m, int t, int i = 0, int th = 0, int n = 0, int j = 0) {
  return Dim{(int8_t)l, (int8_t)m, (int8_t)t, (int8_t)i, (int8_t)th, (int8_t)n, (int8_t)j};
}

// How a spelling takes SI prefixes: by symbol (km), by name (kilometre), or not at all.
enum class Pre { None, Sym, Name };

struct Def {
  std::vector<std::pair<std::string, Pre>> spellings;
  double factor;
  Dim dim;
  double offset;
  const char* source;
};

const char* kSI = "SI Brochure, 9th ed. (BIPM 2019)";
const char* kSIexact = "SI 2019 exact defining constant";
const char* kNIST = "NIST SP 811 (2008), Appendix B";
const char* kIAU = "IAU 2012 Resolution B2 / IAU 2015 Resolution B2";

std::vector<Def> definitions() {
  using P = std::pair<std::string, Pre>;
  const double pi = 3.14159265358979323846;
  std::vector<Def> d = {
      // SI base units (the kilogram enters as gram + prefix).
      {{P{"m", Pre::Sym}, P{"meter", Pre::Name}, P{"metre", Pre::Name}, P{"米", Pre::None}, P{"公尺", Pre::None}}, 1, D(1, 0, 0), 0, kSI},
      {{P{"g", Pre::Sym}, P{"gram", Pre::Name}, P{"gramme", Pre::Name}, P{"克", Pre::None}}, 1e-3, D(0, 1, 0), 0, kSI},
      {{P{"s", Pre::Sym}, P{"sec", Pre::None}, P{"second", Pre::Name}, P{"秒", Pre::None}}, 1, D(0, 0, 1), 0, kSI},
      {{P{"A", Pre::Sym}, P{"amp", Pre::Name}, P{"ampere", Pre::Name}, P{"安", Pre::None}, P{"安培", Pre::None}}, 1, D(0, 0, 0, 1), 0, kSI},
      {{P{"K", Pre::Sym}, P{"kelvin", Pre::Name}, P{"开", Pre::None}, P{"开尔文", Pre::None}}, 1, D(0, 0, 0, 0, 1), 0, kSI},
      {{P{"mol", Pre::Sym}, P{"mole", Pre::Name}, P{"摩尔", Pre::None}, P{"摩", Pre::None}}, 1, D(0, 0, 0, 0, 0, 1), 0, kSI},
      {{P{"cd", Pre::Sym}, P{"candela", Pre::Name}, P{"坎德拉", Pre::None}}, 1, D(0, 0, 0, 0, 0, 0, 1), 0, kSI},
      // SI derived units with special names.
      {{P{"Hz", Pre::Sym}, P{"hertz", Pre::Name}, P{"赫兹", Pre::None}, P{"赫", Pre::None}}, 1, D(0, 0, -1), 0, kSI},
      {{P{"N", Pre::Sym}, P{"newton", Pre::Name}, P{"牛", Pre::None}, P{"牛顿", Pre::None}}, 1, D(1, 1, -2), 0, kSI},
      {{P{"Pa", Pre::Sym}, P{"pascal", Pre::Name}, P{"帕", Pre::None}, P{"帕斯卡", Pre::None}}, 1, D(-1, 1, -2), 0, kSI},
      {{P{"J", Pre::Sym}, P{"joule", Pre::Name}, P{"焦", Pre::None}, P{"焦耳", Pre::None}}, 1, D(2, 1, -2), 0, kSI},
      {{P{"W", Pre::Sym}, P{"watt", Pre::Name}, P{"瓦", Pre::None}, P{"瓦特", Pre::None}}, 1, D(2, 1, -3), 0, kSI},
      {{P{"C", Pre::Sym}, P{"coulomb", Pre::Name}, P{"库", Pre::None}, P{"库仑", Pre::None}}, 1, D(0, 0, 1, 1), 0, kSI},
      {{P{"V", Pre::Sym}, P{"volt", Pre::Name}, P{"伏", Pre::None}, P{"伏特", Pre::None}}, 1, D(2, 1, -3, -1), 0, kSI},
      {{P{"Ω", Pre::Sym}, P{"\u2126", Pre::Sym}, P{"ohm", Pre::Name}, P{"ohm", Pre::Sym}, P{"欧", Pre::None}, P{"欧姆", Pre::None}}, 1, D(2, 1, -3, -2), 0, kSI},
      {{P{"S", Pre::Sym}, P{"siemens", Pre::Name}}, 1, D(-2, -1, 3, 2), 0, kSI},
      {{P{"F", Pre::Sym}, P{"farad", Pre::Name}, P{"法拉", Pre::None}}, 1, D(-2, -1, 4, 2), 0, kSI},
      {{P{"T", Pre::Sym}, P{"tesla", Pre::Name}, P{"特斯拉", Pre::None}}, 1, D(0, 1, -2, -1), 0, kSI},
      {{P{"Wb", Pre::Sym}, P{"weber", Pre::Name}}, 1, D(2, 1, -2, -1), 0, kSI},
      {{P{"H", Pre::Sym}, P{"henry", Pre::Name}}, 1, D(2, 1, -2, -2), 0, kSI},
      {{P{"rad", Pre::Sym}, P{"radian", Pre::Name}, P{"弧度", Pre::None}}, 1, D(0, 0, 0), 0, kSI},
      {{P{"sr", Pre::None}, P{"steradian", Pre::Name}}, 1, D(0, 0, 0), 0, kSI},
      {{P{"lm", Pre::Sym}, P{"lumen", Pre::Name}}, 1, D(0, 0, 0, 0, 0, 0, 1), 0, kSI},
      {{P{"lx", Pre::Sym}, P{"lux", Pre::Name}}, 1, D(-2, 0, 0, 0, 0, 0, 1), 0, kSI},
      {{P{"Bq", Pre::Sym}, P{"becquerel", Pre::Name}}, 1, D(0, 0, -1), 0, kSI},
      {{P{"Gy", Pre::Sym}, P{"gray", Pre::Name}}, 1, D(2, 0, -2), 0, kSI},
      {{P{"Sv", Pre::Sym}, P{"sievert", Pre::Name}}, 1, D(2, 0, -2), 0, kSI},
      // Non-SI units accepted for use with the SI (SI Brochure table 8).
      {{P{"min", Pre::None}, P{"minute", Pre::None}, P{"分钟", Pre::None}, P{"分", Pre::None}}, 60, D(0, 0, 1), 0, kSI},
      {{P{"h", Pre::None}, P{"hr", Pre::None}, P{"hour", Pre::None}, P{"小时", Pre::None}, P{"时", Pre::None}}, 3600, D(0, 0, 1), 0, kSI},
      {{P{"d", Pre::None}, P{"day", Pre::None}, P{"天", Pre::None}, P{"日", Pre::None}}, 86400, D(0, 0, 1), 0, kSI},
      {{P{"week", Pre::None}, P{"wk", Pre::None}, P{"周", Pre::None}, P{"星期", Pre::None}}, 604800, D(0, 0, 1), 0, kNIST},
      {{P{"yr", Pre::None}, P{"year", Pre::None}, P{"a", Pre::None}, P{"年", Pre::None}}, 31557600, D(0, 0, 1), 0, "Julian year, IAU"},
      {{P{"L", Pre::Sym}, P{"l", Pre::Sym}, P{"liter", Pre::Name}, P{"litre", Pre::Name}, P{"升", Pre::None}, P{"公升", Pre::None}}, 1e-3, D(3, 0, 0), 0, kSI},
      {{P{"t", Pre::None}, P{"tonne", Pre::None}, P{"metric ton", Pre::None}, P{"吨", Pre::None}}, 1000, D(0, 1, 0), 0, kSI},
      {{P{"eV", Pre::Sym}, P{"electronvolt", Pre::Name}, P{"电子伏", Pre::None}, P{"电子伏特", Pre::None}}, 1.602176634e-19, D(2, 1, -2), 0, kSIexact},
      {{P{"Da", Pre::Sym}, P{"u", Pre::None}, P{"dalton", Pre::Name}, P{"amu", Pre::None}}, 1.66053906660e-27, D(0, 1, 0), 0, "CODATA 2018"},
      {{P{"ha", Pre::None}, P{"hectare", Pre::None}, P{"公顷", Pre::None}}, 1e4, D(2, 0, 0), 0, kSI},
      {{P{"au", Pre::None}, P{"AU", Pre::None}, P{"astronomical unit", Pre::None}, P{"天文单位", Pre::None}}, 149597870700.0, D(1, 0, 0), 0, kIAU},
      {{P{"°", Pre::None}, P{"deg", Pre::None}, P{"degree", Pre::None}, P{"度", Pre::None}}, pi / 180, D(0, 0, 0), 0, kSI},
      {{P{"bar", Pre::Sym}}, 1e5, D(-1, 1, -2), 0, kNIST},
      {{P{"Wh", Pre::Sym}, P{"watt hour", Pre::None}}, 3600, D(2, 1, -2), 0, kNIST},
      {{P{"度电", Pre::None}}, 3.6e6, D(2, 1, -2), 0, kNIST},  // colloquial kWh
      // Other common units (NIST SP 811 exact definitions unless noted).
      {{P{"atm", Pre::None}, P{"atmosphere", Pre::None}, P{"标准大气压", Pre::None}, P{"大气压", Pre::None}}, 101325, D(-1, 1, -2), 0, kNIST},
      {{P{"mmHg", Pre::None}, P{"毫米汞柱", Pre::None}}, 133.322387415, D(-1, 1, -2), 0, kNIST},
      {{P{"psi", Pre::None}}, 6894.757293168361, D(-1, 1, -2), 0, kNIST},
      {{P{"in", Pre::None}, P{"inch", Pre::None}, P{"英寸", Pre::None}}, 0.0254, D(1, 0, 0), 0, kNIST},
      {{P{"ft", Pre::None}, P{"foot", Pre::None}, P{"feet", Pre::None}, P{"英尺", Pre::None}}, 0.3048, D(1, 0, 0), 0, kNIST},
      {{P{"yd", Pre::None}, P{"yard", Pre::None}, P{"码", Pre::None}}, 0.9144, D(1, 0, 0), 0, kNIST},
      {{P{"mi", Pre::None}, P{"mile", Pre::None}, P{"英里", Pre::None}}, 1609.344, D(1, 0, 0), 0, kNIST},
      {{P{"nmi", Pre::None}, P{"nautical mile", Pre::None}, P{"海里", Pre::None}}, 1852, D(1, 0, 0), 0, kNIST},
      {{P{"ly", Pre::None}, P{"light year", Pre::None}, P{"lightyear", Pre::None}, P{"光年", Pre::None}}, 9460730472580800.0, D(1, 0, 0), 0, kIAU},
      {{P{"pc", Pre::Sym}, P{"parsec", Pre::Name}, P{"秒差距", Pre::None}}, 3.0856775814913673e16, D(1, 0, 0), 0, kIAU},
      {{P{"Å", Pre::None}, P{"angstrom", Pre::None}, P{"埃", Pre::None}}, 1e-10, D(1, 0, 0), 0, kNIST},
      {{P{"lb", Pre::None}, P{"lbm", Pre::None}, P{"pound", Pre::None}, P{"磅", Pre::None}}, 0.45359237, D(0, 1, 0), 0, kNIST},
      {{P{"oz", Pre::None}, P{"ounce", Pre::None}, P{"盎司", Pre::None}}, 0.028349523125, D(0, 1, 0), 0, kNIST},
      {{P{"mph", Pre::None}}, 0.44704, D(1, 0, -1), 0, kNIST},
      {{P{"kn", Pre::None}, P{"knot", Pre::None}, P{"节", Pre::None}}, 1852.0 / 3600, D(1, 0, -1), 0, kNIST},
      {{P{"cal", Pre::Sym}, P{"calorie", Pre::Name}, P{"卡", Pre::None}, P{"卡路里", Pre::None}}, 4.184, D(2, 1, -2), 0, "thermochemical calorie, NIST SP 811"},
      {{P{"千卡", Pre::None}, P{"大卡", Pre::None}}, 4184, D(2, 1, -2), 0, "thermochemical calorie, NIST SP 811"},
      {{P{"hp", Pre::None}, P{"horsepower", Pre::None}}, 745.69987158227022, D(2, 1, -3), 0, kNIST},
      {{P{"gal", Pre::None}, P{"gallon", Pre::None}, P{"加仑", Pre::None}}, 3.785411784e-3, D(3, 0, 0), 0, "US gallon, NIST SP 811"},
      {{P{"dyn", Pre::None}, P{"dyne", Pre::None}}, 1e-5, D(1, 1, -2), 0, kNIST},
      {{P{"erg", Pre::None}}, 1e-7, D(2, 1, -2), 0, kNIST},
      {{P{"%", Pre::None}, P{"percent", Pre::None}}, 0.01, D(0, 0, 0), 0, "definition"},
      // Absolute temperature scales (only as a lone unit; see parse_unit).
      {{P{"°C", Pre::None}, P{"℃", Pre::None}, P{"degC", Pre::None}, P{"celsius", Pre::None}, P{"摄氏度", Pre::None}}, 1, D(0, 0, 0, 0, 1), 273.15, kSI},
      {{P{"°F", Pre::None}, P{"℉", Pre::None}, P{"degF", Pre::None}, P{"fahrenheit", Pre::None}, P{"华氏度", Pre::None}}, 5.0 / 9, D(0, 0, 0, 0, 1), 273.15 - 32 * 5.0 / 9, kNIST},
      // Constants usable in formulas (names as GNU units spells them).
      {{P{"c", Pre::None}, P{"光速", Pre::None}}, 299792458, D(1, 0, -1), 0, kSIexact},
      {{P{"G", Pre::None}}, 6.67430e-11, D(3, -1, -2), 0, "CODATA 2018"},
      {{P{"gravity", Pre::None}, P{"g0", Pre::None}, P{"g_n", Pre::None}}, 9.80665, D(1, 0, -2), 0, "standard gravity, 3rd CGPM (1901)"},
  };
  return d;
}

struct Prefix { const char* sym; const char* name; double f; };
const Prefix kPrefixes[] = {
    {"Q", "quetta", 1e30}, {"R", "ronna", 1e27}, {"Y", "yotta", 1e24}, {"Z", "zetta", 1e21},
    {"E", "exa", 1e18}, {"P", "peta", 1e15}, {"T", "tera", 1e12}, {"G", "giga", 1e9},
    {"M", "mega", 1e6}, {"k", "kilo", 1e3}, {"h", "hecto", 1e2}, {"da", "deca", 1e1},
    {"d", "deci", 1e-1}, {"c", "centi", 1e-2}, {"m", "milli", 1e-3}, {"µ", "micro", 1e-6},
    {"μ", "micro", 1e-6}, {"u", "micro", 1e-6}, {"n", "nano", 1e-9}, {"p", "pico", 1e-12},
    {"f", "femto", 1e-15}, {"a", "atto", 1e-18}, {"z", "zepto", 1e-21}, {"y", "yocto", 1e-24},
    {"r", "ronto", 1e-27}, {"q", "quecto", 1e-30}};

struct Entry { double factor; Dim dim; double offset; };

// Looks up a std::string_view without building a std::string.
struct Hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Table {
  std::unordered_map<std::string, Entry, Hash, std::equal_to<>> sym;  // case-sensitive
  std::vector<UnitInfo> infos;
  size_t max_cjk = 0;  // longest CJK spelling in bytes
};

bool is_cjk_start(unsigned char c) { return c >= 0xE3 && c <= 0xE9; }  // U+3000..U+9FFF

const Table& table() {
  static Table t = [] {
    Table t;
    auto put = [&](const std::string& k, const Entry& e, bool overwrite) {
      if (overwrite) t.sym[k] = e;
      else t.sym.emplace(k, e);
    };
    auto defs = definitions();
    // Prefixed forms first, so that a plain spelling always wins ("min", "Pa", "ft").
    for (const auto& d : defs) {
      for (const auto& [sp, pre] : d.spellings) {
        if (pre == Pre::None) continue;
        for (const auto& p : kPrefixes) {
          Entry e{d.factor * p.f, d.dim, 0};
          if (pre == Pre::Sym) put(std::string(p.sym) + sp, e, false);
          else {
            put(std::string(p.name) + sp, e, false);
            put(std::string(p.name) + sp + "s", e, false);
          }
        }
      }
    }
    // Chinese prefixed spellings of the common metric units.
    const std::pair<const char*, double> zh_pre[] = {{"千", 1e3}, {"毫", 1e-3}, {"微", 1e-6}, {"纳", 1e-9}, {"兆", 1e6}, {"厘", 1e-2}};
    for (const auto& d : defs)
      for (const auto& [sp, pre] : d.spellings)
        if (pre == Pre::None && !sp.empty() && is_cjk_start((unsigned char)sp[0]) && d.offset == 0 &&
            (d.factor == 1 || d.factor == 1e-3) && d.dim != D(0, 0, 1) && d.dim != D(0, 0, 0))
          for (const auto& [zp, f] : zh_pre) put(std::string(zp) + sp, Entry{d.factor * f, d.dim, 0}, false);
    put("公里", Entry{1000, D(1, 0, 0), 0}, true);
    put("公斤", Entry{1, D(0, 1, 0), 0}, true);
    put("毫秒", Entry{1e-3, D(0, 0, 1), 0}, true);
    put("微秒", Entry{1e-6, D(0, 0, 1), 0}, true);
    put("纳秒", Entry{1e-9, D(0, 0, 1), 0}, true);
    for (const auto& d : defs) {
      for (const auto& [sp, pre] : d.spellings) {
        Entry e{d.factor, d.dim, d.offset};
        put(sp, e, true);
        bool word = sp.size() > 2 && std::islower((unsigned char)sp[0]);
        if (word && pre != Pre::Sym && sp.back() != 's') {
          // Plurals of unit names: "hours", "inches", "kilometres".
          std::string pl = sp.back() == 'h' ? sp + "es" : sp + "s";
          if (sp == "foot") pl = "feet";
          t.sym.emplace(pl, e);
        }
      }
      UnitInfo info{d.spellings[0].first, d.factor, d.dim, d.offset, d.source};
      t.infos.push_back(info);
    }
    put("kWh", Entry{3.6e6, D(2, 1, -2), 0}, true);
    put("kph", Entry{1000.0 / 3600, D(1, 0, -1), 0}, true);
    for (const auto& [k, v] : t.sym)
      if (!k.empty() && is_cjk_start((unsigned char)k[0])) t.max_cjk = std::max(t.max_cjk, k.size());
    return t;
  }();
  return t;
}

const Entry* lookup(std::string_view word) {
  const auto& t = table();
  auto it = t.sym.find(word);
  if (it != t.sym.end()) return &it->second;
  // Unit names are case-insensitive ("Kilometers"), symbols are not ("mm" vs "Mm").
  if (word.size() > 3) {
    std::string low(word);
    for (char& c : low) c = (char)std::tolower((unsigned char)c);
    it = t.sym.find(low);
    if (it != t.sym.end()) return &it->second;
  }
  return nullptr;
}

struct Val {
  double v;
  Dim d;
  bool offset_unit = false;  // a lone °C / °F: only legal as the whole unit
};

// Dimension exponents are small integers; anything beyond +-60 is nonsense input, and
// must not wrap around in int8_t.
int8_t exp_checked(int e) {
  if (e > 60 || e < -60) throw Error("unit expression: dimension exponent " + std::to_string(e) + " out of range");
  return (int8_t)e;
}

Val mul(const Val& a, const Val& b, int sign) {
  Val r{sign > 0 ? a.v * b.v : a.v / b.v, a.d, false};
  for (int i = 0; i < 7; i++) r.d[i] = exp_checked(a.d[i] + sign * b.d[i]);
  return r;
}

Val powv(const Val& a, int e) {
  Val r{std::pow(a.v, e), a.d, false};
  for (int i = 0; i < 7; i++) r.d[i] = exp_checked(a.d[i] * e);
  return r;
}

int superscript(std::string_view s, size_t i, size_t* len) {
  static const char* sup[10] = {"⁰", "¹", "²", "³", "⁴", "⁵", "⁶", "⁷", "⁸", "⁹"};
  for (int k = 0; k < 10; k++) {
    size_t n = std::strlen(sup[k]);
    if (s.substr(i, n) == sup[k]) { *len = n; return k; }
  }
  return -1;
}

class Parser {
 public:
  Parser(std::string_view s, bool allow_numbers) : s_(s), numbers_(allow_numbers) {}
  Val parse() {
    Val v = sum();
    skip();
    if (i_ != s_.size()) fail("unexpected '" + std::string(s_.substr(i_, 1)) + "'");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw Error("unit expression: " + what + " at offset " + std::to_string(i_) + " in '" + std::string(s_) + "'");
  }
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) i_++;
  }
  bool peek(std::string_view t) { skip(); return s_.substr(i_, t.size()) == t; }
  bool eat(std::string_view t) {
    if (peek(t)) { i_ += t.size(); return true; }
    return false;
  }
  bool eat_word(std::string_view w) {
    skip();
    if (s_.substr(i_, w.size()) != w) return false;
    size_t j = i_ + w.size();
    if (j < s_.size() && (std::isalpha((unsigned char)s_[j]) || s_[j] == '_')) return false;
    i_ = j;
    return true;
  }
  Val sum() {
    if (++depth_ > 100) fail("nesting too deep");
    Val v = product();
    for (;;) {
      int sign = 0;
      if (eat("+")) sign = 1;
      else if (eat("-") || eat("−")) sign = -1;
      else break;
      Val w = product();
      if (!same_dim(v.d, w.d))
        throw DimensionMismatch("cannot add or subtract " + dim_string(v.d) + " and " + dim_string(w.d) + " in '" + std::string(s_) + "'");
      v.v += sign * w.v;
      v.offset_unit = false;
    }
    depth_--;
    return v;
  }
  Val product() {
    Val v = juxt();
    for (;;) {
      if (eat("*") || eat("×") || eat("·") || eat("⋅")) v = mul(v, juxt(), 1);
      else if (eat("/") || eat("／") || eat_word("per") || eat("每")) v = mul(v, juxt(), -1);
      else break;
    }
    return v;
  }
  bool starts_primary() {
    skip();
    if (i_ >= s_.size()) return false;
    unsigned char c = (unsigned char)s_[i_];
    if (peek("per") && !(i_ + 3 < s_.size() && std::isalpha((unsigned char)s_[i_ + 3]))) return false;
    if (peek("每") || peek("×") || peek("·") || peek("⋅") || peek("−") || peek("／")) return false;
    if (c == '(' || std::isalpha(c) || c == '%' || c == '_' || c >= 0x80) {
      size_t len;
      return superscript(s_, i_, &len) < 0 && !peek("⁻");
    }
    return numbers_ && (std::isdigit(c) || c == '.');
  }
  Val juxt() {
    Val v = unary();
    while (starts_primary()) {
      Val w = unary();
      if (v.offset_unit || w.offset_unit) fail("a temperature scale (°C, °F) cannot be combined with other units");
      v = mul(v, w, 1);
    }
    return v;
  }
  Val unary() {
    if (++depth_ > 100) fail("nesting too deep");
    Val v;
    if (eat("-") || eat("−")) { v = unary(); v.v = -v.v; }
    else v = power();
    depth_--;
    return v;
  }
  int exponent() {
    skip();
    bool neg = false;
    bool paren = eat("(");
    if (eat("-") || eat("−")) neg = true;
    else eat("+");
    skip();
    size_t st = i_;
    while (i_ < s_.size() && std::isdigit((unsigned char)s_[i_])) i_++;
    if (st == i_ || i_ - st > 3) fail("expected an integer exponent");
    int e = std::atoi(std::string(s_.substr(st, i_ - st)).c_str());
    if (paren && !eat(")")) fail("missing ')'");
    return neg ? -e : e;
  }
  Val power() {
    Val v = primary();
    for (;;) {
      int e = 0;
      bool have = false;
      if (eat("^") || eat("**")) { e = exponent(); have = true; }
      else if (eat_word("squared")) { e = 2; have = true; }
      else if (eat_word("cubed")) { e = 3; have = true; }
      else {
        // Superscripts right after the unit: m², s⁻¹.
        size_t j = i_, len;
        bool neg = false;
        if (s_.substr(j, 3) == "⁻") { neg = true; j += 3; }
        int k, val = 0, n = 0;
        while ((k = superscript(s_, j, &len)) >= 0) { val = val * 10 + k; j += len; n++; }
        if (n) { i_ = j; e = neg ? -val : val; have = true; }
      }
      if (!have) break;
      if (v.offset_unit) fail("a temperature scale cannot be raised to a power");
      v = powv(v, e);
    }
    return v;
  }
  Val number() {
    size_t st = i_;
    while (i_ < s_.size() && (std::isdigit((unsigned char)s_[i_]) || s_[i_] == '.')) i_++;
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      size_t j = i_ + 1;
      if (j < s_.size() && (s_[j] == '+' || s_[j] == '-')) j++;
      if (j < s_.size() && std::isdigit((unsigned char)s_[j])) {
        i_ = j;
        while (i_ < s_.size() && std::isdigit((unsigned char)s_[i_])) i_++;
      }
    }
    std::string t(s_.substr(st, i_ - st));
    char* end = nullptr;
    double v = std::strtod(t.c_str(), &end);
    if (t.empty() || end != t.c_str() + t.size()) fail("bad number '" + t + "'");
    return Val{v, Dim{}, false};
  }
  Val primary() {
    skip();
    if (i_ >= s_.size()) fail("unexpected end");
    if (eat("(")) {
      Val v = sum();
      if (!eat(")")) fail("missing ')'");
      return v;
    }
    unsigned char c = (unsigned char)s_[i_];
    if (std::isdigit(c) || c == '.') {
      if (!numbers_) fail("unexpected number");
      return number();
    }
    int pw = 0;
    if (eat_word("square") || eat_word("sq") || eat("平方")) pw = 2;
    else if (eat_word("cubic") || eat_word("cu") || eat("立方")) pw = 3;
    if (pw) {
      if (++depth_ > 100) fail("nesting too deep");
      Val v = powv(primary(), pw);
      depth_--;
      return v;
    }
    // An identifier: ASCII letters/underscore or non-ASCII symbol characters. CJK runs
    // are matched greedily against the table ("千米每小时" = 千米 每 小时).
    if (is_cjk_start(c)) {
      const auto& t = table();
      for (size_t len = std::min(t.max_cjk, s_.size() - i_); len >= 3; len--) {
        auto it = t.sym.find(s_.substr(i_, len));
        if (it != t.sym.end()) {
          i_ += len;
          return Val{it->second.factor, it->second.dim, it->second.offset != 0} ;
        }
      }
      fail("unknown unit");
    }
    size_t st = i_;
    while (i_ < s_.size()) {
      unsigned char ch = (unsigned char)s_[i_];
      if (std::isalpha(ch) || ch == '_' || ch == '%') { i_++; continue; }
      if (ch >= 0x80 && !is_cjk_start(ch)) {
        size_t len;
        if (superscript(s_, i_, &len) >= 0 || s_.substr(i_, 3) == "⁻" || s_.substr(i_, 2) == "×" ||
            s_.substr(i_, 2) == "·" || s_.substr(i_, 3) == "⋅" || s_.substr(i_, 3) == "−" || s_.substr(i_, 3) == "／")
          break;
        i_++;
        while (i_ < s_.size() && ((unsigned char)s_[i_] & 0xC0) == 0x80) i_++;
        continue;
      }
      break;
    }
    if (st == i_) fail("unexpected '" + std::string(s_.substr(i_, 1)) + "'");
    std::string_view w = s_.substr(st, i_ - st);
    // Multi-word names: "light year", "nautical mile", "degrees Celsius".
    for (const char* two : {"light", "nautical", "metric", "astronomical", "watt", "degree", "degrees"}) {
      if (w == two) {
        size_t save = i_;
        skip();
        size_t st2 = i_;
        while (i_ < s_.size() && std::isalpha((unsigned char)s_[i_])) i_++;
        std::string w2(s_.substr(st2, i_ - st2));
        for (char& ch : w2) ch = (char)std::tolower((unsigned char)ch);
        std::string both = (w == "degrees" ? std::string("degree") : std::string(w)) + " " + w2;
        if (both == "degree celsius") both = "celsius";
        if (both == "degree fahrenheit") both = "fahrenheit";
        if (both == "degree kelvin") both = "kelvin";
        if (const Entry* e = lookup(both)) return Val{e->factor, e->dim, e->offset != 0};
        i_ = save;
      }
    }
    const Entry* e = lookup(w);
    if (!e) {
      i_ = st;
      fail("unknown unit '" + std::string(w) + "'");
    }
    Val v{e->factor, e->dim, e->offset != 0};
    // "m2", "s-1" style exponents written without a caret (GNU units reads them too).
    if (i_ < s_.size() && (std::isdigit((unsigned char)s_[i_]) ||
                           (s_[i_] == '-' && i_ + 1 < s_.size() && std::isdigit((unsigned char)s_[i_ + 1]) && !numbers_))) {
      bool neg = s_[i_] == '-';
      if (neg) i_++;
      size_t ds = i_;
      while (i_ < s_.size() && std::isdigit((unsigned char)s_[i_])) i_++;
      if (i_ - ds > 2) fail("bad exponent");
      int ex = std::atoi(std::string(s_.substr(ds, i_ - ds)).c_str());
      if (v.offset_unit) fail("a temperature scale cannot be raised to a power");
      v = powv(v, neg ? -ex : ex);
    }
    return v;
  }

  std::string_view s_;
  bool numbers_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

bool same_dim(const Dim& a, const Dim& b) { return a == b; }

std::string dim_string(const Dim& d) {
  static const char* names[7] = {"L", "M", "T", "I", "Θ", "N", "J"};
  std::string out;
  for (int i = 0; i < 7; i++) {
    if (!d[i]) continue;
    if (!out.empty()) out += " ";
    out += names[i];
    if (d[i] != 1) out += "^" + std::to_string(d[i]);
  }
  return out.empty() ? "1" : out;
}

const std::vector<UnitInfo>& unit_table() { return table().infos; }

ParsedUnit parse_unit(std::string_view text) {
  std::string_view t = trim(text);
  ParsedUnit r;
  if (t.empty()) return r;
  // Lone absolute temperature scales, with their multi-word spellings.
  struct Scale {
    std::string_view names[8];
    double factor, offset;
  };
  static const Scale scales[] = {
      {{"°c", "℃", "degc", "celsius", "degree celsius", "degrees celsius", "摄氏度", "° c"}, 1.0, 273.15},
      {{"°f", "℉", "degf", "fahrenheit", "degree fahrenheit", "degrees fahrenheit", "华氏度", "° f"}, 5.0 / 9,
       273.15 - 32 * 5.0 / 9}};
  std::string low = normalize_text(t);
  for (const auto& sc : scales)
    for (std::string_view n : sc.names)
      if (low == n) {
        r.factor = sc.factor;
        r.dim = D(0, 0, 0, 0, 1);
        r.offset = sc.offset;
        r.absolute_temperature = true;
        return r;
      }
  Val v = Parser(t, false).parse();
  if (v.offset_unit)
    throw Error("unit '" + std::string(t) + "': a temperature scale (°C, °F) cannot be combined with other units");
  r.factor = v.v;
  r.dim = v.d;
  return r;
}

Quantity eval(std::string_view formula) {
  Val v = Parser(formula, true).parse();
  if (v.offset_unit) throw Error("formula '" + std::string(formula) + "': use K for temperatures in formulas");
  return Quantity{v.v, v.d};
}

Quantity parse_quantity(std::string_view text) {
  std::string_view t = trim(text);
  size_t used = 0;
  auto num = exact::read_number_fast(t, &used);
  if (!num) throw Error("no number at the start of '" + std::string(t) + "'");
  ParsedUnit u = parse_unit(trim(t.substr(used)));
  return Quantity{num->to_double() * u.factor + u.offset, u.dim};
}

double from_si(double si, std::string_view unit) {
  ParsedUnit u = parse_unit(unit);
  return (si - u.offset) / u.factor;
}

}  // namespace veritas::units
