// Native-endian POD fields appended to / read from a byte string: the small
// hand-written binary formats (trainer checkpoints, evaluation messages)
// that are read back by the same build. Cross-version formats use cereal.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace ecps::bytes {

template <typename T>
void Put(std::string* out, const T& v) {
  static_assert(std::is_trivially_copyable_v<T>);
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

// Reads one T from the front of *in and consumes it; false (nothing consumed)
// when fewer than sizeof(T) bytes are left.
template <typename T>
bool Take(std::string_view* in, T* v) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (in->size() < sizeof(T)) return false;
  std::memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

}  // namespace ecps::bytes
