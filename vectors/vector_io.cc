#include "vectors/vector_io.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>

#include "common/file_util.h"

namespace ecps::vectors {
namespace {

constexpr char kNpyMagic[] = "\x93NUMPY";

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix.data(), suffix.size()) == 0;
}

Status CheckDim(const std::string& path, int got, const ReadOptions& o) {
  if (got <= 0) return InvalidArgument(path, ": dimension ", got, " (must be at least 1)");
  if (o.dim > 0 && got != o.dim)
    return InvalidArgument(path, ": vectors of dimension ", got, ", expected ", o.dim);
  return OkStatus();
}

// A NaN or infinity anywhere makes every distance to that vector undefined:
// refused, naming the vector and the component.
Status CheckFinite(const std::string& path, const VectorSet& v) {
  for (uint64_t i = 0; i < v.values.size(); ++i)
    if (!std::isfinite(v.values[i]))
      return InvalidArgument(path, ": vector ", i / v.dim, " component ", i % v.dim, " is ",
                             v.values[i], " (every value must be a finite number)");
  return OkStatus();
}

// The value of `key` in a .npy header dict ("'descr': '<f4', ..."): the text
// after "'key':" up to the next top-level comma or the closing brace.
std::string_view NpyField(std::string_view header, std::string_view key) {
  const std::string quoted = "'" + std::string(key) + "'";
  size_t at = header.find(quoted);
  if (at == std::string_view::npos) return {};
  at = header.find(':', at + quoted.size());
  if (at == std::string_view::npos) return {};
  size_t i = at + 1;
  while (i < header.size() && header[i] == ' ') ++i;
  size_t j = i;
  int depth = 0;
  for (; j < header.size(); ++j) {
    if (header[j] == '(') ++depth;
    if (header[j] == ')') --depth;
    if (depth == 0 && (header[j] == ',' || header[j] == '}')) break;
  }
  return header.substr(i, j - i);
}

StatusOr<VectorSet> ReadNpy(const std::string& path, const std::string& bytes,
                            const ReadOptions& o) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kNpyMagic, 6) != 0)
    return InvalidArgument(path, ": not a .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, header_at;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) |
                 (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    header_at = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return DataLoss(path, ": truncated .npy header");
    uint32_t len;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    header_at = 12;
  } else {
    return InvalidArgument(path, ": .npy format version ", major, " (1, 2 and 3 are read)");
  }
  if (bytes.size() < header_at + header_len) return DataLoss(path, ": truncated .npy header");
  const std::string_view header(bytes.data() + header_at, header_len);
  const std::string_view descr = NpyField(header, "descr");
  if (descr != "'<f4'" && descr != "'|f4'" && descr != "'=f4'")
    return InvalidArgument(path, ": .npy dtype ", std::string(descr),
                           " (only little-endian float32, '<f4', is read)");
  if (NpyField(header, "fortran_order") != "False")
    return InvalidArgument(path, ": .npy in Fortran order (only C order is read)");
  std::string_view shape = NpyField(header, "shape");
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')')
    return InvalidArgument(path, ": .npy header has no shape");
  shape = shape.substr(1, shape.size() - 2);
  std::vector<uint64_t> dims;
  while (!shape.empty()) {
    while (!shape.empty() && (shape.front() == ' ' || shape.front() == ',')) shape.remove_prefix(1);
    if (shape.empty()) break;
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(shape.data(), shape.data() + shape.size(), v);
    if (ec != std::errc()) return InvalidArgument(path, ": .npy shape is not a list of integers");
    dims.push_back(v);
    shape.remove_prefix(static_cast<size_t>(p - shape.data()));
  }
  if (dims.size() != 2)
    return InvalidArgument(path, ": .npy array of ", dims.size(),
                           " dimensions (a 2-D [n x d] matrix is expected)");
  if (dims[1] > (1u << 30)) return InvalidArgument(path, ": dimension ", dims[1], " too large");
  RETURN_IF_ERROR(CheckDim(path, static_cast<int>(dims[1]), o));
  VectorSet v;
  v.n = dims[0];
  v.dim = static_cast<int>(dims[1]);
  const size_t data_at = header_at + header_len;
  const unsigned __int128 need = static_cast<unsigned __int128>(v.n) * v.dim * 4;
  const size_t have = bytes.size() - data_at;
  if (need > have)
    return DataLoss(path, ": truncated: its header promises ", v.n, " x ", v.dim,
                    " float32 values (", static_cast<uint64_t>(need), " B) but ", have,
                    " B follow");
  if (need < have)
    return DataLoss(path, ": ", have - static_cast<uint64_t>(need), " B after the last of its ",
                    v.n, " x ", v.dim, " values");
  v.values.resize(v.n * v.dim);
  if (!v.values.empty()) std::memcpy(v.values.data(), bytes.data() + data_at, need);
  return v;
}

