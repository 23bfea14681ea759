// Fitting the spun-text model on the tuning split (never the held-out split).
#include "veritas/data/spun_model.hpp"

#include "veritas/util/rng.hpp"

namespace veritas::spun {

// The cut on the share of one-character words that separates classical Chinese (the
// fortunes-zh tuning passages) from modern prose (the other sources' tuning passages):
// the cut that minimizes the balanced misclassification (the mean of the two groups'
// error rates; a text is called classical when its share >= cut). Candidates are the
// midpoints between adjacent distinct shares; ties go to the lowest. Tuning split only.
double classical_cut(std::vector<double> classical, std::vector<double> modern, double* err_c, double* err_m) {
  *err_c = 1;
  *err_m = 0;
  if (classical.empty() || modern.empty()) return 2;
  std::sort(classical.begin(), classical.end());
  std::sort(modern.begin(), modern.end());
  std::vector<double> all(classical);
  all.insert(all.end(), modern.begin(), modern.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  double best_cut = 2, best_err = 2;
  for (size_t i = 0; i + 1 < all.size(); ++i) {
    double cut = 0.5 * (all[i] + all[i + 1]);
    // classical below the cut and modern at or above it are misclassified
    double miss_c = (double)(std::lower_bound(classical.begin(), classical.end(), cut) - classical.begin()) / classical.size();
    double miss_m = (double)(modern.end() - std::lower_bound(modern.begin(), modern.end(), cut)) / modern.size();
    double err = 0.5 * (miss_c + miss_m);
    if (err < best_err) { best_err = err; best_cut = cut; *err_c = miss_c; *err_m = miss_m; }
  }
  return best_cut;
}

// The token cells' weights: initialised with the naive-Bayes log ratio (cells counted over
// clean tuning passages and over spun copies of them at substitution rates 0.15 / 0.3 /
// 0.45), then fit as a logistic regression on each document's cell histogram (Adam,
// L2), which discounts cells that only track the kind of text. The offset puts prob 0.5
// at the 99th percentile of the clean tuning scores (a 1% false-positive operating point
// on the tuning split; the held-out split is never looked at).
void fit(const Impl0& m, LangStats& st, Lang lang, const std::vector<Passage>& ps, uint64_t seed, size_t max_used) {
  std::vector<double> n_clean(kCells, 0), n_spun(kCells, 0), n_sub(kCells, 0);
  std::vector<Tok> tc_toks, ts_toks;
  std::vector<int> cells;
  std::vector<std::vector<std::pair<int, float>>> X;  // sparse cell fractions
  std::vector<int> y, row_src;
  std::vector<SpunFeatures> feats;
  SpunFeatures f;
  size_t used = 0;
  int cur_src = 0;
  auto add = [&](const std::vector<int>& cc, int label) {
    feats.push_back(f);
    row_src.push_back(cur_src);
    std::vector<std::pair<int, float>> row;
    std::vector<int> sorted = cc;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size();) {
      size_t j = i;
      while (j < sorted.size() && sorted[j] == sorted[i]) ++j;
      row.emplace_back(sorted[i], (float)(j - i) / sorted.size());
      i = j;
    }
    X.push_back(std::move(row));
    y.push_back(label);
  };
  for (const Passage& p : ps) {
    if (p.split != 0) continue;
    if (++used > max_used) break;
    cur_src = p.src;
    token_cells(m, p.text, lang, f, cells);
    if (f.words < 20) continue;
    for (int c : cells) n_clean[c] += 1;
    add(cells, 0);
    double rate = 0.15 * (1 + used % 3);
    std::string spun = make_spun_copy(p.text, lang, rate, seed + used);
    token_cells(m, spun, lang, f, cells);
    for (int c : cells) n_spun[c] += 1;
    // English: the substituted tokens' cells (one word for one word, so the copy has the
    // same tokens but for the substituted ones, compared by index).
    if (lang == Lang::En) {
      tokens_en(p.text, tc_toks);
      tokens_en(spun, ts_toks);
      if (tc_toks.size() == ts_toks.size() && ts_toks.size() == cells.size())
        for (size_t k = 0; k < ts_toks.size(); ++k) n_sub[cells[k]] += ts_toks[k].h != tc_toks[k].h;
    }
    add(cells, 1);
  }
  check(X.size() >= 40, "spun model: too few tuning passages");
  // Row weights: every source counts the same in the fits (the largest source would
  // otherwise set the weights for all), mean weight 1.
  std::vector<double> rw(X.size());
  {
    std::map<int, size_t> per;
    for (int sidx : row_src) ++per[sidx];
    for (size_t r = 0; r < X.size(); ++r) rw[r] = (double)X.size() / (per.size() * per[row_src[r]]);
  }
  double tc = 0, ts = 0;
  for (int c = 0; c < kCells; ++c) { tc += n_clean[c]; ts += n_spun[c]; }
  for (int c = 0; c < kCells; ++c)
    st.llr[c] = std::log((n_spun[c] + 0.5) / (ts + 0.5 * kCells)) - std::log((n_clean[c] + 0.5) / (tc + 0.5 * kCells));
  // English mixture weights: a document whose tokens are substituted with probability rho
  // has per-token likelihood ratio 1 - rho + rho * P(c | substituted) / P(c | clean)
  // against clean text; P(c | substituted) counts the substituted tokens of the spun
  // copies (add-0.5 smoothing like llr). Its log is bounded below by log(1 - rho), so
  // many ordinary tokens cannot cancel a few strongly suspicious ones.
  double tsub = 0;
  for (int c = 0; c < kCells; ++c) tsub += n_sub[c];
  for (int c = 0; c < kCells; ++c) {
    double lr_sub = ((n_sub[c] + 0.5) / (tsub + 0.5 * kCells)) / ((n_clean[c] + 0.5) / (tc + 0.5 * kCells));
    st.mixw[c] = tsub > 0 ? std::log(1 - kMixRho + kMixRho * lr_sub) : 0;
  }
  // Logistic regression, full batch, Adam.
  std::vector<double> w(st.llr, st.llr + kCells), mo(kCells + 1, 0), ve(kCells + 1, 0), g(kCells + 1);
  double bias = 0;
  const double lr = 0.05, l2 = 1e-4, b1 = 0.9, b2 = 0.999;
  for (int it = 1; it <= 300; ++it) {
    std::fill(g.begin(), g.end(), 0.0);
    for (size_t r = 0; r < X.size(); ++r) {
      double z = bias;
      for (auto& [c, v] : X[r]) z += w[c] * v;
      double e = (1.0 / (1.0 + std::exp(-z)) - y[r]) * rw[r];
      for (auto& [c, v] : X[r]) g[c] += e * v;
      g[kCells] += e;
    }
    for (int c = 0; c <= kCells; ++c) {
      double gc = g[c] / X.size() + (c < kCells ? l2 * w[c] : 0);
      mo[c] = b1 * mo[c] + (1 - b1) * gc;
      ve[c] = b2 * ve[c] + (1 - b2) * gc * gc;
      double step = lr * (mo[c] / (1 - std::pow(b1, it))) / (std::sqrt(ve[c] / (1 - std::pow(b2, it))) + 1e-8);
      if (c < kCells) w[c] -= step;
      else bias -= step;
    }
  }
  std::copy(w.begin(), w.end(), st.llr);
  // Second stage: the document model over doc_features().
  constexpr int D = LangStats::kDoc;
  std::vector<std::array<double, D>> F(X.size());
  std::vector<double> css(X.size()), mix(X.size());
  double pn = 0, ev = 0, ev_n = 0;
  for (size_t r = 0; r < X.size(); ++r) {
    for (auto& [c, v] : X[r]) {
      css[r] += w[c] * v;
      mix[r] += st.mixw[c] * v * feats[r].words;
    }
    if (y[r]) continue;
    st.prior[0] += css[r];
    st.prior[1] += feats[r].char_pairs_unseen;
    st.prior[2] += feats[r].char_pairs_unseen_ref;
    st.prior[4] += feats[r].char_pairs_single_unseen;
    st.prior[5] += mix[r] / std::max(1, feats[r].words);
    ev += feats[r].syn_evidence;
    ev_n += feats[r].syn_tokens;
    pn += 1;
  }
  for (double& p : st.prior) p /= std::max(1.0, pn);
  st.prior[3] = ev / std::max(1.0, ev_n);
  for (size_t r = 0; r < X.size(); ++r) doc_features(st, feats[r], css[r], mix[r], F[r].data());
  for (int k = 0; k < D; ++k) {
    double a = 0, a2 = 0;
    for (auto& r : F) { a += r[k]; a2 += r[k] * r[k]; }
    st.mu[k] = a / F.size();
    st.sd[k] = std::sqrt(std::max(1e-12, a2 / F.size() - st.mu[k] * st.mu[k]));
  }
  std::fill(std::begin(st.w), std::end(st.w), 0.0);
  for (int it = 0; it < 500; ++it) {
    double gd[D + 1] = {};
    for (size_t r = 0; r < F.size(); ++r) {
      double e = (1.0 / (1.0 + std::exp(-doc_z(st, F[r].data()))) - y[r]) * rw[r];
      for (int k = 0; k < D; ++k) gd[k] += e * (F[r][k] - st.mu[k]) / st.sd[k];
      gd[D] += e;
    }
    for (int k = 0; k <= D; ++k) st.w[k] -= 0.5 * (gd[k] / F.size() + (k < D ? 1e-3 * st.w[k] : 0));
  }
  // Operating points: the 99th percentile of the clean tuning scores (1 % false positives
  // on the tuning split), separately for Chinese texts of mostly one-character words
  // (classical verse; see classical_cut()) and for all others, so neither kind sets the
  // other's threshold.
  // Percentiles weigh the sources equally (the row weights).
  if (lang == Lang::Zh) {
    std::vector<double> classical, modern;
    for (size_t r = 0; r < F.size(); ++r)
      if (!y[r]) (row_src[r] == 0 ? classical : modern).push_back(feats[r].single_char_words);
    double err_c, err_m;
    st.classical_cut = classical_cut(classical, modern, &err_c, &err_m);
    std::fprintf(stderr,
                 "spun: zh classical cut %.4f on the one-character-word share (tuning: %zu fortunes-zh passages, "
                 "%.1f %% below; %zu modern, %.1f %% at or above)\n",
                 st.classical_cut, classical.size(), 100 * err_c, modern.size(), 100 * err_m);
  }
  std::vector<std::pair<double, double>> z[2];
  for (size_t r = 0; r < F.size(); ++r)
    if (!y[r]) z[feats[r].single_char_words >= st.classical_cut].emplace_back(doc_z(st, F[r].data()), rw[r]);
  auto pct = [](std::vector<std::pair<double, double>>& v, double p) {
    std::sort(v.begin(), v.end());
    double total = 0, acc = 0;
    for (auto& e : v) total += e.second;
    for (auto& e : v)
      if ((acc += e.second) >= p * total) return e.first + 1e-9;
    return v.back().first + 1e-9;
  };
  st.offset = pct(z[0], 0.99);
  // The classical group is small (about 100 tuning texts): its 99th percentile is noisy,
  // so it takes the highest clean score.
  st.offset_classical = z[1].size() >= 50 ? pct(z[1], 1.0) : st.offset;
}

}  // namespace veritas::spun
