#include "veritas/model/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "veritas/model/quant.hpp"
#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas {

namespace {
constexpr uint64_t kMaxHeader = 100ull << 20;  // same limit as the reference implementation

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
  }
  return "?";
}

// The header is at most three levels deep; rejecting deeper nesting up front keeps a
// hostile file from costing deep recursion in the JSON library.
void check_depth(const std::string& h, const std::string& origin) {
  int depth = 0;
  bool in_str = false;
  for (size_t i = 0; i < h.size(); ++i) {
    char c = h[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
    } else if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      if (++depth > 8) throw Error(origin + ": safetensors header nested too deeply at offset " + std::to_string(8 + i));
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
}
}  // namespace

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

SafeTensors SafeTensors::load(const std::filesystem::path& path) { return parse(read_file(path), path.string()); }

namespace {

// The header's tensors (a JSON object), validated against a data section of data_size
// bytes: shapes, dtypes, offsets in bounds, tensors tiling the section exactly.
void parse_header(const std::string& header, uint64_t data_size, const std::string& origin,
                  std::vector<TensorInfo>& tensors, std::map<std::string, std::string>& metadata) {
  auto fail = [&](const std::string& msg) -> Error { return Error(origin + ": " + msg); };
  if (header.size() < 2 || header[0] != '{') throw fail("header at offset 8 is not a JSON object");
  check_depth(header, origin);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw fail(std::string("invalid JSON header: ") + e.what());
  }
  if (!j.is_object()) throw fail("header is not a JSON object");

  for (auto& item : j.items()) {
    // (no structured binding: older clang cannot capture one in the lambda below)
    const std::string name = item.key();
    const nlohmann::json& v = item.value();
    if (name == "__metadata__") {
      if (!v.is_object()) throw fail("__metadata__ must be an object of strings");
      for (auto& [k, mv] : v.items()) {
        if (!mv.is_string()) throw fail("__metadata__ value for \"" + k + "\" is not a string");
        metadata[k] = mv.get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& msg) -> Error { return fail("tensor \"" + name + "\": " + msg); };
    if (!v.is_object()) throw bad("entry is not an object");
    if (!v.contains("dtype") || !v["dtype"].is_string()) throw bad("missing string \"dtype\"");
    if (!v.contains("shape") || !v["shape"].is_array()) throw bad("missing array \"shape\"");
    if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
      throw bad("\"data_offsets\" must be an array of two integers");
    TensorInfo t;
    t.name = name;
    std::string dt = v["dtype"];
    if (dt == "F32") t.dtype = DType::F32;
    else if (dt == "F16") t.dtype = DType::F16;
    else if (dt == "BF16") t.dtype = DType::BF16;
    else throw bad("unsupported dtype \"" + dt + "\" (F32, F16 and BF16 are supported)");
    uint64_t numel = 1;
    for (auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw bad("shape entries must be non-negative integers");
      uint64_t x = d.get<uint64_t>();
      if (x > (uint64_t)std::numeric_limits<int64_t>::max() || (x && numel > data_size / x))
        throw bad("shape " + d.dump() + " is too large for the file");
      numel *= x;
      t.shape.push_back((int64_t)x);
    }
    for (auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) throw bad("data_offsets must be non-negative integers");
    uint64_t b = v["data_offsets"][0].get<uint64_t>(), e = v["data_offsets"][1].get<uint64_t>();
    if (b > e) throw bad("data_offsets begin " + std::to_string(b) + " > end " + std::to_string(e));
    if (e > data_size)
      throw bad("data_offsets end " + std::to_string(e) + " is past the data section (" + std::to_string(data_size) +
                " bytes): the file is truncated or corrupt");
    if (numel > data_size || numel * dtype_size(t.dtype) != e - b)
      throw bad("shape " + shape_str(t.shape) + " x " + dtype_name(t.dtype) + " does not match its " +
                std::to_string(e - b) + " bytes");
    t.offset = b;
    t.nbytes = e - b;
    tensors.push_back(std::move(t));
  }
  // Tensors must tile the data section exactly: no gaps, no overlaps, nothing after.
  std::vector<const TensorInfo*> order;
  for (auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) {
    return a->offset != b->offset ? a->offset < b->offset : a->nbytes < b->nbytes;
  });
  uint64_t pos = 0;
  for (auto* t : order) {
    if (t->offset != pos)
      throw fail("tensor \"" + t->name + "\" starts at data offset " + std::to_string(t->offset) +
                 (t->offset < pos ? ", overlapping the previous tensor" : ", leaving a gap") + " (expected " +
                 std::to_string(pos) + ")");
    pos = t->offset + t->nbytes;
  }
  if (pos != data_size)
    throw fail("tensors cover " + std::to_string(pos) + " of " + std::to_string(data_size) +
               " data bytes (trailing bytes)");
}

