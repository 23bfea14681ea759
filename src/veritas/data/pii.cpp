// PII masking with hand-written scanners: one left-to-right pass; at each token boundary
// the matchers try to read a candidate and validate it (checksum, date, address range),
// so no regex engine runs on the hot path.
#include "veritas/data/pii.hpp"

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>

#include "veritas/util/config.hpp"

namespace veritas {

namespace {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_alnum(char c) { return is_digit(c) || is_alpha(c); }
inline bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
inline bool is_email_local(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}
inline bool is_domain_char(char c) { return is_alnum(c) || c == '-'; }

// Email: local@label(.label)+ with an alphabetic TLD of 2+ letters. Returns length or 0.
size_t match_email(std::string_view s, size_t i) {
  size_t j = i;
  while (j < s.size() && is_email_local(s[j])) ++j;
  if (j == i || j >= s.size() || s[j] != '@' || j - i > 64) return 0;
  if (s[i] == '.' || s[j - 1] == '.') return 0;
  size_t k = j + 1, labels = 0, last_label_start = k;
  bool last_alpha = false;
  while (k < s.size()) {
    size_t st = k;
    while (k < s.size() && is_domain_char(s[k])) ++k;
    if (k == st) break;
    ++labels;
    last_label_start = st;
    last_alpha = true;
    for (size_t t = st; t < k; ++t) last_alpha &= is_alpha(s[t]);
    if (k + 1 < s.size() && s[k] == '.' && is_domain_char(s[k + 1])) { ++k; continue; }
    break;
  }
  if (labels < 2 || !last_alpha || k - last_label_start < 2) return 0;
  return k - i;
}

// A run of digits with single separators from `seps` between groups. Fills digits;
// returns the length consumed (ending on a digit).
size_t digit_run(std::string_view s, size_t i, const char* seps, std::string& digits, int* groups) {
  digits.clear();
  size_t j = i, end = i;
  *groups = 0;
  while (j < s.size()) {
    size_t st = j;
    while (j < s.size() && is_digit(s[j])) digits.push_back(s[j++]);
    if (j == st) break;
    ++*groups;
    end = j;
    if (digits.size() > 24) break;
    if (j + 1 < s.size() && std::strchr(seps, s[j]) && s[j] != 0 && is_digit(s[j + 1])) { ++j; continue; }
    break;
  }
  return end - i;
}

inline bool boundary_after(std::string_view s, size_t end) {
  return end >= s.size() || !(is_alnum(s[end]) || s[end] == '_' ||
                               (s[end] == '.' && end + 1 < s.size() && is_digit(s[end + 1])) ||
                               (s[end] == '-' && end + 1 < s.size() && is_digit(s[end + 1])));
}

size_t match_cn_id(std::string_view s, size_t i) {
  if (i + 18 > s.size()) return 0;
  for (size_t k = 0; k < 17; ++k) if (!is_digit(s[i + k])) return 0;
  char c = s[i + 17];
  if (!(is_digit(c) || c == 'X' || c == 'x')) return 0;
  if (!boundary_after(s, i + 18)) return 0;
  return cn_id_valid(s.substr(i, 18)) ? 18 : 0;
}

size_t match_card(std::string_view s, size_t i, std::string& digits) {
  if (s[i] < '2' || s[i] > '6') return 0;  // issuer prefixes: 2 (MC), 3 (Amex/Diners), 4 (Visa), 5, 6
  int groups = 0;
  size_t len = digit_run(s, i, " -", digits, &groups);
  if (!len || digits.size() < 13 || digits.size() > 19 || !boundary_after(s, i + len)) return 0;
  // 17/18 digits in one block are far more often an ID-like number (e.g. a Chinese ID
  // with a wrong check digit) than one of the rare 17/18-digit cards.
  if (groups == 1 && (digits.size() == 17 || digits.size() == 18)) return 0;
  if (groups > 1) {
    // Grouped numbers must look like card groups (4-4-4-4[-3], 4-6-5 or 4-6-4), not dates or ISBNs.
    size_t g = 0, k = i;
    std::vector<int> sizes;
    while (k < i + len) {
      size_t st = k;
      while (k < i + len && is_digit(s[k])) ++k;
      sizes.push_back((int)(k - st));
      ++k;
      ++g;
    }
    bool fours = true;
    for (size_t t = 0; t + 1 < sizes.size(); ++t) fours &= sizes[t] == 4;
    fours &= sizes.back() >= 1 && sizes.back() <= 4;
    bool amex = sizes.size() == 3 && sizes[0] == 4 && sizes[1] == 6 && (sizes[2] == 5 || sizes[2] == 4);
    if (!fours && !amex) return 0;
  }
  return luhn_valid(digits) ? len : 0;
}

// Dotted quad; returns length when it parses (validity of the range checked by caller).
size_t match_ipv4(std::string_view s, size_t i) {
  size_t j = i;
  for (int part = 0; part < 4; ++part) {
    size_t st = j;
    int v = 0;
    while (j < s.size() && is_digit(s[j]) && j - st < 3) v = v * 10 + (s[j++] - '0');
    if (j == st || v > 255 || (j < s.size() && is_digit(s[j]))) return 0;
    if (j - st > 1 && s[st] == '0') return 0;  // leading zeros: version strings, not addresses
    if (part < 3) {
      if (j >= s.size() || s[j] != '.') return 0;
      ++j;
    }
  }
  if (!boundary_after(s, j)) return 0;
  return j - i;
}

size_t match_ipv6(std::string_view s, size_t i) {
  size_t j = i;
  int colons = 0;
  while (j < s.size() && (is_hex(s[j]) || s[j] == ':' || s[j] == '.') && j - i < 45) {
    colons += s[j] == ':';
    ++j;
  }
  while (j > i && (s[j - 1] == '.' || (s[j - 1] == ':' && !(j - i >= 2 && s[j - 2] == ':')))) {
    colons -= s[j - 1] == ':';
    --j;
  }
  if (colons < 2 || (j < s.size() && (is_alnum(s[j]) || s[j] == '_'))) return 0;
  return ipv6_public(s.substr(i, j - i)) ? j - i : 0;
}

// Chinese mobile: optional +86 / 86 prefix, 1[3-9] then 9 digits, optionally 3-4-4 grouped.
size_t match_cn_mobile(std::string_view s, size_t i, std::string& digits) {
  size_t j = i;
  if (s[j] == '+') {
    if (s.substr(j, 3) != "+86") return 0;
    j += 3;
    if (j < s.size() && (s[j] == ' ' || s[j] == '-')) ++j;
  }
  int groups = 0;
  size_t len = digit_run(s, j, " -", digits, &groups);
  if (!len) return 0;
  std::string_view d = digits;
  if (d.size() == 13 && d.substr(0, 2) == "86") d = d.substr(2);
  if (d.size() != 11 || d[0] != '1' || d[1] < '3' || d[1] > '9' || groups > 3) return 0;
  if (!boundary_after(s, j + len)) return 0;
  return j + len - i;
}

// International: '+' country code then 7-14 more digits in groups (space, dash, dot,
// parentheses around one group); E.164 allows at most 15 digits.
size_t match_intl_phone(std::string_view s, size_t i) {
  if (s[i] != '+' || i + 1 >= s.size() || !is_digit(s[i + 1]) || s[i + 1] == '0') return 0;
  size_t j = i + 1, ndig = 0, end = 0;
  while (j < s.size()) {
    if (is_digit(s[j])) { ++ndig; ++j; end = j; continue; }
    if ((s[j] == ' ' || s[j] == '-' || s[j] == '.') && j + 1 < s.size() &&
        (is_digit(s[j + 1]) || s[j + 1] == '(')) { ++j; continue; }
    if (s[j] == '(') {
      size_t k = j + 1;
      while (k < s.size() && is_digit(s[k])) ++k;
      if (k < s.size() && s[k] == ')' && k > j + 1 && k - j <= 5) {
        ndig += k - j - 1;
        j = k + 1;
        end = j;
        if (j < s.size() && s[j] == ' ') ++j;
        continue;
      }
    }
    break;
  }
  if (ndig < 8 || ndig > 15 || !end || !boundary_after(s, end)) return 0;
  return end - i;
}

// North American (ddd) ddd-dddd / ddd-ddd-dddd / ddd.ddd.dddd and Chinese landlines
// 0dd(d)-dddddddd: strict group sizes so that dates and ISBNs do not match.
size_t match_local_phone(std::string_view s, size_t i) {
  auto digits_at = [&](size_t k, size_t n) {
    if (k + n > s.size()) return false;
    for (size_t t = 0; t < n; ++t) if (!is_digit(s[k + t])) return false;
    return true;
  };
  if (s[i] == '(' && digits_at(i + 1, 3) && i + 4 < s.size() && s[i + 4] == ')') {
    size_t j = i + 5;
    if (j < s.size() && s[j] == ' ') ++j;
    if (digits_at(j, 3) && j + 3 < s.size() && s[j + 3] == '-' && digits_at(j + 4, 4) &&
        boundary_after(s, j + 8))
      return j + 8 - i;
    return 0;
  }
  if (s[i] == '0' && i + 1 < s.size() && s[i + 1] != '0') {  // Chinese landline
    for (size_t area = 3; area <= 4; ++area)
      if (digits_at(i, area) && i + area < s.size() && s[i + area] == '-')
        for (size_t local = 8; local >= 7; --local)
          if (digits_at(i + area + 1, local) && boundary_after(s, i + area + 1 + local))
            return area + 1 + local;
    return 0;
  }
  if (digits_at(i, 3) && s[i] != '0' && s[i] != '1' && i + 3 < s.size() && (s[i + 3] == '-' || s[i + 3] == '.')) {
    char sep = s[i + 3];
    if (digits_at(i + 4, 3) && i + 7 < s.size() && s[i + 7] == sep && digits_at(i + 8, 4) &&
        boundary_after(s, i + 12))
      return 12;
  }
  return 0;
}

}  // namespace

bool luhn_valid(std::string_view digits) {
  if (digits.empty()) return false;
  int sum = 0;
  bool dbl = false;
  for (size_t k = digits.size(); k-- > 0;) {
    if (!is_digit(digits[k])) return false;
    int d = digits[k] - '0';
    if (dbl) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
    dbl = !dbl;
  }
  return sum % 10 == 0;
}

bool cn_id_valid(std::string_view id) {
  if (id.size() != 18) return false;
  for (size_t k = 0; k < 17; ++k) if (!is_digit(id[k])) return false;
  if (id[0] < '1' || id[0] > '8') return false;  // province codes 11..82
  int y = std::stoi(std::string(id.substr(6, 4))), m = std::stoi(std::string(id.substr(10, 2))),
      d = std::stoi(std::string(id.substr(12, 2)));
  if (y < 1900 || y > 2030 || m < 1 || m > 12 || d < 1) return false;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > mdays[m - 1] + (m == 2 && leap)) return false;
  // ISO 7064 MOD 11-2: weights 2^(17-i) mod 11; check char from "10X98765432".
  static const int w[] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  int sum = 0;
  for (int k = 0; k < 17; ++k) sum += (id[k] - '0') * w[k];
  char expect = "10X98765432"[sum % 11];
  char got = id[17] == 'x' ? 'X' : id[17];
  return got == expect;
}

