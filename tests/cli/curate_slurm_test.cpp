// curate's scale-out under a Slurm array job: the task index and count come from
// SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN) and SLURM_ARRAY_TASK_COUNT.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "veritas/util/fs.hpp"

using namespace veritas;

static int sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(CurateCli, SlurmArrayTaskPicksTheTask) {
  const char* bin = std::getenv("VERITAS_BIN");
  ASSERT_NE(bin, nullptr);
  auto dir = make_temp_dir("veritas-slurm-");
  std::string docs;
  for (int i = 0; i < 4; ++i)
    docs += "{\"id\": \"d" + std::to_string(i) + "\", \"text\": \"Document " + std::to_string(i) +
            " talks about rivers, hills and the weather in plain English sentences that are long enough.\"}\n";
  for (int i = 0; i < 2; ++i) atomic_write_file(dir / ("in" + std::to_string(i) + ".jsonl"), docs);
  const std::string in = " -i " + (dir / "in0.jsonl").string() + " " + (dir / "in1.jsonl").string();
  // --array=3-4: ID 4 is the second task.
  const std::string env = "SLURM_ARRAY_TASK_ID=4 SLURM_ARRAY_TASK_MIN=3 SLURM_ARRAY_TASK_COUNT=2 ";
  ASSERT_EQ(sh(env + bin + " curate" + in + " -o " + (dir / "a").string() + " > /dev/null 2>&1"), 0);
  EXPECT_TRUE(fs::exists(dir / "a/task-1/DONE"));
  EXPECT_FALSE(fs::exists(dir / "a/task-0"));
  // Flags win over the environment.
  ASSERT_EQ(sh(env + bin + " curate" + in + " -o " + (dir / "b").string() + " --task 0 --tasks 2 > /dev/null 2>&1"), 0);
  EXPECT_TRUE(fs::exists(dir / "b/task-0/DONE"));
  EXPECT_FALSE(fs::exists(dir / "b/task-1"));
  // An index outside the count is an error, not a silent empty task.
  EXPECT_NE(sh("SLURM_ARRAY_TASK_ID=5 SLURM_ARRAY_TASK_COUNT=2 " + std::string(bin) + " curate" + in + " -o " +
               (dir / "c").string() + " > /dev/null 2>&1"),
            0);
  fs::remove_all(dir);
}
