#pragma once
// safetensors reader and writer (https://huggingface.co/docs/safetensors): 8-byte
// little-endian header length, JSON header, raw little-endian tensor data.
// The reader validates everything before use: header size limit, JSON shape, dtype,
// offsets in bounds, non-overlapping and covering the data, shape x dtype = byte size.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace veritas {

enum class DType { F32, F16, BF16 };
size_t dtype_size(DType t);

// A shape for messages: "[576, 1536]".
std::string shape_str(const std::vector<int64_t>& shape);

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  size_t offset = 0;  // into the data section
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafeTensors {
 public:
  static SafeTensors load(const std::filesystem::path& path);  // throws Error naming the file
  static SafeTensors parse(std::string bytes, const std::string& origin = "<memory>");
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  // Copies a tensor into dst as fp32 (converting F16/BF16); checks the expected shape.
  void read_f32(const std::string& name, const std::vector<int64_t>& shape, float* dst) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::string bytes_;
  size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
  std::string origin_;
};

// The tensors a file's header declares (validated as SafeTensors::load does, against the
// file's size), without reading the tensor data: for checks before a model is sized.
std::vector<TensorInfo> read_safetensors_header(const std::filesystem::path& path);

struct TensorRef {
  std::string name;
  std::vector<int64_t> shape;
  const float* data;  // written as F32
};
// Atomic write (temp + fsync + rename).
void save_safetensors(const std::filesystem::path& path, const std::vector<TensorRef>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace veritas