// The header length of a file of file_size bytes whose first 8 bytes are `prefix`.
uint64_t header_length(const char* prefix, uint64_t file_size, const std::string& origin) {
  auto fail = [&](const std::string& msg) -> Error { return Error(origin + ": " + msg); };
  if (file_size < 8) throw fail("file too short for a safetensors header (" + std::to_string(file_size) + " bytes)");
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | (unsigned char)prefix[i];
  if (hlen > kMaxHeader) throw fail("header length " + std::to_string(hlen) + " exceeds the 100 MB limit");
  if (hlen > file_size - 8)
    throw fail("header length " + std::to_string(hlen) + " runs past the end of the file (" +
               std::to_string(file_size) + " bytes)");
  return hlen;
}

}  // namespace

SafeTensors SafeTensors::parse(std::string bytes, const std::string& origin) {
  SafeTensors st;
  st.origin_ = origin;
  const uint64_t hlen = header_length(bytes.data(), bytes.size(), origin);
  st.data_start_ = 8 + hlen;
  parse_header(bytes.substr(8, hlen), bytes.size() - st.data_start_, origin, st.tensors_, st.metadata_);
  st.bytes_ = std::move(bytes);
  return st;
}

std::vector<TensorInfo> read_safetensors_header(const std::filesystem::path& path) {
  const std::string origin = path.string();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(origin + ": missing");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(origin + ": cannot open");
  f.seekg(0, std::ios::end);
  const uint64_t size = (uint64_t)f.tellg();
  f.seekg(0);
  char prefix[8] = {};
  f.read(prefix, (std::streamsize)std::min<uint64_t>(8, size));
  const uint64_t hlen = header_length(prefix, size, origin);
  std::string header(hlen, '\0');
  if (hlen && !f.read(header.data(), (std::streamsize)hlen)) throw Error(origin + ": cannot read the header");
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
  parse_header(header, size - 8 - hlen, origin, tensors, metadata);
  return tensors;
}

const TensorInfo* SafeTensors::find(const std::string& name) const {
  for (auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

void SafeTensors::read_f32(const std::string& name, const std::vector<int64_t>& shape, float* dst) const {
  const TensorInfo* t = find(name);
  if (!t) throw Error(origin_ + ": missing tensor \"" + name + "\"");
  if (t->shape != shape)
    throw Error(origin_ + ": tensor \"" + name + "\" has shape " + shape_str(t->shape) + ", expected " +
                shape_str(shape));
  const char* src = bytes_.data() + data_start_ + t->offset;
  const int64_t n = t->numel();
  switch (t->dtype) {
    case DType::F32:
      std::memcpy(dst, src, (size_t)n * 4);
      break;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      break;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        uint32_t bits = (uint32_t)h << 16;
        std::memcpy(&dst[i], &bits, 4);
      }
      break;
  }
}

void save_safetensors(const std::filesystem::path& path, const std::vector<TensorRef>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t off = 0;
  for (auto& t : tensors) {
    check(!t.name.empty() && t.name != "__metadata__", "save_safetensors: bad tensor name \"" + t.name + "\"");
    check(!h.contains(t.name), "save_safetensors: duplicate tensor name \"" + t.name + "\"");
    uint64_t n = 1;
    for (auto d : t.shape) {
      check(d >= 0, "save_safetensors: negative dimension in \"" + t.name + "\"");
      n *= (uint64_t)d;
    }
    h[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {off, off + 4 * n}}};
    off += 4 * n;
  }
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  AtomicFile f(path);
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = (unsigned char)((uint64_t)header.size() >> (8 * i));
  f.write(len, 8);
  f.write(header);
  for (auto& t : tensors) {
    uint64_t n = 1;
    for (auto d : t.shape) n *= (uint64_t)d;
    f.write(t.data, 4 * n);
  }
  f.commit();
}

}  // namespace veritas
