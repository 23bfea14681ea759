#include "veritas/train/dist.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

#ifdef VERITAS_HAVE_MPI
// The C API only (OpenMPI and MPICH would otherwise pull in their deprecated C++ bindings).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

#include "veritas/util/error.hpp"

namespace veritas {

bool Dist::launched() {
  // OpenMPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx (OpenMPI 5, srun --mpi=pmix) sets
  // PMIX_RANK; srun --mpi=pmi2 and MPICH set PMI_SIZE.
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

#ifdef VERITAS_HAVE_MPI

namespace {

std::vector<MPI_Request> g_reqs;  // reductions in flight (start_sum)

void ok(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Error(std::string(what) + " failed: " + std::string(msg, (size_t)len) + " (did another rank die?)");
}

int count(int64_t n) {
  check(n >= 0 && n <= std::numeric_limits<int>::max(), "MPI: a buffer of " + std::to_string(n) +
                                                             " floats is too large for one call");
  return (int)n;
}

void finalize() {
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin) MPI_Finalize();
}

}  // namespace

Dist& Dist::world() {
  static Dist* d = [] {
    auto* w = new Dist();
    if (!launched()) return w;
    int provided = 0;
    ok(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided), "MPI_Init_thread");
    // Errors come back as codes (then a veritas::Error and abort()), not MPI's own abort.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size_);
    std::atexit(finalize);
    return w;
  }();
  return *d;
}

