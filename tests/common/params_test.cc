#include "common/params.h"

#include <gtest/gtest.h>

#include <cstdint>

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

// Issue 14 item 3: nan passed every floating-point bounds check (it compares
// false), so embedding.budget=nan trained an uncompressed table.
TEST(ParamsTest, NonFiniteFloatsAreRefusedForEveryFloatKey) {
  ParamSchema schema;
  schema.Float("a.bounded", 0.5, 0, 1, "bounded").Float("a.open", 1, -1e300, 1e300, "unbounded");
  ParamSet p(&schema);
  for (const char* key : {"a.bounded", "a.open"}) {
    for (const char* v : {"nan", "NaN", "-nan", "inf", "-inf", "infinity", "1e400"}) {
      Status s = p.Set(key, v);
      ASSERT_FALSE(s.ok()) << key << "=" << v;
      EXPECT_NE(s.message().find(std::string("config key '") + key + "'"), std::string::npos) << s;
      EXPECT_NE(s.message().find("is not a finite number"), std::string::npos) << s;
    }
  }
  EXPECT_TRUE(p.Set("a.open", "-1e299").ok());
  EXPECT_TRUE(p.Set("a.bounded", "1e-3").ok());
}

TEST(ParamsTest, IntegersRefuseOverflowNonFiniteAndOutOfRange) {
  ParamSchema schema;
  schema.Int("n.count", 1, 0, 1LL << 40, "count").Int("n.any", 0, INT64_MIN, INT64_MAX, "any");
  ParamSet p(&schema);
  for (const char* v : {"-5", "-1", "1e300", "nan", "inf", "99999999999999999999", "2.5"})
    EXPECT_FALSE(p.Set("n.count", v).ok()) << v;
  for (const char* v : {"99999999999999999999", "-99999999999999999999", "1e19", "-1e19", "nan"})
    EXPECT_FALSE(p.Set("n.any", v).ok()) << v;
  ASSERT_TRUE(p.Set("n.count", "1e6").ok());
  EXPECT_EQ(p.GetInt("n.count"), 1000000);
  ASSERT_TRUE(p.Set("n.any", "-9223372036854775808").ok());
  EXPECT_EQ(p.GetInt("n.any"), INT64_MIN);
}

// Issue 14 item 5: a complex key aborted ecps train (an exception thrown out
// of the YAML walk); an 861-byte alias bomb grew to 3.7 GB.
TEST(ParamsTest, ComplexKeysAreRefusedWithFileAndLine) {
  for (const char* text :
       {"? [a, b]\n: 1\n", "train:\n  batch_size: 1\n  ? {x: 1}\n  : 2\n", "? \n: 1\n"}) {
    auto flat = FlattenYaml(text, "complex.yaml");
    ASSERT_FALSE(flat.ok()) << text;
    EXPECT_NE(flat.status().message().find("complex.yaml:"), std::string::npos) << flat.status();
    EXPECT_NE(flat.status().message().find("config keys are plain names"), std::string::npos)
        << flat.status();
  }
  auto flat = FlattenYaml("train:\n  batch_size: 1\n  ? [x]\n  : 2\n", "c.yaml");
  ASSERT_FALSE(flat.ok());
  EXPECT_NE(flat.status().message().find("c.yaml:3:"), std::string::npos) << flat.status();
  EXPECT_NE(flat.status().message().find("under 'train'"), std::string::npos) << flat.status();
}

// A key given twice silently kept the last value.
TEST(ParamsTest, KeysGivenTwiceAreRefusedWithBothLines) {
  for (const char* text : {"train:\n  lr: 1\n  lr: 2\n", "train:\n  lr: 1\ntrain.lr: 2\n"}) {
    auto flat = FlattenYaml(text, "twice.yaml");
    ASSERT_FALSE(flat.ok()) << text;
    EXPECT_NE(flat.status().message().find("twice.yaml:3: key 'train.lr' is given twice (first "
                                           "at line 2)"),
              std::string::npos)
        << flat.status();
  }
  EXPECT_TRUE(FlattenYaml("train:\n  lr: 1\nmodel:\n  lr: 1\n", "ok.yaml").ok());
}

TEST(ParamsTest, AliasBombsDeepNestingAndHugeDocumentsAreRefusedWithTheLimit) {
  // 9 levels of 10 aliases each: 10^9 leaves in a few hundred bytes.
  std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " {";
    for (int j = 0; j < 10; ++j)
      bomb += (j ? ", k" : "k") + std::to_string(j) + ": *a" + std::to_string(i - 1);
    bomb += "}\n";
  }
  bomb.replace(0, bomb.find('\n'), "a0: &a0 {x: 1, y: 2}");
  ASSERT_LT(bomb.size(), 1000u);
  auto flat = FlattenYaml(bomb, "bomb.yaml");
  ASSERT_FALSE(flat.ok());
  EXPECT_NE(flat.status().message().find("bomb.yaml:"), std::string::npos) << flat.status();
  EXPECT_NE(flat.status().message().find("more than 100000 YAML nodes"), std::string::npos)
      << flat.status();

  std::string deep;
  for (int i = 0; i < 40; ++i) deep += std::string(2 * i, ' ') + "k" + std::to_string(i) + ":\n";
  deep += std::string(80, ' ') + "leaf: 1\n";
  flat = FlattenYaml(deep, "deep.yaml");
  ASSERT_FALSE(flat.ok());
  EXPECT_NE(flat.status().message().find("nested more than 32 levels"), std::string::npos)
      << flat.status();
  // Deeper than yaml-cpp's own guard: its exception, caught.
  flat = FlattenYaml("a: " + std::string(5000, '[') + std::string(5000, ']') + "\n", "flow.yaml");
  ASSERT_FALSE(flat.ok());
  EXPECT_NE(flat.status().message().find("flow.yaml:"), std::string::npos) << flat.status();

  flat = FlattenYaml("a: '" + std::string(2 << 20, 'x') + "'\n", "huge.yaml");
  ASSERT_FALSE(flat.ok());
  EXPECT_NE(flat.status().message().find("at most 1048576 bytes"), std::string::npos)
      << flat.status();
}

}  // namespace
}  // namespace ecps