bool ipv4_public(std::string_view dotted) {
  unsigned a, b, c, d;
  std::string s(dotted);
  if (std::sscanf(s.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) != 4 || a > 255 || b > 255 || c > 255 || d > 255)
    return false;
  if (a == 0 || a == 10 || a == 127 || a >= 224) return false;        // this-net, private, loopback, multicast/reserved
  if (a == 172 && b >= 16 && b <= 31) return false;                  // private
  if (a == 192 && b == 168) return false;                            // private
  if (a == 169 && b == 254) return false;                            // link-local
  if (a == 100 && b >= 64 && b <= 127) return false;                 // carrier-grade NAT
  if (a == 192 && b == 0 && (c == 0 || c == 2)) return false;        // IETF, TEST-NET-1
  if (a == 198 && (b == 18 || b == 19)) return false;                // benchmarking
  if (a == 198 && b == 51 && c == 100) return false;                 // TEST-NET-2
  if (a == 203 && b == 0 && c == 113) return false;                  // TEST-NET-3
  return true;
}

bool ipv6_public(std::string_view text) {
  if (text.size() < 2 || text.size() > 45) return false;
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = 0;
  unsigned char a[16];
  if (inet_pton(AF_INET6, buf, a) != 1) return false;
  if ((a[0] & 0xE0) != 0x20) return false;  // only global unicast 2000::/3 is public
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) return false;  // documentation
  return true;
}

