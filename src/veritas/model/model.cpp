#include "veritas/model/model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "veritas/backend/backend.hpp"
#include "veritas/kernels/kernels.hpp"
#include "veritas/model/safetensors.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/rng.hpp"

namespace veritas {

namespace k = kernels;

namespace {
struct LayerW {
  float *ln1, *wq, *wk, *wv, *wo, *ln2, *wg, *wu, *wd;
};
struct LayerActs {
  float *xn1, *rstd1, *qkv, *probs, *att, *x2, *xn2, *rstd2, *gu, *h;
};
}  // namespace

struct Model::Impl {
  ModelConfig cfg;
  Backend* be;
  int maxB, maxT;
  int64_t n_params = 0;
  DeviceBuffer weights;  // on the host: what files are read into and written from
  DeviceBuffer grads;    // on the backend
  // On a device backend (!be->host_memory()): the weights the kernels use and the batch's
  // tokens; on the CPU the kernels use `weights` and the caller's tokens.
  DeviceBuffer dev_weights, dev_tokens;
  int32_t *d_inputs = nullptr, *d_targets = nullptr;
  float *d_mask = nullptr, *d_logp = nullptr;
  std::vector<Param> params;
  float *embed = nullptr, *norm = nullptr, *lm_head = nullptr;
  float *d_embed = nullptr, *d_norm = nullptr, *d_lm_head = nullptr;
  std::vector<LayerW> w, dw;

  // activations (sized for maxB x maxT), the backend's memory
  std::vector<DeviceBuffer> owned;
  std::vector<float*> res;  // residual stream: res[0] = embeddings, res[l+1] = output of layer l
  std::vector<LayerActs> acts;
  float *xf, *rstdf, *logits, *lse;
  // backward scratch, shared by all layers
  float *dres, *dxn, *dqkv, *datt, *dh;
  float *rope_cos, *rope_sin;
  std::function<void(size_t, size_t)> grad_ready;
  int train_from = 0;  // set_train_from_layer

  float* alloc(int64_t n) {
    owned.emplace_back(*be, sizeof(float) * (size_t)std::max<int64_t>(n, 1));
    return owned.back().floats();
  }
  bool on_host() const { return be->host_memory(); }

