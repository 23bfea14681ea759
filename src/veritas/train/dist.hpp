#pragma once
// Data parallelism across processes (docs/scale.md). One process per rank, started by
// mpirun or srun; every rank holds the whole model, reads its own rows of each global
// batch and the ranks sum their gradients. Without a launcher (or in a build without
// MPI) the world is one rank and every call below is a no-op, so one-process training is
// exactly what it was.
//
// Only the thread that trains calls these (the thread pool's workers never do). Every
// MPI error becomes a veritas::Error naming the call; a rank that stops with an error
// aborts the whole job (abort()), so a dead rank never leaves the others waiting.
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace veritas {

class Dist {
 public:
  // The processes of this job. Starts MPI on first use when a launcher started this
  // process (OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE in the environment); throws
  // when it did but this build has no MPI.
  static Dist& world();
  // True when this process was started by mpirun / srun (MPI not started yet).
  static bool launched();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool multi() const { return size_ > 1; }

  // Blocking in-place sums over all ranks.
  void sum(double* x, int n);
  void sum(float* x, int64_t n);
  // Largest value over all ranks (agreeing on a stop).
  int max(int v);
  // root's bytes into every rank's buf (a GPU communicator's id).
  void broadcast(void* buf, int64_t bytes, int root);
  void barrier();

  // Non-blocking in-place sum of x[0, n), started now and finished by wait(); progress()
  // lets started reductions advance while the caller computes.
  void start_sum(float* x, int64_t n);
  void progress();
  void wait();

  // ZeRO-1 helpers over one flat buffer split into size() contiguous ranges (range()).
  // reduce_scatter: out = sum over ranks of in[range(rank)]. all_gather: every rank's
  // range of buf, in place. Both in bounded chunks (no whole-size temporaries). gather: root receives every rank's range (`mine`, its part)
  // into all[0, n); `all` is only used on root.
  std::pair<int64_t, int64_t> range(int64_t n, int r) const;
  void reduce_scatter(const float* in, float* out, int64_t n);
  void all_gather(float* buf, int64_t n);
  void gather(const float* mine, float* all, int64_t n, int root);
  // Every rank's bytes, in rank order, on root (empty elsewhere): records that only rank 0
  // writes (self-play's samples.jsonl).
  std::vector<std::string> gather(const std::string& mine, int root);

  // Ends every rank of the job after printing msg (rank-tagged) to stderr.
  [[noreturn]] void abort(const std::string& msg);

 private:
  Dist() = default;
  int rank_ = 0, size_ = 1;
};

}  // namespace veritas
