// The impossible suite: questions whose only truthful answer is that they cannot be
// answered (no value exists, the givens contradict, the premise is false) or that the
// answer is not known (open problems). Every other suite mixes some of these in.
#include "veritas/verify/suites.hpp"

namespace veritas::suites {

namespace {

std::string num(Rng& rng, int lo, int hi) { return std::to_string(rng.range(lo, hi)); }

Candidate make(const std::string& kind, const std::string& key, const std::string& lang, std::string question,
               const std::string& explain) {
  Candidate c;
  c.key = "impossible:" + kind + ":" + key;
  c.lang = lang;
  c.question = std::move(question);
  c.truth = {{"kind", "impossible"}, {"why", kind}, {"explain", explain}};
  c.difficulty = {{"impossible", kind}};
  bool unknown = kind == "unsolved";
  c.reference = lang == "zh" ? (unknown ? "答案：不知道" : "答案：无法回答") : (unknown ? "Answer: I don't know" : "Answer: cannot be answered");
  return c;
}

struct Pair { const char* en; const char* zh; };

}  // namespace

const std::vector<std::string>& impossible_kinds() {
  static const std::vector<std::string> k = {"division_by_zero", "contradictory",   "underdetermined", "nonexistent_element",
                                             "dimension_mismatch", "unsolved",      "false_premise",   "no_real_solution"};
  return k;
}

Candidate gen_impossible(Rng& rng, const json& diff, const std::string& lang) {
  std::string kind = diff.value("kind", std::string());
  if (kind.empty()) kind = pick(rng, impossible_kinds());
  return gen_impossible_kind(rng, kind, lang);
}

Candidate gen_impossible_kind(Rng& rng, const std::string& kind, const std::string& lang) {
  bool zh = lang == "zh";
  if (kind == "division_by_zero") {
    std::string a = num(rng, 2, 99999), b = num(rng, 1, 999);
    switch (rng.below(4)) {
      case 0: {
        std::string e = a + " / (" + b + " - " + b + ")";
        return make(kind, e, lang, zh ? "计算 " + e + "。" : "What is " + e + "?", "the divisor is zero");
      }
      case 1: {
        std::string e = a + " / 0";
        return make(kind, e, lang, zh ? e + " 等于多少？" : "Compute " + e + ".", "division by zero");
      }
      case 2:
        return make(kind, a + "%0", lang,
                    zh ? a + " 除以 0 的余数是多少？" : "What is the remainder when " + a + " is divided by 0?",
                    "remainder by zero is undefined");
      default: {
        std::string e = "(" + a + " + " + b + ") / (" + b + " * 0)";
        return make(kind, e, lang, zh ? "求 " + e + " 的精确值。" : "Calculate the exact value of " + e + ".", "the divisor is zero");
      }
    }
  }
  if (kind == "contradictory") {
    if (rng.below(2)) {
      // A linear system with parallel equations: a x + b y = c, k a x + k b y = d, d != k c.
      int a = (int)rng.range(1, 9), b = (int)rng.range(1, 9), k = (int)rng.range(2, 5), c = (int)rng.range(1, 50);
      int d = k * c + (int)rng.range(1, 9) * (rng.below(2) ? 1 : -1);
      auto lin = [](int p, int q, int r) {
        return (p == 1 ? "" : std::to_string(p)) + "x + " + (q == 1 ? "" : std::to_string(q)) + "y = " + std::to_string(r);
      };
      std::string e1 = lin(a, b, c), e2 = lin(k * a, k * b, d);
      return make(kind, e1 + ";" + e2, lang,
                  zh ? "已知 " + e1 + " 且 " + e2 + "，求 x 和 y。" : "Solve the system " + e1 + ", " + e2 + " for x and y.",
                  "the equations contradict each other (no solution)");
    }
    int v = (int)rng.range(5, 40), t = (int)rng.range(2, 20);
    int d = v * t + (int)rng.range(3, 50);
    std::string key = "car:" + std::to_string(v) + ":" + std::to_string(t) + ":" + std::to_string(d);
    return make(kind, key, lang,
                zh ? "一辆车以 " + std::to_string(v) + " m/s 的恒定速度行驶，在 " + std::to_string(t) + " s 内行驶了 " +
                         std::to_string(d) + " m。它的加速度是多少？"
                   : "A car moving at a constant speed of " + std::to_string(v) + " m/s covers " + std::to_string(d) +
                         " m in " + std::to_string(t) + " s. What is its acceleration?",
                "the givens contradict each other (v*t != distance)");
  }
  if (kind == "underdetermined") {
    if (rng.below(2)) {
      int a = (int)rng.range(2, 9), b = (int)rng.range(2, 9), c = (int)rng.range(1, 99);
      std::string e = std::to_string(a) + "x + " + std::to_string(b) + "y = " + std::to_string(c);
      return make(kind, e, lang, zh ? "已知 " + e + "，x 等于多少？" : "Given " + e + ", what is x?",
                  "one equation in two unknowns does not determine x");
    }
    int m = (int)rng.range(1, 500);
    return make(kind, "ke-no-v:" + std::to_string(m), lang,
                zh ? "一个质量为 " + std::to_string(m) + " kg 的物体在运动。它的动能是多少焦耳？"
                   : "An object of mass " + std::to_string(m) + " kg is moving. What is its kinetic energy in joules?",
                "the speed is not given");
  }
  if (kind == "nonexistent_element") {
    if (rng.below(2)) {
      int z = (int)rng.range(119, 300);
      static const std::vector<Pair> attr = {{"symbol", "元素符号"}, {"standard atomic weight", "标准原子量"}, {"name", "名称"}};
      const Pair& a = pick(rng, attr);
      return make(kind, "z" + std::to_string(z) + ":" + a.en, lang,
                  zh ? "原子序数为 " + std::to_string(z) + " 的化学元素的" + a.zh + "是什么？"
                     : "What is the " + std::string(a.en) + " of the chemical element with atomic number " + std::to_string(z) + "?",
                  "no element with this atomic number has been discovered (the table ends at 118)");
    }
    static const std::vector<std::string> a = {"Zor", "Quel", "Vex", "Brax", "Kryl", "Tharn", "Mox", "Plex", "Drav", "Yul", "Fennor", "Glax"};
    static const std::vector<std::string> b = {"", "an", "or", "el", "ith", "ad"};
    std::string name = pick(rng, a) + pick(rng, b) + "ium";
    return make(kind, "name:" + name, lang,
                zh ? "化学元素 " + name + " 的原子序数是多少？" : "What is the atomic number of the chemical element " + name + "?",
                "there is no element called " + name);
  }
  if (kind == "dimension_mismatch") {
    struct U { const char* u; int dim; };
    static const std::vector<U> us = {{"m", 0}, {"s", 1}, {"kg", 2}, {"A", 3}, {"K", 4}, {"J", 5}, {"N", 6}, {"W", 7}, {"km", 0}, {"min", 1}, {"g", 2}, {"V", 8}};
    const U& x = pick(rng, us);
    const U* y = &pick(rng, us);
    while (y->dim == x.dim) y = &pick(rng, us);
    std::string a = num(rng, 1, 999), b = num(rng, 1, 999);
    if (rng.below(2)) {
      std::string e = a + " " + x.u + " + " + b + " " + y->u;
      return make(kind, e, lang, zh ? "计算 " + e + "。" : "What is " + e + "?",
                  "quantities of different dimensions cannot be added");
    }
    return make(kind, std::string("convert:") + a + " " + x.u + "->" + y->u, lang,
                zh ? "把 " + a + " " + x.u + " 换算成 " + y->u + "。" : "Convert " + a + " " + x.u + " to " + y->u + ".",
                "the units measure different dimensions");
  }
  if (kind == "unsolved") {
    static const std::vector<Pair> qs = {
        {"What particle is dark matter made of?", "暗物质是由什么粒子构成的？"},
        {"What is dark energy physically made of?", "暗能量的物理本质是什么？"},
        {"Is the Riemann hypothesis true? Answer yes or no.", "黎曼猜想成立吗？请回答是或否。"},
        {"Are there infinitely many twin primes? Answer yes or no.", "孪生素数有无穷多对吗？请回答是或否。"},
        {"Is the Euler-Mascheroni constant a rational number?", "欧拉-马歇罗尼常数是有理数吗？"},
        {"Does P equal NP?", "P 等于 NP 吗？"},
        {"Is every even integer greater than 2 the sum of two primes? Answer yes or no.", "每个大于 2 的偶数都能写成两个素数之和吗？请回答是或否。"},
        {"Does the Collatz sequence reach 1 for every positive integer? Answer yes or no.", "对每个正整数，考拉兹序列都会到达 1 吗？请回答是或否。"},
        {"Give the general formula in radicals for the roots of every quintic equation.", "给出一般五次方程用根式表示的求根公式。"},
        {"Write the antiderivative of exp(-x^2) as a finite combination of elementary functions.", "用有限个初等函数写出 exp(-x^2) 的原函数。"},
        {"What is the largest prime number?", "最大的素数是多少？"},
        {"Are there infinitely many Mersenne primes?", "梅森素数有无穷多个吗？"},
        {"Is pi + e an irrational number?", "π + e 是无理数吗？"},
        {"What is the mass of the graviton in kg, as measured?", "测得的引力子质量是多少千克？"},
    };
    size_t i = rng.below(qs.size());
    return make(kind, std::to_string(i), lang, zh ? qs[i].zh : qs[i].en,
                "an open problem, or one proved to have no such answer");
  }
  if (kind == "false_premise") {
    switch (rng.below(4)) {
      case 0: {
        static const std::vector<Pair> at = {{"mass", "质量"}, {"equatorial radius", "赤道半径"}, {"orbital period", "公转周期"}};
        const Pair& a = pick(rng, at);
        return make(kind, std::string("pluto9:") + a.en, lang,
                    zh ? std::string("太阳系第九大行星冥王星的") + a.zh + "是多少？"
                       : std::string("What is the ") + a.en + " of Pluto, the ninth planet of the Solar System?",
                    "Pluto has not been a planet since the IAU 2006 definition; the Solar System has eight");
      }
      case 1: {
        static const std::vector<Pair> pl = {{"Mercury", "水星"}, {"Venus", "金星"}};
        static const std::vector<Pair> at = {{"radius", "半径"}, {"mass", "质量"}, {"orbital period", "公转周期"}};
        const Pair& p = pick(rng, pl);
        const Pair& a = pick(rng, at);
        return make(kind, std::string("moon:") + p.en + ":" + a.en, lang,
                    zh ? std::string(p.zh) + "最大的卫星的" + a.zh + "是多少？"
                       : std::string("What is the ") + a.en + " of " + p.en + "'s largest moon?",
                    std::string(p.en) + " has no moons");
      }
      case 2: {
        static const std::vector<Pair> el = {{"chlorine", "氯"}, {"oxygen", "氧"}, {"iron", "铁"}, {"sodium", "钠"},
                                             {"carbon", "碳"}, {"nitrogen", "氮"}, {"sulfur", "硫"}, {"copper", "铜"},
                                             {"gold", "金"}, {"hydrogen", "氢"}};
        const Pair& e = pick(rng, el);
        bool num_q = rng.below(2);
        return make(kind, std::string("noble:") + e.en + (num_q ? ":z" : ":w"), lang,
                    zh ? std::string("惰性气体") + e.zh + "的" + (num_q ? "原子序数" : "标准原子量") + "是多少？"
                       : std::string("What is the ") + (num_q ? "atomic number" : "standard atomic weight") + " of the noble gas " + e.en + "?",
                    std::string(e.en) + " is not a noble gas");
      }
      default: {
        static const std::vector<Pair> at = {{"mass", "质量"}, {"orbital period", "公转周期"}, {"radius", "半径"}};
        const Pair& a = pick(rng, at);
        return make(kind, std::string("earth2moon:") + a.en, lang,
                    zh ? std::string("地球的第二颗天然卫星的") + a.zh + "是多少？"
                       : std::string("What is the ") + a.en + " of Earth's second natural moon?",
                    "Earth has one natural moon");
      }
    }
  }
  if (kind == "no_real_solution") {
    int k = (int)rng.range(1, 40);
    if (rng.below(2)) {
      std::string e = "x^2 = -" + std::to_string(k * k);
      return make(kind, e, lang, zh ? "求满足 " + e + " 的实数 x。" : "Find the real number x with " + e + ".",
                  "a real square is never negative");
    }
    std::string e = "sqrt(-" + std::to_string(k) + ")";
    return make(kind, e, lang, zh ? "实数范围内 " + e + " 等于多少？" : "What is " + e + " as a real number?",
                "the square root of a negative number is not real");
  }
  throw Error("unknown impossible kind '" + kind + "'");
}

}  // namespace veritas::suites
