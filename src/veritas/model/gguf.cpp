#include "veritas/model/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "veritas/util/error.hpp"
#include "veritas/util/fs.hpp"

namespace veritas {

int64_t GgufTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

namespace {

// Bounds-checked little-endian reader over the file's bytes.
struct Cursor {
  const uint8_t* p;
  size_t size, pos = 0;
  const std::string& file;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(file + ": " + what + " (at byte " + std::to_string(pos) + " of " + std::to_string(size) + ")");
  }
  const uint8_t* take(uint64_t n, const std::string& what) {
    if (n > size - pos) fail("truncated file: " + what + " needs " + std::to_string(n) + " bytes, " +
                             std::to_string(size - pos) + " left");
    const uint8_t* r = p + pos;
    pos += n;
    return r;
  }
  template <class T>
  T get(const std::string& what) {
    T v;
    std::memcpy(&v, take(sizeof(T), what), sizeof(T));
    return v;
  }
  std::string str(const std::string& what) {
    uint64_t n = get<uint64_t>(what + " length");
    if (n > size - pos) fail(what + ": claimed string length " + std::to_string(n) + " exceeds the " +
                             std::to_string(size - pos) + " bytes left in the file");
    const uint8_t* b = take(n, what);
    return std::string(reinterpret_cast<const char*>(b), n);
  }
};

size_t scalar_size(uint32_t k) {
  switch (k) {
    case GgufValue::U8: case GgufValue::I8: case GgufValue::Bool: return 1;
    case GgufValue::U16: case GgufValue::I16: return 2;
    case GgufValue::U32: case GgufValue::I32: case GgufValue::F32: return 4;
    case GgufValue::U64: case GgufValue::I64: case GgufValue::F64: return 8;
    default: return 0;
  }
}

// Reads one scalar of kind k into v.i or v.f.
void read_scalar(Cursor& c, uint32_t k, int64_t& i, double& f, const std::string& what) {
  switch (k) {
    case GgufValue::U8: i = c.get<uint8_t>(what); break;
    case GgufValue::I8: i = c.get<int8_t>(what); break;
    case GgufValue::Bool: i = c.get<uint8_t>(what) != 0; break;
    case GgufValue::U16: i = c.get<uint16_t>(what); break;
    case GgufValue::I16: i = c.get<int16_t>(what); break;
    case GgufValue::U32: i = c.get<uint32_t>(what); break;
    case GgufValue::I32: i = c.get<int32_t>(what); break;
    case GgufValue::U64: {
      uint64_t u = c.get<uint64_t>(what);
      if (u > (uint64_t)INT64_MAX) c.fail(what + ": value " + std::to_string(u) + " is too large");
      i = (int64_t)u;
      break;
    }
    case GgufValue::I64: i = c.get<int64_t>(what); break;
    case GgufValue::F32: f = c.get<float>(what); break;
    case GgufValue::F64: f = c.get<double>(what); break;
    default: c.fail(what + ": unknown value type " + std::to_string(k));
  }
}

GgufValue read_value(Cursor& c, uint32_t kind, const std::string& key) {
  GgufValue v;
  v.kind = (GgufValue::Kind)kind;
  if (kind == GgufValue::String) {
    v.s = c.str("metadata '" + key + "'");
  } else if (kind == GgufValue::Array) {
    uint32_t elem = c.get<uint32_t>("metadata '" + key + "' array type");
    uint64_t n = c.get<uint64_t>("metadata '" + key + "' array length");
    v.elem = (GgufValue::Kind)elem;
    // Every element takes at least one byte (a string at least 8): bound n by the file.
    size_t min_bytes = elem == GgufValue::String ? 8 : scalar_size(elem);
    if (min_bytes == 0) c.fail("metadata '" + key + "': arrays of type " + std::to_string(elem) + " are not supported");
    if (n > (c.size - c.pos) / min_bytes)
      c.fail("metadata '" + key + "': claimed array length " + std::to_string(n) + " exceeds the file");
    if (elem == GgufValue::String) {
      v.strs.reserve(n);
      for (uint64_t j = 0; j < n; ++j) v.strs.push_back(c.str("metadata '" + key + "'[" + std::to_string(j) + "]"));
    } else if (elem == GgufValue::F32 || elem == GgufValue::F64) {
      v.floats.resize(n);
      int64_t dummy;
      for (uint64_t j = 0; j < n; ++j) read_scalar(c, elem, dummy, v.floats[j], "metadata '" + key + "'");
    } else {
      v.ints.resize(n);
      double dummy;
      for (uint64_t j = 0; j < n; ++j) read_scalar(c, elem, v.ints[j], dummy, "metadata '" + key + "'");
    }
  } else {
    read_scalar(c, kind, v.i, v.f, "metadata '" + key + "'");
    if (kind == GgufValue::F32 || kind == GgufValue::F64) v.i = (int64_t)v.f;
  }
  return v;
}

bool is_int_kind(uint32_t k) { return k != GgufValue::F32 && k != GgufValue::F64 && scalar_size(k) > 0; }

}  // namespace

