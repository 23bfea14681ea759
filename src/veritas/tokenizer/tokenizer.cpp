#include "veritas/tokenizer/tokenizer.hpp"
#include "veritas/tokenizer/spm.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include "veritas/tokenizer/pretokenize.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas {

namespace {

inline uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

// Open-addressing hash map (left, right) -> (rank, merged id): the encoder's inner loop
// looks up every adjacent pair, so it avoids std::unordered_map's node chasing, and a
// slot holds key and value together: a look-up touches one cache line, not two.
class MergeTable {
 public:
  void build(const std::vector<std::pair<int32_t, int32_t>>& merges, const std::vector<int32_t>& results) {
    size_t cap = 16;
    while (cap < merges.size() * 2 + 16) cap <<= 1;
    mask_ = cap - 1;
    slots_.assign(cap, Slot{});
    for (size_t r = 0; r < merges.size(); ++r) {
      uint64_t k = pair_key(merges[r].first, merges[r].second);
      size_t h = slot(k);
      while (slots_[h].key != kEmpty && slots_[h].key != k) h = (h + 1) & mask_;
      if (slots_[h].key == k) continue;  // a repeated merge keeps its first (lowest) rank
      slots_[h] = {k, (int32_t)r, results[r]};
    }
  }
  bool find(int32_t a, int32_t b, int32_t& rank, int32_t& id) const {
    if (slots_.empty() || a < 0 || b < 0) return false;  // -1: a byte without a token
    uint64_t k = pair_key(a, b);
    for (size_t h = slot(k);; h = (h + 1) & mask_) {
      const Slot& s = slots_[h];
      if (s.key == k) {
        rank = s.rank;
        id = s.id;
        return true;
      }
      if (s.key == kEmpty) return false;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  struct Slot {
    uint64_t key = kEmpty;
    int32_t rank = 0, id = 0;
  };
  size_t slot(uint64_t k) const { return (size_t)((k * 0x9E3779B97F4A7C15ull) >> 20) & mask_; }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

struct SvHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

std::atomic<uint64_t> g_serial{1};

// Per-thread cache of word -> ids, so encode() is const and safe to call from many
// threads without locks. Tied to one tokenizer instance by its serial number. Open
// addressing over a power-of-two table, words and ids in two flat arrays: with
// std::unordered_map, its division by a prime and its node chasing took a quarter of the
// encoding time.
class WordCache {
 public:
  uint64_t owner = 0;

  void reset(uint64_t serial) {
    owner = serial;
    slots_.assign(size_t(1) << 12, Slot{});
    used_ = 0;
    keys_.clear();
    ids_.clear();
  }
  // The cached ids of `word` (hash: hash_of(word)) appended to out; false when absent.
  bool append(std::string_view word, uint64_t hash, std::vector<int32_t>& out) const {
    for (size_t i = index(hash);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& s = slots_[i];
      if (s.hash == 0) return false;
      if (s.hash == hash && s.key_len == word.size() && std::memcmp(keys_.data() + s.key, word.data(), word.size()) == 0) {
        out.insert(out.end(), ids_.begin() + s.ids, ids_.begin() + s.ids + s.n_ids);
        return true;
      }
    }
  }
  void insert(std::string_view word, uint64_t hash, const int32_t* ids, size_t n) {
    if (ids_.size() > (64u << 20) || used_ >= (1u << 20)) reset(owner);  // bounded memory
    if (2 * (used_ + 1) > slots_.size()) grow();
    size_t i = index(hash);
    while (slots_[i].hash != 0) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = {hash, (uint32_t)keys_.size(), (uint32_t)word.size(), (uint32_t)ids_.size(), (uint32_t)n};
    keys_.append(word);
    ids_.insert(ids_.end(), ids, ids + n);
    ++used_;
  }
  // Never 0 (an empty slot). Words are short: 8 bytes at a time, multiply and fold.
  static uint64_t hash_of(std::string_view w) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ w.size();
    size_t i = 0;
    for (; i + 8 <= w.size(); i += 8) {
      uint64_t x;
      std::memcpy(&x, w.data() + i, 8);
      h = (h ^ x) * 0xFF51AFD7ED558CCDull;
      h ^= h >> 32;
    }
    uint64_t x = 0;  // the last 0-7 bytes one by one: a memcpy of variable length is a call
    for (int sh = 0; i < w.size(); ++i, sh += 8) x |= (uint64_t)(unsigned char)w[i] << sh;
    h = (h ^ x) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    return h | 1;
  }

 private:
  struct Slot {
    uint64_t hash = 0;  // 0: empty
    uint32_t key = 0, key_len = 0, ids = 0, n_ids = 0;  // offsets into keys_ / ids_
  };
  size_t index(uint64_t hash) const { return (size_t)(hash >> 20) & (slots_.size() - 1); }
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.hash == 0) continue;
      size_t i = index(s.hash);
      while (slots_[i].hash != 0) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;  // sized by reset(), which encode calls before any use
  size_t used_ = 0;
  std::string keys_;
  std::vector<int32_t> ids_;
};
thread_local WordCache t_cache;

struct HeapEntry {
  int32_t rank, pos, left, right, id;  // id: what (left, right) merges into
  bool operator>(const HeapEntry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
};

enum Kind : uint8_t { kNone = 0, kBpe = 1, kAdded = 2 };

}  // namespace

struct Tokenizer::Impl {
  std::vector<std::string> bytes;  // by id: raw bytes (BPE) or content (added)
  std::vector<uint8_t> kind;
  std::vector<bool> in_bpe_vocab;  // the id has a BPE vocab entry (GPT-2's <|endoftext|> has both)
  std::array<int32_t, 256> byte_id{};
  std::unordered_map<std::string, int32_t, SvHash, std::equal_to<>> by_bytes;  // BPE tokens
  std::vector<std::pair<int32_t, int32_t>> merges;
  MergeTable table;
  std::vector<AddedToken> added;
  std::vector<int> added_by_len;  // indices into added, longest content first
  bool first_byte[256] = {};
  uint64_t serial = g_serial++;
  PreTokenization pre = PreTokenization::Gpt2;
  std::optional<int32_t> eos;
  std::string chat_template;
  bool nfc = false;            // normalizer NFC (Qwen2)
  bool ignore_merges = false;  // a piece that is a whole vocab token is that token (Llama 3)
  std::shared_ptr<const spm::Model> spm;  // SentencePiece-style (GGUF "llama"): replaces BPE
  std::optional<int32_t> bos;

