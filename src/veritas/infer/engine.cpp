#include "veritas/infer/engine.hpp"

#include <algorithm>
#include <cmath>
#include <atomic>
#include <mutex>
#include <thread>
#include <tuple>

#include "veritas/backend/backend.hpp"
#include "veritas/infer/device_forward.hpp"
#include "veritas/infer/gguf_model.hpp"
#include "veritas/infer/hf_model.hpp"
#include "veritas/kernels/vexp.hpp"
#include "veritas/model/quant.hpp"
#include "veritas/model/safetensors.hpp"
#include "veritas/tokenizer/chat_template.hpp"
#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/thread_pool.hpp"

namespace veritas::infer {

namespace fs = std::filesystem;

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Length: return "length";
    case FinishReason::Stop: return "stop";
    case FinishReason::Callback: return "callback";
    case FinishReason::ContextFull: return "context";
  }
  return "?";
}

void KVCache::truncate(int n) {
  check(n >= 0 && n <= n_, "KVCache::truncate: " + std::to_string(n) + " is outside [0, " + std::to_string(n_) + "]");
  n_ = n;
}

KVType parse_kv_type(const std::string& s) {
  if (s == "f32") return KVType::F32;
  if (s == "f16") return KVType::F16;
  throw Error("unknown KV-cache type '" + s + "' (f32 or f16)");
}

size_t KVCache::bytes() const {
  if (dev_) return 2 * (size_t)layers_ * cap_ * kv_heads_ * head_dim_ * elem_;
  return k_.size() + v_.size();
}

KVCache KVCache::fork() const {
  KVCache c;
  c.type_ = type_;
  c.elem_ = elem_;
  c.layers_ = layers_;
  c.kv_heads_ = kv_heads_;
  c.head_dim_ = head_dim_;
  c.cap_ = cap_;
  c.n_ = n_;
  if (dev_) {
    c.devf_ = devf_;
    c.dev_ = std::make_shared<DeviceKV>(devf_->new_kv(cap_));
    devf_->copy_kv(*c.dev_, *dev_, cap_, n_);
    return c;
  }
  c.k_.resize(k_.size(), false);
  c.v_.resize(v_.size(), false);
  // Copy only the filled positions of each (layer, head) slab.
  size_t slab = (size_t)cap_ * head_dim_ * elem_, used = (size_t)n_ * head_dim_ * elem_;
  for (size_t s = 0; s < (size_t)layers_ * kv_heads_; ++s) {
    std::memcpy(c.k_.data() + s * slab, k_.data() + s * slab, used);
    std::memcpy(c.v_.data() + s * slab, v_.data() + s * slab, used);
  }
  return c;
}

namespace {

struct LayerW {
  Buffer<float> attn_norm, mlp_norm;
  QMatrix wqkv;  // [q; k; v] rows fused: one pass over the normalized input
  Buffer<float> bqkv;  // [q; k; v] biases (Qwen2), empty when the model has none
  QMatrix wo;
  QMatrix w13;   // gate and up rows interleaved (gate 0, up 0, gate 1, ...)
  QMatrix w2;
  // Gemma 3 only (empty otherwise): per-head norms of q and k, norms of the attention and
  // MLP outputs.
  Buffer<float> q_norm, k_norm, post_attn_norm, post_mlp_norm;
};

struct Item {  // one token being processed: its sequence and position
  KVCache* cache;
  int pos;
};

constexpr int kChunk = 64;

// PyTorch's gelu(approximate="tanh") (Gemma's gelu_pytorch_tanh).
inline float gelu_tanh(float v) {
  const float k = 0.7978845608028654f;  // sqrt(2 / pi)
  return 0.5f * v * (1.0f + std::tanh(k * (v + 0.044715f * v * v * v)));
}

}  // namespace

struct Engine::Impl {
  ModelConfig cfg;
  EngineOptions opt;
  int H = 0, hd = 0, nh = 0, nkv = 0, qd = 0, kvd = 0, I = 0, V = 0, L = 0;
  // Token embeddings: fp32 rows, or, when a GGUF file's embedding is used as blocks
  // (Precision::GGUF), those blocks, each looked-up row dequantized (as llama.cpp's
  // get_rows): the same values without an fp32 copy of the table (113 MB for SmolLM2).
  Buffer<float> embed;
  QMatrix embed_blocks;         // untied model: its own blocks
  bool embed_is_head = false;   // tied model: the head's blocks
  Buffer<float> final_norm;
  QMatrix head;
  std::vector<LayerW> layers;
  int rope_len = 0;
  Buffer<float> rope_cos, rope_sin;  // [position][hd/2]
  Buffer<float> local_cos, local_sin;  // the same for sliding-window layers' own base (Gemma 3)
  float embed_scale = 1.0f;
  std::shared_ptr<const Tokenizer> tok;
  std::mutex mu;
  std::unique_ptr<DeviceForward> dev;  // the forward pass on a device (EngineOptions::device)

  // Scratch for up to scratch_T tokens.
  int scratch_T = 0;
  Buffer<float> x, xn, qkv, att, tmp, gu, hbuf;
  QuantActs qa;
  std::vector<std::vector<float>> scores;  // attention scores, one buffer per thread

