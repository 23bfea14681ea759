// The device code path (backend/backend.hpp) against the CPU path: the model and the
// trainer on "cpu-staged" — the CPU's kernels behind uploads and downloads, as on a GPU —
// must give the CPU's results bit for bit, and checkpoints must move between the two.
// The CUDA kernels themselves are checked against the CPU by cuda_device_check on a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "veritas/backend/backend.hpp"
#include "veritas/kernels/kernels.hpp"
#include "veritas/train/trainer.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/rng.hpp"
#include "veritas/util/temp_dir.hpp"

using namespace veritas;

namespace {

TrainConfig small_cfg(const std::string& device) {
  TrainConfig c;
  c.model.vocab_size = 40;
  c.model.hidden_size = 32;
  c.model.intermediate_size = 48;
  c.model.num_hidden_layers = 2;
  c.model.num_attention_heads = 4;
  c.model.num_key_value_heads = 2;
  c.model.max_position_embeddings = 16;
  c.batch = 3;
  c.seq = 12;
  c.steps = 20;
  c.lr = 3e-3;
  c.warmup = 2;
  c.clip = 0.5;  // low enough to act on most steps
  c.device = device;
  return c;
}

Batch batch(uint64_t seed, int B = 3, int T = 12) {
  Rng r(seed);
  Batch b;
  b.B = B, b.T = T;
  for (int i = 0; i < B * T; ++i) {
    b.inputs.push_back((int32_t)r.below(40));
    b.targets.push_back((int32_t)((b.inputs.back() * 7 + 3) % 40));  // learnable
    b.mask.push_back(r.below(4) == 0 ? 0.0f : 1.0f);
  }
  return b;
}

std::vector<float> host_weights(Trainer& t) {
  t.model().download_weights();
  std::vector<float> w;
  for (const auto& p : t.model().params()) w.insert(w.end(), p.data, p.data + p.size);
  return w;
}

}  // namespace

TEST(Device, StagedTrainingIsTheCpuBitForBit) {
  for (int layers : {0, 1}) {  // all trained; only the last block (frozen embeddings)
    TrainConfig cc = small_cfg("cpu"), sc = small_cfg("cpu-staged");
    cc.train_layers = sc.train_layers = layers;
    Trainer cpu(cc), staged(sc);
    ASSERT_TRUE(cpu.model().backend().host_memory());
    ASSERT_FALSE(staged.model().backend().host_memory());
    int clipped = 0;
    double first = 0, last = 0;
    for (int s = 0; s < 20; ++s) {
      // Two micro-batches of unequal size: the weighting by mask sums goes through the device path too.
      const std::vector<Batch> micro = {batch(100 + s, 1), batch(200 + s, 3)};
      StepStats a = cpu.step_on(micro), b = staged.step_on(micro);
      ASSERT_EQ(a.loss, b.loss) << "step " << s << " layers " << layers;
      ASSERT_EQ(a.grad_norm, b.grad_norm) << "step " << s;
      clipped += a.grad_norm > cc.clip;
      if (s == 0) first = a.loss;
      last = a.loss;
    }
    EXPECT_GT(clipped, 0);          // the clipping path ran
    if (layers == 0) EXPECT_LT(last, 0.8 * first);  // and it learned (3.71 -> 2.86)
    EXPECT_EQ(host_weights(cpu), host_weights(staged));
    const Batch v = batch(7);
    EXPECT_EQ(cpu.model().forward_loss(v.inputs.data(), v.targets.data(), v.mask.data(), 3, 12),
              staged.model().forward_loss(v.inputs.data(), v.targets.data(), v.mask.data(), 3, 12));
  }
}

TEST(Device, StagedBf16ProductsAreTheCpusBitForBit) {
  TrainConfig cc = small_cfg("cpu"), sc = small_cfg("cpu-staged");
  cc.matmul = sc.matmul = "bf16";
  std::vector<double> losses[2];
  {
    Trainer cpu(cc), staged(sc);
    for (int s = 0; s < 5; ++s) {
      losses[0].push_back(cpu.step_on({batch(s)}).loss);
      losses[1].push_back(staged.step_on({batch(s)}).loss);
    }
    EXPECT_EQ(host_weights(cpu), host_weights(staged));
  }
  kernels::set_matmul_bf16(false);  // a process-wide setting on the CPU
  EXPECT_EQ(losses[0], losses[1]);
  Trainer fp32(small_cfg("cpu"));
  EXPECT_NE(fp32.step_on({batch(0)}).loss, losses[0][0]);  // bf16 products really ran
}

