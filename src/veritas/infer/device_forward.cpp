#include "veritas/infer/device_forward.hpp"

#include <algorithm>
#include <cmath>

#include "veritas/util/error.hpp"

namespace veritas::infer {

DeviceForward::DeviceForward(Backend& be, const HostModel& m, WeightType weights, bool kv_f16, bool record_steps)
    : be_(be), type_(weights), kv_f16_(kv_f16), record_(record_steps && be.can_record()) {
  const ModelConfig& c = *m.cfg;
  check(!c.gemma3, "--device " + be.name() + ": Gemma 3 models run on the CPU only (llama and qwen2 run on devices)");
  H = c.hidden_size, nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = c.head_dim();
  qd = nh * hd, kvd = nkv * hd, I = c.intermediate_size, V = c.vocab_size, L = c.num_hidden_layers;
  eps = c.rms_norm_eps;
  for (const HostLayer& hl : m.layers) {
    Layer l;
    l.attn_norm = upload_floats(hl.attn_norm, H);
    l.mlp_norm = upload_floats(hl.mlp_norm, H);
    if (hl.bqkv) l.bqkv = upload_floats(hl.bqkv, qd + 2 * kvd);
    l.wqkv = upload(*hl.wqkv, false);
    l.wo = upload(*hl.wo, false);
    l.w13 = upload(*hl.w13, true);
    l.w2 = upload(*hl.w2, false);
    layers_.push_back(std::move(l));
  }
  final_norm_ = upload_floats(m.final_norm, H);
  head_ = upload(*m.head, false);
}

DeviceForward::~DeviceForward() { forget_recordings(); }

void DeviceForward::forget_recordings() {
  for (auto [T, id] : recorded_) be_.forget_recording(id);
  recorded_.clear();
  ran_once_.clear();
}

DeviceBuffer DeviceForward::upload_floats(const float* p, size_t n) {
  DeviceBuffer b(be_, n * sizeof(float));
  be_.upload(b.get(), p, n * sizeof(float));
  weight_bytes_ += n * sizeof(float);
  return b;
}

DeviceForward::Weight DeviceForward::upload(const QMatrix& m, bool interleaved_pairs) {
  Weight w;
  w.rows = m.rows(), w.cols = m.cols();
  w.type = type_ == WeightType::Q8 && w.cols % 32 != 0 ? WeightType::BF16 : type_;  // Q8 needs whole blocks
  const size_t elem = w.type == WeightType::F32 ? 4 : w.type == WeightType::BF16 ? 2 : 1;
  const size_t row_bytes = (size_t)w.cols * elem, row_scales = w.type == WeightType::Q8 ? w.cols / 32 : 0;
  w.data = DeviceBuffer(be_, (size_t)w.rows * row_bytes);
  if (row_scales) w.scale = DeviceBuffer(be_, (size_t)w.rows * row_scales * sizeof(float));
  // A few MB at a time, so a large matrix never needs a second full copy on the host.
  const int chunk = std::max(1, (int)((8u << 20) / row_bytes));
  std::vector<float> row(w.cols), scales((size_t)chunk * row_scales);
  std::vector<uint8_t> staged((size_t)chunk * row_bytes);
  for (int r0 = 0; r0 < w.rows; r0 += chunk) {
    const int r1 = std::min(w.rows, r0 + chunk);
    for (int r = r0; r < r1; ++r) {
      m.row_f32(r, row.data());
      uint8_t* dst = staged.data() + (size_t)(r - r0) * row_bytes;
      if (w.type == WeightType::BF16) {
        uint16_t* d = reinterpret_cast<uint16_t*>(dst);
        for (int c = 0; c < w.cols; ++c) d[c] = f32_to_bf16(row[c]);
      } else if (w.type == WeightType::F32) {
        std::copy(row.begin(), row.end(), reinterpret_cast<float*>(dst));
      } else {  // Q8_0's rule: scale amax / 127, values rounded to nearest (a Q8_0 block comes back as it was)
        for (int b = 0; b < w.cols / 32; ++b) {
          float amax = 0;
          for (int c = 32 * b; c < 32 * b + 32; ++c) amax = std::max(amax, std::fabs(row[c]));
          const float d = amax / 127.0f;
          scales[(size_t)(r - r0) * row_scales + b] = d;
          for (int c = 32 * b; c < 32 * b + 32; ++c)
            dst[c] = (uint8_t)(int8_t)(d > 0 ? std::lrintf(std::clamp(row[c] / d, -127.0f, 127.0f)) : 0);
        }
      }
    }
    // Host row 2i is gate i (device row i), host row 2i + 1 is up i (device row rows/2 + i).
    for (int r = r0; r < r1; ++r) {
      const int dr = !interleaved_pairs ? r : r % 2 == 0 ? r / 2 : w.rows / 2 + r / 2;
      be_.upload(static_cast<uint8_t*>(w.data.get()) + (size_t)dr * row_bytes,
                 staged.data() + (size_t)(r - r0) * row_bytes, row_bytes);
      if (row_scales)
        be_.upload(w.scale.floats() + (size_t)dr * row_scales, scales.data() + (size_t)(r - r0) * row_scales,
                   row_scales * sizeof(float));
    }
  }
  weight_bytes_ += (size_t)w.rows * (row_bytes + row_scales * sizeof(float));
  return w;
}

DeviceKV DeviceForward::new_kv(int capacity) const {
  const size_t bytes = (size_t)L * capacity * kvd * kv_elem();
  return DeviceKV{DeviceBuffer(be_, bytes), DeviceBuffer(be_, bytes)};
}

void DeviceForward::copy_kv(DeviceKV& to, const DeviceKV& from, int cap, int n) const {
  const size_t layer = (size_t)cap * kvd * kv_elem(), used = (size_t)n * kvd * kv_elem();
  auto at = [](const DeviceBuffer& b, size_t off) { return static_cast<uint8_t*>(b.get()) + off; };
  for (int l = 0; l < L; ++l) {
    be_.copy(at(to.k, l * layer), at(from.k, l * layer), used);
    be_.copy(at(to.v, l * layer), at(from.v, l * layer), used);
  }
}

void DeviceForward::matmul(float* out, const float* in, const Weight& w, int T, bool accumulate) {
  if (w.type == WeightType::BF16)
    be_.matmul_bf16_weights(out, in, static_cast<const uint16_t*>(w.data.get()), T, w.cols, w.rows, accumulate);
  else if (w.type == WeightType::Q8)
    be_.matmul_q8_weights(out, in, static_cast<const int8_t*>(w.data.get()), w.scale.floats(), T, w.cols, w.rows,
                          accumulate);
  else
    be_.matmul_forward(out, in, w.data.floats(), T, w.cols, w.rows, accumulate);
}

void DeviceForward::grow(int T, int W) {
  if (T > cap_T_ || W > cap_W_) forget_recordings();  // they hold the old buffers' addresses
  if (T > cap_T_) {
    auto floats = [&](size_t n) { return DeviceBuffer(be_, n * sizeof(float)); };
    x_ = floats((size_t)T * H);
    xn_ = floats((size_t)T * H);
    qkv_ = floats((size_t)T * (qd + 2 * kvd));
    att_ = floats((size_t)T * qd);
    gu_ = floats((size_t)T * 2 * I);
    h_ = floats((size_t)T * I);
    rstd_ = floats(T);
    ptrs_ = DeviceBuffer(be_, (size_t)4 * L * T * sizeof(void*));
    pos_ = DeviceBuffer(be_, (size_t)T * sizeof(int32_t));
    cap_T_ = T;
  }
  if (W > cap_W_) {
    xw_ = DeviceBuffer(be_, (size_t)W * H * sizeof(float));
    logits_ = DeviceBuffer(be_, (size_t)W * V * sizeof(float));
    cap_W_ = W;
  }
}

void DeviceForward::run(const float* x_host, const Token* tokens, int T, const std::vector<int>& want,
                        float* logits_host, const float* rope_cos, const float* rope_sin, int rope_len) {
  const int W = (int)want.size();
  check(W <= T, "device forward: more wanted rows than tokens");
  grow(T, std::max(W, 1));
  if (rope_len > rope_len_) {
    forget_recordings();
    const size_t n = (size_t)rope_len * (hd / 2) * sizeof(float);
    cos_ = DeviceBuffer(be_, n), sin_ = DeviceBuffer(be_, n);
    be_.upload(cos_.get(), rope_cos, n);
    be_.upload(sin_.get(), rope_sin, n);
    rope_len_ = rope_len;
  }
  // Per layer: where each token's key and value go, and where its sequence's keys and
  // values start (4 tables of T addresses); one upload for the whole pass.
  std::vector<void*> ptrs((size_t)4 * L * T);
  std::vector<int32_t> pos(T);
  const size_t row = (size_t)kvd * kv_elem();
  for (int t = 0; t < T; ++t) {
    const Token& tk = tokens[t];
    check(tk.pos >= 0 && tk.pos < rope_len && tk.pos < tk.cap,
          "device forward: position outside the cache or the rope tables");
    pos[t] = tk.pos;
    for (int l = 0; l < L; ++l) {
      uint8_t* k = static_cast<uint8_t*>(tk.kv->k.get()) + (size_t)l * tk.cap * row;
      uint8_t* v = static_cast<uint8_t*>(tk.kv->v.get()) + (size_t)l * tk.cap * row;
      void** p = ptrs.data() + (size_t)4 * l * T;
      p[t] = k + (size_t)tk.pos * row;
      p[T + t] = v + (size_t)tk.pos * row;
      p[2 * T + t] = k;
      p[3 * T + t] = v;
    }
  }
  be_.upload(ptrs_.get(), ptrs.data(), ptrs.size() * sizeof(void*));
  be_.upload(pos_.get(), pos.data(), pos.size() * sizeof(int32_t));
  be_.upload(x_.get(), x_host, (size_t)T * H * sizeof(float));

  bool in_order = W == T;
  for (int i = 0; in_order && i < W; ++i) in_order = want[i] == i;
  bool done = false;
  if (record_ && in_order) {
    auto it = recorded_.find(T);
    if (it != recorded_.end()) {
      done = be_.replay(it->second);
      if (!done) recorded_.erase(it);  // stale: run it again below, record it next time
    } else if (ran_once_.count(T)) {
      be_.begin_recording();
      try {
        forward(T, want, true);
      } catch (...) {
        try {
          be_.end_recording();
        } catch (...) {
        }
        throw;
      }
      const int id = be_.end_recording();
      recorded_[T] = id;
      done = be_.replay(id);
      check(done, "device forward: a step went stale as it was recorded");
    }
    ran_once_.insert(T);
  }
  if (!done) forward(T, want, in_order);
  if (W > 0) be_.download(logits_host, logits_.get(), (size_t)W * V * sizeof(float));
}

void DeviceForward::forward(int T, const std::vector<int>& want, bool in_order) {
  const int W = (int)want.size();
  float *x = x_.floats(), *xn = xn_.floats(), *qkv = qkv_.floats(), *att = att_.floats();
  float *gu = gu_.floats(), *hb = h_.floats(), *rstd = rstd_.floats();
  const int32_t* dpos = static_cast<const int32_t*>(pos_.get());
  const int ldqkv = qd + 2 * kvd;
  for (int l = 0; l < L; ++l) {
    const Layer& w = layers_[l];
    void** p = static_cast<void**>(ptrs_.get()) + (size_t)4 * l * T;
    be_.rmsnorm_forward(xn, rstd, x, w.attn_norm.floats(), T, H, eps);
    matmul(qkv, xn, w.wqkv, T, false);
    if (w.bqkv.get()) be_.add_bias(qkv, w.bqkv.floats(), T, ldqkv);
    be_.rope_at(qkv, cos_.floats(), sin_.floats(), dpos, T, nh, hd, ldqkv);
    be_.rope_at(qkv + qd, cos_.floats(), sin_.floats(), dpos, T, nkv, hd, ldqkv);
    be_.scatter_rows(p, qkv + qd, ldqkv, T, kvd, kv_f16_);
    be_.scatter_rows(p + T, qkv + qd + kvd, ldqkv, T, kvd, kv_f16_);
    be_.attention_cached(att, qkv, ldqkv, p + 2 * T, p + 3 * T, dpos, T, nh, nkv, hd, kvd, kv_f16_);
    matmul(x, att, w.wo, T, true);  // the residual connection
    be_.rmsnorm_forward(xn, rstd, x, w.mlp_norm.floats(), T, H, eps);
    matmul(gu, xn, w.w13, T, false);
    be_.swiglu_forward(hb, gu, T, I);
    matmul(x, hb, w.w2, T, true);
  }
  if (W == 0) return;
  // The wanted rows: all of them in order (a batch of sequences), or gathered.
  const float* src = x;
  if (!in_order) {
    for (int i = 0; i < W; ++i) be_.copy(xw_.floats() + (size_t)i * H, x + (size_t)want[i] * H, H * sizeof(float));
    src = xw_.floats();
  }
  be_.rmsnorm_forward(xn, rstd, src, final_norm_.floats(), W, H, eps);
  matmul(logits_.floats(), xn, head_, W, false);
}

}  // namespace veritas::infer
