// bf16 matrix products with fp32 accumulation (gemm_bf16.hpp): AMX tiles where the CPU and
// the OS allow them, else AVX-512 BF16 dot products (VDPBF16PS), else bf16-rounded inputs
// through fp32 sgemm.
//
// The AMX path: A is packed row-major as bf16 (rows padded to 32, K to 32), B as 16-column
// tiles in the pairs layout TDPBF16PS reads (row r of a tile holds k = 2r and 2r+1 for
// each of its 16 columns). A micro-kernel keeps a 32 x 32 block of C in four tile
// registers and walks K 32 values at a time: 2 A tiles x 2 B tiles -> 4 TDPBF16PS. B is
// cut into column panels small enough to stay in L2 while every row block of A passes.
//
// The AVX-512 BF16 path packs the same way and computes the same 32 x 32 blocks, 8 rows
// at a time: per k-pair, two B tile rows (16 columns x 2 k each) are loaded and each A
// row's pair is broadcast into 2 VDPBF16PS, 16 accumulators in zmm registers.
#include "veritas/kernels/gemm_bf16.hpp"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define VERITAS_X86_BF16 1  // the AMX and AVX-512 BF16 paths (AMX also needs Linux's permission)
#endif

#include "veritas/util/cpu_features.hpp"
#include "veritas/util/thread_pool.hpp"

namespace veritas::kernels {

uint16_t to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // NaN stays a (quiet) NaN
  u += 0x7fffu + ((u >> 16) & 1u);                                             // nearest, ties to even
  return (uint16_t)(u >> 16);
}

float from_bf16(uint16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

namespace {

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// Every product C = A·B + beta·C through fp32 sgemm on bf16-rounded copies of A and B.
void gemm_rounded_sgemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                        int64_t b_rs, int64_t b_cs, float beta, float* c, int64_t ldc) {
  std::vector<float> ar((size_t)(M * K)), br((size_t)(K * N));
  ThreadPool::global().parallel_for(M, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t k = 0; k < K; ++k) ar[(size_t)(m * K + k)] = from_bf16(to_bf16(a[m * a_rs + k * a_cs]));
  });
  ThreadPool::global().parallel_for(K, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k)
      for (int64_t n = 0; n < N; ++n) br[(size_t)(k * N + n)] = from_bf16(to_bf16(b[k * b_rs + n * b_cs]));
  });
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, ar.data(), (int)K, br.data(),
              (int)N, beta, c, (int)ldc);
}

#ifdef VERITAS_X86_BF16

constexpr int64_t kBlock = 32;  // the micro-kernel's C block is kBlock x kBlock (2 x 2 tiles)

bool amx_granted() {
  const CpuFeatures& f = cpu_features();
  if (!f.amx_tile || !f.amx_bf16 || !f.avx512_bf16 || !f.avx512bw || !f.avx512vl) return false;
  // Linux hands out the 8 KB tile register state only on request (ARCH_REQ_XCOMP_PERM for
  // XFEATURE_XTILEDATA); without it the first tile instruction kills the process.
  constexpr long kReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kReqXcompPerm, kXfeatureXtiledata) == 0;
}

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

__attribute__((target("amx-tile"))) void tiles_on() {
  TileConfig cfg;
  for (int i = 0; i < 8; ++i) {  // every tile: 16 rows of 64 bytes
    cfg.colsb[i] = 64;
    cfg.rows[i] = 16;
  }
  _tile_loadconfig(&cfg);
}

__attribute__((target("amx-tile"))) void tiles_off() { _tile_release(); }