  void bpe_word(std::string_view w, std::vector<int32_t>& out) const;
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;  // normalizes, then encode_pieces
  void encode_pieces(std::string_view text, std::vector<int32_t>& out) const;
  void encode_gpt2(std::string_view text, std::vector<int32_t>& out) const;
};

// GPT-2 semantics: repeatedly take the lowest-ranked adjacent pair and merge all its
// occurrences left to right. A min-heap of (rank, position) finds the pairs; entries
// of one rank are merged as one batch before new pairs enter the heap, so a new pair
// with a lower rank cannot jump ahead of the remaining occurrences.
void Tokenizer::Impl::bpe_word(std::string_view w, std::vector<int32_t>& out) const {
  thread_local std::vector<int32_t> sym, prv, nxt, merged;
  thread_local std::vector<HeapEntry> heap;
  const int n = (int)w.size();
  sym.resize(n);
  prv.resize(n);
  nxt.resize(n);
  heap.clear();
  for (int i = 0; i < n; ++i) {
    sym[i] = byte_id[(unsigned char)w[i]];
    prv[i] = i - 1;
    nxt[i] = i + 1 < n ? i + 1 : -1;
  }
  auto push = [&](int pos) {
    int q = nxt[pos];
    if (q < 0) return;
    int32_t rank, id;
    if (table.find(sym[pos], sym[q], rank, id)) {
      heap.push_back({rank, pos, sym[pos], sym[q], id});
      std::push_heap(heap.begin(), heap.end(), std::greater<>());
    }
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    const int32_t rank = heap.front().rank;
    merged.clear();
    while (!heap.empty() && heap.front().rank == rank) {
      HeapEntry e = heap.front();
      std::pop_heap(heap.begin(), heap.end(), std::greater<>());
      heap.pop_back();
      int p = e.pos, q = nxt[p];
      if (sym[p] != e.left || q < 0 || sym[q] != e.right) continue;  // stale entry
      sym[p] = e.id;
      sym[q] = -1;
      nxt[p] = nxt[q];
      if (nxt[q] >= 0) prv[nxt[q]] = p;
      merged.push_back(p);
    }
    for (int p : merged) {
      if (sym[p] < 0) continue;
      if (prv[p] >= 0) push(prv[p]);
      push(p);
    }
  }
  for (int i = 0; i >= 0; i = nxt[i])
    if (sym[i] >= 0) out.push_back(sym[i]);  // a byte without a token is dropped, as Hugging Face does
}

namespace {

// Unicode NFC of the valid UTF-8 runs of `text`; invalid bytes stay as they are.
std::string nfc_of(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto flush = [&](size_t a, size_t b) {
    if (a == b) return;
    utf8proc_uint8_t* dst = nullptr;
    utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data() + a),
                                      (utf8proc_ssize_t)(b - a), &dst, (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n >= 0) out.append(reinterpret_cast<const char*>(dst), (size_t)n);
    else out.append(text.substr(a, b - a));
    std::free(dst);
  };
  size_t start = 0, i = 0;
  while (i < text.size()) {
    int32_t cp;
    size_t len = bpe::decode_char(text, i, cp);
    if (cp < 0) {
      flush(start, i);
      out.append(text.substr(i, len));
      start = i + len;
    }
    i += len;
  }
  flush(start, text.size());
  return out;
}

}  // namespace

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  if (spm) return spm->encode(text, out);
  if (nfc) {
    bool ascii = true;
    for (char c : text) ascii &= (unsigned char)c < 0x80;
    if (!ascii) {
      encode_pieces(nfc_of(text), out);
      return;
    }
  }
  encode_pieces(text, out);
}

