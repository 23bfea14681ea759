#include "veritas/train/adamw.hpp"

#include <immintrin.h>

#include <algorithm>
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

namespace {

struct AdamWScalars {
  float b1, b2, omb1, omb2, eps, bc2_sqrt, step_size;
};

// Updates elements [b, e) of one tensor. The operations and their order are those of
// torch.optim.AdamW on CPU (scale, then a fused multiply-add; the final subtraction fused
// with the product), so the two agree bit for bit (tests/train/adamw_torch.py). The AVX2
// lanes use the same IEEE operations (sqrt and division are correctly rounded in both), so
// the vector and scalar paths give identical results.
void adamw_range(float* w, const float* g, float* m, float* v, int64_t b, int64_t e, float decay,
                 const AdamWScalars& s) {
  int64_t k = b;
#if defined(__AVX2__) && defined(__FMA__)
  const __m256 vb1 = _mm256_set1_ps(s.b1), vb2 = _mm256_set1_ps(s.b2);
  const __m256 vomb1 = _mm256_set1_ps(s.omb1), vomb2 = _mm256_set1_ps(s.omb2);
  const __m256 veps = _mm256_set1_ps(s.eps), vbc2 = _mm256_set1_ps(s.bc2_sqrt);
  const __m256 vstep = _mm256_set1_ps(s.step_size), vdecay = _mm256_set1_ps(decay);
  for (; k + 8 <= e; k += 8) {
    const __m256 gk = _mm256_loadu_ps(g + k);
    const __m256 wk = _mm256_mul_ps(_mm256_loadu_ps(w + k), vdecay);
    const __m256 mk = _mm256_fmadd_ps(vomb1, gk, _mm256_mul_ps(_mm256_loadu_ps(m + k), vb1));
    const __m256 vk = _mm256_fmadd_ps(_mm256_mul_ps(vomb2, gk), gk, _mm256_mul_ps(_mm256_loadu_ps(v + k), vb2));
    _mm256_storeu_ps(m + k, mk);
    _mm256_storeu_ps(v + k, vk);
    const __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vk), vbc2), veps);
    _mm256_storeu_ps(w + k, _mm256_fnmadd_ps(vstep, _mm256_div_ps(mk, denom), wk));
  }
#endif
  for (; k < e; ++k) {
    const float gk = g[k];
    const float wk = w[k] * decay;
    const float mk = std::fma(s.omb1, gk, m[k] * s.b1);
    const float vk = std::fma(s.omb2 * gk, gk, v[k] * s.b2);
    m[k] = mk;
    v[k] = vk;
    const float denom = std::sqrt(vk) / s.bc2_sqrt + s.eps;
    w[k] = std::fma(-s.step_size, mk / denom, wk);
  }
}

// Bias corrections in double like torch (Python floats), applied as float scalars.
AdamWScalars scalars(const AdamWConfig& cfg, float lr, int64_t t) {
  const double bc1 = 1.0 - std::pow(cfg.beta1, (double)t);
  const double bc2 = 1.0 - std::pow(cfg.beta2, (double)t);
  AdamWScalars s;
  s.step_size = (float)((double)lr / bc1);
  s.bc2_sqrt = (float)std::sqrt(bc2);
  s.b1 = (float)cfg.beta1, s.b2 = (float)cfg.beta2, s.eps = (float)cfg.eps;
  s.omb1 = (float)(1.0 - cfg.beta1), s.omb2 = (float)(1.0 - cfg.beta2);
  return s;
}

}  // namespace

void adamw_update(float* w, const float* g, float* m, float* v, int64_t n, bool decay, float lr,
                  const AdamWConfig& cfg, int64_t t) {
  const AdamWScalars s = scalars(cfg, lr, t);
  const float d = decay ? (float)(1.0 - (double)lr * cfg.weight_decay) : 1.0f;
  for_range(n, [&](int64_t b, int64_t e) { adamw_range(w, g, m, v, b, e, d, s); });
}

void AdamW::step(std::vector<Param>& params, float lr) {
  check(params.size() == m_.size(), "AdamW: parameter count changed since construction");
  ++t_;
  const AdamWScalars s = scalars(cfg_, lr, t_);
  // All tensors cut into fixed chunks, one parallel_for over the chunks: a single pool
  // wake-up per step and balanced threads. Elements are independent, so the result does
  // not depend on the thread count or on how chunks are dealt out.
  constexpr int64_t kChunk = 1 << 15;
  struct Chunk {
    size_t i;
    int64_t b, e;
  };
  std::vector<Chunk> chunks;
  std::vector<float> decay(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = params[i];
    check((size_t)p.size == m_[i].size(), "AdamW: size of " + p.name + " changed since construction");
    decay[i] = decay_[i] ? (float)(1.0 - (double)lr * cfg_.weight_decay) : 1.0f;
    if (!p.trainable) continue;  // frozen: neither updated nor decayed
    for (int64_t b = 0; b < p.size; b += kChunk) chunks.push_back({i, b, std::min(p.size, b + kChunk)});
  }
  auto body = [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const Chunk& ch = chunks[(size_t)c];
      Param& p = params[ch.i];
      adamw_range(p.data, p.grad, m_[ch.i].data(), v_[ch.i].data(), ch.b, ch.e, decay[ch.i], s);
    }
  };
  if (chunks.size() > 1) ThreadPool::global().parallel_for((int64_t)chunks.size(), body);
  else body(0, (int64_t)chunks.size());
}

void AdamW::save(const std::filesystem::path& path, const std::vector<Param>& params) const {
  check(params.size() == m_.size(), "AdamW::save: parameter count mismatch");
  std::vector<TensorRef> refs;
  std::vector<const float*> m, v;
  for (size_t i = 0; i < params.size(); ++i) {
    m.push_back(m_[i].data());
    v.push_back(v_[i].data());
  }
  save_adamw_state(path, params, m, v, t_, cfg_);
}

void save_adamw_state(const std::filesystem::path& path, const std::vector<Param>& params,
                      const std::vector<const float*>& m, const std::vector<const float*>& v, int64_t t,
                      const AdamWConfig& cfg) {
  check(m.size() == params.size() && v.size() == params.size(), "AdamW::save: parameter count mismatch");
  std::vector<TensorRef> refs;
  for (size_t i = 0; i < params.size(); ++i) {
    refs.push_back({params[i].name + ".exp_avg", params[i].shape, m[i]});
    refs.push_back({params[i].name + ".exp_avg_sq", params[i].shape, v[i]});
  }
  std::map<std::string, std::string> meta = {
      {"format", "veritas-adamw"},
      {"step", std::to_string(t)},
      {"beta1", std::to_string(cfg.beta1)},
      {"beta2", std::to_string(cfg.beta2)},
      {"eps", std::to_string(cfg.eps)},
      {"weight_decay", std::to_string(cfg.weight_decay)},
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