// C block (32 x 32 at c, stride ldc floats) = A rows (32 x Kp at ap) · two B tiles columns
// (+ C when add). Tiles: 0-3 C, 4-5 A, 6-7 B.
__attribute__((target("amx-tile,amx-bf16"))) void block_to_c_amx(const uint16_t* ap, int64_t Kp,
                                                                   const uint16_t* bp0, const uint16_t* bp1, float* c,
                                                                   int64_t ldc, bool add) {
  const int64_t cs = ldc * 4, as = Kp * 2;
  if (add) {
    _tile_loadd(0, c, cs);
    _tile_loadd(1, c + 16, cs);
    _tile_loadd(2, c + 16 * ldc, cs);
    _tile_loadd(3, c + 16 * ldc + 16, cs);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  for (int64_t k = 0; k < Kp; k += 32) {
    _tile_loadd(4, ap + k, as);
    _tile_loadd(5, ap + 16 * Kp + k, as);
    _tile_loadd(6, bp0 + k * 16, 64);  // a B tile holds 16 k-pairs x 16 columns: k/2 * 32 values
    _tile_loadd(7, bp1 + k * 16, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c, cs);
  _tile_stored(1, c + 16, cs);
  _tile_stored(2, c + 16 * ldc, cs);
  _tile_stored(3, c + 16 * ldc + 16, cs);
}

// The packers convert with AVX-512 BF16 (every CPU with AMX-BF16 has it): 16 floats at a
// time, rounded to nearest even (denormal inputs count as zero, as in TDPBF16PS itself).
#define VERITAS_PACK_ISA __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

VERITAS_PACK_ISA inline __m256i cvt16(__m512 x) { return (__m256i)_mm512_cvtneps_pbh(x); }

// 16 values src[0], src[step], ... (fewer than 16 when n < 16; the rest 0) as bf16.
VERITAS_PACK_ISA inline __m256i load16(const float* src, int64_t step, int64_t n) {
  const __mmask16 m = n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1);
  if (step == 1) return cvt16(_mm512_maskz_loadu_ps(m, src));
  alignas(64) float tmp[16] = {};
  for (int64_t i = 0; i < std::min<int64_t>(n, 16); ++i) tmp[i] = src[i * step];
  return cvt16(_mm512_load_ps(tmp));
}

// Rows r0..r1-1 of the packed A (row-major, Kp wide; rows past M and columns past K are 0).
VERITAS_PACK_ISA void pack_a(uint16_t* A, int64_t r0, int64_t r1, int64_t M, int64_t K, int64_t Kp, const float* a,
                             int64_t rs, int64_t cs) {
  auto tail = [&](int64_t k) { return K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1); };
  if (cs == 1) {  // rows of A are contiguous
    for (int64_t r = r0; r < r1; ++r) {
      uint16_t* dst = A + r * Kp;
      int64_t k = 0;
      if (r < M)
        for (; k < K; k += 16) _mm256_mask_storeu_epi16(dst + k, tail(k), load16(a + r * rs + k, 1, K - k));
      std::fill(dst + std::min(k, K), dst + Kp, (uint16_t)0);
    }
    return;
  }
  // Columns of A are contiguous (A = X^T, the weight gradient's dout): each row's values
  // gathered 16 at a time, k blocks outside and all rows inside, so that a block's 16
  // rows of X are read across once, whole pages at a time (a scalar transpose, 16 rows
  // at a time, cost 15% of a bf16 training step).
  const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                         _mm512_set1_epi32((int)cs));
  for (int64_t k = 0; k < K; k += 16)
    for (int64_t r = r0; r < r1; ++r) {
      __m256i v = _mm256_setzero_si256();
      if (r < M) v = cvt16(_mm512_mask_i32gather_ps(_mm512_setzero_ps(), tail(k), idx, a + r * rs + k * cs, 4));
      _mm256_mask_storeu_epi16(A + r * Kp + k, tail(k), v);
    }
  for (int64_t r = r0; r < r1; ++r) std::fill(A + r * Kp + K, A + r * Kp + Kp, (uint16_t)0);
}

