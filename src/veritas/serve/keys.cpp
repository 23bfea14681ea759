#include "veritas/serve/keys.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "veritas/util/error.hpp"

namespace veritas::serve {

// ---- SHA-256 (FIPS 180-4), enough to hash keys without another dependency --------------
std::string sha256_hex(const std::string& data) {
  static const uint32_t K[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
      0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
      0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
      0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
      0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
      0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
      0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::string m = data;
  uint64_t bits = (uint64_t)data.size() * 8;
  m += (char)0x80;
  while (m.size() % 64 != 56) m += (char)0;
  for (int i = 7; i >= 0; --i) m += (char)(bits >> (8 * i));
  auto rot = [](uint32_t x, int n) { return (x >> n) | (x << (32 - n)); };
  for (size_t off = 0; off < m.size(); off += 64) {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i)
      w[i] = (uint32_t)(uint8_t)m[off + 4 * i] << 24 | (uint32_t)(uint8_t)m[off + 4 * i + 1] << 16 |
             (uint32_t)(uint8_t)m[off + 4 * i + 2] << 8 | (uint32_t)(uint8_t)m[off + 4 * i + 3];
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rot(w[i - 15], 7) ^ rot(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rot(w[i - 2], 17) ^ rot(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t t1 = hh + (rot(e, 6) ^ rot(e, 11) ^ rot(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
      uint32_t t2 = (rot(a, 2) ^ rot(a, 13) ^ rot(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
  }
  char out[65];
  for (int i = 0; i < 8; ++i) std::snprintf(out + 8 * i, 9, "%08x", h[i]);
  return std::string(out, 64);
}

namespace {

struct Stmt {  // a prepared statement, finalized on scope exit
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK)
      throw Error(std::string("keys database: ") + sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(s); }
  Stmt& bind(int i, int64_t v) { sqlite3_bind_int64(s, i, v); return *this; }
  Stmt& bind(int i, double v) { sqlite3_bind_double(s, i, v); return *this; }
  Stmt& bind(int i, const std::string& v) { sqlite3_bind_text(s, i, v.c_str(), (int)v.size(), SQLITE_TRANSIENT); return *this; }
  bool row() {
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) throw Error(std::string("keys database: ") + sqlite3_errmsg(sqlite3_db_handle(s)));
    return false;
  }
  int64_t i64(int c) { return sqlite3_column_int64(s, c); }
  double f64(int c) { return sqlite3_column_double(s, c); }
  std::string text(int c) {
    auto* p = sqlite3_column_text(s, c);
    return p ? std::string((const char*)p) : std::string();
  }
};

std::string random_key() {
  std::ifstream f("/dev/urandom", std::ios::binary);
  unsigned char b[24];
  f.read((char*)b, sizeof b);
  check((bool)f, "cannot read /dev/urandom to make a key");
  std::string k = "vk-";
  char hex[3];
  for (unsigned char c : b) {
    std::snprintf(hex, 3, "%02x", c);
    k += hex;
  }
  return k;
}

int64_t day_of(double now) { return (int64_t)std::floor(now / 86400.0); }

}  // namespace

KeyStore::KeyStore(const std::string& path) : path_(path) {
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw Error(path + ": cannot open the keys database: " + msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  try {
    exec("PRAGMA journal_mode=WAL");
    exec("PRAGMA synchronous=NORMAL");  // WAL: a crashed process loses no committed update
    exec("CREATE TABLE IF NOT EXISTS keys (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL, hash TEXT UNIQUE NOT NULL,"
         " prefix TEXT NOT NULL, created INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0,"
         " rpm REAL NOT NULL, tpm REAL NOT NULL, daily_requests INTEGER NOT NULL, daily_tokens INTEGER NOT NULL,"
         " req_level REAL, tok_level REAL, updated REAL)");
    exec("CREATE TABLE IF NOT EXISTS usage (key_id INTEGER NOT NULL, day INTEGER NOT NULL, requests INTEGER NOT NULL,"
         " tokens INTEGER NOT NULL, PRIMARY KEY (key_id, day))");
  } catch (const Error& e) {
    sqlite3_close(db_);
    throw Error(path + ": " + e.what());
  }
}

KeyStore::~KeyStore() { sqlite3_close(db_); }

void KeyStore::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw Error("keys database: " + msg);
  }
}

std::string KeyStore::add(const std::string& name, const KeyLimits& l) {
  check(!name.empty() && name.size() <= 200, "a key name must have 1 to 200 characters");
  check(l.requests_per_minute >= 0 && l.tokens_per_minute >= 0 && l.daily_requests >= 0 && l.daily_tokens >= 0,
        "limits must not be negative");
  std::lock_guard<std::mutex> lk(mu_);
  {
    Stmt q(db_, "SELECT 1 FROM keys WHERE name = ?");
    check(!q.bind(1, name).row(), "a key named '" + name + "' exists already");
  }
  std::string key = random_key();
  Stmt s(db_, "INSERT INTO keys (name, hash, prefix, created, rpm, tpm, daily_requests, daily_tokens) VALUES (?,?,?,?,?,?,?,?)");
  s.bind(1, name).bind(2, sha256_hex(key)).bind(3, key.substr(0, 7)).bind(4, (int64_t)std::time(nullptr));
  s.bind(5, l.requests_per_minute).bind(6, l.tokens_per_minute).bind(7, l.daily_requests).bind(8, l.daily_tokens);
  s.row();
  return key;
}

std::vector<KeyInfo> KeyStore::list() {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<KeyInfo> out;
  Stmt s(db_, "SELECT k.id, k.name, k.prefix, k.created, k.revoked, k.rpm, k.tpm, k.daily_requests, k.daily_tokens,"
              " COALESCE(u.requests, 0), COALESCE(u.tokens, 0) FROM keys k"
              " LEFT JOIN usage u ON u.key_id = k.id AND u.day = ? ORDER BY k.id");
  s.bind(1, day_of((double)std::time(nullptr)));
  while (s.row()) {
    KeyInfo k;
    k.id = s.i64(0);
    k.name = s.text(1);
    k.prefix = s.text(2);
    k.created = s.i64(3);
    k.revoked = s.i64(4) != 0;
    k.limits = {s.f64(5), s.f64(6), s.i64(7), s.i64(8)};
    k.today_requests = s.i64(9);
    k.today_tokens = s.i64(10);
    out.push_back(k);
  }
  return out;
}

bool KeyStore::revoke(const std::string& name) {
  std::lock_guard<std::mutex> lk(mu_);
  Stmt s(db_, "UPDATE keys SET revoked = 1 WHERE name = ? AND revoked = 0");
  s.bind(1, name).row();
  return sqlite3_changes(db_) > 0;
}

Admission KeyStore::admit(const std::string& key, double now) {
  std::lock_guard<std::mutex> lk(mu_);
  Admission a;
  Stmt s(db_, "SELECT id, revoked, rpm, tpm, daily_requests, daily_tokens, req_level, tok_level, updated,"
              " COALESCE((SELECT requests FROM usage WHERE key_id = keys.id AND day = ?), 0),"
              " COALESCE((SELECT tokens FROM usage WHERE key_id = keys.id AND day = ?), 0) FROM keys WHERE hash = ?");
  const int64_t day = day_of(now);
  s.bind(1, day).bind(2, day).bind(3, sha256_hex(key));
  if (key.empty() || !s.row() || s.i64(1)) {
    a.kind = Admission::Kind::Unauthorized;
    a.message = key.empty() ? "missing API key (send 'Authorization: Bearer KEY')" : "invalid or revoked API key";
    return a;
  }
  a.key_id = s.i64(0);
  const double rpm = s.f64(2), tpm = s.f64(3);
  const int64_t dreq = s.i64(4), dtok = s.i64(5), used_req = s.i64(9), used_tok = s.i64(10);
  const bool fresh = sqlite3_column_type(s.s, 8) == SQLITE_NULL;
  const double dt = fresh ? 0 : std::max(0.0, now - s.f64(8));
  double req = fresh ? rpm : std::min(rpm, s.f64(6) + dt * rpm / 60.0);
  double tok = fresh ? tpm : std::min(tpm, s.f64(7) + dt * tpm / 60.0);
  const int to_midnight = (int)std::ceil((double)(day + 1) * 86400.0 - now);
  auto limited = [&](const std::string& msg, double wait) {
    a.kind = Admission::Kind::Limited;
    a.message = msg;
    a.retry_after_s = std::max(1, (int)std::ceil(wait));
  };
  if (dreq > 0 && used_req >= dreq) limited("daily request cap of this key reached", to_midnight);
  else if (dtok > 0 && used_tok >= dtok) limited("daily token cap of this key reached", to_midnight);
  else if (rpm > 0 && req < 1) limited("request rate limit of this key reached", (1 - req) * 60.0 / rpm);
  else if (tpm > 0 && tok <= 0) limited("token rate limit of this key reached", (1 - tok) * 60.0 / tpm);
  if (a.kind == Admission::Kind::Ok) req -= 1;
  Stmt u(db_, "UPDATE keys SET req_level = ?, tok_level = ?, updated = ? WHERE id = ?");
  u.bind(1, req).bind(2, tok).bind(3, now).bind(4, a.key_id).row();
  if (a.kind == Admission::Kind::Ok) {
    Stmt c(db_, "INSERT INTO usage (key_id, day, requests, tokens) VALUES (?, ?, 1, 0)"
                " ON CONFLICT (key_id, day) DO UPDATE SET requests = requests + 1");
    c.bind(1, a.key_id).bind(2, day).row();
  }
  return a;
}

void KeyStore::charge(int64_t key_id, int64_t tokens, double now) {
  if (key_id <= 0 || tokens <= 0) return;
  std::lock_guard<std::mutex> lk(mu_);
  exec("BEGIN");
  try {
    Stmt u(db_, "UPDATE keys SET tok_level = tok_level - ? WHERE id = ? AND tpm > 0");
    u.bind(1, (double)tokens).bind(2, key_id).row();
    Stmt c(db_, "INSERT INTO usage (key_id, day, requests, tokens) VALUES (?, ?, 0, ?)"
                " ON CONFLICT (key_id, day) DO UPDATE SET tokens = tokens + excluded.tokens");
    c.bind(1, key_id).bind(2, day_of(now)).bind(3, tokens).row();
    exec("COMMIT");
  } catch (...) {
    exec("ROLLBACK");
    throw;
  }
}

}  // namespace veritas::serve
