// The `ecps` command line itself: `ecps --help` lists every verb of the
// dispatch table (tools/commands.h kVerbs), and every verb answers its own
// --help.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace ecps::bench::testing