std::string mask_pii_text(std::string_view s, const PiiConfig& cfg, PiiCounts* counts) {
  PiiCounts local;
  PiiCounts& c = counts ? *counts : local;
  c = PiiCounts{};
  std::string out;
  out.reserve(s.size());
  std::string digits;
  size_t i = 0, copied = 0;
  auto emit = [&](size_t len, const char* tag, int& counter) {
    out.append(s.data() + copied, i - copied);
    out += tag;
    ++counter;
    i += len;
    copied = i;
  };
  while (i < s.size()) {
    char ch = s[i];
    char prev = i ? s[i - 1] : ' ';
    // Candidates start only at a token boundary, which keeps the scan linear.
    // ':' is a boundary: NFKC turns the Chinese full-width colon in "电话：138..." into ':'.
    bool bound = !(is_alnum(prev) || prev == '_' || prev == '.' || prev == '-' || prev == '+' || prev == '@' ||
                   prev == '/');
    if (bound) {
      size_t n;
      if (cfg.email && is_email_local(ch) && (n = match_email(s, i))) { emit(n, "<EMAIL>", c.email); continue; }
      if (is_digit(ch)) {
        if (cfg.cn_id && (n = match_cn_id(s, i))) { emit(n, "<CN_ID>", c.cn_id); continue; }
        if (cfg.card && (n = match_card(s, i, digits))) { emit(n, "<CARD>", c.card); continue; }
        if (cfg.ip && (n = match_ipv4(s, i))) {
          if (ipv4_public(s.substr(i, n))) { emit(n, "<IP>", c.ip); continue; }
          i += n;  // a private address: skip it whole so its parts are not re-read
          continue;
        }
        if (cfg.phone && (n = match_cn_mobile(s, i, digits))) { emit(n, "<PHONE>", c.phone); continue; }
        if (cfg.phone && (n = match_local_phone(s, i))) { emit(n, "<PHONE>", c.phone); continue; }
      }
      if (cfg.phone && ch == '+') {
        if ((n = match_cn_mobile(s, i, digits))) { emit(n, "<PHONE>", c.phone); continue; }
        if ((n = match_intl_phone(s, i))) { emit(n, "<PHONE>", c.phone); continue; }
      }
      if (cfg.phone && ch == '(' && (n = match_local_phone(s, i))) { emit(n, "<PHONE>", c.phone); continue; }
      if (cfg.ip && (is_hex(ch) || ch == ':') && (n = match_ipv6(s, i))) { emit(n, "<IP>", c.ip); continue; }
    }
    // Skip the rest of an alphanumeric token: nothing can start inside it.
    if (is_alnum(ch)) {
      ++i;
      while (i < s.size() && is_alnum(s[i])) ++i;
    } else {
      ++i;
    }
  }
  if (copied == 0) return std::string(s);
  out.append(s.data() + copied, s.size() - copied);
  return out;
}

