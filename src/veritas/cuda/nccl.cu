// Gradient sums across GPUs through NCCL, loaded at first use (dlopen, as cuBLASLt): a
// CUDA build runs without the library until several ranks train on GPUs. The ranks agree
// on a communicator through the unique id rank 0 draws (sent over MPI by the caller).
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "veritas/cuda/check.cuh"
#include "veritas/cuda/ops.hpp"

#define VERITAS_NCCL_STRINGIFY2(x) #x
#define VERITAS_NCCL_STRINGIFY(x) VERITAS_NCCL_STRINGIFY2(x)

namespace veritas::cuda {

extern const char kNcclSoname[] = "libnccl.so." VERITAS_NCCL_STRINGIFY(NCCL_MAJOR);

namespace {

struct Nccl {
  decltype(&ncclGetUniqueId) unique_id = nullptr;
  decltype(&ncclCommInitRank) init_rank = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclGetErrorString) error_string = nullptr;
};

Nccl& nccl() {
  static Nccl* inst = [] {
    const char* env = std::getenv("VERITAS_NCCL");
    const char* file = env && *env ? env : kNcclSoname;
    void* lib = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
      throw Error(std::string("NCCL: cannot load ") + file + " (" + dlerror() +
                  "): add its folder to LD_LIBRARY_PATH, or set VERITAS_NCCL to the file");
    auto* n = new Nccl;
    auto sym = [&](auto& f, const char* name) {
      f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(lib, name));
      if (!f) throw Error(std::string("NCCL: symbol ") + name + " missing from " + file);
    };
    sym(n->unique_id, "ncclGetUniqueId");
    sym(n->init_rank, "ncclCommInitRank");
    sym(n->all_reduce, "ncclAllReduce");
    sym(n->error_string, "ncclGetErrorString");
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