  Impl(const ModelConfig& c, int B, int T, Backend& backend) : cfg(c), be(&backend), maxB(B), maxT(T) {
    cfg.validate();
    check(B > 0 && T > 0, "Model: max_batch and max_seq must be positive");
    const int64_t C = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size;
    const int64_t KC = (int64_t)cfg.num_key_value_heads * cfg.head_dim();
    const int L = cfg.num_hidden_layers, H = cfg.num_attention_heads;

    // Parameters in Hugging Face order, one contiguous block (and one for gradients).
    struct Spec {
      std::string name;
      std::vector<int64_t> shape;
    };
    std::vector<Spec> specs;
    specs.push_back({"model.embed_tokens.weight", {V, C}});
    for (int l = 0; l < L; ++l) {
      std::string p = "model.layers." + std::to_string(l) + ".";
      specs.push_back({p + "input_layernorm.weight", {C}});
      specs.push_back({p + "self_attn.q_proj.weight", {C, C}});
      specs.push_back({p + "self_attn.k_proj.weight", {KC, C}});
      specs.push_back({p + "self_attn.v_proj.weight", {KC, C}});
      specs.push_back({p + "self_attn.o_proj.weight", {C, C}});
      specs.push_back({p + "post_attention_layernorm.weight", {C}});
      specs.push_back({p + "mlp.gate_proj.weight", {I, C}});
      specs.push_back({p + "mlp.up_proj.weight", {I, C}});
      specs.push_back({p + "mlp.down_proj.weight", {C, I}});
    }
    specs.push_back({"model.norm.weight", {C}});
    if (!cfg.tie_word_embeddings) specs.push_back({"lm_head.weight", {V, C}});
    for (auto& s : specs) {
      int64_t n = 1;
      for (auto d : s.shape) n *= d;
      n_params += n;
    }
    const size_t bytes = sizeof(float) * (size_t)n_params;
    weights = DeviceBuffer(cpu_backend(), bytes);
    std::memset(weights.get(), 0, bytes);
    grads = DeviceBuffer(*be, bytes);
    be->zero(grads.get(), bytes);
    float* dweights = weights.floats();
    if (!on_host()) {
      dev_weights = DeviceBuffer(*be, bytes);
      dweights = dev_weights.floats();
    }
    int64_t off = 0;
    for (auto& s : specs) {
      Param p;
      p.name = s.name;
      p.shape = s.shape;
      p.size = 1;
      for (auto d : s.shape) p.size *= d;
      p.data = weights.floats() + off;
      p.grad = on_host() ? grads.floats() + off : nullptr;  // a device's are not the host's to read
      p.dev_data = dweights + off;
      p.dev_grad = grads.floats() + off;
      off += p.size;
      params.push_back(std::move(p));
    }
    size_t i = 0;
    auto next = [&](float** g) {  // the pointers the kernels use
      *g = params[i].dev_grad;
      return params[i++].dev_data;
    };
    embed = next(&d_embed);
    w.resize(L);
    dw.resize(L);
    for (int l = 0; l < L; ++l) {
      auto &a = w[l], &d = dw[l];
      a.ln1 = next(&d.ln1), a.wq = next(&d.wq), a.wk = next(&d.wk), a.wv = next(&d.wv), a.wo = next(&d.wo);
      a.ln2 = next(&d.ln2), a.wg = next(&d.wg), a.wu = next(&d.wu), a.wd = next(&d.wd);
    }
    // q/k/v and gate/up are adjacent in the block, so each group is one [sum of outs, C]
    // matrix: one GEMM per group instead of three (two).
    for (int l = 0; l < L; ++l) {
      check(w[l].wk == w[l].wq + C * C && w[l].wv == w[l].wk + KC * C && w[l].wu == w[l].wg + I * C,
            "Model: internal parameter layout");
    }
    norm = next(&d_norm);
    if (cfg.tie_word_embeddings) {
      lm_head = embed;
      d_lm_head = d_embed;
    } else {
      lm_head = next(&d_lm_head);
    }

    const int64_t N = (int64_t)B * T;
    for (int l = 0; l <= L; ++l) res.push_back(alloc(N * C));
    acts.resize(L);
    for (auto& a : acts) {
      a.xn1 = alloc(N * C), a.rstd1 = alloc(N), a.qkv = alloc(N * (C + 2 * KC));
      a.probs = alloc((int64_t)B * H * T * T), a.att = alloc(N * C), a.x2 = alloc(N * C);
      a.xn2 = alloc(N * C), a.rstd2 = alloc(N), a.gu = alloc(N * 2 * I), a.h = alloc(N * I);
    }
    xf = alloc(N * C), rstdf = alloc(N), logits = alloc(N * V), lse = alloc(N);
    dres = alloc(N * C), dxn = alloc(N * C), dqkv = alloc(N * (C + 2 * KC));
    datt = alloc(N * C), dh = alloc(N * I);
    const int64_t half = cfg.head_dim() / 2;
    std::vector<float> cs((size_t)(T * half)), sn((size_t)(T * half));
    k::rope_tables(cs.data(), sn.data(), T, cfg.head_dim(), cfg.rope_theta);
    if (!cfg.rope) std::fill(cs.begin(), cs.end(), 1.0f), std::fill(sn.begin(), sn.end(), 0.0f);  // identity
    rope_cos = alloc(T * half), rope_sin = alloc(T * half);
    be->upload(rope_cos, cs.data(), sizeof(float) * cs.size());
    be->upload(rope_sin, sn.data(), sizeof(float) * sn.size());
    if (!on_host()) {
      dev_tokens = DeviceBuffer(*be, sizeof(int32_t) * 2 * N);
      d_inputs = static_cast<int32_t*>(dev_tokens.get()), d_targets = d_inputs + N;
      d_mask = alloc(N), d_logp = alloc(N);
    }
  }

  // The batch on the backend: the caller's host pointers on the CPU, copies (into `dst`)
  // on a device.
  template <class T>
  const T* put(T* dst, const T* src, int64_t N) {
    if (on_host() || !src) return src;
    be->upload(dst, src, sizeof(T) * N);
    return dst;
  }
  void upload_weights() {
    if (!on_host()) be->upload(dev_weights.get(), weights.get(), sizeof(float) * n_params);
  }
  void download_weights() {
    if (!on_host()) be->download(weights.get(), dev_weights.get(), sizeof(float) * n_params);
  }