void Tokenizer::Impl::encode_pieces(std::string_view text, std::vector<int32_t>& out) const {
  if (pre == PreTokenization::Gpt2Digits) {
    // Cut out each number character; the GPT-2 pattern sees only the text between.
    size_t start = 0, i = 0;
    while (i < text.size()) {
      int32_t cp;
      size_t len = bpe::decode_char(text, i, cp);
      if (bpe::char_class(cp) == bpe::CharClass::Number) {
        encode_gpt2(text.substr(start, i - start), out);
        encode_gpt2(text.substr(i, len), out);
        start = i + len;
      }
      i += len;
    }
    encode_gpt2(text.substr(start), out);
    return;
  }
  encode_gpt2(text, out);
}

void Tokenizer::Impl::encode_gpt2(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  WordCache& cache = t_cache;
  if (cache.owner != serial) cache.reset(serial);
  const bpe::Pattern pattern = pre == PreTokenization::Llama3  ? bpe::Pattern::Llama3
                               : pre == PreTokenization::Qwen2 ? bpe::Pattern::Qwen2
                                                               : bpe::Pattern::Gpt2;
  bpe::PreTokenizer pt(text, pattern);
  std::string_view piece;
  while (pt.next(piece)) {
    if (piece.size() == 1) {
      if (byte_id[(unsigned char)piece[0]] >= 0) out.push_back(byte_id[(unsigned char)piece[0]]);
      continue;
    }
    if (ignore_merges) {
      auto whole = by_bytes.find(piece);
      if (whole != by_bytes.end()) {
        out.push_back(whole->second);
        continue;
      }
    }
    const uint64_t hash = WordCache::hash_of(piece);
    if (cache.append(piece, hash, out)) continue;
    size_t before = out.size();
    bpe_word(piece, out);
    if (piece.size() <= 256)  // long pieces are rare: do not let them fill the cache
      cache.insert(piece, hash, out.data() + before, out.size() - before);
  }
}

Tokenizer::Tokenizer() : impl_(std::make_unique<Impl>()) {}
Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

