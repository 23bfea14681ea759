#include "veritas/train/adamw.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "veritas/kernels/optimizer.hpp"
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

void adamw_update(float* w, const float* g, float* m, float* v, int64_t n, bool decay, float lr,
                  const AdamWConfig& cfg, int64_t t) {
  kernels::adamw_update(w, g, m, v, n, decay, lr, cfg.beta1, cfg.beta2, cfg.eps, cfg.weight_decay, t);
}

void AdamW::step(std::vector<Param>& params, float lr) {
  check(params.size() == m_.size(), "AdamW: parameter count changed since construction");
  ++t_;
  const kernels::AdamWScalars s = kernels::adamw_scalars(cfg_.beta1, cfg_.beta2, cfg_.eps, lr, t_);
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
      kernels::adamw_range(p.data, p.grad, m_[ch.i].data(), v_[ch.i].data(), ch.b, ch.e, decay[ch.i], s);
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

}  // namespace veritas
