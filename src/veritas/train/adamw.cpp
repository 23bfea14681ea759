#include "veritas/train/adamw.hpp"

#include <cmath>
#include <string>

#include "veritas/model/safetensors.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/thread_pool.hpp"

namespace veritas {

bool adamw_decays(const Param& p) { return p.shape.size() >= 2; }

AdamW::AdamW(const std::vector<Param>& params, AdamWConfig cfg) : cfg_(cfg) {
  for (const auto& p : params) {
    m_.emplace_back((size_t)p.size, 0.0f);
    v_.emplace_back((size_t)p.size, 0.0f);
    decay_.push_back(adamw_decays(p) ? 1 : 0);
  }
}

// Runs fn over [0, n) on the pool when the tensor is big enough to pay for the wake-up.
static void for_range(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
  if (n < (1 << 16)) fn(0, n);
  else ThreadPool::global().parallel_for(n, fn);
}

void AdamW::step(std::vector<Param>& params, float lr) {
  check(params.size() == m_.size(), "AdamW: parameter count changed since construction");
  ++t_;
  // Bias corrections in double like torch (Python floats), applied as float scalars.
  const double bc1 = 1.0 - std::pow(cfg_.beta1, (double)t_);
  const double bc2 = 1.0 - std::pow(cfg_.beta2, (double)t_);
  const float step_size = (float)((double)lr / bc1);
  const float bc2_sqrt = (float)std::sqrt(bc2);
  const float b1 = (float)cfg_.beta1, b2 = (float)cfg_.beta2, eps = (float)cfg_.eps;
  const float omb1 = (float)(1.0 - cfg_.beta1), omb2 = (float)(1.0 - cfg_.beta2);
  for (size_t i = 0; i < params.size(); ++i) {
    Param& p = params[i];
    check((size_t)p.size == m_[i].size(), "AdamW: size of " + p.name + " changed since construction");
    const float decay = decay_[i] ? (float)(1.0 - (double)lr * cfg_.weight_decay) : 1.0f;
    float* w = p.data;
    const float* g = p.grad;
    float* m = m_[i].data();
    float* v = v_[i].data();
    for_range(p.size, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const float gk = g[k];
        const float wk = w[k] * decay;
        // Same operations as torch.optim.AdamW on CPU (scale, then a fused multiply-add),
        // so the two agree bit for bit (tests/train/adamw_torch.py).
        float mk = m[k] * b1;
        mk = std::fma(omb1, gk, mk);
        float vk = v[k] * b2;
        vk = std::fma(omb2 * gk, gk, vk);
        m[k] = mk;
        v[k] = vk;
        const float denom = std::sqrt(vk) / bc2_sqrt + eps;
        w[k] = wk - step_size * (mk / denom);
      }
    });
  }
}

void AdamW::save(const std::filesystem::path& path, const std::vector<Param>& params) const {
  check(params.size() == m_.size(), "AdamW::save: parameter count mismatch");
  std::vector<TensorRef> refs;
  for (size_t i = 0; i < params.size(); ++i) {
    refs.push_back({params[i].name + ".exp_avg", params[i].shape, m_[i].data()});
    refs.push_back({params[i].name + ".exp_avg_sq", params[i].shape, v_[i].data()});
  }
  std::map<std::string, std::string> meta = {
      {"format", "veritas-adamw"},
      {"step", std::to_string(t_)},
      {"beta1", std::to_string(cfg_.beta1)},
      {"beta2", std::to_string(cfg_.beta2)},
      {"eps", std::to_string(cfg_.eps)},
      {"weight_decay", std::to_string(cfg_.weight_decay)},
  };
  save_safetensors(path, refs, meta);
}

void AdamW::load(const std::filesystem::path& path, const std::vector<Param>& params) {
  SafeTensors st = SafeTensors::load(path);
  const std::string where = path.string();
  auto it = st.metadata().find("step");
  check(it != st.metadata().end(), where + ": optimizer state has no 'step' in its metadata");
  int64_t t = -1;
  try {
    size_t used = 0;
    t = std::stoll(it->second, &used);
    if (used != it->second.size()) t = -1;
  } catch (const std::exception&) {
    t = -1;
  }
  check(t >= 0, where + ": bad optimizer step '" + it->second + "' in metadata");
  std::vector<std::vector<float>> m, v;
  std::vector<char> decay;
  for (const auto& p : params) {
    for (const char* suffix : {".exp_avg", ".exp_avg_sq"}) {
      const std::string name = p.name + suffix;
      const TensorInfo* ti = st.find(name);
      check(ti != nullptr, where + ": missing optimizer tensor " + name);
      check(ti->shape == p.shape, where + ": optimizer tensor " + name + " has the wrong shape");
      std::vector<float> buf((size_t)p.size);
      st.read_f32(name, p.shape, buf.data());
      for (float x : buf) check(std::isfinite(x), where + ": optimizer tensor " + name + " holds a non-finite value");
      (std::string(suffix) == ".exp_avg" ? m : v).push_back(std::move(buf));
    }
    decay.push_back(adamw_decays(p) ? 1 : 0);
  }
  check(st.tensors().size() == 2 * params.size(),
        where + ": optimizer state holds " + std::to_string(st.tensors().size()) + " tensors, expected " +
            std::to_string(2 * params.size()) + " (a different model?)");
  m_ = std::move(m);
  v_ = std::move(v);
  decay_ = std::move(decay);
  t_ = t;
}

double grad_global_norm(const std::vector<Param>& params) {
  constexpr int64_t kBlock = 1 << 14;
  double total = 0.0;
  for (const auto& p : params) {
    const int64_t nblocks = (p.size + kBlock - 1) / kBlock;
    std::vector<double> partial((size_t)nblocks, 0.0);
    const float* g = p.grad;
    auto body = [&](int64_t b, int64_t e) {
      for (int64_t blk = b; blk < e; ++blk) {
        double s = 0.0;
        const int64_t lo = blk * kBlock, hi = std::min(p.size, lo + kBlock);
        for (int64_t k = lo; k < hi; ++k) s += (double)g[k] * (double)g[k];
        partial[(size_t)blk] = s;
      }
    };
    if (nblocks > 4) ThreadPool::global().parallel_for(nblocks, body);
    else body(0, nblocks);
    for (double s : partial) total += s;  // fixed order: thread-count independent
  }
  return std::sqrt(total);
}

double clip_grad_norm(std::vector<Param>& params, double clip) {
  const double norm = grad_global_norm(params);
  if (clip > 0 && norm > clip) {
    const float scale = (float)(clip / (norm + 1e-6));
    for (auto& p : params)
      for_range(p.size, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) p.grad[k] *= scale;
      });
  }
  return norm;
}

}  // namespace veritas