struct GgufFile::Impl {
  std::string name;
  uint32_t version = 0;
  std::map<std::string, GgufValue> kv;
  std::vector<GgufTensor> tensors;
  std::map<std::string, size_t> by_name;
  const uint8_t* base = nullptr;
  size_t size = 0;
  void* map = nullptr;  // owned mapping (open), or nullptr (parse)
  ~Impl() {
    if (map) munmap(map, size);
  }
  void parse();
};

void GgufFile::Impl::parse() {
  Cursor c{base, size, 0, name};
  const uint8_t* magic = c.take(4, "magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) c.fail("not a GGUF file (the magic bytes are not \"GGUF\")");
  version = c.get<uint32_t>("version");
  if (version != 2 && version != 3)
    c.fail("GGUF version " + std::to_string(version) + " is not supported (only 2 and 3)");
  uint64_t n_tensors = c.get<uint64_t>("tensor_count"), n_kv = c.get<uint64_t>("kv_count");
  // A key/value takes at least 12 bytes and a tensor entry at least 24.
  if (n_kv > size / 12) c.fail("kv_count " + std::to_string(n_kv) + " is larger than the file can hold");
  if (n_tensors > size / 24) c.fail("tensor_count " + std::to_string(n_tensors) + " is larger than the file can hold");
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.str("metadata key " + std::to_string(i));
    uint32_t kind = c.get<uint32_t>("metadata '" + key + "' type");
    if (kind > GgufValue::F64) c.fail("metadata '" + key + "': unknown value type " + std::to_string(kind));
    GgufValue v = read_value(c, kind, key);
    if (!kv.emplace(key, std::move(v)).second) c.fail("metadata key '" + key + "' appears twice");
  }
  uint64_t align = 32;
  if (auto it = kv.find("general.alignment"); it != kv.end()) {
    if (!is_int_kind(it->second.kind) || it->second.i <= 0 || it->second.i > 65536 ||
        (it->second.i & (it->second.i - 1)) != 0)
      c.fail("general.alignment must be a power of two up to 65536");
    align = (uint64_t)it->second.i;
  }
  tensors.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = c.str("tensor " + std::to_string(i) + " name");
    std::string what = "tensor '" + t.name + "'";
    uint32_t nd = c.get<uint32_t>(what + " n_dims");
    if (nd == 0 || nd > 4) c.fail(what + ": n_dims " + std::to_string(nd) + " (must be 1 to 4)");
    int64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      uint64_t n = c.get<uint64_t>(what + " dims");
      if (n == 0 || n > ((uint64_t)1 << 40) || (uint64_t)numel > ((uint64_t)1 << 42) / n)
        c.fail(what + ": dimension " + std::to_string(n) + " is out of range");
      t.dims.push_back((int64_t)n);
      numel *= (int64_t)n;
    }
    t.type = c.get<uint32_t>(what + " type");
    const GgmlTypeInfo* info = ggml_type_info(t.type);
    if (!info) c.fail(what + ": tensor type " + ggml_type_name(t.type) + " is not supported (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q5_K, Q6_K)");
    if (t.dims[0] % info->block != 0)
      c.fail(what + ": row length " + std::to_string(t.dims[0]) + " is not a multiple of the " + info->name +
             " block size " + std::to_string(info->block));
    t.nbytes = (uint64_t)(numel / info->block) * info->bytes;
    t.offset = c.get<uint64_t>(what + " offset");
    if (t.offset % align != 0) c.fail(what + ": offset " + std::to_string(t.offset) + " is not aligned to " + std::to_string(align));
    if (!by_name.emplace(t.name, tensors.size()).second) c.fail("tensor '" + t.name + "' appears twice");
    tensors.push_back(std::move(t));
  }
  uint64_t data_start = (c.pos + align - 1) / align * align;
  for (GgufTensor& t : tensors) {
    if (t.offset > size || data_start > size - t.offset || t.nbytes > size - data_start - t.offset)
      throw Error(name + ": tensor '" + t.name + "': data at offset " + std::to_string(t.offset) + " (" +
                  std::to_string(t.nbytes) + " bytes) lies outside the file (data section starts at " +
                  std::to_string(data_start) + ", file size " + std::to_string(size) + ")");
    t.offset += data_start;
  }
}

GgufFile::GgufFile() : impl_(std::make_unique<Impl>()) {}
GgufFile::~GgufFile() = default;
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;

