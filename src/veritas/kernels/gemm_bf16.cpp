// bf16 matrix products with fp32 accumulation (gemm_bf16.hpp): AMX tiles where the CPU and
// the OS allow them, else bf16-rounded inputs through fp32 sgemm.
//
// The AMX path: A is packed row-major as bf16 (rows padded to 32, K to 32), B as 16-column
// tiles in the pairs layout TDPBF16PS reads (row r of a tile holds k = 2r and 2r+1 for
// each of its 16 columns). A micro-kernel keeps a 32 x 32 block of C in four tile
// registers and walks K 32 values at a time: 2 A tiles x 2 B tiles -> 4 TDPBF16PS. B is
// cut into column panels small enough to stay in L2 while every row block of A passes.
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
#define VERITAS_AMX 1
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

#ifdef VERITAS_AMX

constexpr int64_t kBlock = 32;  // the micro-kernel's C block is kBlock x kBlock (2 x 2 tiles)

bool amx_granted() {
  const CpuFeatures& f = cpu_features();
  if (!f.amx_tile || !f.amx_bf16) return false;
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
__attribute__((target("amx-tile,amx-bf16"))) void block_to_c(const uint16_t* ap, int64_t Kp, const uint16_t* bp0,
                                                               const uint16_t* bp1, float* c, int64_t ldc, bool add) {
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

std::atomic<bool> g_amx_allowed{true};

bool amx_ready() {
  static const bool granted = amx_granted();
  return granted && g_amx_allowed.load(std::memory_order_relaxed);
}

void gemm_amx(int64_t M, int64_t N, int64_t K, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
              int64_t b_rs, int64_t b_cs, float beta, float* c, int64_t ldc) {
  const int64_t Kp = round_up(K, 32), Mp = round_up(M, kBlock), Np = round_up(N, kBlock);
  // Per calling thread, grown as needed: products of one size repeat every step.
  thread_local std::vector<uint16_t> ap, bp;
  if (ap.size() < (size_t)(Mp * Kp)) ap.resize((size_t)(Mp * Kp));
  if (bp.size() < (size_t)(Np * Kp)) bp.resize((size_t)(Np * Kp));
  uint16_t* A = ap.data();
  uint16_t* B = bp.data();
  ThreadPool& pool = ThreadPool::global();
  pool.parallel_for(Mp, [&](int64_t m0, int64_t m1) {
    for (int64_t m = m0; m < m1; ++m) {
      uint16_t* dst = A + m * Kp;
      int64_t k = 0;
      if (m < M)
        for (; k < K; ++k) dst[k] = to_bf16(a[m * a_rs + k * a_cs]);
      std::fill(dst + k, dst + Kp, (uint16_t)0);
    }
  });
  pool.parallel_for(Np / 16, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      uint16_t* dst = B + t * Kp * 16;
      for (int64_t k = 0; k < Kp; ++k)
        for (int64_t j = 0; j < 16; ++j) {
          const int64_t n = t * 16 + j;
          dst[(k / 2) * 32 + j * 2 + (k & 1)] = k < K && n < N ? to_bf16(b[k * b_rs + n * b_cs]) : (uint16_t)0;
        }
    }
  });
  // Column panels of B that fit in about 1 MB (L2), each swept by every row block of A.
  const int64_t panel = std::clamp<int64_t>((int64_t(1) << 20) / (Kp * 2) / kBlock * kBlock, kBlock, Np);
  const int64_t mblocks = Mp / kBlock;
  for (int64_t p0 = 0; p0 < Np; p0 += panel) {
    const int64_t nblocks = (std::min(Np, p0 + panel) - p0) / kBlock;
    pool.parallel_for(mblocks * nblocks, [&](int64_t i0, int64_t i1) {
      tiles_on();
      alignas(64) float edge[kBlock * kBlock];
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t m0 = (i / nblocks) * kBlock, n0 = p0 + (i % nblocks) * kBlock;
        const uint16_t* a_rows = A + m0 * Kp;
        const uint16_t* b0 = B + (n0 / 16) * Kp * 16;
        const uint16_t* b1 = b0 + Kp * 16;
        if (m0 + kBlock <= M && n0 + kBlock <= N) {
          block_to_c(a_rows, Kp, b0, b1, c + m0 * ldc + n0, ldc, beta != 0.0f);
          continue;
        }
        // A block on the edge of C: through a scratch block, then only the rows and
        // columns that exist.
        block_to_c(a_rows, Kp, b0, b1, edge, kBlock, false);
        const int64_t rows = std::min(kBlock, M - m0), cols = std::min(kBlock, N - n0);
        for (int64_t r = 0; r < rows; ++r) {
          float* crow = c + (m0 + r) * ldc + n0;
          for (int64_t j = 0; j < cols; ++j) crow[j] = edge[r * kBlock + j] + (beta != 0.0f ? crow[j] : 0.0f);
        }
      }
      tiles_off();
    });
  }
}

#endif  // VERITAS_AMX

}  // namespace

bool gemm_bf16_uses_amx() {
#ifdef VERITAS_AMX
  return amx_ready();
#else
  return false;
#endif
}

void gemm_bf16_allow_amx(bool allowed) {
#ifdef VERITAS_AMX
  g_amx_allowed.store(allowed, std::memory_order_relaxed);
#else
  (void)allowed;
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
#ifdef VERITAS_AMX
  if (amx_ready()) return gemm_amx(M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, ldc);
#endif
  gemm_rounded_sgemm(M, N, K, a, a_rs, a_cs, b, b_rs, b_cs, beta, c, ldc);
}

}  // namespace veritas::kernels
