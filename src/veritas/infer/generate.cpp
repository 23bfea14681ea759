// Generation on top of Engine::forward: sampling, stop tokens and strings, streamed text,
// and generate_k's k samples that share one prompt cache and decode as a batch.
#include <functional>
#include <string_view>
#include <vector>

#include "veritas/infer/engine.hpp"
#include "veritas/infer/text_stream.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/timer.hpp"

namespace veritas::infer {

namespace {

// Per-sequence sampling state shared by generate and generate_k.
struct SeqState {
  Sampler sampler;
  TextStream text;
  Generation gen;
  bool done = false;
  SeqState(const SamplingOptions& o, uint64_t seed, const Tokenizer* tok)
      : sampler(o, seed), text(tok, o.stop_strings) {}
};

// Samples the next token of one sequence from its logits. Returns true when the token
// must be fed to the model (the sequence continues, or keep_cache asks for it).
bool step_seq(SeqState& s, const float* logits, int V, const SamplingOptions& opt,
              const std::vector<int32_t>& stops, KVCache& cache, bool keep_cache,
              const std::function<bool(int32_t, std::string_view)>& cb, int32_t* next) {
  if ((int)s.gen.tokens.size() >= opt.max_tokens) {
    s.gen.finish = FinishReason::Length;
    s.done = true;
    return false;
  }
  int32_t id = s.sampler.sample(logits, V);
  if (std::find(stops.begin(), stops.end(), id) != stops.end()) {
    s.gen.finish = FinishReason::Stop;
    s.done = true;
    return false;
  }
  s.gen.tokens.push_back(id);
  std::string piece = s.text.push(id);
  bool cont = true;
  if (s.text.stopped()) {
    s.gen.finish = FinishReason::Stop;
    cont = false;
  }
  if (cb && !cb(id, piece)) {
    if (cont) s.gen.finish = FinishReason::Callback;
    cont = false;
  }
  if (cont && (int)s.gen.tokens.size() >= opt.max_tokens) {
    s.gen.finish = FinishReason::Length;
    cont = false;
  }
  if (cache.size() >= cache.capacity()) {
    if (cont) s.gen.finish = FinishReason::ContextFull;
    s.done = true;
    return false;
  }
  s.done = !cont;
  *next = id;
  return cont || keep_cache;
}

void finish_seq(SeqState& s, const std::function<bool(int32_t, std::string_view)>& cb) {
  std::string rest = s.text.flush();
  if (cb && !rest.empty()) cb(-1, rest);
  s.gen.text = s.text.text();
}

}  // namespace

namespace {

Generation generate_impl(Engine& eng, KVCache& cache, const std::vector<int32_t>& input, const SamplingOptions& opt,
                         const TokenCallback& on_token, bool keep_cache) {
  check(!input.empty(), "generate: empty prompt");
  const int V = eng.config().vocab_size;
  std::vector<int32_t> stops = opt.stop_tokens;
  if (opt.stop_at_end_tokens)
    for (int32_t id : eng.end_tokens()) stops.push_back(id);
  SeqState s(opt, opt.seed, eng.tokenizer());
  s.gen.prompt_tokens = (int)input.size();
  std::vector<float> logits(V);
  Timer t;
  eng.forward(cache, input.data(), (int)input.size(), logits.data());
  s.gen.prefill_seconds = t.seconds();
  t.reset();
  int32_t next;
  while (step_seq(s, logits.data(), V, opt, stops, cache, keep_cache, on_token, &next)) {
    eng.forward(cache, &next, 1, logits.data());
    if (s.done) break;
  }
  s.gen.decode_seconds = t.seconds();
  finish_seq(s, on_token);
  return std::move(s.gen);
}

}  // namespace

Generation Engine::generate(const std::vector<int32_t>& prompt, const SamplingOptions& opt, const TokenCallback& on_token) {
  KVCache cache = new_cache();
  return generate_impl(*this, cache, prompt, opt, on_token, false);
}

Generation Engine::generate(KVCache& cache, const std::vector<int32_t>& input, const SamplingOptions& opt,
                            const TokenCallback& on_token) {
  return generate_impl(*this, cache, input, opt, on_token, true);
}

std::vector<Generation> Engine::generate_k(const std::vector<int32_t>& prompt, int k, const SamplingOptions& opt,
                                           const BatchTokenCallback& on_token) {
  check(!prompt.empty(), "generate_k: empty prompt");
  check(k > 0, "generate_k: k must be positive");
  const int V = config().vocab_size;
  std::vector<int32_t> stops = opt.stop_tokens;
  if (opt.stop_at_end_tokens)
    for (int32_t id : end_tokens()) stops.push_back(id);
  KVCache base = new_cache();
  std::vector<float> first(V);
  Timer t;
  forward(base, prompt.data(), (int)prompt.size(), first.data());
  double prefill = t.seconds();
  t.reset();
  std::vector<KVCache> caches;
  std::vector<SeqState> seqs;
  caches.reserve(k);
  seqs.reserve(k);
  for (int i = 0; i < k; ++i) {
    caches.push_back(i + 1 < k ? base.fork() : std::move(base));
    seqs.emplace_back(opt, opt.seed + (uint64_t)i, tokenizer());
    seqs.back().gen.prompt_tokens = (int)prompt.size();
  }
  std::vector<float> logits((size_t)k * V);
  for (int i = 0; i < k; ++i) std::memcpy(logits.data() + (size_t)i * V, first.data(), V * sizeof(float));
  std::vector<int> row(k);
  for (int i = 0; i < k; ++i) row[i] = i;
  std::vector<KVCache*> feed;
  std::vector<int32_t> ids;
  std::vector<int> feed_seq;
  for (;;) {
    feed.clear();
    ids.clear();
    feed_seq.clear();
    for (int i = 0; i < k; ++i) {
      if (seqs[i].done || row[i] < 0) continue;
      std::function<bool(int32_t, std::string_view)> cb;
      if (on_token) cb = [&, i](int32_t id, std::string_view text) { return on_token(i, id, text); };
      int32_t next;
      bool f = step_seq(seqs[i], logits.data() + (size_t)row[i] * V, V, opt, stops, caches[i], false, cb, &next);
      row[i] = -1;
      if (f) {
        feed.push_back(&caches[i]);
        ids.push_back(next);
        feed_seq.push_back(i);
      }
    }
    if (feed.empty()) break;
    forward_batch(feed, ids.data(), logits.data());
    for (size_t j = 0; j < feed_seq.size(); ++j) row[feed_seq[j]] = (int)j;
  }
  double decode = t.seconds();
  std::vector<Generation> out;
  for (int i = 0; i < k; ++i) {
    std::function<bool(int32_t, std::string_view)> cb;
    if (on_token) cb = [&, i](int32_t id, std::string_view text) { return on_token(i, id, text); };
    finish_seq(seqs[i], cb);
    seqs[i].gen.prefill_seconds = prefill;
    seqs[i].gen.decode_seconds = decode;
    out.push_back(std::move(seqs[i].gen));
  }
  return out;
}

}  // namespace veritas::infer