Tokenizer Tokenizer::from_bpe(const std::vector<std::string>& token_bytes,
                              const std::vector<std::pair<int32_t, int32_t>>& merges,
                              const std::vector<AddedToken>& added, bool require_all_bytes) {
  Tokenizer t;
  Impl& m = *t.impl_;
  int64_t size = (int64_t)token_bytes.size();
  for (const auto& a : added) {
    check(a.id >= 0, "added token \"" + a.content + "\" has a negative id " + std::to_string(a.id));
    check(!a.content.empty(), "added token " + std::to_string(a.id) + " has empty content");
    size = std::max<int64_t>(size, (int64_t)a.id + 1);
  }
  check(size < (1ll << 31), "vocabulary too large");
  m.bytes.assign(size, {});
  m.kind.assign(size, kNone);
  m.in_bpe_vocab.assign(size, false);
  m.byte_id.fill(-1);
  for (int32_t id = 0; id < (int32_t)token_bytes.size(); ++id) {
    const std::string& b = token_bytes[id];
    if (b.empty()) continue;
    auto [it, fresh] = m.by_bytes.emplace(b, id);
    check(fresh, "tokens " + std::to_string(it->second) + " and " + std::to_string(id) + " have the same bytes \"" +
                     bpe::bytes_to_token_string(b) + "\"");
    m.bytes[id] = b;
    m.kind[id] = kBpe;
    m.in_bpe_vocab[id] = true;
    if (b.size() == 1) m.byte_id[(unsigned char)b[0]] = id;
  }
  for (int b = 0; b < 256 && require_all_bytes; ++b)
    check(m.byte_id[b] >= 0, "the vocabulary has no token for byte " + std::to_string(b) +
                                 " (a byte-level BPE needs all 256 single bytes)");
  std::vector<int32_t> results(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    auto [a, b] = merges[r];
    check(a >= 0 && a < (int32_t)token_bytes.size() && m.kind[a] == kBpe && b >= 0 &&
              b < (int32_t)token_bytes.size() && m.kind[b] == kBpe,
          "merge " + std::to_string(r) + " refers to a token that is not in the vocabulary");
    std::string joined = m.bytes[a] + m.bytes[b];
    auto it = m.by_bytes.find(joined);
    check(it != m.by_bytes.end(), "merge " + std::to_string(r) + " (\"" + bpe::bytes_to_token_string(m.bytes[a]) +
                                      "\" + \"" + bpe::bytes_to_token_string(m.bytes[b]) +
                                      "\") makes a token that is not in the vocabulary");
    results[r] = it->second;
  }
  m.merges = merges;
  m.table.build(merges, results);
  std::vector<bool> seen(size, false);
  for (const auto& a : added) {
    check(!seen[a.id], "two added tokens have id " + std::to_string(a.id));
    seen[a.id] = true;
    check(m.kind[a.id] == kNone || m.bytes[a.id] == a.content,
          "added token \"" + a.content + "\" reuses id " + std::to_string(a.id) + " of a different token");
    m.bytes[a.id] = a.content;
    m.kind[a.id] = kAdded;
    m.added.push_back(a);
  }
  for (size_t i = 0; i < m.added.size(); ++i) {
    m.added_by_len.push_back((int)i);
    m.first_byte[(unsigned char)m.added[i].content[0]] = true;
  }
  std::stable_sort(m.added_by_len.begin(), m.added_by_len.end(), [&](int x, int y) {
    return m.added[x].content.size() > m.added[y].content.size();
  });
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 8);
  impl_->encode_plain(text, out);
  return out;
}

std::vector<int32_t> Tokenizer::encode_with_specials(std::string_view text) const {
  const Impl& m = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 8);
  if (m.spm) {
    m.spm->encode_with_specials(text, out);
    return out;
  }
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!m.first_byte[(unsigned char)text[i]]) continue;
    for (int k : m.added_by_len) {  // longest match wins
      const std::string& c = m.added[k].content;
      if (text.compare(i, c.size(), c) == 0) {
        m.encode_plain(text.substr(start, i - start), out);
        out.push_back(m.added[k].id);
        i += c.size() - 1;
        start = i + 1;
        break;
      }
    }
  }
  m.encode_plain(text.substr(start), out);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    int32_t id = ids[i];
    check(id >= 0 && id < (int32_t)impl_->bytes.size() && impl_->kind[id] != kNone,
          "cannot decode token id " + std::to_string(id) + " at position " + std::to_string(i) +
              ": not in the vocabulary (size " + std::to_string(vocab_size()) + ")");
    out += impl_->bytes[id];
  }
  return out;
}

std::string Tokenizer::token_bytes(int32_t id) const {
  check(id >= 0 && id < (int32_t)impl_->bytes.size() && impl_->kind[id] != kNone,
        "token id " + std::to_string(id) + " is not in the vocabulary (size " + std::to_string(vocab_size()) + ")");
  return impl_->bytes[id];
}