  void rope_tables(int n, float theta, Buffer<float>& cos_t, Buffer<float>& sin_t) const {
    const int half = hd / 2;
    cos_t.resize((size_t)n * half, false);
    sin_t.resize((size_t)n * half, false);
    // Same float32 steps as the Hugging Face rotary embedding: inv_freq, then pos * inv_freq.
    for (int i = 0; i < half; ++i) {
      float inv = 1.0f / std::pow(theta, (float)(2 * i) / (float)hd);
      for (int p = 0; p < n; ++p) {
        float a = (float)p * inv;
        cos_t[(size_t)p * half + i] = (float)std::cos((double)a);
        sin_t[(size_t)p * half + i] = (float)std::sin((double)a);
      }
    }
  }
  void ensure_rope(int n) {
    if (n <= rope_len) return;
    rope_tables(n, cfg.rope_theta, rope_cos, rope_sin);
    if (!cfg.rope) {  // no position encoding: the identity rotation
      std::fill(rope_cos.data(), rope_cos.data() + rope_cos.size(), 1.0f);
      std::fill(rope_sin.data(), rope_sin.data() + rope_sin.size(), 0.0f);
    }
    if (cfg.sliding_window > 0) rope_tables(n, cfg.rope_local_theta, local_cos, local_sin);
    rope_len = n;
  }

  void ensure_scratch(int T) {
    if (T <= scratch_T) return;
    x.resize((size_t)T * H);
    xn.resize((size_t)T * H);
    qkv.resize((size_t)T * (qd + 2 * kvd));
    att.resize((size_t)T * qd);
    tmp.resize((size_t)T * std::max(H, qd));
    gu.resize((size_t)T * 2 * I);
    hbuf.resize((size_t)T * I);
    scratch_T = T;
  }

  void rope(float* v, int pos, bool local) const {
    const int half = hd / 2;
    const float* c = (local ? local_cos : rope_cos).data() + (size_t)pos * half;
    const float* s = (local ? local_sin : rope_sin).data() + (size_t)pos * half;
    for (int i = 0; i < half; ++i) {
      float a = v[i], b = v[i + half];
      v[i] = a * c[i] - b * s[i];
      v[i + half] = b * c[i] + a * s[i];
    }
  }

  // Causal attention of one query head over positions [0, pos] of its cache (the last
  // sliding_window of them on a sliding-window layer).
  void attend(KVCache& c, int layer, int pos, int h, const float* q, float* out, std::vector<float>& sc) const {
    const int j0 = cfg.is_sliding_layer(layer) ? std::max(0, pos - cfg.sliding_window + 1) : 0;
    const int kvh = h / (nh / nkv);
    const bool f16 = c.type_ == KVType::F16;
    const float* K = reinterpret_cast<const float*>(c.k(layer, kvh));
    const float* Vv = reinterpret_cast<const float*>(c.v(layer, kvh));
    const uint16_t* K16 = reinterpret_cast<const uint16_t*>(c.k(layer, kvh));
    const uint16_t* V16 = reinterpret_cast<const uint16_t*>(c.v(layer, kvh));
    const float scale = 1.0f / std::sqrt(cfg.query_pre_attn_scalar > 0 ? cfg.query_pre_attn_scalar : (float)hd);
    const int n = pos - j0 + 1;
    sc.resize(n);
    if (f16) attn_scores(q, K16 + (size_t)j0 * hd, n, hd, scale, sc.data());
    else attn_scores(q, K + (size_t)j0 * hd, n, hd, scale, sc.data());
    const float inv = 1.0f / kernels::exp_shift_sum(sc.data(), sc.data(), n, kernels::max_of(sc.data(), n));
    for (float& p : sc) p *= inv;
    if (f16) attn_mix(sc.data(), V16 + (size_t)j0 * hd, n, hd, out);
    else attn_mix(sc.data(), Vv + (size_t)j0 * hd, n, hd, out);
  }

  // Writes one head's key or value at `pos` in the cache's type.
  static void store_kv(const KVCache& c, uint8_t* slab, int pos, const float* src, int n) {
    if (c.type_ == KVType::F32) {
      std::memcpy(slab + (size_t)pos * n * sizeof(float), src, n * sizeof(float));
    } else {
      uint16_t* dst = reinterpret_cast<uint16_t*>(slab) + (size_t)pos * n;
      for (int i = 0; i < n; ++i) dst[i] = f32_to_f16(src[i]);
    }
  }

  // ---------------------------------------------------------------------------------
  // A forward pass is a fixed list of steps (phases); each phase is cut into chunks
  // (row blocks of a matrix, attention heads, tokens), and the chunks into one range per
  // thread. A thread takes the chunks of its own range first, then helps with the
  // others' (atomic counters, one a range); whoever finishes a phase's last chunk opens
  // the next. No thread has to take part: on a busy machine a helper that is not
  // scheduled simply does no chunks, and the caller's thread finishes the pass alone (a
  // fixed split with barriers would wait for it at every step). Which thread computes a
  // chunk never changes its result.
  //
  // Since a thread knows its first chunk of the next matrix product, it prefetches that
  // chunk's weights into L2 while it waits (while the other thread norms, ropes or
  // quantizes alone), so that the wait overlaps with the stream from DRAM.
  enum class Step { Norm1, Qkv, Rope, Attn, QuantAtt, Wo, Norm2, W13, QuantH, W2, Final, Head };
  struct Phase {
    Step step;
    int layer, chunks, rows_per_chunk;
  };
  std::vector<Phase> phases;
  std::unique_ptr<std::atomic<int>[]> next_chunk, done_chunks;  // next_chunk: nth_ a phase
  size_t phase_cap = 0;
  int nth_ = 1, chunk_cap_nth = 0;
  std::atomic<int> open_phase{0};
  static constexpr size_t kPrefetchBytes = 256 << 10;  // a quarter of a Zen 4 core's L2

