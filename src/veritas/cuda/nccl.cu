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
  decltype(&ncclGetErrorString) error_string = nullptr;
};

Nccl& nccl() {
  static Nccl* inst = [] {
    const Library lib = open_library("NCCL", kNcclSoname, "VERITAS_NCCL");
    auto* n = new Nccl;
    lib.load(n->unique_id, "ncclGetUniqueId");
    lib.load(n->init_rank, "ncclCommInitRank");
    lib.load(n->all_reduce, "ncclAllReduce");
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

void nccl_start_sum(void* comm, float* x, int64_t n) {
  if (n <= 0) return;
  auto* c = static_cast<Comm*>(comm);
  check(cudaEventRecord(c->ready, nullptr), "cudaEventRecord (NCCL)");
  check(cudaStreamWaitEvent(c->stream, c->ready, 0), "cudaStreamWaitEvent (NCCL)");
  nccl_check(nccl().all_reduce(x, x, (size_t)n, ncclFloat32, ncclSum, c->comm, c->stream), "ncclAllReduce");
}

void nccl_wait(void* comm) {
  check(cudaStreamSynchronize(static_cast<Comm*>(comm)->stream), "ncclAllReduce");
}

}  // namespace veritas::cuda