PiiConfig PiiConfig::from_json(const nlohmann::json& j) {
  PiiConfig c;
  c.enabled = get_or(j, "enabled", c.enabled);
  c.email = get_or(j, "email", c.email);
  c.phone = get_or(j, "phone", c.phone);
  c.ip = get_or(j, "ip", c.ip);
  c.card = get_or(j, "card", c.card);
  c.cn_id = get_or(j, "cn_id", c.cn_id);
  c.max_hits = get_or(j, "max_hits", c.max_hits);
  return c;
}

Decision mask_pii(Document& doc, const PiiConfig& cfg) {
  if (!cfg.enabled) return Decision::ok();
  PiiCounts c;
  std::string masked = mask_pii_text(doc.text, cfg, &c);
  doc.scores.emplace_back("pii.hits", c.total());
  if (c.total() > cfg.max_hits)
    return Decision::drop("pii.too_many", "hits=" + std::to_string(c.total()) + " > max_hits=" +
                                              std::to_string(cfg.max_hits) + " (email " + std::to_string(c.email) +
                                              ", phone " + std::to_string(c.phone) + ", ip " + std::to_string(c.ip) +
                                              ", card " + std::to_string(c.card) + ", cn_id " +
                                              std::to_string(c.cn_id) + ")");
  if (c.total()) doc.text = std::move(masked);
  return Decision::ok();
}

}  // namespace veritas
