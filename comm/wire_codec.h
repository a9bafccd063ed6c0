// The one encoder/decoder of ecps' structured wire bytes: message headers
// (comm/message.cc) and parameter-server table specs (ps/wire.h, also kept in
// sharded checkpoints). The layout is cereal's portable binary, byte for byte,
// as these bytes were written before (so existing checkpoints stay readable):
// a 1-byte endianness tag (1 = little-endian, what WireWriter writes),
// then every integer, enum, bool (1 byte) and double in that byte order,
// strings and vectors as a uint64 count followed by their elements.
//
// Why not cereal itself: cereal resizes a string or vector to the count the
// bytes announce before reading them, so a 65-byte frame announcing a 1 GiB
// string zero-filled 1 GiB (issue 14). WireReader checks every count against
// the bytes that are left and against a caller's maximum before it
// allocates anything, and every error names the field.
//
// Thread-safety: none; one writer/reader per byte string.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "common/status.h"

namespace ecps::comm {
namespace wire_internal {
template <typename T, bool = std::is_enum_v<T>>
struct Unsigned {
  using type = std::make_unsigned_t<T>;
};
template <typename T>
struct Unsigned<T, true> {
  using type = std::make_unsigned_t<std::underlying_type_t<T>>;
};
}  // namespace wire_internal
// The unsigned type of an integer's or an enum's bytes.
template <typename T>
using UnsignedOf = typename wire_internal::Unsigned<T>::type;

class WireWriter {
 public:
  WireWriter() { out_.push_back('\x01'); }  // the little-endian tag

  // Integers and enums, little-endian.
  template <typename T>
  void Int(T v) {
    static_assert(std::is_integral_v<T> || std::is_enum_v<T>);
    using U = UnsignedOf<T>;
    U u = static_cast<U>(v);
    for (size_t i = 0; i < sizeof(U); ++i) out_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
  }
  void Bool(bool b) { out_.push_back(b ? '\x01' : '\x00'); }
  void Double(double d) { Int(std::bit_cast<uint64_t>(d)); }
  void Str(std::string_view s) {
    Int<uint64_t>(s.size());
    out_.append(s.data(), s.size());
  }
  void U64s(std::span<const uint64_t> v) {
    Int<uint64_t>(v.size());
    for (uint64_t x : v) Int(x);
  }
  std::string Finish() { return std::move(out_); }

 private:
  std::string out_;
};

class WireReader {
 public:
  // `what` names the bytes in every error ("message header", "table specs").
  WireReader(std::string_view bytes, std::string_view what) : in_(bytes), what_(what) {}

  // Reads the endianness tag. REQUIRES: first call.
  Status Start() {
    if (in_.empty()) return Corrupt("empty");
    const uint8_t tag = static_cast<uint8_t>(in_[0]);
    if (tag > 1) return Corrupt("endianness tag ", static_cast<int>(tag), " (expected 0 or 1)");
    little_ = tag == 1;
    in_.remove_prefix(1);
    return OkStatus();
  }

  template <typename T>
  Status Int(T* v, const char* field) {
    static_assert(std::is_integral_v<T> || std::is_enum_v<T>);
    using U = UnsignedOf<T>;
    if (in_.size() < sizeof(U))
      return Corrupt("field '", field, "' needs ", sizeof(U), " bytes, ", in_.size(), " left");
    U u = 0;
    for (size_t i = 0; i < sizeof(U); ++i) {
      const size_t at = little_ ? i : sizeof(U) - 1 - i;
      u |= static_cast<U>(static_cast<U>(static_cast<uint8_t>(in_[at])) << (8 * i));
    }
    in_.remove_prefix(sizeof(U));
    *v = static_cast<T>(u);
    return OkStatus();
  }
  Status Bool(bool* b, const char* field) {
    uint8_t x = 0;
    RETURN_IF_ERROR(Int(&x, field));
    if (x > 1) return Corrupt("field '", field, "' is ", static_cast<int>(x), ", not a bool");
    *b = x == 1;
    return OkStatus();
  }
  Status Double(double* d, const char* field) {
    uint64_t u = 0;
    RETURN_IF_ERROR(Int(&u, field));
    *d = std::bit_cast<double>(u);
    return OkStatus();
  }
  // A string of at most `max_bytes`, checked before anything is allocated.
  Status Str(std::string* s, uint64_t max_bytes, const char* field) {
    uint64_t n = 0;
    RETURN_IF_ERROR(Count(&n, 1, max_bytes, field));
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return OkStatus();
  }
  // A uint64 vector of at most `max_count` elements.
  Status U64s(std::vector<uint64_t>* v, uint64_t max_count, const char* field) {
    uint64_t n = 0;
    RETURN_IF_ERROR(Count(&n, 8, max_count, field));
    v->resize(n);
    for (uint64_t& x : *v) RETURN_IF_ERROR(Int(&x, field));
    return OkStatus();
  }
  // A count of elements of `elem_bytes` each (at least 1 byte on the wire
  // per element), at most `max_count`: for callers reading vectors of
  // records themselves.
  Status Count(uint64_t* n, uint64_t elem_bytes, uint64_t max_count, const char* field) {
    RETURN_IF_ERROR(Int(n, field));
    if (*n > max_count)
      return Corrupt("field '", field, "' announces ", *n, " elements, more than the limit of ",
                     max_count);
    if (*n > in_.size() / elem_bytes)
      return Corrupt("field '", field, "' announces ", *n, " elements of ", elem_bytes,
                     " bytes, only ", in_.size(), " bytes left");
    return OkStatus();
  }
  size_t remaining() const { return in_.size(); }
  // Every byte consumed.
  Status Finish() {
    if (!in_.empty()) return Corrupt(in_.size(), " trailing bytes");
    return OkStatus();
  }

 private:
  template <typename... Args>
  Status Corrupt(const Args&... args) {
    return DataLoss(what_, " is truncated or corrupt: ", args...);
  }
  std::string_view in_;
  std::string what_;
  bool little_ = true;
};

}  // namespace ecps::comm
