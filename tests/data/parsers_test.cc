#include <cmath>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "worker/data/avazu_parser.h"
#include "worker/data/criteo_parser.h"
#include "worker/data/libsvm_parser.h"
#include "worker/data/row_parser.h"

namespace ecps {
namespace {

// A Criteo line: label, I1..I13, C1..C26, tab-separated.
std::string CriteoLine(const std::string& label, std::vector<std::string> ints,
                       std::vector<std::string> cats) {
  ints.resize(13);
  cats.resize(26);
  std::string s = label;
  for (auto& v : ints) s += "\t" + v;
  for (auto& v : cats) s += "\t" + v;
  return s;
}

TEST(CriteoParserTest, ParsesValuesEmptyCellsAndNegatives) {
  CriteoParser p;
  ParsedRow row;
  ParseError err;
  std::vector<std::string> ints = {"0", "-3", "", "5", "1"};
  std::vector<std::string> cats = {"68fd1e64", "", "0000000a", "FFFFFFFF"};
  ASSERT_TRUE(p.Parse(CriteoLine("1", ints, cats), &row, &err)) << err.what;
  EXPECT_EQ(row.label, 1.0f);
  ASSERT_EQ(row.dense.size(), 13u);
  EXPECT_EQ(row.dense[0], 0.0f);  // 0 -> 0
  EXPECT_EQ(row.dense[1], 0.0f);  // negative -> 0
  EXPECT_EQ(row.dense[2], 0.0f);  // empty -> 0
  EXPECT_FLOAT_EQ(row.dense[3], static_cast<float>(std::log(6.0)));
  EXPECT_FLOAT_EQ(row.dense[4], static_cast<float>(std::log(2.0)));
  ASSERT_EQ(row.keys.size(), 26u);
  EXPECT_FALSE(row.missing[0]);
  EXPECT_EQ(row.keys[0], 0x68fd1e64u);
  EXPECT_TRUE(row.missing[1]);
  EXPECT_EQ(row.keys[2], 0xau);
  EXPECT_EQ(row.keys[3], 0xffffffffu);
  EXPECT_TRUE(row.missing[25]);
  EXPECT_EQ(p.field_names()[0], "C1");
}

struct BadCriteo {
  std::string line;
  MalformedKind kind;
  std::string reason_part;
};

class CriteoMalformedTest : public ::testing::TestWithParam<BadCriteo> {};

TEST_P(CriteoMalformedTest, ReportsKindAndReason) {
  CriteoParser p;
  ParsedRow row;
  ParseError err;
  EXPECT_FALSE(p.Parse(GetParam().line, &row, &err));
  EXPECT_EQ(err.kind, GetParam().kind) << MalformedKindName(err.kind) << ": " << err.what;
  EXPECT_NE(err.what.find(GetParam().reason_part), std::string::npos) << err.what;
}

INSTANTIATE_TEST_SUITE_P(
    AllKinds, CriteoMalformedTest,
    ::testing::Values(
        BadCriteo{"", MalformedKind::kWrongColumnCount, "got 1"},
        BadCriteo{"1\t2\t3", MalformedKind::kWrongColumnCount, "got 3"},
        BadCriteo{CriteoLine("1", {}, {}) + "\textra", MalformedKind::kWrongColumnCount, "got 41"},
        // A column-count error wins over a bad cell on the same line.
        BadCriteo{"x\t2\t3", MalformedKind::kWrongColumnCount, "expected 40"},
        BadCriteo{CriteoLine("2", {}, {}), MalformedKind::kBadLabel, "'2'"},
        BadCriteo{CriteoLine("", {}, {}), MalformedKind::kBadLabel, "label"},
        BadCriteo{CriteoLine("1.0", {}, {}), MalformedKind::kBadLabel, "'1.0'"},
        BadCriteo{CriteoLine("1", {"1", "abc"}, {}), MalformedKind::kBadInteger, "(I2)"},
        BadCriteo{CriteoLine("0", {"1.5"}, {}), MalformedKind::kBadInteger, "'1.5'"},
        BadCriteo{CriteoLine("0", {"-"}, {}), MalformedKind::kBadInteger, "(I1)"},
        BadCriteo{CriteoLine("0", {"12345678901234567890"}, {}), MalformedKind::kBadInteger, "I1"},
        BadCriteo{CriteoLine("0", {}, {"zz"}), MalformedKind::kBadHex, "(C1)"},
        BadCriteo{CriteoLine("0", {}, {"", "", "12345678901234567"}), MalformedKind::kBadHex,
                  "(C3)"},
        BadCriteo{CriteoLine("0", {}, {"ab cd"}), MalformedKind::kBadHex, "'ab cd'"}));

TEST(AvazuParserTest, HeaderNamesFieldsAndDataParses) {
  AvazuParser p;
  std::string header =
      "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
      "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,"
      "C16,C17,C18,C19,C20,C21";
  EXPECT_TRUE(p.ConsumeHeader(header));
  EXPECT_EQ(p.field_names().size(), 22u);
  EXPECT_EQ(p.field_names()[0], "hour");
  EXPECT_EQ(p.field_names()[21], "C21");
  ParsedRow row;
  ParseError err;
  std::string line =
      "1000009418151094273,0,14102100,1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,"
      "07d7df22,a99f214a,ddd2926e,44956a24,1,2,15706,320,50,1722,0,35,,79";
  EXPECT_FALSE(p.ConsumeHeader(line));
  ASSERT_TRUE(p.Parse(line, &row, &err)) << err.what;
  EXPECT_EQ(row.label, 0.0f);
  EXPECT_EQ(p.last_hour(), "14102100");
  EXPECT_EQ(row.keys[0], data_internal::HashText("14102100"));
  EXPECT_EQ(row.keys[3], data_internal::HashText("1fbe01fe"));
  EXPECT_TRUE(row.missing[20]);  // C20 empty
  EXPECT_FALSE(row.missing[21]);
  EXPECT_TRUE(row.dense.empty());
}

TEST(AvazuParserTest, MalformedKinds) {
  AvazuParser p;
  ParsedRow row;
  ParseError err;
  EXPECT_FALSE(p.Parse("1,0,14102100", &row, &err));
  EXPECT_EQ(err.kind, MalformedKind::kWrongColumnCount);
  EXPECT_NE(err.what.find("got 3"), std::string::npos);
  std::string bad_label = "1,yes,14102100" + std::string(21, ',');
  EXPECT_FALSE(p.Parse(bad_label, &row, &err));
  EXPECT_EQ(err.kind, MalformedKind::kBadLabel);
  EXPECT_NE(err.what.find("'yes'"), std::string::npos);
}

TEST(LibffmParserTest, ParsesFieldsAndGrowsFieldCount) {
  LibsvmParser p("libffm");
  ParsedRow row;
  ParseError err;
  ASSERT_TRUE(p.Parse("1 0:17:1 2:5:1.0", &row, &err)) << err.what;
  EXPECT_EQ(p.num_fields(), 3);
  EXPECT_EQ(row.label, 1.0f);
  EXPECT_EQ(row.keys[0], 17u);
  EXPECT_TRUE(row.missing[1]);
  EXPECT_EQ(row.keys[2], 5u);
  ASSERT_TRUE(p.Parse("-1\t4:9:1  ", &row, &err)) << err.what;
  EXPECT_EQ(row.label, 0.0f);
  EXPECT_EQ(p.num_fields(), 5);
  EXPECT_TRUE(row.missing[0]);
  EXPECT_EQ(row.keys[4], 9u);
  ASSERT_TRUE(p.Parse("+1", &row, &err));  // no features: every field missing
  EXPECT_EQ(row.label, 1.0f);
  EXPECT_EQ(p.field_names()[4], "f4");
}

TEST(LibffmParserTest, MalformedKinds) {
  struct Case {
    std::string line;
    MalformedKind kind;
    std::string part;
  };
  std::vector<Case> cases = {
      {"", MalformedKind::kWrongColumnCount, "empty"},
      {"   ", MalformedKind::kWrongColumnCount, "empty"},
      {"2 0:1:1", MalformedKind::kBadLabel, "'2'"},
      {"yes 0:1:1", MalformedKind::kBadLabel, "'yes'"},
      {"1 3:1", MalformedKind::kBadLibsvmToken, "field:feature:value (libffm)"},
      {"1 0:1:1:1", MalformedKind::kBadLibsvmToken, "field:feature:value"},
      {"1 a:1:1", MalformedKind::kBadLibsvmToken, "field must be"},
      {"1 5000:1:1", MalformedKind::kBadLibsvmToken, "field must be"},
      {"1 0:x:1", MalformedKind::kBadLibsvmToken, "feature must be"},
      {"1 0:-4:1", MalformedKind::kBadLibsvmToken, "feature must be"},
      {"1 0:1:abc", MalformedKind::kBadLibsvmToken, "value must be"},
      {"1 0:1:inf", MalformedKind::kBadLibsvmToken, "value must be"},
      {"1 0:1:1 0:2:1", MalformedKind::kBadLibsvmToken, "appears twice"},
  };
  for (const Case& c : cases) {
    LibsvmParser p("libffm");
    ParsedRow row;
    ParseError err;
    EXPECT_FALSE(p.Parse(c.line, &row, &err)) << c.line;
    EXPECT_FALSE(err.unsupported) << c.line;
    EXPECT_EQ(err.kind, c.kind) << c.line << " -> " << err.what;
    EXPECT_NE(err.what.find(c.part), std::string::npos) << c.line << " -> " << err.what;
    EXPECT_EQ(p.num_fields(), 0) << "a malformed line must not change the schema: " << c.line;
  }
}

TEST(LibsvmParserTest, FieldIsThePositionOnTheLine) {
  for (const char* format : {"libsvm", "libfm"}) {
    LibsvmParser p(format);
    ParsedRow row;
    ParseError err;
    ASSERT_TRUE(p.Parse("+1 3:1 943:1.0", &row, &err)) << err.what;
    EXPECT_EQ(p.num_fields(), 2);
    EXPECT_EQ(row.label, 1.0f);
    EXPECT_EQ(row.keys[0], 3u);
    EXPECT_EQ(row.keys[1], 943u);
    ASSERT_TRUE(p.Parse("-1\t7:1 7:1 12:1", &row, &err)) << err.what;  // a feature twice is fine
    EXPECT_EQ(p.num_fields(), 3);
    EXPECT_EQ(row.label, 0.0f);
    EXPECT_EQ(row.keys[1], 7u);
    EXPECT_EQ(row.keys[2], 12u);
    ASSERT_TRUE(p.Parse("0 5:1", &row, &err));  // shorter line: later fields missing
    EXPECT_FALSE(row.missing[0]);
    EXPECT_TRUE(row.missing[1]);
    EXPECT_TRUE(row.missing[2]);
    EXPECT_EQ(p.format(), format);
  }
}

TEST(LibsvmParserTest, LibffmTokensUnderLibsvmAreUnsupportedNotReinterpreted) {
  LibsvmParser ffm_as_svm("libsvm");
  ParsedRow row;
  ParseError err;
  EXPECT_FALSE(ffm_as_svm.Parse("1 0:3:1", &row, &err));
  EXPECT_TRUE(err.unsupported);
  EXPECT_NE(err.what.find("data.format=libffm"), std::string::npos) << err.what;
}

// Issue 13: a feature's value is kept (it scales the field's vector later),
// a missing field's is 1; before, values other than 1 were refused.
TEST(LibsvmParserTest, FeatureValuesAreKept) {
  {
    LibsvmParser p("libfm");
    ParsedRow row;
    ParseError err;
    ASSERT_TRUE(p.Parse("1 3:0.5 4:2", &row, &err)) << err.what;
    EXPECT_EQ(row.values, (std::vector<float>{0.5f, 2.0f}));
    ASSERT_TRUE(p.Parse("0 3:-1.25", &row, &err)) << err.what;  // a shorter line
    EXPECT_EQ(row.values, (std::vector<float>{-1.25f, 1.0f}));
    EXPECT_TRUE(row.missing[1]);
    ASSERT_TRUE(p.Parse("0 3:0", &row, &err)) << err.what;
    EXPECT_EQ(row.values[0], 0.0f);
  }
  LibsvmParser p("libffm");
  ParsedRow row;
  ParseError err;
  ASSERT_TRUE(p.Parse("1 2:7:0.25 0:3:1", &row, &err)) << err.what;
  EXPECT_EQ(row.values, (std::vector<float>{1.0f, 1.0f, 0.25f}));  // field 1 missing
  // A value beyond float's range would turn the vector into inf.
  EXPECT_FALSE(p.Parse("1 0:3:1e300", &row, &err));
  EXPECT_EQ(err.kind, MalformedKind::kBadLibsvmToken);
  EXPECT_FALSE(err.unsupported);
}

TEST(LibsvmParserTest, MalformedTokensAreSkippable) {
  // Plain malformed tokens stay malformed (skippable).
  LibsvmParser p("libsvm");
  ParsedRow row;
  ParseError err;
  for (const char* line : {"1 3", "1 x:1", "1 3:abc", "1 -3:1", "2 3:1"}) {
    EXPECT_FALSE(p.Parse(line, &row, &err)) << line;
    EXPECT_FALSE(err.unsupported) << line;
  }
}

TEST(RowParserTest, FactoryAndHelpers) {
  EXPECT_TRUE(NewRowParser("criteo").ok());
  EXPECT_TRUE(NewRowParser("avazu").ok());
  for (const char* f : {"libsvm", "libfm", "libffm"}) {
    auto p = NewRowParser(f);
    ASSERT_TRUE(p.ok()) << f;
    EXPECT_EQ((*p)->format(), f);
  }
  auto bad = NewRowParser("parquet");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("criteo, avazu, libsvm, libfm, libffm"), std::string::npos);
  int64_t v = 0;
  EXPECT_TRUE(data_internal::ParseInt64("-42", &v));
  EXPECT_EQ(v, -42);
  EXPECT_FALSE(data_internal::ParseInt64("", &v));
  EXPECT_FALSE(data_internal::ParseInt64("4x", &v));
  uint64_t h = 0;
  EXPECT_TRUE(data_internal::ParseHex64("aBc", &h));
  EXPECT_EQ(h, 0xabcu);
  EXPECT_FALSE(data_internal::ParseHex64("g", &h));
  EXPECT_EQ(data_internal::LogTransform(0), 0.0f);
  EXPECT_EQ(data_internal::LogTransform(-5), 0.0f);
  EXPECT_FLOAT_EQ(data_internal::LogTransform(9), static_cast<float>(std::log(10.0)));
}

}  // namespace
}  // namespace ecps