  int range_begin(const Phase& ph, int r) const { return (int)((int64_t)ph.chunks * r / nth_); }

  // The next chunk of phase p for thread tid (its own range first), or -1.
  int claim(int p, const Phase& ph, int tid) {
    for (int k = 0; k < nth_; ++k) {
      const int r = (tid + k) % nth_;
      const int c = range_begin(ph, r) + next_chunk[(size_t)p * nth_ + r].fetch_add(1, std::memory_order_relaxed);
      if (c < range_begin(ph, r + 1)) return c;
    }
    return -1;
  }

  // The matrix a phase multiplies by (null for the other steps).
  const QMatrix* matrix_of(const Phase& ph) const {
    switch (ph.step) {
      case Step::Qkv: return &layers[ph.layer].wqkv;
      case Step::Wo: return &layers[ph.layer].wo;
      case Step::W13: return &layers[ph.layer].w13;
      case Step::W2: return &layers[ph.layer].w2;
      case Step::Head: return &head;
      default: return nullptr;
    }
  }

  // The weights of thread tid's first chunk of the first matrix phase from p on; q is set
  // to that phase (phases.size() if none).
  QMatrix::Bytes first_chunk_bytes(int p, int tid, int& q) const {
    for (q = p; q < (int)phases.size(); ++q) {
      const Phase& ph = phases[q];
      const QMatrix* W = matrix_of(ph);
      if (!W) continue;
      const int c = range_begin(ph, tid);
      if (c >= range_begin(ph, tid + 1)) return {};
      const QMatrix::Bytes b = W->row_bytes(c * ph.rows_per_chunk, (c + 1) * ph.rows_per_chunk);
      return {b.data, std::min(b.size, kPrefetchBytes)};
    }
    return {};
  }

  // About two chunks of a matrix per thread, of whole groups of 16 rows (interleaved
  // Q4_1/Q8_0), at least one group. With 32 small chunks a matrix, two threads decoding
  // took neighbouring chunks in turn, so each one's stream of weights skipped every other
  // few KiB and the prefetchers fetched for the wrong thread: SmolLM2 Q4_1 decoded at 233
  // tokens/s against 317 with 4 chunks (302-340 with one chunk a thread, where a thread
  // that stalls holds up the other).
  static int rows_per_chunk(int rows) {
    const int want = 2 * ThreadPool::global().size();
    return std::max(16, ((rows + want - 1) / want + 15) / 16 * 16);
  }
  void add_matrix_phase(Step s, int l, const QMatrix& W) {
    int r = rows_per_chunk(W.rows());
    phases.push_back({s, l, (W.rows() + r - 1) / r, r});
  }

  // Current pass.
  const Item* items_ = nullptr;
  int T_ = 0;
  const std::vector<int>* want_ = nullptr;
  float* logits_ = nullptr;

  // x += out, where out is a sublayer's output (Gemma 3 first normalizes it, in place).
  void add_residual(float* xt, float* out, const Buffer<float>& post_norm) const {
    if (post_norm.size()) rmsnorm(out, post_norm.data(), H, cfg.rms_norm_eps, out);
    for (int i = 0; i < H; ++i) xt[i] += out[i];
  }

  void matmul_chunk(const QMatrix& W, const Phase& ph, int c, const float* xin, int ldx, int T, float* y, int ldy) {
    int r0 = c * ph.rows_per_chunk, r1 = std::min(W.rows(), r0 + ph.rows_per_chunk);
    W.matmul(xin, ldx, W.uses_quant_acts() ? &qa : nullptr, T, y, ldy, r0, r1);
  }

