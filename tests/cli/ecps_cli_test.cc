// The `ecps` command line itself: `ecps --help` lists every verb of the
// dispatch table (tools/commands.h kVerbs), every verb answers its own
// --help, and `ecps train --list-methods --json` describes every method.
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "tests/cli/bench_test_util.h"
#include "tools/commands.h"

namespace ecps::bench::testing {
namespace {

TEST(EcpsCliTest, HelpListsEveryVerbOfTheTableAndEachVerbAnswersHelp) {
  const std::string dir = FreshDir();
  const CliResult help = RunEcps({"--help"}, dir);
  ASSERT_EQ(help.exit_code, 0) << help.err;
  constexpr auto kNames = tools::VerbNames();
  ASSERT_FALSE(kNames.empty());
  for (std::string_view name : kNames) {
    EXPECT_NE(help.out.find("\n  " + std::string(name) + " "), std::string::npos)
        << "ecps --help omits '" << name << "':\n"
        << help.out;
    const CliResult r = RunEcps({std::string(name), "--help"}, dir);
    EXPECT_EQ(r.exit_code, 0) << name << ": " << r.err;
    EXPECT_NE(r.out.find("usage"), std::string::npos) << name << ":\n" << r.out;
  }
  // No arguments: the same list on stderr, exit code 2.
  const CliResult none = RunEcps({}, dir);
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.err, help.out);
}

// The JSON lists the methods of the plain listing in the same (registry)
// order, each with its declared parameters.
TEST(EcpsCliTest, ListMethodsJsonHasEveryMethodInRegistryOrderWithItsParams) {
  const std::string dir = FreshDir();
  const CliResult plain = RunEcps({"train", "--list-methods"}, dir);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(plain.out, '\n', absl::SkipEmpty()))
    names.emplace_back(line.substr(0, line.find(' ')));
  ASSERT_FALSE(names.empty());
  const CliResult r = RunEcps({"train", "--list-methods", "--json"}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), names.size()) << r.out;
  int params = 0, bounded = 0;
  for (size_t i = 0; i < j.size(); ++i) {
    const nlohmann::json& m = j[i];
    EXPECT_EQ(m["name"], names[i]);
    EXPECT_TRUE(m["family"].is_string() && !m["family"].get<std::string>().empty()) << m;
    EXPECT_TRUE(m["description"].is_string()) << m;
    ASSERT_TRUE(m["params"].is_array()) << m;
    for (const nlohmann::json& p : m["params"]) {
      ++params;
      EXPECT_TRUE(p["name"].is_string()) << p;
      EXPECT_TRUE(p["help"].is_string()) << p;
      const std::string type = p["type"].get<std::string>();
      const nlohmann::json& d = p["default"];
      if (type == "int") {
        EXPECT_TRUE(d.is_number_integer()) << p;
      } else if (type == "float") {
        EXPECT_TRUE(d.is_number()) << p;
      } else if (type == "bool") {
        EXPECT_TRUE(d.is_boolean()) << p;
      } else {
        EXPECT_EQ(type, "string") << p;
        EXPECT_TRUE(d.is_string() || d.is_null()) << p;
      }
      if (p.contains("min") || p.contains("max")) {
        ++bounded;
        EXPECT_TRUE(type == "int" || type == "float") << p;
      }
    }
  }
  EXPECT_GT(params, 0);
  EXPECT_GT(bounded, 0);
  // robe's declared chunks (int, default 1, in [1, 1024]).
  for (const nlohmann::json& m : j)
    if (m["name"] == "robe")
      for (const nlohmann::json& p : m["params"])
        if (p["name"] == "chunks") {
          EXPECT_EQ(p["default"], 1);
          EXPECT_EQ(p["min"], 1);
          EXPECT_EQ(p["max"], 1024);
        }
}

}  // namespace
}  // namespace ecps::bench::testing