StatusOr<VectorSet> ReadFvecs(const std::string& path, const std::string& bytes,
                              const ReadOptions& o) {
  if (bytes.size() < 4) return DataLoss(path, ": truncated .fvecs (no dimension)");
  int32_t d;
  std::memcpy(&d, bytes.data(), 4);
  RETURN_IF_ERROR(CheckDim(path, d, o));
  const uint64_t record = 4 * (static_cast<uint64_t>(d) + 1);
  VectorSet v;
  v.dim = d;
  v.n = bytes.size() / record;
  if (bytes.size() % record != 0)
    return DataLoss(path, ": truncated: vector ", v.n, " has ", bytes.size() % record, " of its ",
                    record, " B (dimension ", d, ")");
  v.values.resize(v.n * d);
  for (uint64_t i = 0; i < v.n; ++i) {
    int32_t di;
    std::memcpy(&di, bytes.data() + i * record, 4);
    if (di != d)
      return InvalidArgument(path, ": vector ", i, " has dimension ", di, ", vector 0 has ", d);
    std::memcpy(v.values.data() + i * d, bytes.data() + i * record + 4, 4 * d);
  }
  return v;
}

bool IsInteger(std::string_view field) {
  if (field.empty()) return false;
  size_t i = field[0] == '-' || field[0] == '+';
  if (i == field.size()) return false;
  for (; i < field.size(); ++i)
    if (field[i] < '0' || field[i] > '9') return false;
  return true;
}

StatusOr<VectorSet> ReadTsv(const std::string& path, const std::string& bytes,
                            const ReadOptions& o) {
  VectorSet v;
  v.dim = o.dim;
  std::vector<std::string_view> fields;
  std::string_view rest(bytes);
  uint64_t line_no = 0;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    if (line.empty()) {
      if (rest.find_first_not_of("\r\n \t") == std::string_view::npos) break;  // trailing
      return InvalidArgument(path, ":", line_no, ": empty line");
    }
    fields.clear();
    for (size_t at = 0;;) {
      const size_t tab = line.find('\t', at);
      fields.push_back(line.substr(at, tab == std::string_view::npos ? line.npos : tab - at));
      if (tab == std::string_view::npos) break;
      at = tab + 1;
    }
    if (v.dim == 0) v.dim = static_cast<int>(fields.size());
    size_t take = fields.size();
    if (take == static_cast<size_t>(v.dim) + 1 && IsInteger(fields.back())) {
      take = v.dim;  // the object id (sift5k's 129th column), not a component
    } else if (take != static_cast<size_t>(v.dim)) {
      return InvalidArgument(path, ":", line_no, ": ", fields.size(), " fields, expected ", v.dim,
                             " (the dimension", o.dim > 0 ? "" : " of line 1",
                             ", optionally followed by an integer id)");
    }
    for (size_t j = 0; j < take; ++j) {
      std::string_view f = fields[j];
      while (!f.empty() && f.front() == ' ') f.remove_prefix(1);
      if (!f.empty() && f.front() == '+') f.remove_prefix(1);
      float x = 0;
      auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), x);
      if (f.empty() || ec != std::errc() || p != f.data() + f.size())
        return InvalidArgument(path, ":", line_no, ": field ", j + 1, " '", std::string(fields[j]),
                               "' is not a number");
      if (!std::isfinite(x))
        return InvalidArgument(path, ":", line_no, ": field ", j + 1, " is ",
                               std::string(fields[j]), " (every value must be a finite number)");
      v.values.push_back(x);
    }
    ++v.n;
  }
  if (v.n == 0) return InvalidArgument(path, ": no vectors");
  return v;
}

}  // namespace

StatusOr<VectorSet> ReadVectors(const std::string& path, const ReadOptions& options) {
  if (!FileExists(path)) return NotFound(path, ": no such file");
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  StatusOr<VectorSet> v = InvalidArgument(path, ": unknown vector format (.npy, .fvecs, .tsv)");
  if (EndsWith(path, ".npy")) {
    v = ReadNpy(path, bytes, options);
  } else if (EndsWith(path, ".fvecs")) {
    v = ReadFvecs(path, bytes, options);
  } else if (EndsWith(path, ".tsv") || EndsWith(path, ".txt")) {
    v = ReadTsv(path, bytes, options);
  }
  if (!v.ok()) return v.status();
  if (v->n == 0) return InvalidArgument(path, ": no vectors");
  RETURN_IF_ERROR(CheckFinite(path, *v));
  return v;
}

Status WriteVectors(const std::string& path, const VectorSet& v) {
  if (v.values.size() != v.n * static_cast<uint64_t>(v.dim))
    return InvalidArgument(path, ": ", v.values.size(), " values for ", v.n, " x ", v.dim);
  std::string out;
  if (EndsWith(path, ".npy")) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                         std::to_string(v.n) + ", " + std::to_string(v.dim) + "), }";
    // Format 1.0 pads the header with spaces to a multiple of 64 bytes,
    // ending in a newline, so the data is aligned.
    while ((10 + header.size() + 1) % 64 != 0) header += ' ';
    header += '\n';
    out.append(kNpyMagic, 6);
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
    out += header;
    out.append(reinterpret_cast<const char*>(v.values.data()), v.values.size() * 4);
  } else if (EndsWith(path, ".fvecs")) {
    const int32_t d = v.dim;
    for (uint64_t i = 0; i < v.n; ++i) {
      out.append(reinterpret_cast<const char*>(&d), 4);
      out.append(reinterpret_cast<const char*>(v.row(i)), 4 * static_cast<size_t>(d));
    }
  } else {
    return InvalidArgument(path, ": vectors are written as .npy or .fvecs");
  }
  return AtomicWriteFile(path, out);
}

}  // namespace ecps::vectors