// One 16-column tile of the packed B (columns n0..n0+15): row p holds, for each column j,
// B(2p, j) then B(2p+1, j) — the pairs TDPBF16PS multiplies.
VERITAS_PACK_ISA void pack_b(uint16_t* dst, int64_t n0, int64_t N, int64_t K, int64_t Kp, const float* b, int64_t rs,
                             int64_t cs) {
  const int64_t cols = std::clamp<int64_t>(N - n0, 0, 16);
  if (cols == 0) {
    std::fill(dst, dst + Kp * 16, (uint16_t)0);
    return;
  }
  if (rs == 1 && cs != 1) {  // columns of B are contiguous in k (B = W^T)
    std::fill(dst, dst + Kp * 16, (uint16_t)0);
    uint32_t* d32 = reinterpret_cast<uint32_t*>(dst);
    const __m512i concat = _mm512_set_epi16(47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 15, 14, 13,
                                            12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    const __m512i rows16 = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                              _mm512_set1_epi32(16));
    for (int64_t j = 0; j < cols; ++j)
      for (int64_t k = 0; k < K; k += 32) {
        // 32 values of column j as 16 (k, k+1) pairs, one per packed row.
        const __m256i lo = load16(b + (n0 + j) * cs + k, 1, K - k);
        const __m256i hi = K - k > 16 ? load16(b + (n0 + j) * cs + k + 16, 1, K - k - 16) : _mm256_setzero_si256();
        const __m512i pairs = _mm512_permutex2var_epi16(_mm512_castsi256_si512(lo), concat,
                                                        _mm512_castsi256_si512(hi));
        _mm512_i32scatter_epi32(d32 + (k / 2) * 16 + j, rows16, pairs, 4);
      }
    return;
  }
  // Rows of B are contiguous in n (or any other layout): two rows at a time, interleaved.
  // Index i < 32 picks lane i of the first operand, 32 + i lane i of the second.
  const __m512i inter = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6,
                                         37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  for (int64_t k = 0; k < Kp; k += 2) {
    const __m256i r0 = k < K ? load16(b + k * rs + n0 * cs, cs, cols) : _mm256_setzero_si256();
    const __m256i r1 = k + 1 < K ? load16(b + (k + 1) * rs + n0 * cs, cs, cols) : _mm256_setzero_si256();
    _mm512_storeu_si512(dst + k * 16,
                        _mm512_permutex2var_epi16(_mm512_castsi256_si512(r0), inter, _mm512_castsi256_si512(r1)));
  }
}

// The same block as block_to_c_amx with AVX-512 BF16 dot products: 8 rows at a time.
VERITAS_PACK_ISA void rows8_to_c(const uint16_t* ap, int64_t Kp, const uint16_t* bp0, const uint16_t* bp1, float* c,
                                 int64_t ldc, bool add) {
  __m512 acc[8][2];
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) {
    acc[r][0] = add ? _mm512_loadu_ps(c + r * ldc) : _mm512_setzero_ps();
    acc[r][1] = add ? _mm512_loadu_ps(c + r * ldc + 16) : _mm512_setzero_ps();
  }
  for (int64_t p = 0; p < Kp / 2; ++p) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp0 + p * 32);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp1 + p * 32);
#pragma GCC unroll 8
    for (int r = 0; r < 8; ++r) {
      uint32_t pair;  // A(r, 2p) and A(r, 2p + 1)
      std::memcpy(&pair, ap + r * Kp + 2 * p, 4);
      const __m512bh av = (__m512bh)_mm512_set1_epi32((int)pair);
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < 8; ++r) {
    _mm512_storeu_ps(c + r * ldc, acc[r][0]);
    _mm512_storeu_ps(c + r * ldc + 16, acc[r][1]);
  }
}

void block_to_c_avx512(const uint16_t* ap, int64_t Kp, const uint16_t* bp0, const uint16_t* bp1, float* c,
                       int64_t ldc, bool add) {
  for (int64_t r = 0; r < kBlock; r += 8) rows8_to_c(ap + r * Kp, Kp, bp0, bp1, c + r * ldc, ldc, add);
}

bool avx512_bf16_ready() {
  const CpuFeatures& f = cpu_features();
  return f.avx512_bf16 && f.avx512bw && f.avx512vl;
}

// The widest path tests and benchmarks allow (gemm_bf16_limit_path).
std::atomic<Bf16Path> g_widest{Bf16Path::amx};

