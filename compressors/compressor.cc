#include "compressors/compressor.h"

#include <algorithm>
#include <deque>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_join.h"
#include "common/mutex.h"
#include "compressors/registry.h"

namespace ecps {

size_t DTypeBits(DType t) {
  switch (t) {
    case DType::kF32:
      return 32;
    case DType::kF16:
      return 16;
    case DType::kI8:
      return 8;
    case DType::kI16:
      return 16;
    case DType::kU8:
      return 8;
    case DType::kU16:
      return 16;
    case DType::kI32:
      return 32;
    case DType::kU4:
      return 4;
  }
  return 0;
}

const char* DTypeName(DType t) {
  switch (t) {
    case DType::kF32:
      return "f32";
    case DType::kF16:
      return "f16";
    case DType::kI8:
      return "i8";
    case DType::kI16:
      return "i16";
    case DType::kU8:
      return "u8";
    case DType::kU16:
      return "u16";
    case DType::kI32:
      return "i32";
    case DType::kU4:
      return "u4";
  }
  return "?";
}

uint64_t FeatureSpace::max_cardinality() const {
  uint64_t m = 0;
  for (uint64_t c : cardinalities) m = std::max(m, c);
  return m;
}

namespace {

// Methods added by tests (RegisterTestOnlyCompressor); a deque keeps the
// pointers FindCompressor returned valid.
struct TestOnlyMethods {
  Mutex mu;
  std::deque<CompressorInfo> methods ABSL_GUARDED_BY(mu);
};
TestOnlyMethods& TestOnly() {
  static TestOnlyMethods* const kMethods = new TestOnlyMethods;
  return *kMethods;
}

}  // namespace

const CompressorInfo* FindCompressor(const std::string& name) {
  for (const CompressorInfo& info : CompressorRegistry()) {
    if (info.name == name) return &info;
  }
  TestOnlyMethods& t = TestOnly();
  MutexLock l(&t.mu);
  for (const CompressorInfo& info : t.methods)
    if (info.name == name) return &info;
  return nullptr;
}

Status RegisterTestOnlyCompressor(CompressorInfo info) {
  if (FindCompressor(info.name) != nullptr)
    return FailedPrecondition("method '", info.name, "' is registered already");
  TestOnlyMethods& t = TestOnly();
  MutexLock l(&t.mu);
  t.methods.push_back(std::move(info));
  return OkStatus();
}

StatusOr<std::unique_ptr<Compressor>> CreateCompressor(const std::string& name) {
  const CompressorInfo* info = FindCompressor(name);
  if (info == nullptr) {
    std::vector<std::string> names;
    for (const CompressorInfo& i : CompressorRegistry()) names.push_back(i.name);
    return InvalidArgument("unknown compression method '", name,
                           "'; registered: ", absl::StrJoin(names, ", "));
  }
  return info->create();
}

}  // namespace ecps
