// PII masking: generated positives of every kind inside English and Chinese sentences,
// and hard negatives (ISBNs, dates, versions, Luhn-failing 16-digit numbers, private
// addresses, times, MAC addresses, prices). Prints precision and recall per kind.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "veritas/data/pii.hpp"
#include "veritas/util/rng.hpp"

namespace veritas {
namespace {

std::string digits(Rng& r, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += char('0' + r.below(10));
  return s;
}

char luhn_digit(const std::string& body) {
  for (char d = '0'; d <= '9'; ++d)
    if (luhn_valid(body + d)) return d;
  return '?';
}

std::string make_card(Rng& r) {
  static const char* prefixes[] = {"4", "51", "55", "37", "6011", "62", "2221"};
  std::string pre = prefixes[r.below(7)];
  int len = pre == "37" ? 15 : 16;
  std::string body = pre + digits(r, len - 1 - (int)pre.size());
  std::string num = body + luhn_digit(body);
  int style = (int)r.below(3);
  if (style == 0 || len != 16) return num;
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i && i % 4 == 0) out += style == 1 ? ' ' : '-';
    out += num[i];
  }
  return out;
}

std::string make_cn_id(Rng& r) {
  static const char* areas[] = {"110101", "310104", "440305", "510107", "330106"};
  char date[16];
  std::snprintf(date, sizeof date, "%04d%02d%02d", (int)r.range(1950, 2005), (int)r.range(1, 12), (int)r.range(1, 28));
  std::string body = std::string(areas[r.below(5)]) + date + digits(r, 3);
  for (const char* c = "0123456789X"; *c; ++c)
    if (cn_id_valid(body + *c)) return body + *c;
  return body + "?";
}

std::string make_phone(Rng& r) {
  switch (r.below(5)) {
    case 0: return "1" + std::string(1, "3456789"[r.below(7)]) + digits(r, 9);          // CN mobile
    case 1: return "+86 13" + digits(r, 1) + " " + digits(r, 4) + " " + digits(r, 4);  // CN mobile, grouped
    case 2: return "+44 20 " + digits(r, 4) + " " + digits(r, 4);                      // UK
    case 3: return "+1 (415) 555-" + digits(r, 4);                                     // US
    default: return "+49-30-" + digits(r, 8);                                          // DE
  }
}

std::string make_email(Rng& r) {
  static const char* users[] = {"alice", "bob.smith", "zhang.wei", "li_na+news", "dev-team"};
  static const char* domains[] = {"example.com", "mail.qq.com", "163.com", "uni-heidelberg.de", "company.co.uk"};
  return std::string(users[r.below(5)]) + digits(r, 2) + "@" + domains[r.below(5)];
}

std::string make_ip(Rng& r) {
  if (r.below(2)) {
    // Public IPv4 (skip the private/reserved first octets).
    int a;
    do a = (int)r.range(1, 223); while (a == 10 || a == 127 || a == 172 || a == 192 || a == 169 || a == 100);
    return std::to_string(a) + "." + std::to_string(r.range(0, 255)) + "." + std::to_string(r.range(0, 255)) + "." +
           std::to_string(r.range(1, 254));
  }
  char b[64];
  std::snprintf(b, sizeof b, "2%03x:%x:%x::%x", (unsigned)r.range(0x400, 0xfff), (unsigned)r.range(1, 0xffff),
                (unsigned)r.range(1, 0xffff), (unsigned)r.range(1, 0xffff));
  return b;
}

const char* templates[] = {
    "Please contact me at %s if you have questions.",
    "For details see %s, thanks.",
    "联系方式：%s，欢迎咨询。",
    "电话:%s (after NFKC the full-width colon is ASCII)",
    "他的信息是%s，请勿外传。",
    "(%s)",
};

struct Kind {
  const char* name;
  const char* tag;
  std::string (*make)(Rng&);
};

TEST(FiltersPii, PositivesRecall) {
  Kind kinds[] = {{"email", "<EMAIL>", make_email}, {"phone", "<PHONE>", make_phone},
                  {"ip", "<IP>", make_ip},          {"card", "<CARD>", make_card},
                  {"cn_id", "<CN_ID>", make_cn_id}};
  PiiConfig cfg;
  Rng r(42);
  for (const Kind& k : kinds) {
    int total = 400, found = 0;
    std::string missed;
    for (int i = 0; i < total; ++i) {
      std::string value = k.make(r);
      char text[256];
      std::snprintf(text, sizeof text, templates[i % 6], value.c_str());
      PiiCounts c;
      std::string out = mask_pii_text(text, cfg, &c);
      bool ok = out.find(k.tag) != std::string::npos && out.find(value) == std::string::npos && c.total() == 1;
      found += ok;
      if (!ok && missed.size() < 300) missed += std::string(text) + " -> " + out + "\n";
    }
    double recall = (double)found / total;
    std::printf("[pii %s] recall %.3f (%d/%d)\n", k.name, recall, found, total);
    EXPECT_GE(recall, 0.98) << missed;
  }
}