int32_t Tokenizer::vocab_size() const { return (int32_t)impl_->bytes.size(); }

std::optional<int32_t> Tokenizer::token_id(std::string_view s) const {
  for (const auto& a : impl_->added)
    if (a.content == s) return a.id;
  auto it = impl_->by_bytes.find(s);
  if (it != impl_->by_bytes.end()) return it->second;
  return std::nullopt;
}

int32_t Tokenizer::eot_id() const {
  auto id = token_id(kEndOfText);
  check(id.has_value(), std::string("the tokenizer has no ") + kEndOfText + " token");
  return *id;
}

const std::vector<std::pair<int32_t, int32_t>>& Tokenizer::merges() const { return impl_->merges; }

Tokenizer Tokenizer::from_spm(spm::Model model, const std::string& name) {
  model.build(name);
  Tokenizer t;
  Impl& m = *t.impl_;
  const size_t n = model.pieces.size();
  m.bytes.resize(n);
  m.kind.assign(n, kBpe);
  m.in_bpe_vocab.assign(n, true);
  m.byte_id.fill(-1);
  for (int32_t id = 0; id < (int32_t)n; ++id) {
    m.bytes[id] = model.token_text(id);
    if (model.special[id]) {
      m.kind[id] = kAdded;
      m.in_bpe_vocab[id] = false;
      m.added.push_back({id, model.pieces[id], model.control[id]});
    } else {
      m.by_bytes.emplace(m.bytes[id], id);  // several pieces may decode alike; the first id wins
    }
  }
  m.spm = std::make_shared<const spm::Model>(std::move(model));
  return t;
}

bool Tokenizer::is_spm() const { return impl_->spm != nullptr; }
void Tokenizer::set_bos_id(std::optional<int32_t> id) {
  check(!id || (*id >= 0 && *id < vocab_size()), "bos token id " + std::to_string(id.value_or(-1)) +
                                                     " is outside the vocabulary");
  impl_->bos = id;
}
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
const std::vector<AddedToken>& Tokenizer::added_tokens() const { return impl_->added; }
void Tokenizer::set_pre_tokenization(PreTokenization p) { impl_->pre = p; }
PreTokenization Tokenizer::pre_tokenization() const { return impl_->pre; }
void Tokenizer::set_eos_id(std::optional<int32_t> id) {
  check(!id || (*id >= 0 && *id < vocab_size() && impl_->kind[*id] != kNone),
        "end-of-sequence id " + std::to_string(id.value_or(-1)) + " is not in the vocabulary");
  impl_->eos = id;
}
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
void Tokenizer::set_chat_template(std::string jinja) { impl_->chat_template = std::move(jinja); }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }

Tokenizer import_gpt2(const std::filesystem::path& encoder_json, const std::filesystem::path& vocab_bpe) {
  nlohmann::json enc;
  try {
    enc = nlohmann::json::parse(read_file(encoder_json));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(encoder_json.string() + ": not valid JSON (byte offset " + std::to_string(e.byte) + "): " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error(encoder_json.string() + ": not valid JSON: " + e.what());
  }
  check(enc.is_object(), encoder_json.string() + ": must be a JSON object token -> id");
  std::vector<std::string> token_bytes;
  std::vector<AddedToken> added;
  std::unordered_map<std::string, int32_t> ids;
  std::string raw;
  for (auto& [tok, idj] : enc.items()) {
    check(idj.is_number_integer() && idj.get<int64_t>() >= 0 && idj.get<int64_t>() < (int64_t)enc.size() + 1024,
          encoder_json.string() + ": token \"" + tok + "\" has a bad id " + idj.dump());
    int32_t id = idj.get<int32_t>();
    if ((size_t)id >= token_bytes.size()) token_bytes.resize(id + 1);
    check(token_bytes[id].empty(), encoder_json.string() + ": id " + std::to_string(id) + " is used twice");
    check(bpe::token_string_to_bytes(tok, raw),
          encoder_json.string() + ": token \"" + tok + "\" has a character outside the byte-level alphabet");
    token_bytes[id] = raw;
    ids.emplace(tok, id);
    if (tok == kEndOfText) added.push_back({id, tok, true});
  }
  std::string text = read_file(vocab_bpe);
  std::vector<std::pair<int32_t, int32_t>> merges;
  size_t line_no = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_no == 1 && line.rfind("#version", 0) == 0)) continue;
    size_t sp = line.find(' ');
    check(sp != std::string::npos && sp > 0 && sp + 1 < line.size() && line.find(' ', sp + 1) == std::string::npos,
          vocab_bpe.string() + ":" + std::to_string(line_no) + ": expected two tokens separated by one space");
    auto a = ids.find(line.substr(0, sp)), b = ids.find(line.substr(sp + 1));
    check(a != ids.end() && b != ids.end(),
          vocab_bpe.string() + ":" + std::to_string(line_no) + ": token not in " + encoder_json.string());
    merges.emplace_back(a->second, b->second);
  }
  return Tokenizer::from_bpe(token_bytes, merges, added);
}