// Both vector paths: pack A and B as bf16, then every 32 x 32 block of C by block_fn
// (AMX tiles configured per thread when amx).
void gemm_packed(bool amx, int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
                 int64_t b_rs, int64_t b_cs, float beta, float* c, int64_t ldc) {
  const auto block_fn = amx ? block_to_c_amx : block_to_c_avx512;
  const int64_t Kp = round_up(K, 32), Mp = round_up(M, kBlock), Np = round_up(N, kBlock);
  // Per calling thread, grown as needed: products of one size repeat every step.
  thread_local std::vector<uint16_t> ap, bp;
  if (ap.size() < (size_t)(Mp * Kp)) ap.resize((size_t)(Mp * Kp));
  if (bp.size() < (size_t)(Np * Kp)) bp.resize((size_t)(Np * Kp));
  uint16_t* A = ap.data();
  uint16_t* B = bp.data();
  ThreadPool& pool = ThreadPool::global();
  pool.parallel_for(Mp / 16, [&](int64_t g0, int64_t g1) {
    pack_a(A, g0 * 16, g1 * 16, M, K, Kp, a, a_rs, a_cs);
  });
  pool.parallel_for(Np / 16, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) pack_b(B + t * Kp * 16, t * 16, N, K, Kp, b, b_rs, b_cs);
  });
  // Column panels of B that fit in about 1 MB (L2), each swept by every row block of A.
  const int64_t panel = std::clamp<int64_t>((int64_t(1) << 20) / (Kp * 2) / kBlock * kBlock, kBlock, Np);
  const int64_t mblocks = Mp / kBlock;
  for (int64_t p0 = 0; p0 < Np; p0 += panel) {
    const int64_t nblocks = (std::min(Np, p0 + panel) - p0) / kBlock;
    pool.parallel_for(mblocks * nblocks, [&](int64_t i0, int64_t i1) {
      if (amx) tiles_on();
      alignas(64) float edge[kBlock * kBlock];
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t m0 = (i / nblocks) * kBlock, n0 = p0 + (i % nblocks) * kBlock;
        const uint16_t* a_rows = A + m0 * Kp;
        const uint16_t* b0 = B + (n0 / 16) * Kp * 16;
        const uint16_t* b1 = b0 + Kp * 16;
        if (m0 + kBlock <= M && n0 + kBlock <= N) {
          block_fn(a_rows, Kp, b0, b1, c + m0 * ldc + n0, ldc, beta != 0.0f);
          continue;
        }
        // A block on the edge of C: through a scratch block, then only the rows and
        // columns that exist.
        block_fn(a_rows, Kp, b0, b1, edge, kBlock, false);
        const int64_t rows = std::min(kBlock, M - m0), cols = std::min(kBlock, N - n0);
        for (int64_t r = 0; r < rows; ++r) {
          float* crow = c + (m0 + r) * ldc + n0;
          for (int64_t j = 0; j < cols; ++j) crow[j] = edge[r * kBlock + j] + (beta != 0.0f ? crow[j] : 0.0f);
        }
      }
      if (amx) tiles_off();
    });
  }
}

#endif  // VERITAS_X86_BF16

}  // namespace

Bf16Path gemm_bf16_path() {
#ifdef VERITAS_X86_BF16
  static const bool amx = amx_granted(), avx512 = avx512_bf16_ready();
  const Bf16Path widest = g_widest.load(std::memory_order_relaxed);
  if (amx && widest == Bf16Path::amx) return Bf16Path::amx;
  if (avx512 && widest != Bf16Path::sgemm) return Bf16Path::avx512;
#endif
  return Bf16Path::sgemm;
}

const char* bf16_path_name(Bf16Path path) {
  switch (path) {
    case Bf16Path::amx: return "amx";
    case Bf16Path::avx512: return "avx512";
    default: return "sgemm";
  }
}

void gemm_bf16_limit_path(Bf16Path widest) {
#ifdef VERITAS_X86_BF16
  g_widest.store(widest, std::memory_order_relaxed);
#else
  (void)widest;
#endif
}

void gemm_bf16(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
               int64_t b_rs, int64_t b_cs, float beta, float* c, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // an empty sum
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) c[m * ldc + n] = beta != 0.0f ? c[m * ldc + n] : 0.0f;
    return;
  }
#ifdef VERITAS_X86_BF16
  const Bf16Path path = gemm_bf16_path();
  if (path != Bf16Path::sgemm)
    return gemm_packed(path == Bf16Path::amx, M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, ldc);
#endif
  gemm_rounded_sgemm(M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, ldc);
}

}  // namespace veritas::kernels