void Dist::sum(double* x, int n) {
  if (multi()) ok(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

void Dist::sum(float* x, int64_t n) {
  if (multi()) ok(MPI_Allreduce(MPI_IN_PLACE, x, count(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

int Dist::max(int v) {
  if (multi()) ok(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
  return v;
}

void Dist::barrier() {
  if (multi()) ok(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void Dist::broadcast(void* buf, int64_t bytes, int root) {
  if (multi()) ok(MPI_Bcast(buf, count(bytes), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
}

void Dist::start_sum(float* x, int64_t n) {
  if (!multi()) return;
  g_reqs.push_back(MPI_REQUEST_NULL);
  ok(MPI_Iallreduce(MPI_IN_PLACE, x, count(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &g_reqs.back()),
     "MPI_Iallreduce");
}

void Dist::progress() {
  if (g_reqs.empty()) return;
  int done = 0;
  ok(MPI_Testall((int)g_reqs.size(), g_reqs.data(), &done, MPI_STATUSES_IGNORE), "MPI_Testall");
}

void Dist::wait() {
  if (g_reqs.empty()) return;
  ok(MPI_Waitall((int)g_reqs.size(), g_reqs.data(), MPI_STATUSES_IGNORE), "MPI_Waitall");
  g_reqs.clear();
}

std::pair<int64_t, int64_t> Dist::range(int64_t n, int r) const {
  const int64_t per = (n + size_ - 1) / size_;
  const int64_t b = std::min<int64_t>(n, per * r), e = std::min<int64_t>(n, b + per);
  return {b, e};
}

namespace {
// Counts and displacements of every rank's range, for the v-variants of the collectives.
void layout(const Dist& d, int64_t n, std::vector<int>& counts, std::vector<int>& displs) {
  counts.resize((size_t)d.size());
  displs.resize((size_t)d.size());
  for (int r = 0; r < d.size(); ++r) {
    auto [b, e] = d.range(n, r);
    counts[(size_t)r] = count(e - b);
    displs[(size_t)r] = count(b);
  }
}
}  // namespace

// OpenMPI's reduce-scatter and all-gather allocate temporary buffers as large as the
// whole vector, which would undo ZeRO-1's saving; a reduce and a broadcast per rank's
// range, in chunks of kChunk floats, bound the temporaries and move the same volume.
constexpr int64_t kChunk = 1 << 22;

void Dist::reduce_scatter(const float* in, float* out, int64_t n) {
  if (!multi()) {
    std::copy(in, in + n, out);
    return;
  }
  const int64_t mine = range(n, rank_).first;
  for (int r = 0; r < size_; ++r) {
    auto [b, e] = range(n, r);
    for (int64_t p = b; p < e; p += kChunk) {
      const int len = count(std::min(kChunk, e - p));
      ok(MPI_Reduce(in + p, r == rank_ ? out + (p - mine) : nullptr, len, MPI_FLOAT, MPI_SUM, r, MPI_COMM_WORLD),
         "MPI_Reduce");
    }
  }
}

void Dist::all_gather(float* buf, int64_t n) {
  if (!multi()) return;
  for (int r = 0; r < size_; ++r) {
    auto [b, e] = range(n, r);
    for (int64_t p = b; p < e; p += kChunk)
      ok(MPI_Bcast(buf + p, count(std::min(kChunk, e - p)), MPI_FLOAT, r, MPI_COMM_WORLD), "MPI_Bcast");
  }
}

void Dist::gather(const float* mine, float* all, int64_t n, int root) {
  auto [b, e] = range(n, rank_);
  if (!multi()) {
    std::copy(mine, mine + (e - b), all + b);
    return;
  }
  std::vector<int> counts, displs;
  layout(*this, n, counts, displs);
  ok(MPI_Gatherv(mine, count(e - b), MPI_FLOAT, all, counts.data(), displs.data(), MPI_FLOAT, root, MPI_COMM_WORLD),
     "MPI_Gatherv");
}

std::vector<std::string> Dist::gather(const std::string& mine, int root) {
  if (!multi()) return {mine};
  const int n = count((int64_t)mine.size());
  std::vector<int> counts(rank_ == root ? (size_t)size_ : 0), displs(counts.size());
  ok(MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, root, MPI_COMM_WORLD), "MPI_Gather");
  std::string all;
  if (rank_ == root) {
    int64_t off = 0;
    for (int r = 0; r < size_; ++r) {
      displs[(size_t)r] = count(off);
      off += counts[(size_t)r];
    }
    all.resize((size_t)count(off));
  }
  ok(MPI_Gatherv(mine.data(), n, MPI_CHAR, all.data(), counts.data(), displs.data(), MPI_CHAR, root, MPI_COMM_WORLD),
     "MPI_Gatherv");
  if (rank_ != root) return {};
  std::vector<std::string> out;
  for (int r = 0; r < size_; ++r) out.push_back(all.substr((size_t)displs[(size_t)r], (size_t)counts[(size_t)r]));
  return out;
}

void Dist::abort(const std::string& msg) {
  std::fprintf(stderr, "error (rank %d of %d): %s\n", rank_, size_, msg.c_str());
  std::fflush(stderr);
  if (multi()) MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

#else  // one-process build

Dist& Dist::world() {
  static Dist d;
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!n) n = std::getenv("PMI_SIZE");
  check(!n || std::atoi(n) <= 1, "this veritas was built without MPI (configure with -DVERITAS_MPI=ON where libopenmpi-dev is "
                     "installed) but was started by mpirun or srun");
  return d;
}

void Dist::sum(double*, int) {}
void Dist::sum(float*, int64_t) {}
int Dist::max(int v) { return v; }
void Dist::barrier() {}
void Dist::broadcast(void*, int64_t, int) {}
void Dist::start_sum(float*, int64_t) {}
void Dist::progress() {}
void Dist::wait() {}
std::pair<int64_t, int64_t> Dist::range(int64_t n, int) const { return {0, n}; }
void Dist::reduce_scatter(const float* in, float* out, int64_t n) { std::copy(in, in + n, out); }
void Dist::all_gather(float*, int64_t) {}
void Dist::gather(const float* mine, float* all, int64_t n, int) { std::copy(mine, mine + n, all); }
std::vector<std::string> Dist::gather(const std::string& mine, int) { return {mine}; }
void Dist::abort(const std::string& msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  std::_Exit(1);
}

#endif

}  // namespace veritas