GgufFile GgufFile::open(const std::filesystem::path& path) {
  GgufFile g;
  Impl& m = *g.impl_;
  m.name = path.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  check(fd >= 0, m.name + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(m.name + ": not a regular file");
  }
  m.size = (size_t)st.st_size;
  if (m.size > 0) {
    void* p = mmap(nullptr, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    check(p != MAP_FAILED, m.name + ": cannot map (" + std::strerror(errno) + ")");
    m.map = p;
    m.base = static_cast<const uint8_t*>(p);
  } else {
    ::close(fd);
  }
  m.parse();
  return g;
}

GgufFile GgufFile::parse(const void* data, size_t size, const std::string& name) {
  GgufFile g;
  g.impl_->name = name;
  g.impl_->base = static_cast<const uint8_t*>(data);
  g.impl_->size = size;
  g.impl_->parse();
  return g;
}

const std::string& GgufFile::name() const { return impl_->name; }
uint32_t GgufFile::version() const { return impl_->version; }
const std::map<std::string, GgufValue>& GgufFile::metadata() const { return impl_->kv; }
const std::vector<GgufTensor>& GgufFile::tensors() const { return impl_->tensors; }

const GgufTensor* GgufFile::find(const std::string& n) const {
  auto it = impl_->by_name.find(n);
  return it == impl_->by_name.end() ? nullptr : &impl_->tensors[it->second];
}

const GgufValue* GgufFile::get(const std::string& key) const {
  auto it = impl_->kv.find(key);
  return it == impl_->kv.end() ? nullptr : &it->second;
}

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue* v = get(key);
  check(v, name() + ": missing metadata '" + key + "'");
  check(v->kind == GgufValue::String, name() + ": metadata '" + key + "' must be a string");
  return v->s;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue* v = get(key);
  check(v, name() + ": missing metadata '" + key + "'");
  check(is_int_kind(v->kind), name() + ": metadata '" + key + "' must be an integer");
  return v->i;
}

int64_t GgufFile::get_int_or(const std::string& key, int64_t fallback) const {
  return get(key) ? get_int(key) : fallback;
}

double GgufFile::get_float_or(const std::string& key, double fallback) const {
  const GgufValue* v = get(key);
  if (!v) return fallback;
  check(v->kind == GgufValue::F32 || v->kind == GgufValue::F64 || is_int_kind(v->kind),
        name() + ": metadata '" + key + "' must be a number");
  return v->kind == GgufValue::F32 || v->kind == GgufValue::F64 ? v->f : (double)v->i;
}

const GgufValue& GgufFile::get_array(const std::string& key, GgufValue::Kind elem) const {
  const GgufValue* v = get(key);
  check(v, name() + ": missing metadata '" + key + "'");
  bool ok = v->kind == GgufValue::Array &&
            (elem == GgufValue::String ? v->elem == GgufValue::String
             : elem == GgufValue::F32  ? (v->elem == GgufValue::F32 || v->elem == GgufValue::F64)
                                       : is_int_kind(v->elem));
  check(ok, name() + ": metadata '" + key + "' must be an array of " +
                (elem == GgufValue::String ? "strings" : elem == GgufValue::F32 ? "numbers" : "integers"));
  return *v;
}

const uint8_t* GgufFile::data(const GgufTensor& t) const { return impl_->base + t.offset; }

void GgufFile::release(const GgufTensor& t) const {
  if (!impl_->map) return;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t b = (uintptr_t)(impl_->base + t.offset), e = b + t.nbytes;
  b = (b + page - 1) / page * page;  // whole pages inside the tensor only
  e = e / page * page;
  if (e > b) madvise((void*)b, e - b, MADV_DONTNEED);
}

void GgufFile::read_f32(const std::string& n, int64_t numel, float* dst) const {
  const GgufTensor* t = find(n);
  check(t, name() + ": missing tensor '" + n + "'");
  check(t->numel() == numel, name() + ": tensor '" + n + "' has " + std::to_string(t->numel()) +
                                 " elements, expected " + std::to_string(numel));
  dequantize((GgmlType)t->type, data(*t), numel, dst);
}

// ----------------------------------------------------------------------------------
// Writer

