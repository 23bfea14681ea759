#pragma once
// The CPU's vector features, detected at run time (cpuid + the OS's saved register
// state), so kernels can dispatch and benchmarks can say what they ran on: machines of
// the same kind differ (some have AVX-512 with bf16 dot products, some only AVX2).
#include <string>

namespace veritas {

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false;
  bool avx512_vnni = false, avx512_bf16 = false, avx_vnni = false;
  bool amx_tile = false, amx_bf16 = false, amx_int8 = false;
};

// Detected once; every field is false on a CPU or OS that cannot use the feature.
const CpuFeatures& cpu_features();
// The processor's brand string ("Intel(R) Xeon(R) ..."), trimmed.
std::string cpu_brand();
// One line for logs and benchmark headers, e.g.
// "cpu: Intel(R) Xeon(R) Processor; 2 threads; features: avx2 fma avx512f avx512bw ..."
std::string cpu_summary();

}  // namespace veritas
