// ps/wire.h's table specs: the bounded decoder reads exactly the bytes cereal
// wrote before (specs are kept in sharded checkpoints), and a small payload
// announcing a huge spec count or name is rejected before allocating.
#include "ps/wire.h"

#include <gtest/gtest.h>

#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <sstream>

namespace ecps {

// The cereal serialisation ps/wire.h used until the bounded decoder: the
// reference layout of the specs in existing checkpoints.
template <class Archive>
void serialize(Archive& ar, RowTableSpec& s) {
  ar(s.name, s.rows, s.width, s.dtype, s.quant, s.rounding, s.scale, s.zero, s.trainable,
     s.init_bound, s.init, s.init_value, s.scale_dtype, s.learn_scale, s.scale_lr);
}

namespace ps::internal {
namespace {

std::vector<RowTableSpec> SampleSpecs() {
  RowTableSpec a;
  a.name = "E";
  a.rows = 123456789012ull;
  a.width = 16;
  a.dtype = DType::kI8;
  a.quant = QuantScheme::kPerRow;
  a.rounding = Rounding::kStochasticPerRow;
  a.scale = 0.25;
  a.zero = -1.5;
  a.trainable = false;
  a.init_bound = 0.01;
  a.init = RowInit::kConstant;
  a.init_value = 3.0;
  a.scale_dtype = DType::kF16;
  a.learn_scale = true;
  a.scale_lr = 1e-4;
  RowTableSpec b;
  b.name = "core1";
  b.rows = 7;
  b.width = 3;
  return {a, b};
}

std::string CerealBytes(std::vector<RowTableSpec> specs) {
  std::ostringstream os;
  {
    cereal::PortableBinaryOutputArchive ar(os);
    ar(specs);
  }
  return os.str();
}

TEST(WireSpecsTest, EncodingIsTheCerealLayoutOfExistingCheckpoints) {
  EXPECT_EQ(EncodeSpecs(SampleSpecs()), CerealBytes(SampleSpecs()));
  auto d = DecodeSpecs(CerealBytes(SampleSpecs()));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(*d, SampleSpecs());
  RowTableSpec empty_name;
  empty_name.width = 1;
  EXPECT_EQ(EncodeSpecs({empty_name}).size(), 1 + 8 + kMinSpecBytes);
}

TEST(WireSpecsTest, TruncatedSpecsRejectedAtEveryLength) {
  const std::string bytes = EncodeSpecs(SampleSpecs());
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(DecodeSpecs(bytes.substr(0, n)).ok()) << "length " << n;
}

TEST(WireSpecsTest, HugeCountsInASmallPayloadAreRejected) {
  comm::WireWriter w;
  w.Int<uint64_t>(uint64_t{1} << 40);  // specs
  w.Str(std::string(100, 'x'));
  auto d = DecodeSpecs(w.Finish());
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("'specs'"), std::string::npos) << d.status();

  comm::WireWriter n;
  n.Int<uint64_t>(1);
  n.Int<uint64_t>(uint64_t{1} << 30);  // the name's length
  std::string bytes = n.Finish();
  bytes.append(200, 'y');
  auto e = DecodeSpecs(bytes);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("'name'"), std::string::npos) << e.status();
}

}  // namespace
}  // namespace ps::internal
}  // namespace ecps
