// Spun-text features: each token's cell (frequency bucket, left/right pair state,
// synonym evidence) and the document-level features over them; the tortured-phrase
// lexicon.
#include "veritas/data/spun_model.hpp"

namespace veritas::spun {

// ------------------------------------------------------------------ tortured phrases
// Known substitution pairs, written for this project after the examples reported by
// Cabanac, Labbé & Magazinov (2021), "Tortured phrases: A dubious writing style
// emerging in science" (arXiv:2107.06751). Only the spun side is matched.
const std::vector<std::pair<std::string, std::string>>& tortured_pairs() {
  static const std::vector<std::pair<std::string, std::string>> v = {
      {"counterfeit consciousness", "artificial intelligence"},
      {"man-made consciousness", "artificial intelligence"},
      {"man-made brainpower", "artificial intelligence"},
      {"fake knowledge", "artificial intelligence"},
      {"profound learning", "deep learning"},
      {"profound neural organization", "deep neural network"},
      {"neural organization", "neural network"},
      {"convolutional neural organization", "convolutional neural network"},
      {"colossal information", "big data"},
      {"enormous information", "big data"},
      {"huge information", "big data"},
      {"irregular woodland", "random forest"},
      {"arbitrary woodland", "random forest"},
      {"choice tree", "decision tree"},
      {"bolster vector machine", "support vector machine"},
      {"backing vector machine", "support vector machine"},
      {"k-closest neighbor", "k-nearest neighbor"},
      {"flag to clamor", "signal to noise"},
      {"flag to commotion", "signal to noise"},
      {"bosom malignancy", "breast cancer"},
      {"bosom disease", "breast cancer"},
      {"bosom peril", "breast cancer"},
      {"mean square blunder", "mean square error"},
      {"haphazard access memory", "random access memory"},
      {"cloud registering", "cloud computing"},
      {"remote sensor organization", "wireless sensor network"},
      {"web of things", "internet of things"},
      {"vitality utilization", "energy consumption"},
      {"vitality productivity", "energy efficiency"},
      {"pc vision", "computer vision"},
      {"common language handling", "natural language processing"},
      {"characteristic language preparing", "natural language processing"},
      {"straight relapse", "linear regression"},
      {"calculated relapse", "logistic regression"},
      {"subterranean insect settlement", "ant colony"},
      {"molecule swarm enhancement", "particle swarm optimization"},
      {"hereditary calculation", "genetic algorithm"},
      {"fluffy rationale", "fuzzy logic"},
      {"shrewd matrix", "smart grid"},
      {"worldwide positioning framework", "global positioning system"},
      {"circulatory strain", "blood pressure"},
      {"kidney disappointment", "kidney failure"},
      {"heart disappointment", "heart failure"},
      {"motor vitality", "kinetic energy"},
      {"information stockroom", "data warehouse"},
      {"versatile organization", "mobile network"},
  };
  return v;
}
const PhraseMatcher& tortured_matcher() {
  static const PhraseMatcher m([] {
    std::vector<std::string> v;
    for (auto& p : tortured_pairs()) v.push_back(p.first);
    return v;
  }());
  return m;
}

void count_zh_char_bigrams(Table& t, std::string_view s, uint32_t weight) {
  size_t i = 0, prev = std::string::npos;
  while (i < s.size()) {
    size_t st = i;
    uint32_t c = utf8_next(s, i);
    bool han = is_han(c) && i - st == 3;
    if (han && prev != std::string::npos) t.add(hash_bytes(s.substr(prev, 6)), weight);
    prev = han ? st : std::string::npos;
  }
}

inline int freq_bucket(uint32_t c, bool zh) {
  // English counts come from ~1.9M reference tokens; jieba frequencies from a far larger corpus.
  if (zh) return c == 0 ? 0 : c < 30 ? 1 : c < 300 ? 2 : c < 3000 ? 3 : c < 30000 ? 4 : 5;
  return c == 0 ? 0 : c < 3 ? 1 : c < 10 ? 2 : c < 100 ? 3 : c < 1000 ? 4 : 5;
}
// Pair state from the observed count c12 against the count expected if the two words
// were independent, E = c1 c2 / N: an unseen pair means little when E is tiny and a lot
// when E is large. 0: no neighbour (sentence break); 1-3: unseen with E < 0.3, < 3, >= 3;
// 4-6: seen with c12 / E < 1, < 10, >= 10.
inline int pair_state(uint32_t c1, uint32_t c2, uint32_t c12, double N) {
  double e = (double)c1 * c2 / N;
  if (c12 == 0) return e < 0.3 ? 1 : e < 3 ? 2 : 3;
  double r = c12 / std::max(e, 1e-9);
  return r < 1 ? 4 : r < 10 ? 5 : 6;
}

// Fills the per-token cells and the diagnostic features; returns the number of tokens.
void token_cells(const Impl0& m, std::string_view text, Lang lang, SpunFeatures& f, std::vector<int>& cells) {
  thread_local std::vector<Tok> toks;
  thread_local std::vector<uint32_t> cnt;
  const bool zh = lang == Lang::Zh;
  const LangStats& st = zh ? m.zh : m.en;
  if (zh) tokens_zh(m.dict, [&](uint64_t h) { return m.dict_hit(h); }, [&](uint64_t h) { m.fast.zh.prefetch(h); }, text, toks);
  else tokens_en(text, toks);
  const PairTable& bi = zh ? m.fast.zh_bi : m.fast.en_bi;
  f = SpunFeatures{};
  f.words = (int)toks.size();
  cells.clear();
  cnt.resize(toks.size());
  const double N = st.total;
  int rare = 0, pairs = 0, unseen = 0;
  thread_local std::vector<uint32_t> freq;
  freq.resize(toks.size());
  // The look-ups miss the cache: their addresses are prefetched a pass ahead.
  thread_local std::vector<uint64_t> pk;
  thread_local std::vector<uint32_t> idx_of;
  pk.assign(toks.size(), 0);
  idx_of.resize(toks.size());
  if (!zh)
    for (size_t k = 0; k < toks.size(); ++k) m.fast.en.prefetch(toks[k].h);
  for (size_t k = 0; k < toks.size(); ++k) {
    if (k + 1 < toks.size() && !toks[k + 1].brk) bi.prefetch(pk[k] = pair_key(toks[k].h, toks[k + 1].h));
    if (zh) {  // segmentation has just probed these slots
      const ZhWord* w = m.fast.zh.find(toks[k].h);
      cnt[k] = w ? w->uni : 0;
      freq[k] = w ? w->freq : 0;
    } else {
      const EnWord* w = m.fast.en.find(toks[k].h);
      cnt[k] = freq[k] = w ? w->uni : 0;
      idx_of[k] = w ? w->syn : 0;
    }
    rare += zh ? freq[k] < 30 : freq[k] < 3;
  }
  int prev_right = 0;  // the pair state between k-1 and k, computed once
  uint32_t prev_c12 = 0;
  for (size_t k = 0; k < toks.size(); ++k) {
    int left = prev_right;
    int right = 0;
    uint32_t c_left = prev_c12, c_right = 0;
    bool has_right = k + 1 < toks.size() && !toks[k + 1].brk;
    if (has_right) {
      uint32_t c12 = bi.get(pk[k]);
      c_right = c12;
      right = pair_state(cnt[k], cnt[k + 1], c12, N);
      if (cnt[k] >= 3 && cnt[k + 1] >= 3) {
        ++pairs;
        unseen += c12 == 0;
      }
    }
    prev_right = right;
    prev_c12 = c_right;
    // Synonym substitution leaves a word whose synonym (often the original word) fits its
    // neighbours better. With smoothed bigram probabilities P(x | a) and P(b | x) (a, b the
    // neighbours; Dirichlet smoothing towards the unigram distribution), the word's fit is
    // L(x) = log P(x | a) + log P(b | x) over the neighbours it has, and d = max over its
    // WordNet synonyms s of L(s) - L(w): how much better the best synonym fits. State 0:
    // no synonyms or no neighbour; 1..7: d < 0, < 2, < 4, < 6, < 9, < 12, >= 12.
    int syn = 0;
    bool has_left = left != 0;
    if (!zh && (has_left || has_right)) {
      uint32_t idx = idx_of[k];
      // A word whose pairs with its neighbours clean text has repeatedly fits: state 1
      // without trying synonyms (the costly part).
      if (idx && (!has_left || c_left >= kFitPair) && (!has_right || c_right >= kFitPair)) {
        syn = 1;
        ++f.syn_tokens;
      } else if (idx) {
        constexpr double mu = 2.0;
        const double inv_n = 1.0 / N;
        const double ca = has_left ? cnt[k - 1] : 0, pb = has_right ? (cnt[k + 1] + 0.5) * inv_n : 0;
        auto fit_of = [&](double cx, double c_ax, double c_xb) {  // exp(L(x)), no log in the loop
          double l = 1, px = (cx + 0.5) * inv_n;
          if (has_left) l *= (c_ax + mu * px) / (ca + mu);
          if (has_right) l *= (c_xb + mu * pb) / (cx + mu);
          return l;
        };
        double own = fit_of(cnt[k], c_left, c_right);
        double best = 0;
        uint32_t best_cnt = 0;
        // The synonyms clean text has, most frequent first (at most kMaxSyn): look-up
        // addresses are prefetched first, so the pair look-ups overlap.
        const uint64_t n_syn = std::min<uint64_t>(m.syn_flat[idx - 1], kMaxSyn);
        uint64_t kl[kMaxSyn], kr[kMaxSyn];
        for (uint64_t q = 0; q < n_syn; ++q) {
          uint64_t sh = m.syn_flat[idx + q];
          if (has_left) bi.prefetch(kl[q] = pair_key(toks[k - 1].h, sh));
          if (has_right) bi.prefetch(kr[q] = pair_key(sh, toks[k + 1].h));
        }
        for (uint64_t q = 0; q < n_syn; ++q) {
          uint32_t cs = m.syn_cnt[idx + q];
          double l = fit_of(cs, has_left ? bi.get(kl[q]) : 0, has_right ? bi.get(kr[q]) : 0);
          if (l > best) { best = l; best_cnt = cs; }
        }
        double d = best > 0 ? std::log(best / own) : -1.0;
        syn = d < 0 ? 1 : d < 2 ? 2 : d < 4 ? 3 : d < 6 ? 4 : d < 9 ? 5 : d < 12 ? 6 : 7;
        ++f.syn_tokens;
        f.syn_evidence += std::min(12.0, std::max(0.0, d - 3));
        if (d >= 4) ++f.suspicious;
        if (d >= 2) ++f.suspicious_weak;
        if (d >= 4 && best_cnt > cnt[k]) ++f.suspicious_rarer;
      }
    }
    uint32_t fr = freq[k];
    int len = zh ? std::min<int>(2, (int)toks[k].chars - 1) : 0;
    cells.push_back((((freq_bucket(fr, zh) * 3 + std::max(0, len)) * kPair + left) * kPair + right) * kSyn + syn);
  }
  if (zh) {
    int bnd = 0, unseen_both = 0, unseen_ref = 0, bnd1 = 0, unseen1 = 0;
    // Character pairs across word boundaries: keys first and prefetched, then probed.
    thread_local std::vector<uint64_t> ck;
    ck.assign(toks.size(), 0);
    for (size_t k = 1; k < toks.size(); ++k) {
      if (toks[k].brk || toks[k - 1].end != toks[k].begin || toks[k].begin < 3) continue;
      m.fast.zh_chars.prefetch(ck[k] = hash_bytes(text.substr(toks[k].begin - 3, 6)));
    }
    for (size_t k = 1; k < toks.size(); ++k) {
      if (!ck[k]) continue;
      const ZhChars* c = m.fast.zh_chars.find(ck[k]);
      uint64_t seen = c ? c->seen : 0;
      bool in_ref = (seen & 1) != 0;
      bool unseen = seen == 0;
      if (toks[k - 1].chars == 1 && toks[k].chars == 1) {  // between two one-character words
        ++bnd1;
        unseen1 += unseen;
        continue;
      }
      ++bnd;
      unseen_ref += !in_ref;
      unseen_both += unseen;
    }
    f.char_pairs_single = bnd1;
    f.char_pairs_single_unseen = bnd1 ? (double)unseen1 / bnd1 : 0;
    f.char_pairs = bnd;
    f.char_pairs_unseen = bnd ? (double)unseen_both / bnd : 0;
    f.char_pairs_unseen_ref = bnd ? (double)unseen_ref / bnd : 0;
  }
  int n = std::max<int>(1, f.words);
  if (zh) {
    int single = 0;
    for (const Tok& t : toks) single += t.chars == 1;
    f.single_char_words = (double)single / n;
  }
  f.rare_words = (double)rare / n;
  f.unseen_bigrams = pairs ? (double)unseen / pairs : 0;
  if (!zh) {
    uint64_t seen = 0;
    tortured_matcher().scan(text, [&](size_t p, size_t) {
      if (!(seen >> (p & 63) & 1)) ++f.lexicon_hits;
      seen |= 1ULL << (p & 63);
    });
  }
}

// Mean cell weight over the document's tokens: a linear model on the cell histogram.
double doc_llr(const LangStats& st, const std::vector<int>& cells, double* mix_sum) {
  double s = 0, m = 0;
  for (int c : cells) { s += st.llr[c]; m += st.mixw[c]; }
  *mix_sum = m;
  return cells.empty() ? 0 : s / cells.size();
}

void count_text(const ZhDict* dict, LangStats& st, std::string_view text, Keys& keys) {
  thread_local std::vector<Tok> toks;
  if (dict) tokens_zh(*dict, text, toks);
  else tokens_en(text, toks);
  for (size_t k = 0; k < toks.size(); ++k) {
    st.uni.add(toks[k].h, 1);
    st.total += 1;
    if (k && !toks[k].brk) keys.pairs.push_back(pair_key(toks[k - 1].h, toks[k].h));
  }
}

// Document-level features: suspicious-word rates (per 100 words), the cell model's mean
// score, rare-word and unseen-pair rates.
void doc_features(const LangStats& st, const SpunFeatures& f, double cell_score, double mix_sum, double* x) {
  double n = std::max(1, f.words);
  // Evidence, not a mean: the excess over the clean mean scaled like a t statistic, so a
  // short text's noise does not set the operating point for all texts.
  auto tstat = [](double v, double cnt, double prior) { return (v - prior) * std::sqrt(cnt); };
  const double* prior = st.prior;
  x[0] = 100.0 * f.suspicious_rarer / n;
  x[1] = 100.0 * f.suspicious / n;
  x[2] = 100.0 * f.suspicious_weak / n;
  x[3] = tstat(cell_score, f.words, prior[0]);
  x[4] = f.rare_words;
  x[5] = f.unseen_bigrams;
  x[6] = tstat(f.char_pairs_unseen, f.char_pairs, prior[1]);  // Chinese only (0 for English)
  x[7] = tstat(f.char_pairs_unseen_ref, f.char_pairs, prior[2]);
  // English: the synonym evidence against its clean per-token mean, like a z statistic.
  x[8] = (f.syn_evidence - prior[3] * f.syn_tokens) / std::sqrt(f.syn_tokens + 1.0);
  // Chinese: the same share between two one-character words, which substitution (of
  // longer words) rarely touches: high in text unlike the reference (classical verse),
  // so the regression can discount x[6] and x[7] there.
  x[9] = tstat(f.char_pairs_single_unseen, f.char_pairs_single, prior[4]);
  // Chinese: the share of one-character words, which substitution (same length) leaves
  // unchanged -- high in classical text -- and its products with the two main evidence
  // features, so the regression can weigh the evidence differently by kind of text.
  x[10] = f.single_char_words;
  x[11] = f.single_char_words * x[3];
  x[12] = f.single_char_words * x[6];
  // English: the mixture log likelihood ratio per token (see fit()) as evidence against
  // its clean tuning mean; 0 for Chinese.
  x[13] = tstat(mix_sum / n, n, prior[5]);
}
double doc_z(const LangStats& st, const double* x) {
  double z = st.w[LangStats::kDoc];
  for (int k = 0; k < LangStats::kDoc; ++k) z += st.w[k] * (x[k] - st.mu[k]) / st.sd[k];
  return z;
}

}  // namespace veritas::spun