  void run_chunk(const Phase& ph, int c, int tid) {
    const int T = T_;
    const int ldqkv = qd + 2 * kvd;
    const int l = ph.layer;
    switch (ph.step) {
      case Step::Norm1: {  // chunk = token: residual of the previous layer, norm, quantize
        float* xt = x.data() + (size_t)c * H;
        if (l > 0) add_residual(xt, tmp.data() + (size_t)c * H, layers[l - 1].post_mlp_norm);
        rmsnorm(xt, layers[l].attn_norm.data(), H, cfg.rms_norm_eps, xn.data() + (size_t)c * H);
        if (layers[l].wqkv.uses_quant_acts()) qa.quantize_row(c, xn.data() + (size_t)c * H);
        break;
      }
      case Step::Qkv: matmul_chunk(*matrix_of(ph), ph, c, xn.data(), H, T, qkv.data(), ldqkv); break;
      case Step::Rope: {  // chunk = token
        float* q = qkv.data() + (size_t)c * ldqkv;
        float* k = q + qd;
        float* v = k + kvd;
        const int pos = items_[c].pos;
        KVCache& cache = *items_[c].cache;
        if (layers[l].bqkv.size())
          for (int i = 0; i < ldqkv; ++i) q[i] += layers[l].bqkv[i];
        const LayerW& w = layers[l];
        if (w.q_norm.size()) {
          for (int h = 0; h < nh; ++h) rmsnorm(q + h * hd, w.q_norm.data(), hd, cfg.rms_norm_eps, q + h * hd);
          for (int h = 0; h < nkv; ++h) rmsnorm(k + h * hd, w.k_norm.data(), hd, cfg.rms_norm_eps, k + h * hd);
        }
        const bool local = cfg.is_sliding_layer(l);
        for (int h = 0; h < nh; ++h) rope(q + h * hd, pos, local);
        for (int h = 0; h < nkv; ++h) {
          rope(k + h * hd, pos, local);
          store_kv(cache, cache.k(l, h), pos, k + h * hd, hd);
          store_kv(cache, cache.v(l, h), pos, v + h * hd, hd);
        }
        break;
      }
      case Step::Attn: {  // chunk = (token, head)
        int t = c / nh, h = c % nh;
        attend(*items_[t].cache, l, items_[t].pos, h, qkv.data() + (size_t)t * ldqkv + h * hd,
               att.data() + (size_t)t * qd + h * hd, scores[tid]);
        break;
      }
      case Step::QuantAtt: qa.quantize_row(c, att.data() + (size_t)c * qd); break;
      case Step::Wo: matmul_chunk(*matrix_of(ph), ph, c, att.data(), qd, T, tmp.data(), H); break;
      case Step::Norm2: {  // chunk = token
        float* xt = x.data() + (size_t)c * H;
        add_residual(xt, tmp.data() + (size_t)c * H, layers[l].post_attn_norm);
        rmsnorm(xt, layers[l].mlp_norm.data(), H, cfg.rms_norm_eps, xn.data() + (size_t)c * H);
        if (layers[l].w13.uses_quant_acts()) qa.quantize_row(c, xn.data() + (size_t)c * H);
        break;
      }
      case Step::W13: {  // gate and up rows are interleaved: a chunk holds whole pairs
        matmul_chunk(*matrix_of(ph), ph, c, xn.data(), H, T, gu.data(), 2 * I);
        int u0 = c * ph.rows_per_chunk / 2, u1 = std::min(I, u0 + ph.rows_per_chunk / 2);
        // libm's exp, not kernels/vexp: vexp made prompts 20% faster but moved roundings
        // of the int8 activations enough to push a near-tie of SmolLM2.BlockKernelsAgree-
        // WithLlamaCpp past its bound (3.6% of the logit scale, limit 3%).
        for (int t = 0; t < T; ++t) {
          const float* g = gu.data() + (size_t)t * 2 * I;
          float* hh = hbuf.data() + (size_t)t * I;
          if (cfg.gemma3)
            for (int i = u0; i < u1; ++i) hh[i] = gelu_tanh(g[2 * i]) * g[2 * i + 1];
          else
            for (int i = u0; i < u1; ++i) hh[i] = g[2 * i] / (1.0f + std::exp(-g[2 * i])) * g[2 * i + 1];
        }
        break;
      }
      case Step::QuantH: qa.quantize_row(c, hbuf.data() + (size_t)c * I); break;
      case Step::W2: matmul_chunk(*matrix_of(ph), ph, c, hbuf.data(), I, T, tmp.data(), H); break;
      case Step::Final: {  // chunk = wanted token
        int t = (*want_)[c];
        float* xt = x.data() + (size_t)t * H;
        add_residual(xt, tmp.data() + (size_t)t * H, layers[L - 1].post_mlp_norm);
        rmsnorm(xt, final_norm.data(), H, cfg.rms_norm_eps, xn.data() + (size_t)c * H);
        if (head.uses_quant_acts()) qa.quantize_row(c, xn.data() + (size_t)c * H);
        break;
      }
      case Step::Head: matmul_chunk(*matrix_of(ph), ph, c, xn.data(), H, (int)want_->size(), logits_, V); break;
    }
  }

  // Quantized activations are prepared (sized) when their phase opens.
  void open(int p) {
    if (p < (int)phases.size()) {
      const Phase& ph = phases[p];
      const int T = T_;
      switch (ph.step) {
        case Step::Norm1: qa.prepare(T, H); break;
        case Step::QuantAtt: qa.prepare(T, qd); break;
        case Step::Norm2: qa.prepare(T, H); break;
        case Step::QuantH: qa.prepare(T, I); break;
        case Step::Final: qa.prepare((int)want_->size(), H); break;
        default: break;
      }
    }
    open_phase.store(p, std::memory_order_release);
  }