  void check_batch(const int32_t* inputs, int B, int T) const {
    check(B > 0 && T > 0, "Model: batch and sequence length must be positive");
    check(B <= maxB && T <= maxT, "Model: batch " + std::to_string(B) + " x " + std::to_string(T) +
                                      " exceeds the allocated " + std::to_string(maxB) + " x " + std::to_string(maxT));
    for (int64_t n = 0; n < (int64_t)B * T; ++n)
      check(inputs[n] >= 0 && inputs[n] < cfg.vocab_size,
            "Model: input token id " + std::to_string(inputs[n]) + " at position " + std::to_string(n) +
                " is outside the vocabulary [0, " + std::to_string(cfg.vocab_size) + ")");
  }

  void check_targets(const int32_t* targets, const float* mask, int64_t N) const {
    for (int64_t n = 0; n < N; ++n) {
      if (mask && mask[n] == 0.0f) continue;
      check(targets[n] >= 0 && targets[n] < cfg.vocab_size,
            "Model: target token id " + std::to_string(targets[n]) + " at position " + std::to_string(n) +
                " is outside the vocabulary [0, " + std::to_string(cfg.vocab_size) + ")");
      if (mask)
        check(std::isfinite(mask[n]) && mask[n] >= 0.0f,
              "Model: mask weight at position " + std::to_string(n) + " must be finite and non-negative");
    }
  }

  // Runs the network up to the logits ([B*T, V] into out, the backend's memory); inputs
  // are on the backend (put).
  void forward(const int32_t* inputs, int B, int T, float* out) {
    const int64_t N = (int64_t)B * T;
    const int C = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size;
    const int H = cfg.num_attention_heads, KVH = cfg.num_key_value_heads, hd = cfg.head_dim();
    const int KC = KVH * hd, LD = C + 2 * KC;
    const float eps = cfg.rms_norm_eps;
    be->embedding_forward(res[0], inputs, embed, N, C);
    for (int l = 0; l < cfg.num_hidden_layers; ++l) {
      const LayerW& W = w[l];
      LayerActs& a = acts[l];
      float* x = res[l];
      be->rmsnorm_forward(a.xn1, a.rstd1, x, W.ln1, N, C, eps);
      be->matmul_forward(a.qkv, a.xn1, W.wq, N, C, LD, false);  // q | k | v
      be->rope_forward(a.qkv, rope_cos, rope_sin, B, T, H, hd, LD);
      be->rope_forward(a.qkv + C, rope_cos, rope_sin, B, T, KVH, hd, LD);
      be->attention_forward(a.att, a.probs, a.qkv, B, T, H, KVH, hd);
      be->copy(a.x2, x, sizeof(float) * N * C);
      be->matmul_forward(a.x2, a.att, W.wo, N, C, C, true);  // x2 = x + o_proj(att)
      be->rmsnorm_forward(a.xn2, a.rstd2, a.x2, W.ln2, N, C, eps);
      be->matmul_forward(a.gu, a.xn2, W.wg, N, C, 2 * I, false);  // gate | up
      be->swiglu_forward(a.h, a.gu, N, I);
      float* y = res[l + 1];
      be->copy(y, a.x2, sizeof(float) * N * C);
      be->matmul_forward(y, a.h, W.wd, N, I, C, true);  // y = x2 + down_proj(h)
    }
    be->rmsnorm_forward(xf, rstdf, res[cfg.num_hidden_layers], norm, N, C, eps);
    be->matmul_forward(out, xf, lm_head, N, C, V, false);
  }