void GgufWriter::set(const std::string& key, const GgufValue& v) {
  for (auto& kv : kv_)
    if (kv.first == key) {
      kv.second = v;
      return;
    }
  kv_.emplace_back(key, v);
}
void GgufWriter::set_string(const std::string& key, const std::string& s) {
  GgufValue v;
  v.kind = GgufValue::String;
  v.s = s;
  set(key, v);
}
void GgufWriter::set_u32(const std::string& key, uint32_t x) {
  GgufValue v;
  v.kind = GgufValue::U32;
  v.i = x;
  set(key, v);
}
void GgufWriter::set_f32(const std::string& key, float x) {
  GgufValue v;
  v.kind = GgufValue::F32;
  v.f = x;
  set(key, v);
}
void GgufWriter::set_bool(const std::string& key, bool x) {
  GgufValue v;
  v.kind = GgufValue::Bool;
  v.i = x;
  set(key, v);
}
void GgufWriter::set_strings(const std::string& key, std::vector<std::string> s) {
  GgufValue v;
  v.kind = GgufValue::Array;
  v.elem = GgufValue::String;
  v.strs = std::move(s);
  set(key, v);
}
void GgufWriter::set_ints(const std::string& key, GgufValue::Kind elem, std::vector<int64_t> x) {
  GgufValue v;
  v.kind = GgufValue::Array;
  v.elem = elem;
  v.ints = std::move(x);
  set(key, v);
}
void GgufWriter::set_floats(const std::string& key, std::vector<double> x) {
  GgufValue v;
  v.kind = GgufValue::Array;
  v.elem = GgufValue::F32;
  v.floats = std::move(x);
  set(key, v);
}

void GgufWriter::add_tensor(const std::string& name, std::vector<int64_t> dims, GgmlType type, const float* x) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  T t{name, std::move(dims), type, {}};
  if (type == GgmlType::F32) {
    t.bytes.assign(reinterpret_cast<const char*>(x), n * 4);
  } else if (type == GgmlType::F16) {
    t.bytes.resize(n * 2);
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h = f32_to_f16(x[i]);
      std::memcpy(&t.bytes[2 * i], &h, 2);
    }
  } else if (type == GgmlType::Q8_0) {
    check(t.dims[0] % 32 == 0, "gguf: tensor '" + name + "' rows are not a multiple of 32 (Q8_0)");
    t.bytes.resize(n / 32 * 34);
    quantize_q8_0(x, n, t.bytes.data());
  } else {
    throw Error("gguf: writing " + ggml_type_name((uint32_t)type) + " is not supported (F32, F16, Q8_0)");
  }
  tensors_.push_back(std::move(t));
}

namespace {
template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}
void put_str(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}
void put_scalar(std::string& out, uint32_t kind, int64_t i, double f) {
  switch (kind) {
    case GgufValue::U8: case GgufValue::I8: case GgufValue::Bool: put<uint8_t>(out, (uint8_t)i); break;
    case GgufValue::U16: case GgufValue::I16: put<uint16_t>(out, (uint16_t)i); break;
    case GgufValue::U32: case GgufValue::I32: put<uint32_t>(out, (uint32_t)i); break;
    case GgufValue::U64: case GgufValue::I64: put<uint64_t>(out, (uint64_t)i); break;
    case GgufValue::F32: put<float>(out, (float)f); break;
    case GgufValue::F64: put<double>(out, f); break;
  }
}
}  // namespace

std::string GgufWriter::serialize() const {
  std::string out = "GGUF";
  put<uint32_t>(out, 3);
  put<uint64_t>(out, tensors_.size());
  put<uint64_t>(out, kv_.size());
  for (auto& [k, v] : kv_) {
    put_str(out, k);
    put<uint32_t>(out, v.kind);
    if (v.kind == GgufValue::String) {
      put_str(out, v.s);
    } else if (v.kind == GgufValue::Array) {
      put<uint32_t>(out, v.elem);
      put<uint64_t>(out, v.array_size());
      if (v.elem == GgufValue::String)
        for (auto& s : v.strs) put_str(out, s);
      else if (v.elem == GgufValue::F32 || v.elem == GgufValue::F64)
        for (double f : v.floats) put_scalar(out, v.elem, 0, f);
      else
        for (int64_t i : v.ints) put_scalar(out, v.elem, i, 0);
    } else {
      put_scalar(out, v.kind, v.i, v.f);
    }
  }
  const uint64_t align = 32;
  uint64_t off = 0;
  for (auto& t : tensors_) {
    put_str(out, t.name);
    put<uint32_t>(out, (uint32_t)t.dims.size());
    for (int64_t d : t.dims) put<uint64_t>(out, (uint64_t)d);
    put<uint32_t>(out, (uint32_t)t.type);
    put<uint64_t>(out, off);
    off = (off + t.bytes.size() + align - 1) / align * align;
  }
  out.resize((out.size() + align - 1) / align * align, '\0');
  for (auto& t : tensors_) {
    out += t.bytes;
    out.resize((out.size() + align - 1) / align * align, '\0');
  }
  return out;
}

void GgufWriter::save(const std::filesystem::path& path) const { atomic_write_file(path, serialize()); }

}  // namespace veritas