  void work(int tid) {
    const int P = (int)phases.size();
    int pf_phase = -1;  // the matrix phase being prefetched, and how far
    QMatrix::Bytes pf{};
    size_t pf_done = 0;
    for (int p = 0; p < P; ++p) {
      if (open_phase.load(std::memory_order_acquire) < p && p > pf_phase) {
        int q;
        pf = first_chunk_bytes(p, tid, q);
        pf_phase = q;
        pf_done = 0;
      }
      for (int spin = 0; open_phase.load(std::memory_order_acquire) < p; ++spin) {
        if (pf_done < pf.size) {  // a few lines at a time, so the open phase is seen soon
          for (int i = 0; i < 4 && pf_done < pf.size; ++i, pf_done += 64)
            __builtin_prefetch(pf.data + pf_done, 0, 2);  // into L2, as simd::prefetch_stream
          spin = 0;
        } else if (spin < 2000) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          std::this_thread::yield();
        }
      }
      const Phase& ph = phases[p];
      for (;;) {
        const int c = claim(p, ph, tid);
        if (c < 0) break;
        run_chunk(ph, c, tid);
        if (done_chunks[p].fetch_add(1, std::memory_order_acq_rel) + 1 == ph.chunks) open(p + 1);
      }
    }
  }

  // Runs T tokens (each with its own cache and position) through the model. Logits are
  // written for the tokens listed in `want` (in that order) into `logits`.
  void run(const Item* items, const int32_t* ids, int T, const std::vector<int>& want, float* logits) {
    ensure_scratch(T);
    int maxpos = 0;
    for (int t = 0; t < T; ++t) {
      check(ids[t] >= 0 && ids[t] < V,
            "token id " + std::to_string(ids[t]) + " is outside the vocabulary [0, " + std::to_string(V) + ")");
      check(items[t].pos < items[t].cache->cap_, "KV cache full (" + std::to_string(items[t].cache->cap_) + " positions)");
      check(items[t].cache->layers_ == L && items[t].cache->kv_heads_ == nkv && items[t].cache->head_dim_ == hd,
            "KV cache was made for a different model");
      check(items[t].cache->devf_ == dev.get(),  // nullptr on both sides for the CPU
            dev ? "KV cache was not made by this engine (" + dev->backend().name() + ")"
                : std::string("KV cache lives on a device: this engine runs on the CPU"));
      maxpos = std::max(maxpos, items[t].pos);
      float* xt = x.data() + (size_t)t * H;
      if (embed_is_head)
        head.row_f32(ids[t], xt);
      else if (embed_blocks.rows())
        embed_blocks.row_f32(ids[t], xt);
      else
        std::memcpy(xt, embed.data() + (size_t)ids[t] * H, H * sizeof(float));
      if (embed_scale != 1.0f)
        for (int i = 0; i < H; ++i) xt[i] *= embed_scale;
    }
    ensure_rope(maxpos + 1);
    if (dev) {
      std::vector<DeviceForward::Token> toks(T);
      for (int t = 0; t < T; ++t) toks[t] = {items[t].cache->dev_.get(), items[t].cache->cap_, items[t].pos};
      dev->run(x.data(), toks.data(), T, want, logits, rope_cos.data(), rope_sin.data(), rope_len);
      for (int t = 0; t < T; ++t) items[t].cache->n_ = std::max(items[t].cache->n_, items[t].pos + 1);
      return;
    }
    // Size the quantized-activation buffers once, so no phase allocates.
    qa.prepare(std::max<int>(T, (int)want.size()), std::max({H, qd, I}));
    items_ = items;
    T_ = T;
    want_ = &want;
    logits_ = logits;
    phases.clear();
    for (int l = 0; l < L; ++l) {
      const LayerW& w = layers[l];
      phases.push_back({Step::Norm1, l, T, 0});
      add_matrix_phase(Step::Qkv, l, w.wqkv);
      phases.push_back({Step::Rope, l, T, 0});
      phases.push_back({Step::Attn, l, T * nh, 0});
      if (w.wo.uses_quant_acts()) phases.push_back({Step::QuantAtt, l, T, 0});
      add_matrix_phase(Step::Wo, l, w.wo);
      phases.push_back({Step::Norm2, l, T, 0});
      add_matrix_phase(Step::W13, l, w.w13);
      if (w.w2.uses_quant_acts()) phases.push_back({Step::QuantH, l, T, 0});
      add_matrix_phase(Step::W2, l, w.w2);
    }
    if (!want.empty()) {
      phases.push_back({Step::Final, L, (int)want.size(), 0});
      add_matrix_phase(Step::Head, L, head);
    }
    ThreadPool& pool = ThreadPool::global();
    const int nth = pool.size();
    nth_ = nth;
    if (phase_cap < phases.size() || chunk_cap_nth < nth) {
      phase_cap = std::max(phase_cap, phases.size());
      chunk_cap_nth = std::max(chunk_cap_nth, nth);
      next_chunk.reset(new std::atomic<int>[phase_cap * chunk_cap_nth]);
      done_chunks.reset(new std::atomic<int>[phase_cap]);
    }
    for (size_t p = 0; p < phases.size(); ++p) {
      for (int r = 0; r < nth; ++r) next_chunk[p * nth + r].store(0, std::memory_order_relaxed);
      done_chunks[p].store(0, std::memory_order_relaxed);
    }
    if ((int)scores.size() < nth) scores.resize(nth);
    open(0);
    // Nothing in work() throws (inputs were checked above), so no thread can strand another.
    pool.parallel_for(nth, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) work((int)i);
    });
    for (int t = 0; t < T; ++t) items[t].cache->n_ = std::max(items[t].cache->n_, items[t].pos + 1);
  }
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

const ModelConfig& Engine::config() const { return impl_->cfg; }
Precision Engine::precision() const { return impl_->opt.precision; }
std::string Engine::device() const { return impl_->dev ? impl_->dev->backend().describe() : "cpu"; }
const Tokenizer* Engine::tokenizer() const { return impl_->tok.get(); }
void Engine::set_tokenizer(std::shared_ptr<const Tokenizer> tok) {
  if (tok)
    check(tok->vocab_size() <= impl_->V, "tokenizer has " + std::to_string(tok->vocab_size()) +
                                             " tokens but the model's vocab_size is " + std::to_string(impl_->V));
  impl_->tok = std::move(tok);
}

void Engine::token_embedding(int32_t id, float* out) const {
  const Impl& m = *impl_;
  check(id >= 0 && id < m.V, "token id " + std::to_string(id) + " is outside the vocabulary");
  if (m.embed_is_head)
    m.head.row_f32(id, out);
  else if (m.embed_blocks.rows())
    m.embed_blocks.row_f32(id, out);
  else
    std::memcpy(out, m.embed.data() + (size_t)id * m.H, m.H * sizeof(float));
}

