#include "common/params.h"

#include <gtest/gtest.h>

namespace ecps {
namespace {

ParamSchema TestSchema() {
  ParamSchema s;
  s.Int("train.batch_size", 128, 1, 1 << 20, "samples per step")
      .Float("optimizer.lr", 0.001, 0, 10, "learning rate")
      .Bool("train.shuffle", true, "shuffle")
      .String("model.name", "dlrm", "model", {"dlrm", "wdl", "dcn"});
  return s;
}

TEST(ParamsTest, DefaultsAndOverrides) {
  ParamSchema schema = TestSchema();
  ParamSet p(&schema);
  EXPECT_EQ(p.GetInt("train.batch_size"), 128);
  ASSERT_TRUE(p.ApplyOverrides({"train.batch_size=4096", "model.name=dcn"}).ok());
  EXPECT_EQ(p.GetInt("train.batch_size"), 4096);
  EXPECT_EQ(p.GetString("model.name"), "dcn");
  EXPECT_DOUBLE_EQ(p.GetFloat("optimizer.lr"), 0.001);
  EXPECT_TRUE(p.GetBool("train.shuffle"));
}

TEST(ParamsTest, ErrorsNameTheKey) {
  ParamSchema schema = TestSchema();
  ParamSet p(&schema);
  Status s = p.Set("train.batch_size", "abc");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("train.batch_size"), std::string::npos);
  s = p.Set("train.batch_size", "0");
  EXPECT_NE(s.message().find("[1,"), std::string::npos) << s;
  s = p.Set("model.name", "xgb");
  EXPECT_NE(s.message().find("dlrm"), std::string::npos) << s;
  s = p.Set("train.batch", "3");
  EXPECT_NE(s.message().find("unknown config key 'train.batch'"), std::string::npos) << s;
  EXPECT_NE(s.message().find("train.batch_size"), std::string::npos) << s;
  EXPECT_FALSE(p.ApplyOverrides({"novalue"}).ok());
}

TEST(ParamsTest, FlattenYamlAndRoundTrip) {
  auto flat = FlattenYaml("train:\n  batch_size: 64\nmodel:\n  name: wdl\n", "x.yaml");
  ASSERT_TRUE(flat.ok()) << flat.status();
  EXPECT_EQ(flat->at("train.batch_size"), "64");
  EXPECT_EQ(flat->at("model.name"), "wdl");
  ParamSchema schema = TestSchema();
  ParamSet p(&schema);
  for (auto& [k, v] : *flat) ASSERT_TRUE(p.Set(k, v).ok());
  auto again = FlattenYaml(p.ToYaml(), "round");
  ASSERT_TRUE(again.ok());
  ParamSet q(&schema);
  for (auto& [k, v] : *again) ASSERT_TRUE(q.Set(k, v).ok());
  for (const auto& spec : schema.specs()) EXPECT_EQ(p.GetString(spec.key), q.GetString(spec.key));
}

TEST(ParamsTest, YamlSyntaxErrorNamesFileAndLine) {
  auto flat = FlattenYaml("a: 1\nb: [1,\n", "bad.yaml");
  ASSERT_FALSE(flat.ok());
  EXPECT_NE(flat.status().message().find("bad.yaml:"), std::string::npos) << flat.status();
  auto seq = FlattenYaml("a:\n  - 1\n  - 2\n", "seq.yaml");
  ASSERT_FALSE(seq.ok());
  EXPECT_NE(seq.status().message().find("'a'"), std::string::npos);
}

}  // namespace
}  // namespace ecps
