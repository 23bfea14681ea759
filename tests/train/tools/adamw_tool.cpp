// Test helper for adamw_torch.py: reads parameters, per-step gradients and learning
// rates as JSON, runs veritas::AdamW, writes the parameters and moments as JSON.
#include <cstdio>
#include <exception>

#include <nlohmann/json.hpp>

#include "veritas/train/adamw.hpp"
#include "veritas/util/fs.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: adamw_tool IN.json OUT.json\n");
    return 2;
  }
  try {
    using nlohmann::json;
    json in = json::parse(veritas::read_file(argv[1]));
    std::vector<std::vector<float>> w, g;
    std::vector<veritas::Param> ps;
    for (const auto& p : in["params"]) {
      w.push_back(p["data"].get<std::vector<float>>());
      g.emplace_back(w.back().size(), 0.0f);
    }
    size_t i = 0;
    for (const auto& p : in["params"]) {
      veritas::Param q;
      q.name = p["name"].get<std::string>();
      q.shape = p["shape"].get<std::vector<int64_t>>();
      q.data = w[i].data();
      q.grad = g[i].data();
      q.size = (int64_t)w[i].size();
      ps.push_back(q);
      ++i;
    }
    veritas::AdamWConfig cfg{in["beta1"].get<double>(), in["beta2"].get<double>(), in["eps"].get<double>(),
                             in["weight_decay"].get<double>()};
    veritas::AdamW opt(ps, cfg);
    for (const auto& step : in["steps"]) {
      for (size_t k = 0; k < ps.size(); ++k) {
        auto gk = step["grads"][k].get<std::vector<float>>();
        std::copy(gk.begin(), gk.end(), g[k].begin());
      }
      opt.step(ps, step["lr"].get<float>());
    }
    json out = json::array();
    for (size_t k = 0; k < ps.size(); ++k)
      out.push_back({{"name", ps[k].name}, {"data", w[k]}, {"exp_avg", opt.m()[k]}, {"exp_avg_sq", opt.v()[k]}});
    veritas::atomic_write_file(argv[2], out.dump());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "adamw_tool: %s\n", e.what());
    return 1;
  }
  return 0;
}