TEST(Device, StagedZeroIsTheCpusBitForBit) {
  // ZeRO-1's path (the moments and summed gradients as shards on the backend) on one
  // process: its range is everything, and the update must still be the CPU's.
  TrainConfig cc = small_cfg("cpu"), sc = small_cfg("cpu-staged");
  cc.zero = sc.zero = 1;
  Trainer cpu(cc), staged(sc), plain(small_cfg("cpu"));
  for (int s = 0; s < 6; ++s) {
    StepStats a = cpu.step_on({batch(s)}), b = staged.step_on({batch(s)}), p = plain.step_on({batch(s)});
    ASSERT_EQ(a.loss, b.loss) << "step " << s;
    ASSERT_EQ(a.grad_norm, b.grad_norm) << "step " << s;
    EXPECT_NEAR(a.loss, p.loss, 1e-6 * p.loss);  // and ZeRO-1 is the plain update
  }
  EXPECT_EQ(host_weights(cpu), host_weights(staged));
  // Its checkpoint resumes without ZeRO on the CPU.
  const TempDir dir("veritas-device-zero-");
  staged.save_checkpoint(dir.path());
  Trainer resumed(small_cfg("cpu"));
  resumed.load_checkpoint(dir.path());
  EXPECT_EQ(resumed.step_on({batch(9)}).loss, cpu.step_on({batch(9)}).loss);
}

TEST(Device, StagedModelGivesTheCpuLogitsAndPolicyGradients) {
  Trainer cpu(small_cfg("cpu")), staged(small_cfg("cpu-staged"));
  const Batch b = batch(3);
  const int64_t N = 36, V = 40;
  std::vector<float> la(N * V), lb(N * V), pa(N), pb(N);
  cpu.model().forward_logits(b.inputs.data(), 3, 12, la.data());
  staged.model().forward_logits(b.inputs.data(), 3, 12, lb.data());
  EXPECT_EQ(la, lb);
  cpu.model().token_logprobs(b.inputs.data(), b.targets.data(), 3, 12, pa.data());
  staged.model().token_logprobs(b.inputs.data(), b.targets.data(), 3, 12, pb.data());
  EXPECT_EQ(pa, pb);
  for (float x : pa) EXPECT_LT(x, 0.0f);
  // A policy-gradient-like loss: weights of both signs on the log-probabilities.
  auto loss = [](const float* logp, float* dlogp) {
    double l = 0;
    for (int n = 0; n < 36; ++n) {
      const float w = (n % 3 == 0) ? -0.5f : 0.25f;
      l -= w * logp[n];
      dlogp[n] = -w;
    }
    return l;
  };
  EXPECT_EQ(cpu.model().forward_backward_logprob(b.inputs.data(), b.targets.data(), 3, 12, loss),
            staged.model().forward_backward_logprob(b.inputs.data(), b.targets.data(), 3, 12, loss));
  StepStats a = cpu.apply_gradients(0, N), s = staged.apply_gradients(0, N);
  EXPECT_GT(a.grad_norm, 0);
  EXPECT_EQ(a.grad_norm, s.grad_norm);
  EXPECT_EQ(host_weights(cpu), host_weights(staged));
}

TEST(Device, CheckpointsMoveBetweenDevices) {
  // Staged for 6 steps, saved, resumed on the CPU (and the other way): the next steps
  // are those of a run that never stopped.
  const TempDir dir("veritas-device-");
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"cpu-staged", "cpu"}, {"cpu", "cpu-staged"}}) {
    const auto run = dir.path() / (from + "-to-" + to);
    Trainer a(small_cfg(from)), ref(small_cfg("cpu"));
    for (int s = 0; s < 6; ++s) {
      a.step_on({batch(s)});
      ref.step_on({batch(s)});
    }
    a.save_checkpoint(run);
    Trainer b(small_cfg(to));
    b.load_checkpoint(run);
    EXPECT_EQ(b.step_count(), 6);
    for (int s = 6; s < 9; ++s) {
      StepStats x = b.step_on({batch(s)}), y = ref.step_on({batch(s)});
      EXPECT_EQ(x.loss, y.loss) << from << " -> " << to << " step " << s;
      EXPECT_EQ(x.grad_norm, y.grad_norm);
    }
    EXPECT_EQ(host_weights(b), host_weights(ref));
  }
}

TEST(Device, UnknownOrUnavailableDevicesAreClearErrors) {
  TrainConfig c = small_cfg("tpu");
  try {
    c.validate();
    FAIL() << "accepted device tpu";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cpu or cuda"), std::string::npos) << e.what();
  }
  EXPECT_THROW(backend_named("gpu"), Error);
  // Here (no GPU, or a build without CUDA) the CUDA backend names why it is missing; on a
  // GPU machine it describes the device.
  try {
    Backend& be = cuda_backend();
    EXPECT_EQ(be.name(), "cuda");
    EXPECT_NE(be.describe().find("devices:"), std::string::npos) << be.describe();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--device cuda: "), std::string::npos) << e.what();
  }
}
