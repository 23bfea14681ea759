#pragma once
// API keys and read limits in SQLite (docs/serve.md). A key is shown once, when it is
// made; the database keeps only its SHA-256. Each key has a name and limits: a token
// bucket of requests per minute, one of tokens per minute, and daily caps on requests
// and tokens (UTC days). Bucket levels and daily usage are written on every request, so
// a restart (or SIGKILL) keeps them: SQLite in WAL mode commits each update atomically.
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace veritas::serve {

struct KeyLimits {
  double requests_per_minute = 60;  // bucket size and refill; 0 = unlimited
  double tokens_per_minute = 0;     // prompt + generated tokens; 0 = unlimited
  int64_t daily_requests = 0;       // 0 = unlimited
  int64_t daily_tokens = 0;         // 0 = unlimited
};

struct KeyInfo {
  int64_t id = 0;
  std::string name, prefix;  // prefix: the first characters of the key, to tell keys apart
  int64_t created = 0;       // unix seconds
  bool revoked = false;
  KeyLimits limits;
  int64_t today_requests = 0, today_tokens = 0;
};

struct Admission {
  enum class Kind { Ok, Unauthorized, Limited } kind = Kind::Ok;
  int64_t key_id = 0;
  std::string message;
  int retry_after_s = 0;  // Limited: when to try again
};

std::string sha256_hex(const std::string& data);

class KeyStore {
 public:
  // Opens (creating when absent) the database; throws Error naming the file.
  explicit KeyStore(const std::string& path);
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // Makes a key; returns it in clear (the only time it is known). Throws on a duplicate name.
  std::string add(const std::string& name, const KeyLimits& limits);
  std::vector<KeyInfo> list();
  bool revoke(const std::string& name);  // false when no such key

  // Checks the bearer key and takes one request from its bucket (now: unix seconds).
  Admission admit(const std::string& key, double now);
  // Charges the tokens a request used to its token bucket and daily total.
  void charge(int64_t key_id, int64_t tokens, double now);

 private:
  void exec(const char* sql);
  sqlite3* db_ = nullptr;
  std::string path_;
  std::mutex mu_;
};

}  // namespace veritas::serve
