#include "compressors/registry.h"

#include <gtest/gtest.h>

#include <set>

#include "compressors/compressor.h"

namespace ecps {
namespace {

TEST(CompressorRegistryTest, ListsFull) {
  const std::vector<CompressorInfo>& reg = CompressorRegistry();
  ASSERT_FALSE(reg.empty());
  EXPECT_EQ(reg[0].name, "full");
  EXPECT_EQ(reg[0].family, "baseline");
  const CompressorInfo* info = FindCompressor("full");
  ASSERT_NE(info, nullptr);
  ASSERT_EQ(info->schema.specs().size(), 1u);
  EXPECT_EQ(info->schema.specs()[0].key, "init");
  auto c = CreateCompressor("full");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->Name(), "full");
  EXPECT_EQ(FindCompressor("nope"), nullptr);
}

TEST(CompressorRegistryTest, UnknownNameListsRegisteredNames) {
  auto c = CreateCompressor("fulll");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string msg(c.status().message());
  EXPECT_NE(msg.find("'fulll'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("registered: full"), std::string::npos) << msg;
}

TEST(CompressorRegistryTest, NamesAreUnique) {
  std::set<std::string> seen;
  for (const CompressorInfo& i : CompressorRegistry()) {
    EXPECT_TRUE(seen.insert(i.name).second) << i.name;
    EXPECT_NE(i.create, nullptr) << i.name;
  }
}

TEST(DTypeTest, BitsAndNames) {
  EXPECT_EQ(DTypeBits(DType::kF32), 32u);
  EXPECT_EQ(DTypeBits(DType::kF16), 16u);
  EXPECT_EQ(DTypeBits(DType::kI8), 8u);
  EXPECT_EQ(DTypeBits(DType::kU16), 16u);
  EXPECT_EQ(DTypeBits(DType::kU4), 4u);
  EXPECT_STREQ(DTypeName(DType::kI32), "i32");
  EXPECT_STREQ(DTypeName(DType::kU4), "u4");
}

TEST(FeatureSpaceTest, TotalAndMaxCardinality) {
  FeatureSpace s;
  EXPECT_EQ(s.total(), 0u);
  EXPECT_EQ(s.max_cardinality(), 0u);
  s.cardinalities = {3, 10, 4};
  s.offsets = {0, 3, 13};
  EXPECT_EQ(s.total(), 17u);
  EXPECT_EQ(s.max_cardinality(), 10u);
}

}  // namespace
}  // namespace ecps