// ---------------------------------------------------------------- tokenizer.json

namespace {

std::string ctx(const std::string& p) { return p + ": "; }

void expect_type(const nlohmann::json& j, const char* what, const char* want, const std::string& p) {
  if (j.is_null()) return;
  check(j.is_object() && j.value("type", std::string()) == want,
        ctx(p) + what + " must be null or of type " + want + " (veritas implements byte-level BPE with GPT-2 "
                 "pre-tokenization), found " + j.dump().substr(0, 200));
}

bool is_byte_level(const nlohmann::json& j, bool use_regex) {
  return j.is_object() && j.value("type", std::string()) == "ByteLevel" && !j.value("add_prefix_space", false) &&
         j.value("use_regex", true) == use_regex;
}

// The pre_tokenizer configurations veritas implements; any other is an error showing it.
PreTokenization pre_tokenization_of(const nlohmann::json& pre, const std::string& p) {
  if (is_byte_level(pre, true)) return PreTokenization::Gpt2;
  if (pre.is_object() && pre.value("type", std::string()) == "Sequence" && pre.contains("pretokenizers") &&
      pre["pretokenizers"].is_array() && pre["pretokenizers"].size() == 2) {
    const auto& a = pre["pretokenizers"][0];
    const auto& b = pre["pretokenizers"][1];
    const std::string ta = a.is_object() ? a.value("type", std::string()) : "";
    if (ta == "Digits" && a.value("individual_digits", false) && is_byte_level(b, true))
      return PreTokenization::Gpt2Digits;
    if (ta == "Split" && a.value("behavior", std::string()) == "Isolated" && !a.value("invert", false) &&
        a.contains("pattern") && a["pattern"].is_object() && a["pattern"].contains("Regex") &&
        a["pattern"]["Regex"].is_string() && is_byte_level(b, false)) {
      const std::string& re = a["pattern"]["Regex"].get_ref<const std::string&>();
      if (re == bpe::kLlama3Regex) return PreTokenization::Llama3;
      if (re == bpe::kQwen2Regex) return PreTokenization::Qwen2;
    }
  }
  throw Error(ctx(p) + "pre_tokenizer " + pre.dump().substr(0, 300) +
              " is not supported (supported: ByteLevel with use_regex; Sequence of Digits(individual_digits) and "
              "ByteLevel; Sequence of Split with the Llama 3 or Qwen2 pattern and ByteLevel(use_regex=false))");
}

nlohmann::ordered_json pre_tokenizer_json(PreTokenization p) {
  using ojson = nlohmann::ordered_json;
  auto byte_level = [](bool use_regex) {
    return ojson{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
  };
  auto split = [](const char* re) {
    return ojson{{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}};
  };
  switch (p) {
    case PreTokenization::Gpt2: return byte_level(true);
    case PreTokenization::Gpt2Digits:
      return {{"type", "Sequence"},
              {"pretokenizers", {ojson{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)}}};
    case PreTokenization::Llama3:
      return {{"type", "Sequence"}, {"pretokenizers", {split(bpe::kLlama3Regex), byte_level(false)}}};
    case PreTokenization::Qwen2:
      return {{"type", "Sequence"}, {"pretokenizers", {split(bpe::kQwen2Regex), byte_level(false)}}};
  }
  return byte_level(true);
}

}  // namespace

Tokenizer Tokenizer::load(const std::filesystem::path& path) { return from_json(read_file(path), path.string()); }

Tokenizer Tokenizer::from_json(std::string_view text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ctx(path) + "not valid JSON (byte offset " + std::to_string(e.byte) + "): " + e.what());
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double
    throw Error(ctx(path) + "not valid JSON: " + e.what());
  }
  try {
    check(j.is_object(), ctx(path) + "the top level must be a JSON object");
    check(j.contains("model") && j["model"].is_object(), ctx(path) + "missing \"model\" object");
    const auto& model = j["model"];
    check(model.value("type", std::string("BPE")) == "BPE",
          ctx(path) + "model type \"" + model.value("type", std::string()) + "\" is not supported (only BPE)");
    const auto& norm = j.contains("normalizer") ? j["normalizer"] : nlohmann::json();
    const bool nfc = norm.is_object() && norm.value("type", std::string()) == "NFC" && norm.size() == 1;
    check(norm.is_null() || nfc, ctx(path) + "normalizer " + norm.dump().substr(0, 200) +
                                     " is not supported (only null or NFC)");
    const auto& pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"] : nlohmann::json();
    const PreTokenization pre_kind = pre_tokenization_of(pre, path);
    const bool ignore_merges = model.value("ignore_merges", false);
    expect_type(j.value("decoder", nlohmann::json()), "decoder", "ByteLevel", path);
    check(!model.contains("dropout") || model["dropout"].is_null() ||
              (model["dropout"].is_number() && model["dropout"].get<double>() == 0.0),
          ctx(path) + "BPE dropout is not supported");
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
      check(!model.contains(key) || model[key].is_null() || model[key] == "",
            ctx(path) + "model." + key + " is not supported");
    check(!model.value("byte_fallback", false), ctx(path) + "byte_fallback is not supported");

    check(model.contains("vocab") && model["vocab"].is_object(), ctx(path) + "missing model.vocab object");
    // Ids must be about dense (as every real tokenizer's are): this bounds memory by the file size.
    const size_t n_added = j.contains("added_tokens") && j["added_tokens"].is_array() ? j["added_tokens"].size() : 0;
    const int64_t id_limit = (int64_t)(model["vocab"].size() + n_added) + 1024;
    std::vector<std::string> token_bytes;
    std::string raw;
    for (auto& [tok, idj] : model["vocab"].items()) {
      check(idj.is_number_integer(), ctx(path) + "vocab entry \"" + tok + "\" has a non-integer id");
      int64_t id = idj.get<int64_t>();
      check(id >= 0 && id < id_limit, ctx(path) + "vocab entry \"" + tok + "\" has id " + std::to_string(id) +
                                       " out of range (ids must be below the number of tokens + 1024)");
      check(bpe::token_string_to_bytes(tok, raw),
            ctx(path) + "vocab entry \"" + tok + "\" (id " + std::to_string(id) +
                ") has a character outside the byte-level alphabet");
      if ((size_t)id >= token_bytes.size()) token_bytes.resize(id + 1);
      check(token_bytes[id].empty(), ctx(path) + "vocab id " + std::to_string(id) + " is used twice");
      token_bytes[id] = raw;
    }
    std::unordered_map<std::string, int32_t> ids;
    for (int32_t id = 0; id < (int32_t)token_bytes.size(); ++id)
      if (!token_bytes[id].empty()) ids.emplace(token_bytes[id], id);

    std::vector<std::pair<int32_t, int32_t>> merges;
    if (model.contains("merges")) {
      check(model["merges"].is_array(), ctx(path) + "model.merges must be an array");
      const auto& ms = model["merges"];
      merges.reserve(ms.size());
      auto id_of = [&](const std::string& tok, size_t r) {
        check(bpe::token_string_to_bytes(tok, raw),
              ctx(path) + "merge " + std::to_string(r) + ": \"" + tok + "\" has a character outside the alphabet");
        auto it = ids.find(raw);
        check(it != ids.end(), ctx(path) + "merge " + std::to_string(r) + ": \"" + tok + "\" is not in the vocab");
        return it->second;
      };
      for (size_t r = 0; r < ms.size(); ++r) {
        const auto& e = ms[r];
        std::string a, b;
        if (e.is_string()) {  // "a b" (tokenizers < 0.20); a byte-level token never holds a space
          const std::string& s = e.get_ref<const std::string&>();
          size_t sp = s.find(' ');
          check(sp != std::string::npos && sp > 0 && sp + 1 < s.size() && s.find(' ', sp + 1) == std::string::npos,
                ctx(path) + "merge " + std::to_string(r) + " \"" + s + "\" is not two tokens separated by one space");
          a = s.substr(0, sp);
          b = s.substr(sp + 1);
        } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
          a = e[0].get<std::string>();
          b = e[1].get<std::string>();
        } else {
          throw Error(ctx(path) + "merge " + std::to_string(r) + " must be \"a b\" or [\"a\", \"b\"], found " +
                      e.dump().substr(0, 100));
        }
        merges.emplace_back(id_of(a, r), id_of(b, r));
      }
    }

    std::vector<AddedToken> added;
    if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
      check(j["added_tokens"].is_array(), ctx(path) + "added_tokens must be an array");
      for (size_t i = 0; i < j["added_tokens"].size(); ++i) {
        const auto& a = j["added_tokens"][i];
        check(a.is_object() && a.contains("id") && a["id"].is_number_integer() && a.contains("content") &&
                  a["content"].is_string(),
              ctx(path) + "added_tokens[" + std::to_string(i) + "] needs an integer id and a string content");
        int64_t id = a["id"].get<int64_t>();
        check(id >= 0 && id < id_limit, ctx(path) + "added_tokens[" + std::to_string(i) + "] id " + std::to_string(id) +
                                         " out of range (ids must be below the number of tokens + 1024)");
        for (const char* flag : {"single_word", "lstrip", "rstrip"})
          check(!a.value(flag, false), ctx(path) + "added_tokens[" + std::to_string(i) + "] (\"" +
                                           a["content"].get<std::string>() + "\"): " + flag +
                                           " = true is not supported");
        added.push_back({(int32_t)id, a["content"].get<std::string>(), a.value("special", false)});
      }
    }
    try {
      // Imported vocabularies may lack some bytes (SmolLM's control characters): such a
      // byte is dropped when encoding, as tokenizers does without an unknown token.
      Tokenizer t = from_bpe(token_bytes, merges, added, /*require_all_bytes=*/false);
      t.impl_->pre = pre_kind;
      t.impl_->nfc = nfc;
      t.impl_->ignore_merges = ignore_merges;
      return t;
    } catch (const Error& e) {
      throw Error(ctx(path) + e.what());
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(ctx(path) + "unexpected structure: " + e.what());
  }
}

