#pragma once
// PII masking (curation stage 9): emails, phone numbers (E.164-style international and
// Chinese mobiles 1[3-9]xxxxxxxxx), public IPv4/IPv6 addresses (private, loopback,
// link-local, documentation and multicast ranges are not PII), payment cards (13-19
// digits, spaces/dashes allowed, Luhn-checked) and Chinese resident ID numbers (18
// chars, valid date, ISO 7064 checksum). Matches are replaced with <EMAIL>, <PHONE>,
// <IP>, <CARD>, <CN_ID>. Hand-written scanners, one pass, thread-safe.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "veritas/data/document.hpp"

namespace veritas {

struct PiiConfig {
  bool enabled = true;
  bool email = true, phone = true, ip = true, card = true, cn_id = true;
  int max_hits = 20;  // more hits than this drops the document (pii.too_many)
  static PiiConfig from_json(const nlohmann::json& j);
};

struct PiiCounts {
  int email = 0, phone = 0, ip = 0, card = 0, cn_id = 0;
  int total() const { return email + phone + ip + card + cn_id; }
};

// Returns the masked text; counts receives the hits per kind.
std::string mask_pii_text(std::string_view text, const PiiConfig& cfg, PiiCounts* counts);
// Rewrites doc.text, adds scores pii.hits; drops with pii.too_many above max_hits.
Decision mask_pii(Document& doc, const PiiConfig& cfg);

// Exposed for tests.
bool luhn_valid(std::string_view digits);
bool cn_id_valid(std::string_view id18);  // date and checksum
bool ipv4_public(std::string_view dotted);
bool ipv6_public(std::string_view text);

}  // namespace veritas
