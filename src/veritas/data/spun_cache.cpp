// The spun-text model's binary cache file: a magic number, the sources' fingerprint,
// then the tables and weights as raw arrays. A stale or damaged file is rebuilt.
#include "veritas/data/spun_model.hpp"

#include <filesystem>

#include "veritas/data/text_sources.hpp"

namespace veritas::spun {

namespace {

constexpr uint64_t kMagic = 0x314E55505356ULL;  // "VSPUN1"

// Table and CountTable differ only in their key width (8 or 4 bytes a key).
template <class T>
void put_table(std::string& out, const T& t) {
  uint64_t n = t.keys.size(), used = t.used;
  out.append((const char*)&n, 8);
  out.append((const char*)&used, 8);
  out.append((const char*)t.keys.data(), n * sizeof(t.keys[0]));
  out.append((const char*)t.vals.data(), n * sizeof(t.vals[0]));
}
template <class T>
bool get_table(std::string_view& in, T& t) {
  if (in.size() < 16) return false;
  uint64_t n, used;
  std::memcpy(&n, in.data(), 8);
  std::memcpy(&used, in.data() + 8, 8);
  in.remove_prefix(16);
  const size_t key = sizeof(t.keys[0]), slot = key + sizeof(t.vals[0]);
  if (n == 0 || (n & (n - 1)) || in.size() / slot < n) return false;  // division: no overflow on a corrupt n
  t.keys.resize(n);
  t.vals.resize(n);
  std::memcpy(t.keys.data(), in.data(), n * key);
  std::memcpy(t.vals.data(), in.data() + n * key, n * sizeof(t.vals[0]));
  in.remove_prefix(n * slot);
  t.mask = n - 1;
  t.used = used;
  return true;
}
void put_stats(std::string& out, const LangStats& s) {
  put_table(out, s.uni);
  put_table(out, s.bi);
  out.append((const char*)&s.total, 8);
  out.append((const char*)s.llr, sizeof s.llr);
  out.append((const char*)s.mixw, sizeof s.mixw);
  out.append((const char*)s.mu, sizeof s.mu);
  out.append((const char*)s.sd, sizeof s.sd);
  out.append((const char*)s.w, sizeof s.w);
  out.append((const char*)&s.offset, 8);
  out.append((const char*)&s.offset_classical, 8);
  out.append((const char*)&s.classical_cut, 8);
  out.append((const char*)s.prior, sizeof s.prior);
}
bool get_stats(std::string_view& in, LangStats& s) {
  if (!get_table(in, s.uni) || !get_table(in, s.bi)) return false;
  size_t need = 32 + sizeof s.llr + sizeof s.mixw + sizeof s.mu + sizeof s.sd + sizeof s.w + sizeof s.prior;
  if (in.size() < need) return false;
  const char* q = in.data();
  std::memcpy(&s.total, q, 8); q += 8;
  std::memcpy(s.llr, q, sizeof s.llr); q += sizeof s.llr;
  std::memcpy(s.mixw, q, sizeof s.mixw); q += sizeof s.mixw;
  std::memcpy(s.mu, q, sizeof s.mu); q += sizeof s.mu;
  std::memcpy(s.sd, q, sizeof s.sd); q += sizeof s.sd;
  std::memcpy(s.w, q, sizeof s.w); q += sizeof s.w;
  std::memcpy(&s.offset, q, 8); q += 8;
  std::memcpy(&s.offset_classical, q, 8); q += 8;
  std::memcpy(&s.classical_cut, q, 8); q += 8;
  std::memcpy(s.prior, q, sizeof s.prior);
  in.remove_prefix(need);
  return true;
}

}  // namespace

// Sizes of the sources: a changed package invalidates the cache.
uint64_t source_fingerprint() {
  uint64_t h = kVersion;
  for (const char* p : {"/usr/share/wordnet/data.noun", "/usr/share/wordnet/data.verb", "/usr/share/wordnet/data.adj",
                        "/usr/share/wordnet/data.adv", sources::kJiebaDict, sources::kFortunesZh, sources::kGcide,
                        "/usr/share/games/fortunes/fortunes", "/usr/share/doc/debian-handbook/html/en-US/index.html",
                        "/usr/share/doc/debian-handbook/html/zh-CN/index.html", "/usr/share/debian-reference/index.zh-cn.html",
                        "/usr/share/doc/debian/FAQ/zh-cn/index.zh-cn.html",
                        "/usr/share/doc/maint-guide-zh-cn/html/index.zh-cn.html", "/usr/share/man/zh_CN/man1/ls.1.gz",
                        "/usr/share/doc/python3.11/html/index.html"}) {
    std::error_code ec;
    h = mix(h ^ (uint64_t)std::filesystem::file_size(p, ec));
  }
  return h;
}

bool load_cache(const std::string& bytes, uint64_t fp, Impl0& m) {
  std::string_view in = bytes;
  uint64_t magic = 0, got_fp = 0;
  bool ok = in.size() >= 16;
  if (ok) {
    std::memcpy(&magic, in.data(), 8);
    std::memcpy(&got_fp, in.data() + 8, 8);
    in.remove_prefix(16);
    ok = magic == kMagic && got_fp == fp;
  }
  ok = ok && get_stats(in, m.en) && get_stats(in, m.zh) && get_table(in, m.dict.freq) &&
       get_table(in, m.dict.prefix) && get_table(in, m.syn_index) && get_table(in, m.zh_cref) &&
       get_table(in, m.zh_cdict) && in.size() >= 8;
  if (!ok) return false;
  uint64_t n;
  std::memcpy(&n, in.data(), 8);
  in.remove_prefix(8);
  if (in.size() != n * 12 + 16) return false;
  m.syn_flat.resize(n);
  std::memcpy(m.syn_flat.data(), in.data(), n * 8);
  in.remove_prefix(n * 8);
  m.syn_cnt.resize(n);
  std::memcpy(m.syn_cnt.data(), in.data(), n * 4);
  in.remove_prefix(n * 4);
  std::memcpy(&m.dict.log_total, in.data(), 8);
  int64_t mc;
  std::memcpy(&mc, in.data() + 8, 8);
  m.dict.max_chars = (int)mc;
  return true;
}

std::string cache_bytes(const Impl0& m, uint64_t fp) {
  std::string out;
  uint64_t magic = kMagic;
  out.append((const char*)&magic, 8);
  out.append((const char*)&fp, 8);
  put_stats(out, m.en);
  put_stats(out, m.zh);
  put_table(out, m.dict.freq);
  put_table(out, m.dict.prefix);
  put_table(out, m.syn_index);
  put_table(out, m.zh_cref);
  put_table(out, m.zh_cdict);
  uint64_t n = m.syn_flat.size();
  out.append((const char*)&n, 8);
  out.append((const char*)m.syn_flat.data(), n * 8);
  out.append((const char*)m.syn_cnt.data(), n * 4);
  out.append((const char*)&m.dict.log_total, 8);
  int64_t mc = m.dict.max_chars;
  out.append((const char*)&mc, 8);
  return out;
}

}  // namespace veritas::spun
