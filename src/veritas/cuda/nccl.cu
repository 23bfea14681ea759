// Gradient sums across GPUs through NCCL, loaded at first use (dlopen, as cuBLASLt): a
// CUDA build runs without the library until several ranks train on GPUs. The ranks agree
// on a communicator through the unique id rank 0 draws (sent over MPI by the caller).
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <string>

#include "veritas/cuda/check.cuh"
#include "veritas/cuda/ops.hpp"


namespace veritas::cuda {

extern const char kNcclSoname[] = "libnccl.so." VERITAS_CUDA_STR(NCCL_MAJOR);

namespace {

struct Nccl {
  decltype(&ncclGetUniqueId) unique_id = nullptr;
  decltype(&ncclCommInitRank) init_rank = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclReduce) reduce = nullptr;
  decltype(&ncclBroadcast) broadcast = nullptr;
  decltype(&ncclGroupStart) group_start = nullptr;
  decltype(&ncclGroupEnd) group_end = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
};

Nccl& nccl() {
  static Nccl* inst = [] {
    const Library lib = open_library("NCCL", kNcclSoname, "VERITAS_NCCL");
    auto* n = new Nccl;
    lib.load(n->unique_id, "ncclGetUniqueId");
    lib.load(n->init_rank, "ncclCommInitRank");
    lib.load(n->all_reduce, "ncclAllReduce");
    lib.load(n->reduce, "ncclReduce");
    lib.load(n->broadcast, "ncclBroadcast");
    lib.load(n->group_start, "ncclGroupStart");
    lib.load(n->group_end, "ncclGroupEnd");
    lib.load(n->error_string, "ncclGetErrorString");
    return n;
  }();
  return *inst;
}

void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw Error(std::string("NCCL: ") + what + ": " + nccl().error_string(r));
}

// A communicator with its own stream, so sums run beside the backward pass's kernels.
struct Comm {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t ready = nullptr;  // the default stream's work so far (the gradients to sum)
};

}  // namespace

void load_nccl() { nccl(); }

void nccl_unique_id(char id[kNcclIdBytes]) {
  static_assert(sizeof(ncclUniqueId) == kNcclIdBytes, "NCCL's unique id size changed");
  ncclUniqueId u;
  nccl_check(nccl().unique_id(&u), "ncclGetUniqueId");
  std::memcpy(id, &u, kNcclIdBytes);
}

void* nccl_init(const char id[kNcclIdBytes], int ranks, int rank) {
  ncclUniqueId u;
  std::memcpy(&u, id, kNcclIdBytes);
  auto* c = new Comm;  // lives as long as the process (NCCL tears the communicator down at exit)
  nccl_check(nccl().init_rank(&c->comm, ranks, u, rank), "ncclCommInitRank");
  check(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking), "cudaStreamCreate (NCCL)");
  check(cudaEventCreateWithFlags(&c->ready, cudaEventDisableTiming), "cudaEventCreate (NCCL)");
  return c;
}

// The communicator's stream waits for the work queued so far on the default stream.
Comm* after_default_stream(void* comm) {
  auto* c = static_cast<Comm*>(comm);
  check(cudaEventRecord(c->ready, nullptr), "cudaEventRecord (NCCL)");
  check(cudaStreamWaitEvent(c->stream, c->ready, 0), "cudaStreamWaitEvent (NCCL)");
  return c;
}

void nccl_start_sum(void* comm, float* x, int64_t n) {
  if (n <= 0) return;
  Comm* c = after_default_stream(comm);
  nccl_check(nccl().all_reduce(x, x, (size_t)n, ncclFloat32, ncclSum, c->comm, c->stream), "ncclAllReduce");
}

void nccl_wait(void* comm) {
  check(cudaStreamSynchronize(static_cast<Comm*>(comm)->stream), "ncclAllReduce");
}

// Unequal ranges (Dist::range's), so one reduce (broadcast) per rank, rooted at the
// range's owner, in one NCCL group.
void nccl_reduce_scatter(void* comm, const float* in, float* out, const int64_t* begin, const int64_t* end, int ranks,
                         int rank) {
  Comm* c = after_default_stream(comm);
  Nccl& n = nccl();
  nccl_check(n.group_start(), "ncclGroupStart");
  for (int r = 0; r < ranks; ++r)
    if (end[r] > begin[r])
      nccl_check(n.reduce(in + begin[r], r == rank ? out : nullptr, (size_t)(end[r] - begin[r]), ncclFloat32, ncclSum,
                          r, c->comm, c->stream),
                 "ncclReduce");
  nccl_check(n.group_end(), "ncclGroupEnd");
  nccl_wait(comm);
}

void nccl_all_gather(void* comm, float* buf, const int64_t* begin, const int64_t* end, int ranks) {
  Comm* c = after_default_stream(comm);
  Nccl& n = nccl();
  nccl_check(n.group_start(), "ncclGroupStart");
  for (int r = 0; r < ranks; ++r)
    if (end[r] > begin[r])
      nccl_check(n.broadcast(buf + begin[r], buf + begin[r], (size_t)(end[r] - begin[r]), ncclFloat32, r, c->comm,
                             c->stream),
                 "ncclBroadcast");
  nccl_check(n.group_end(), "ncclGroupEnd");
  nccl_wait(comm);
}

}  // namespace veritas::cuda
