#include "veritas/util/cpu_features.hpp"

#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace veritas {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// XCR0: which register states the OS saves on a context switch. A CPU bit alone is not
// enough: AVX needs XMM+YMM (bits 1-2), AVX-512 also opmask+ZMM (5-7), AMX tiles (17-18).
unsigned long long xcr0() {
  unsigned eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  bool osxsave = c & (1u << 27);
  if (!osxsave) return f;
  unsigned long long x = xcr0();
  bool avx_os = (x & 0x6) == 0x6;
  bool avx512_os = avx_os && (x & 0xe0) == 0xe0;
  bool amx_os = (x & (3ull << 17)) == (3ull << 17);
  bool avx = avx_os && (c & (1u << 28));
  f.fma = avx && (c & (1u << 12));
  f.f16c = avx && (c & (1u << 29));
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  f.avx2 = avx && (b & (1u << 5));
  f.avx512f = avx512_os && (b & (1u << 16));
  f.avx512bw = f.avx512f && (b & (1u << 30));
  f.avx512vl = f.avx512f && (b & (1u << 31));
  f.avx512_vnni = f.avx512f && (c & (1u << 11));
  f.amx_bf16 = amx_os && (d & (1u << 22));
  f.amx_tile = amx_os && (d & (1u << 24));
  f.amx_int8 = amx_os && (d & (1u << 25));
  __cpuid_count(7, 1, a, b, c, d);
  f.avx_vnni = avx && (a & (1u << 4));
  f.avx512_bf16 = f.avx512f && (a & (1u << 5));
  return f;
}
#else
CpuFeatures detect() { return {}; }
#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

std::string cpu_brand() {
  std::string s;
#if defined(__x86_64__) || defined(__i386__)
  unsigned r[4];
  if (__get_cpuid_max(0x80000000, nullptr) >= 0x80000004) {
    for (unsigned leaf = 0x80000002; leaf <= 0x80000004; ++leaf) {
      __cpuid(leaf, r[0], r[1], r[2], r[3]);
      s.append(reinterpret_cast<const char*>(r), sizeof r);
    }
  }
#endif
  s = s.c_str();  // drop the NUL padding
  size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
  return b == std::string::npos ? "unknown CPU" : s.substr(b, e - b + 1);
}

std::string cpu_summary() {
  const CpuFeatures& f = cpu_features();
  std::string s = "cpu: " + cpu_brand() + "; " + std::to_string(std::thread::hardware_concurrency()) +
                  " threads; features:";
  auto add = [&](bool on, const char* name) {
    if (on) s += std::string(" ") + name;
  };
  add(f.avx2, "avx2");
  add(f.fma, "fma");
  add(f.f16c, "f16c");
  add(f.avx_vnni, "avx-vnni");
  add(f.avx512f, "avx512f");
  add(f.avx512bw, "avx512bw");
  add(f.avx512vl, "avx512vl");
  add(f.avx512_vnni, "avx512-vnni");
  add(f.avx512_bf16, "avx512-bf16");
  add(f.amx_tile, "amx-tile");
  add(f.amx_bf16, "amx-bf16");
  add(f.amx_int8, "amx-int8");
  if (!f.avx2 && !f.avx512f) s += " (no avx2)";
  return s;
}

}  // namespace veritas