TEST(FiltersPii, HardNegativesPrecision) {
  PiiConfig cfg;
  Rng r(7);
  std::vector<std::string> negatives = {
      "ISBN 978-3-16-148410-0 is on the back cover.", "ISBN 0-306-40615-2",
      "Released on 2024-05-17, updated 2024/06/01 and 17.05.2024.", "Version 1.2.3 and v10.0.19041.1 are supported.",
      "The router is at 192.168.1.1 and the DNS at 10.0.0.53; localhost is 127.0.0.1.",
      "Docs use 203.0.113.7 and 2001:db8::1 as examples.", "Meet at 12:30:45 or 09:15.",
      "MAC 00:1a:2b:3c:4d:5e on eth0.", "It costs $1,234.56 or ¥9,999.", "pi = 3.14159265358979",
      "Order 20240517123 shipped.", "std::vector<int> v; a::b::c()", "Call extension 1234 or room 5678.",
      "The year 1999 and 2000 were busy; population 1,400,000,000.", "ID card number format: 18 digits.",
      "link-local fe80::1 and loopback ::1 are not public.", "2024年5月17日发布，版本号 3.10.12。",
      "Tracking number 1Z999AA10123456784.", "Coordinates 39.9042, 116.4074."};
  // Random 16-digit numbers that fail Luhn.
  for (int i = 0; i < 200; ++i) {
    std::string d;
    do d = "4" + digits(r, 15); while (luhn_valid(d));
    negatives.push_back("Reference " + d + " in the ledger.");
  }
  // 18-digit numbers with a wrong check character or impossible date.
  for (int i = 0; i < 100; ++i) {
    std::string id = make_cn_id(r);
    id[17] = id[17] == '0' ? '1' : '0';
    if (!cn_id_valid(id)) negatives.push_back("编号" + id + "作废");
  }
  negatives.push_back("编号110101199902300011作废");  // 30 February
  int fp = 0;
  std::string hits;
  for (const auto& t : negatives) {
    PiiCounts c;
    std::string out = mask_pii_text(t, cfg, &c);
    if (c.total()) {
      ++fp;
      hits += t + " -> " + out + "\n";
    }
  }
  std::printf("[pii hard negatives] %d texts, %d with a false mask (%.3f)\n", (int)negatives.size(), fp,
              (double)fp / negatives.size());
  EXPECT_EQ(fp, 0) << hits;
}

TEST(FiltersPii, ChecksumsAndRanges) {
  EXPECT_TRUE(luhn_valid("4111111111111111"));
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  EXPECT_TRUE(luhn_valid("378282246310005"));
  EXPECT_TRUE(cn_id_valid("11010519491231002X"));
  EXPECT_FALSE(cn_id_valid("110105194912310021"));
  EXPECT_TRUE(ipv4_public("8.8.8.8"));
  EXPECT_FALSE(ipv4_public("172.16.5.4"));
  EXPECT_FALSE(ipv4_public("100.64.0.1"));
  EXPECT_TRUE(ipv6_public("2606:4700:4700::1111"));
  EXPECT_FALSE(ipv6_public("fe80::1"));
  EXPECT_FALSE(ipv6_public("2001:db8::1"));
}

TEST(FiltersPii, TooManyHitsDropsAndMasksOtherwise) {
  PiiConfig cfg;
  cfg.max_hits = 3;
  Document d;
  d.text = "mail a1@example.com or b2@example.com";
  Decision r = mask_pii(d, cfg);
  EXPECT_TRUE(r.keep);
  EXPECT_EQ(d.text, "mail <EMAIL> or <EMAIL>");
  Document many;
  many.text = "a@x.com b@x.com c@x.com d@x.com 13812345678";
  Decision r2 = mask_pii(many, cfg);
  EXPECT_FALSE(r2.keep);
  EXPECT_EQ(r2.reason, "pii.too_many");
  EXPECT_NE(r2.detail.find("hits=5"), std::string::npos);
}

TEST(FiltersPii, ConfigFromJson) {
  auto c = PiiConfig::from_json({{"max_hits", 7}, {"ip", false}});
  EXPECT_EQ(c.max_hits, 7);
  EXPECT_FALSE(c.ip);
  EXPECT_EQ(mask_pii_text("host 8.8.8.8", c, nullptr), "host 8.8.8.8");
}

}  // namespace
}  // namespace veritas