size_t Engine::weight_bytes_per_token() const {
  if (impl_->dev) return impl_->dev->weight_bytes() + (size_t)impl_->H * sizeof(float);  // + one embedding row
  size_t b = impl_->head.weight_bytes() + (size_t)impl_->H * sizeof(float) * (1 + 2 * impl_->L);  // + norms
  for (auto& w : impl_->layers) b += w.wqkv.weight_bytes() + w.wo.weight_bytes() + w.w13.weight_bytes() + w.w2.weight_bytes();
  return b + (size_t)impl_->H * sizeof(float);  // one embedding row
}

std::vector<int32_t> Engine::end_tokens() const {
  std::vector<int32_t> out;
  if (!impl_->tok) return out;
  // veritas's own end markers, the chat template's end of turn, the model's end of sequence.
  for (const char* s : {kEndOfText, kEndOfTurn, chat_template_of(*impl_->tok).end_of_turn()})
    if (auto id = impl_->tok->token_id(s)) out.push_back(*id);
  if (auto eos = impl_->tok->eos_id()) out.push_back(*eos);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The device exists: said before any weight is read.
static void check_device(const EngineOptions& opt) {
  if (opt.device != "cpu") backend_named(opt.device);
}

Engine Engine::from_weights(const ModelConfig& cfg, const WeightSource& src, const EngineOptions& opt,
                            const BlockSource& blocks) {
  check_device(opt);
  cfg.validate();
  Engine e;
  Impl& m = *e.impl_;
  m.cfg = cfg;
  m.opt = opt;
  m.H = cfg.hidden_size;
  m.nh = cfg.num_attention_heads;
  m.nkv = cfg.num_key_value_heads;
  m.hd = cfg.head_dim();
  check((m.hd * m.nh == m.H || cfg.head_dim_override > 0) && m.hd % 2 == 0,
        "config: hidden_size must be num_attention_heads x an even head_dim");
  check(m.nkv > 0 && m.nh % m.nkv == 0, "config: num_attention_heads must be a multiple of num_key_value_heads");
  m.qd = m.nh * m.hd;
  m.kvd = m.nkv * m.hd;
  m.I = cfg.intermediate_size;
  m.V = cfg.vocab_size;
  m.L = cfg.num_hidden_layers;
  if (m.opt.context <= 0) m.opt.context = cfg.max_position_embeddings;
  const int64_t H = m.H;
  // transformers multiplies by sqrt(hidden_size) cast to the weights' dtype (fp32 here).
  if (cfg.gemma3) m.embed_scale = (float)std::sqrt((double)H);

  auto need = [&](const std::string& name, std::vector<int64_t> shape, float* dst) {
    if (!src(name, shape, dst)) throw Error("missing tensor '" + name + "'");
  };
  std::vector<float> buf;
  // Precision::GGUF: matrices whose parts all come as blocks of one type keep them;
  // every other matrix is fp32.
  const bool native = opt.precision == Precision::GGUF && blocks;
  const Precision dense = opt.precision == Precision::GGUF ? Precision::F32 : opt.precision;
  // The blocks of each part and their types, or false when some part has none.
  auto block_parts_mixed = [&](const std::vector<std::pair<std::string, int64_t>>& parts, int64_t cols,
                               std::vector<std::vector<uint8_t>>& out, std::vector<Precision>& ps) {
    if (!native) return false;
    out.assign(parts.size(), {});
    ps.assign(parts.size(), Precision::F32);
    for (size_t i = 0; i < parts.size(); ++i)
      if (!blocks(parts[i].first, {parts[i].second, cols}, ps[i], out[i])) return false;
    return true;
  };
  // The same, also false when the types differ.
  auto block_parts = [&](const std::vector<std::pair<std::string, int64_t>>& parts, int64_t cols,
                         std::vector<std::vector<uint8_t>>& out, Precision& p) {
    std::vector<Precision> ps;
    if (!block_parts_mixed(parts, cols, out, ps)) return false;
    for (Precision q : ps)
      if (q != ps[0]) return false;
    p = ps[0];
    return true;
  };
  auto fused = [&](const std::vector<std::pair<std::string, int64_t>>& parts, int64_t cols) {
    int64_t rows = 0;
    for (auto& p : parts) rows += p.second;
    std::vector<std::vector<uint8_t>> bp;
    std::vector<Precision> bprecs;
    // Parts of different block types (llama.cpp's Q4_K_M: attn_v Q6_K, attn_q/k Q4_K)
    // stay as they are, one row range each.
    if (block_parts_mixed(parts, cols, bp, bprecs)) {
      std::vector<QMatrix::BlockPart> bparts;
      for (size_t i = 0; i < parts.size(); ++i) bparts.push_back({bp[i].data(), (int)parts[i].second, bprecs[i]});
      return QMatrix::from_block_parts(bparts, (int)cols);
    }
    buf.assign((size_t)(rows * cols), 0.0f);
    int64_t r = 0;
    for (auto& [name, n] : parts) {
      need(name, {n, cols}, buf.data() + r * cols);
      r += n;
    }
    return QMatrix::from_f32(buf.data(), (int)rows, (int)cols, dense);
  };

  {
    std::vector<std::vector<uint8_t>> eb;
    Precision ep;
    if (block_parts({{"model.embed_tokens.weight", m.V}}, H, eb, ep)) {
      // Tied: the head below is made of the same blocks and serves both.
      if (cfg.tie_word_embeddings)
        m.embed_is_head = true;
      else
        m.embed_blocks = QMatrix::from_blocks(eb[0].data(), m.V, m.H, ep);
    } else {
      m.embed.resize_weights((size_t)m.V * H);
      need("model.embed_tokens.weight", {m.V, H}, m.embed.data());
    }
  }
  m.layers.resize(m.L);
  for (int l = 0; l < m.L; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    LayerW& w = m.layers[l];
    w.attn_norm.resize(H, false);
    w.mlp_norm.resize(H, false);
    need(p + "input_layernorm.weight", {H}, w.attn_norm.data());
    // Llama's post_attention_layernorm is the norm before the MLP; Gemma 3 calls that
    // pre_feedforward_layernorm and has a norm after each sublayer as well.
    need(p + (cfg.gemma3 ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"), {H},
         w.mlp_norm.data());
    if (cfg.gemma3) {
      for (auto [buf_p, name, n] : {std::tuple{&w.q_norm, "self_attn.q_norm.weight", (int64_t)m.hd},
                                    std::tuple{&w.k_norm, "self_attn.k_norm.weight", (int64_t)m.hd},
                                    std::tuple{&w.post_attn_norm, "post_attention_layernorm.weight", H},
                                    std::tuple{&w.post_mlp_norm, "post_feedforward_layernorm.weight", H}}) {
        buf_p->resize(n, false);
        need(p + name, {n}, buf_p->data());
      }
    }
    w.wqkv = fused({{p + "self_attn.q_proj.weight", m.qd}, {p + "self_attn.k_proj.weight", m.kvd},
                    {p + "self_attn.v_proj.weight", m.kvd}},
                   H);
    {
      // q/k/v biases, when the architecture has them (Qwen2).
      if (cfg.attention_bias) {
        w.bqkv.resize(m.qd + 2 * m.kvd);
        need(p + "self_attn.q_proj.bias", {m.qd}, w.bqkv.data());
        need(p + "self_attn.k_proj.bias", {m.kvd}, w.bqkv.data() + m.qd);
        need(p + "self_attn.v_proj.bias", {m.kvd}, w.bqkv.data() + m.qd + m.kvd);
      }
    }
    w.wo = fused({{p + "self_attn.o_proj.weight", H}}, m.qd);
    std::vector<std::vector<uint8_t>> bp;
    Precision bprec;
    if (block_parts({{p + "mlp.gate_proj.weight", m.I}, {p + "mlp.up_proj.weight", m.I}}, H, bp, bprec)) {
      // gate row i and up row i side by side, as below.
      const size_t rb = bp[0].size() / m.I;
      std::vector<uint8_t> all(bp[0].size() * 2);
      for (int i = 0; i < m.I; ++i) {
        std::memcpy(all.data() + (2 * i) * rb, bp[0].data() + i * rb, rb);
        std::memcpy(all.data() + (2 * i + 1) * rb, bp[1].data() + i * rb, rb);
      }
      w.w13 = QMatrix::from_blocks(all.data(), 2 * m.I, m.H, bprec);
    } else {
      // gate row i and up row i side by side, so any block of rows holds whole pairs.
      std::vector<float> g((size_t)m.I * H), u((size_t)m.I * H);
      need(p + "mlp.gate_proj.weight", {m.I, H}, g.data());
      need(p + "mlp.up_proj.weight", {m.I, H}, u.data());
      buf.resize((size_t)2 * m.I * H);
      for (int i = 0; i < m.I; ++i) {
        std::memcpy(buf.data() + (size_t)(2 * i) * H, g.data() + (size_t)i * H, H * sizeof(float));
        std::memcpy(buf.data() + (size_t)(2 * i + 1) * H, u.data() + (size_t)i * H, H * sizeof(float));
      }
      w.w13 = QMatrix::from_f32(buf.data(), 2 * m.I, m.H, dense);
    }
    w.w2 = fused({{p + "mlp.down_proj.weight", H}}, m.I);
  }
  m.final_norm.resize(H, false);
  need("model.norm.weight", {H}, m.final_norm.data());
  std::vector<std::vector<uint8_t>> hb;
  Precision hprec;
  if (block_parts({{cfg.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight", m.V}}, H, hb, hprec)) {
    m.head = QMatrix::from_blocks(hb[0].data(), m.V, m.H, hprec);
  } else {
    buf.assign((size_t)m.V * H, 0.0f);
    if (cfg.tie_word_embeddings || !src("lm_head.weight", {m.V, H}, buf.data())) {
      check(cfg.tie_word_embeddings, "missing tensor 'lm_head.weight' (tie_word_embeddings is false)");
      std::memcpy(buf.data(), m.embed.data(), buf.size() * sizeof(float));
    }
    m.head = QMatrix::from_f32(buf.data(), m.V, m.H, dense);
  }
  m.ensure_rope(m.opt.context);
  if (m.opt.device != "cpu") {
    HostModel hm{&m.cfg, {}, m.final_norm.data(), &m.head};
    for (const LayerW& w : m.layers)
      hm.layers.push_back({w.attn_norm.data(), w.mlp_norm.data(), &w.wqkv, w.bqkv.size() ? w.bqkv.data() : nullptr,
                           &w.wo, &w.w13, &w.w2});
    // fp32 stays fp32, a GGUF's blocks become Q8 blocks, the rest bf16.
    const WeightType wt = m.opt.precision == Precision::F32    ? WeightType::F32
                          : m.opt.precision == Precision::GGUF ? WeightType::Q8
                                                               : WeightType::BF16;
    m.dev = std::make_unique<DeviceForward>(backend_named(m.opt.device), hm, wt, m.opt.kv_cache == KVType::F16,
                                            m.opt.record_steps);
  }
  return e;
}

Engine Engine::load(const fs::path& dir, const EngineOptions& opt) {
  check_device(opt);
  if (fs::is_regular_file(dir)) return load_gguf(dir, opt);
  check(fs::is_directory(dir), "checkpoint folder " + dir.string() + " does not exist");
  // veritas's checkpoints and Hugging Face directories share one layout (hf_model.hpp).
  const fs::path cfg_path = dir / "config.json", st_path = dir / "model.safetensors";
  check(fs::exists(cfg_path), cfg_path.string() + ": missing (a checkpoint needs config.json)");
  check(fs::exists(st_path) || fs::exists(dir / "model.safetensors.index.json"),
        st_path.string() + ": missing (a checkpoint needs model.safetensors or model.safetensors.index.json)");
  ModelConfig cfg = hf_config(dir);
  HfWeights w = HfWeights::open(dir, cfg);
  EngineOptions o = opt;
  // Imported models declare long contexts (8k-128k); the KV cache defaults to 4096.
  if (o.context <= 0) o.context = std::min(cfg.max_position_embeddings, 4096);
  Engine e;
  try {
    e = from_weights(cfg, w.source(), o);
  } catch (const Error& err) {
    std::string msg = err.what();
    throw Error(msg.find(dir.string()) == std::string::npos ? w.name() + ": " + msg : msg);
  }
  fs::path tok_path = dir / "tokenizer.json";
  if (opt.load_tokenizer && fs::exists(tok_path)) e.set_tokenizer(std::make_shared<const Tokenizer>(hf_tokenizer(dir)));
  return e;
}

Engine Engine::load_gguf(const std::filesystem::path& file, const EngineOptions& opt) {
  check_device(opt);
  GgufFile f = GgufFile::open(file);
  ModelConfig cfg = gguf_config(f);
  EngineOptions o = opt;
  // Imported models declare long contexts (8k-128k); the KV cache defaults to 4096.
  if (o.context <= 0) o.context = std::min(cfg.max_position_embeddings, 4096);
  Engine e;
  try {
    e = from_weights(cfg, gguf_weights(f, cfg), o, gguf_blocks(f, cfg));
  } catch (const Error& err) {
    std::string msg = err.what();
    throw Error(msg.find(f.name()) == std::string::npos ? f.name() + ": " + msg : msg);
  }
  if (opt.load_tokenizer) e.set_tokenizer(std::make_shared<const Tokenizer>(gguf_tokenizer(f)));
  return e;
}

KVCache Engine::new_cache(int capacity) const {
  const Impl& m = *impl_;
  if (capacity <= 0) capacity = m.opt.context;
  KVCache c;
  c.layers_ = m.L;
  c.kv_heads_ = m.nkv;
  c.head_dim_ = m.hd;
  c.cap_ = capacity;
  c.type_ = m.opt.kv_cache;
  c.elem_ = c.type_ == KVType::F16 ? sizeof(uint16_t) : sizeof(float);
  if (m.dev) {
    c.devf_ = m.dev.get();
    c.dev_ = std::make_shared<DeviceKV>(m.dev->new_kv(capacity));
    return c;
  }
  size_t n = (size_t)m.L * m.nkv * capacity * m.hd * c.elem_;
  c.k_.resize(n, false);
  c.v_.resize(n, false);
  return c;
}

void Engine::forward(KVCache& cache, const int32_t* ids, int n, float* logits, bool all_logits) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  check(n > 0, "forward: no tokens");
  check(cache.size() + n <= cache.capacity(), std::to_string(cache.size()) + " + " + std::to_string(n) +
                                                  " tokens do not fit the context of " + std::to_string(cache.capacity()));
  std::vector<Item> items;
  std::vector<int> want;
  for (int s = 0; s < n; s += kChunk) {
    int T = std::min(kChunk, n - s);
    items.clear();
    want.clear();
    int p0 = cache.size();
    for (int t = 0; t < T; ++t) items.push_back({&cache, p0 + t});
    float* out = nullptr;
    if (all_logits) {
      for (int t = 0; t < T; ++t) want.push_back(t);
      out = logits + (size_t)s * impl_->V;
    } else if (s + T == n) {
      want.push_back(T - 1);
      out = logits;
    }
    impl_->run(items.data(), ids + s, T, want, out);
  }
}

void Engine::forward_batch(const std::vector<KVCache*>& caches, const int32_t* ids, float* logits) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  std::vector<Item> items;
  std::vector<int> want;
  for (size_t b = 0; b < caches.size(); ++b) {
    for (size_t j = 0; j < b; ++j) check(caches[j] != caches[b], "forward_batch: the same cache appears twice");
    items.push_back({caches[b], caches[b]->size()});
    want.push_back((int)b);
  }
  for (size_t s = 0; s < items.size(); s += kChunk) {
    int T = (int)std::min<size_t>(kChunk, items.size() - s);
    std::vector<int> w(want.begin(), want.begin() + T);
    impl_->run(items.data() + s, ids + s, T, w, logits + s * impl_->V);
  }
}

}  // namespace veritas::infer