void Tokenizer::save(const std::filesystem::path& path) const {
  const Impl& m = *impl_;
  check(!m.spm, path.string() + ": a SentencePiece-style tokenizer cannot be saved as tokenizer.json");
  using ojson = nlohmann::ordered_json;
  ojson added = ojson::array();
  for (const auto& a : m.added)
    added.push_back({{"id", a.id},
                     {"content", a.content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", a.special}});
  ojson vocab = ojson::object();
  for (int32_t id = 0; id < (int32_t)m.bytes.size(); ++id) {
    if (!m.in_bpe_vocab[id]) continue;
    // An added token that also has a vocab entry (GPT-2's <|endoftext|>) keeps it.
    std::string s = bpe::bytes_to_token_string(m.bytes[id]);
    vocab[s] = id;
  }
  ojson merges = ojson::array();
  for (auto [a, b] : m.merges) merges.push_back(bpe::bytes_to_token_string(m.bytes[a]) + " " +
                                                bpe::bytes_to_token_string(m.bytes[b]));
  ojson byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  ojson j = {{"version", "1.0"},
             {"truncation", nullptr},
             {"padding", nullptr},
             {"added_tokens", added},
             {"normalizer", m.nfc ? ojson{{"type", "NFC"}} : ojson(nullptr)},
             {"pre_tokenizer", pre_tokenizer_json(m.pre)},
             {"post_processor", byte_level},
             {"decoder", byte_level},
             {"model",
              {{"type", "BPE"},
               {"dropout", nullptr},
               {"unk_token", nullptr},
               {"continuing_subword_prefix", ""},
               {"end_of_word_suffix", ""},
               {"fuse_unk", false},
               {"byte_fallback", false},
               {"ignore_merges", m.ignore_merges},
               {"vocab", vocab},
               {"merges", merges}}}};
  atomic_write_file(path, j.dump(1) + "\n");
}

}  // namespace veritas
