#pragma once
// GGUF reader (llama.cpp's model file, versions 2 and 3): header, metadata key/values,
// tensor table, aligned data section. The file is memory-mapped; tensors are read (and
// dequantized to fp32) on demand, so a 7 GB model is never copied whole.
//
// Layout (little endian): "GGUF" u32 version, u64 tensor_count, u64 kv_count, then
// kv_count × (string key, u32 type, value), tensor_count × (string name, u32 n_dims,
// u64 dims[n_dims], u32 ggml type, u64 offset), padding to general.alignment (32 by
// default), data. Strings are u64 length + bytes. dims[0] is the fastest-moving
// (a PyTorch [out, in] weight has dims {in, out}).
//
// Every size and offset is checked against the file before use: a corrupt or hostile
// file is an Error naming the file and the field, never a crash or a huge allocation.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "veritas/model/quant.hpp"

namespace veritas {

// One metadata value. Scalars are widened (integers to int64, floats to double); an
// array holds scalars or strings of one element type.
struct GgufValue {
  enum Kind : uint32_t { U8 = 0, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64 };
  Kind kind = U8;
  Kind elem = U8;  // arrays: the element type
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<int64_t> ints;     // integer/bool arrays
  std::vector<double> floats;    // float arrays
  std::vector<std::string> strs; // string arrays
  size_t array_size() const { return kind != Array ? 0 : elem == String ? strs.size() : elem == F32 || elem == F64 ? floats.size() : ints.size(); }
};

struct GgufTensor {
  std::string name;
  std::vector<int64_t> dims;  // GGUF order: dims[0] fastest
  uint32_t type = 0;
  uint64_t offset = 0;        // from the start of the file
  uint64_t nbytes = 0;
  int64_t numel() const;
};

class GgufFile {
 public:
  static GgufFile open(const std::filesystem::path& path);  // throws Error
  // Parses bytes already in memory (fuzzing, tests); `name` is used in messages. The
  // bytes must outlive the GgufFile.
  static GgufFile parse(const void* data, size_t size, const std::string& name);
  GgufFile();
  ~GgufFile();
  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;

  const std::string& name() const;  // the path, for messages
  uint32_t version() const;
  const std::map<std::string, GgufValue>& metadata() const;
  const std::vector<GgufTensor>& tensors() const;
  const GgufTensor* find(const std::string& tensor) const;
  const GgufValue* get(const std::string& key) const;

  // Typed metadata look-ups; they throw Error naming the file and key when the key is
  // missing (the *_or forms return the fallback) or of the wrong type.
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  int64_t get_int_or(const std::string& key, int64_t fallback) const;
  double get_float_or(const std::string& key, double fallback) const;
  const GgufValue& get_array(const std::string& key, GgufValue::Kind elem) const;

  const uint8_t* data(const GgufTensor& t) const;  // raw bytes of t
  // Drops t's pages of an opened file from memory once they have been copied (they are
  // read from the file again if touched), so loading does not hold the file and its
  // copy at once. Nothing for parsed bytes.
  void release(const GgufTensor& t) const;
  // Dequantizes tensor `name` into dst, after checking its type is readable and its
  // element count equals `numel`.
  void read_f32(const std::string& name, int64_t numel, float* dst) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GGUF writer: metadata and tensors in the order added; written atomically.
class GgufWriter {
 public:
  void set(const std::string& key, const GgufValue& v);
  void set_string(const std::string& key, const std::string& s);
  void set_u32(const std::string& key, uint32_t v);
  void set_f32(const std::string& key, float v);
  void set_bool(const std::string& key, bool v);
  void set_strings(const std::string& key, std::vector<std::string> v);
  void set_ints(const std::string& key, GgufValue::Kind elem, std::vector<int64_t> v);
  void set_floats(const std::string& key, std::vector<double> v);  // F32 array
  // dims in GGUF order; data: fp32 values, stored as `type` (F32, F16 or Q8_0).
  void add_tensor(const std::string& name, std::vector<int64_t> dims, GgmlType type, const float* data);
  void save(const std::filesystem::path& path) const;
  std::string serialize() const;

 private:
  std::vector<std::pair<std::string, GgufValue>> kv_;
  struct T {
    std::string name;
    std::vector<int64_t> dims;
    GgmlType type;
    std::string bytes;
  };
  std::vector<T> tensors_;
};

}  // namespace veritas