  void backward(const int32_t* inputs, int B, int T) {
    const int64_t N = (int64_t)B * T;
    const int C = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size;
    const int H = cfg.num_attention_heads, KVH = cfg.num_key_value_heads, hd = cfg.head_dim();
    const int KC = KVH * hd, LD = C + 2 * KC, L = cfg.num_hidden_layers;
    // logits holds dlogits here. A frozen tied head (train_from > 0) needs only dxn.
    const bool head_frozen = train_from > 0 && cfg.tie_word_embeddings;
    be->matmul_backward(dxn, head_frozen ? nullptr : d_lm_head, logits, xf, lm_head, N, C, V, false);
    be->zero(dres, sizeof(float) * N * C);
    be->rmsnorm_backward(dres, d_norm, dxn, res[L], norm, rstdf, N, C);
    // Parameter order: embeddings, 9 per layer, final norm, untied head (see Impl()).
    if (grad_ready) grad_ready(1 + 9 * (size_t)L, params.size());
    for (int l = L - 1; l >= train_from; --l) {
      const LayerW& W = w[l];
      const LayerW& D = dw[l];
      LayerActs& a = acts[l];
      // MLP: res[l+1] = x2 + down(silu(gate(xn2)) * up(xn2)); dres is d res[l+1].
      be->matmul_backward(dh, D.wd, dres, a.h, W.wd, N, I, C, false);
      be->swiglu_backward(a.gu, dh, a.gu, N, I);  // a.gu now holds d gate | d up
      be->matmul_backward(dxn, D.wg, a.gu, a.xn2, W.wg, N, C, 2 * I, false);
      be->rmsnorm_backward(dres, D.ln2, dxn, a.x2, W.ln2, a.rstd2, N, C);  // dres = d x2
      // Attention: x2 = res[l] + o_proj(attn(rope(q), rope(k), v)).
      be->matmul_backward(datt, D.wo, dres, a.att, W.wo, N, C, C, false);
      be->attention_backward(dqkv, a.probs, datt, a.att, a.qkv, B, T, H, KVH, hd);
      be->rope_backward(dqkv, rope_cos, rope_sin, B, T, H, hd, LD);
      be->rope_backward(dqkv + C, rope_cos, rope_sin, B, T, KVH, hd, LD);
      be->matmul_backward(dxn, D.wq, dqkv, a.xn1, W.wq, N, C, LD, false);
      be->rmsnorm_backward(dres, D.ln1, dxn, res[l], W.ln1, a.rstd1, N, C);  // dres = d res[l]
      if (grad_ready) grad_ready(1 + 9 * (size_t)l, 10 + 9 * (size_t)l);
    }
    if (train_from == 0) {
      be->embedding_backward(d_embed, dres, inputs, N, C);
    } else if (grad_ready) {
      grad_ready(1, 1 + 9 * (size_t)train_from);  // frozen: their zero gradients are final
    }
    if (grad_ready) grad_ready(0, 1);
  }
};

Model::Model(const ModelConfig& cfg, int max_batch, int max_seq, Backend& backend)
    : impl_(std::make_unique<Impl>(cfg, max_batch, max_seq, backend)) {}
Model::~Model() = default;

const ModelConfig& Model::config() const { return impl_->cfg; }
std::vector<Param>& Model::params() { return impl_->params; }
Backend& Model::backend() const { return *impl_->be; }
void Model::upload_weights() { impl_->upload_weights(); }
void Model::download_weights() { impl_->download_weights(); }

void Model::init_weights(uint64_t seed) {
  Rng rng(seed);
  for (auto& p : impl_->params) {
    if (p.shape.size() == 1) {
      for (int64_t i = 0; i < p.size; ++i) p.data[i] = 1.0f;
      continue;
    }
    // Box-Muller, both outputs of each pair used (init of a 124M model is then ~1 s).
    for (int64_t i = 0; i < p.size; i += 2) {
      double u1 = rng.uniform(), u2 = rng.uniform();
      if (u1 < 1e-300) u1 = 1e-300;
      const double r = 0.02 * std::sqrt(-2.0 * std::log(u1)), a = 6.283185307179586 * u2;
      p.data[i] = (float)(r * std::cos(a));
      if (i + 1 < p.size) p.data[i + 1] = (float)(r * std::sin(a));
    }
  }
  impl_->upload_weights();
}

void Model::load(const std::filesystem::path& path) {
  SafeTensors st = SafeTensors::load(path);
  std::set<std::string> known;
  for (auto& p : impl_->params) {
    if (!st.find(p.name))
      throw Error(path.string() + ": missing tensor \"" + p.name + "\"" +
                  (p.name == "lm_head.weight" ? " (config says tie_word_embeddings = false)" : ""));
    st.read_f32(p.name, p.shape, p.data);  // checks the shape against the config
    known.insert(p.name);
  }
  for (auto& t : st.tensors()) {
    if (known.count(t.name)) continue;
    // Older HF checkpoints store RoPE frequencies; a tied model may still carry lm_head.
    if (t.name.find("rotary_emb.inv_freq") != std::string::npos) continue;
    if (t.name == "lm_head.weight" && impl_->cfg.tie_word_embeddings) continue;
    throw Error(path.string() + ": unexpected tensor \"" + t.name + "\" (does config.json match this checkpoint?)");
  }
  impl_->upload_weights();
}

void Model::save(const std::filesystem::path& path) const {
  impl_->download_weights();
  std::vector<TensorRef> refs;
  for (auto& p : impl_->params) refs.push_back({p.name, p.shape, p.data});
  save_safetensors(path, refs, {{"format", "pt"}});
}

float Model::forward_backward(const int32_t* inputs, const int32_t* targets, const float* mask, int B, int T,
                              float grad_scale) {
  auto& m = *impl_;
  m.check_batch(inputs, B, T);
  const int64_t N = (int64_t)B * T;
  m.check_targets(targets, mask, N);
  const int32_t* in = m.put(m.d_inputs, inputs, N);
  m.forward(in, B, T, m.logits);
  float loss = m.be->cross_entropy_fused(m.logits, m.lse, m.put(m.d_targets, targets, N), m.put(m.d_mask, mask, N), N,
                                         m.cfg.vocab_size, grad_scale);
  m.backward(in, B, T);
  return loss;
}

float Model::forward_loss(const int32_t* inputs, const int32_t* targets, const float* mask, int B, int T) {
  auto& m = *impl_;
  m.check_batch(inputs, B, T);
  const int64_t N = (int64_t)B * T;
  m.check_targets(targets, mask, N);
  m.forward(m.put(m.d_inputs, inputs, N), B, T, m.logits);
  return m.be->cross_entropy_loss(m.lse, m.logits, m.put(m.d_targets, targets, N), m.put(m.d_mask, mask, N), N,
                                  m.cfg.vocab_size);
}

void Model::forward_logits(const int32_t* inputs, int B, int T, float* logits) {
  auto& m = *impl_;
  m.check_batch(inputs, B, T);
  const int64_t N = (int64_t)B * T;
  m.forward(m.put(m.d_inputs, inputs, N), B, T, m.on_host() ? logits : m.logits);
  if (!m.on_host()) m.be->download(logits, m.logits, sizeof(float) * N * m.cfg.vocab_size);
}

void Model::token_logprobs(const int32_t* inputs, const int32_t* targets, int B, int T, float* logp) {
  auto& m = *impl_;
  m.check_batch(inputs, B, T);
  const int64_t N = (int64_t)B * T;
  m.check_targets(targets, nullptr, N);
  m.forward(m.put(m.d_inputs, inputs, N), B, T, m.logits);
  m.be->target_logprobs(m.on_host() ? logp : m.d_logp, m.lse, m.logits, m.put(m.d_targets, targets, N), N,
                        m.cfg.vocab_size);
  if (!m.on_host()) m.be->download(logp, m.d_logp, sizeof(float) * N);
}

double Model::forward_backward_logprob(const int32_t* inputs, const int32_t* targets, int B, int T,
                                       const std::function<double(const float* logp, float* dlogp)>& loss_fn) {
  auto& m = *impl_;
  m.check_batch(inputs, B, T);
  const int64_t N = (int64_t)B * T;
  m.check_targets(targets, nullptr, N);
  const int32_t* in = m.put(m.d_inputs, inputs, N);
  const int32_t* tg = m.put(m.d_targets, targets, N);
  m.forward(in, B, T, m.logits);
  const int V = m.cfg.vocab_size;
  std::vector<float> logp(N), dlogp(N, 0.0f);
  m.be->target_logprobs(m.on_host() ? logp.data() : m.d_logp, m.lse, m.logits, tg, N, V);
  if (!m.on_host()) m.be->download(logp.data(), m.d_logp, sizeof(float) * N);
  const double loss = loss_fn(logp.data(), dlogp.data());
  for (int64_t n = 0; n < N; ++n)
    check(std::isfinite(dlogp[n]), "Model: loss gradient at position " + std::to_string(n) + " is not finite");
  const float* dl = dlogp.data();
  if (!m.on_host()) {
    m.be->upload(m.d_logp, dlogp.data(), sizeof(float) * N);
    dl = m.d_logp;
  }
  m.be->logprob_backward(m.logits, m.logits, m.lse, tg, dl, N, V);
  m.backward(in, B, T);
  return loss;
}

void Model::set_grad_ready_hook(std::function<void(size_t, size_t)> hook) { impl_->grad_ready = std::move(hook); }

void Model::set_train_from_layer(int first) {
  auto& m = *impl_;
  check(first >= 0 && first < m.cfg.num_hidden_layers,
        "Model: the first trained layer must be in [0, " + std::to_string(m.cfg.num_hidden_layers) + "), got " +
            std::to_string(first));
  m.train_from = first;
  // Parameter order: embeddings, 9 per layer, final norm, untied head.
  for (size_t i = 0; i < m.params.size(); ++i) m.params[i].trainable = first == 0 || i >= 1 + 9 * (size_t)first;
}

int Model::train_from_layer() const { return impl_->train_from; }

void Model::zero_grad() {
  auto& m = *impl_;
  m.be->zero(m.grads.get(), sizeof(float) * m.n_params);
}

}  // namespace veritas
