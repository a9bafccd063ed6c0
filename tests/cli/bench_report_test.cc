// The report of a fixed results file (testdata/results_fixed.json): every
// method appears (not-available ones too), failed and pending runs are
// listed with their errors, the lr is chosen on validation, and the top-3
// marking per column is right.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "absl/strings/str_split.h"
#include "tests/cli/bench_test_util.h"
#include "tools/bench/methods.h"
#include "tools/bench/plots.h"
#include "tools/bench/report.h"
#include "tools/bench/results.h"

namespace ecps::bench {
namespace {

const std::string kFixed = std::string(TESTDATA) + "/results_fixed.json";

// The cells of the main table's row for `method`, in column order.
std::vector<std::string> RowCells(const std::string& md, const std::string& method) {
  for (absl::string_view line : absl::StrSplit(md, '\n')) {
    std::vector<std::string> cells = absl::StrSplit(line, '|');
    if (cells.size() > 4 && absl::StripAsciiWhitespace(cells[2]) == method) {
      std::vector<std::string> out;
      for (size_t i = 3; i + 1 < cells.size(); ++i)
        out.emplace_back(absl::StripAsciiWhitespace(cells[i]));
      return out;
    }
  }
  return {};
}

std::string Markdown() {
  auto results = LoadResults(kFixed);
  EXPECT_TRUE(results.ok()) << results.status();
  return RenderMarkdown(*results, {});
}

TEST(BenchReport, EveryMethodAppearsIncludingNotAvailable) {
  const std::string md = Markdown();
  for (const auto& m : PaperMethods()) {
    auto row = RowCells(md, m.name);
    ASSERT_EQ(row.size(), 2u) << m.name << " missing from the table";
  }
  EXPECT_EQ(RowCells(md, "fp16")[0], "*not available*");
  EXPECT_EQ(RowCells(md, "autosrh")[1], "*not available*");
  ASSERT_EQ(RowCells(md, "myhash").size(), 2u);  // registered, not in the paper
  EXPECT_NE(md.find("| hashing | hash |"), std::string::npos) << "family shown on its first row";
}

TEST(BenchReport, TopThreeMarking) {
  const std::string md = Markdown();
  // 50%: int8 0.795 > compoemb 0.790 (lr 0.01 wins on validation) > hash
  // 0.785 (lr 0.001 wins on validation although lr 0.01 tests higher) > robe.
  EXPECT_EQ(RowCells(md, "int8")[0], "**0.79500**<sup>1</sup>");
  EXPECT_EQ(RowCells(md, "compoemb")[0], "**0.79000**<sup>2</sup>");
  EXPECT_EQ(RowCells(md, "hash")[0], "**0.78500**<sup>3</sup>");
  EXPECT_EQ(RowCells(md, "robe")[0], "0.78000");
  EXPECT_EQ(RowCells(md, "myhash")[0], "0.71000");
  // dedup has the best AUC but misses the budget: real ratio, not ranked.
  EXPECT_EQ(RowCells(md, "dedup")[0], "0.79900 (62%)");
  // The baseline is a reference in every column, never ranked.
  EXPECT_EQ(RowCells(md, "full")[0], "0.81000");
  EXPECT_EQ(RowCells(md, "full")[1], "0.81000");
  // 10%: a tie shares rank 1; the next gets rank 3.
  EXPECT_EQ(RowCells(md, "compoemb")[1], "**0.77500**<sup>1</sup>");
  EXPECT_EQ(RowCells(md, "robe")[1], "**0.77500**<sup>1</sup>");
  EXPECT_EQ(RowCells(md, "hash")[1], "**0.77000**<sup>3</sup>");
  EXPECT_EQ(RowCells(md, "myhash")[1], "0.69000");
  EXPECT_EQ(RowCells(md, "int8")[1], "*failed*");
  EXPECT_EQ(RowCells(md, "dedup")[1], "*pending*");
}

// train.online_eval's windows (copied into a run record as "online"): a
// table of AUC per window, one column per selected run that has them, with
// their mean, and a plot of AUC against the rows seen.
TEST(BenchReport, OnlineWindowsGetATableAndAPlot) {
  auto results = LoadResults(kFixed);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(RenderMarkdown(*results, {}).find("## Online AUC per window"), std::string::npos)
      << "no windows, no section";
  int with_windows = 0;
  for (auto& r : (*results)["runs"]) {
    if (!r.value("selected", false) || with_windows == 2) continue;
    const double base = with_windows == 0 ? 0.6 : 0.7;
    r["online"] = nlohmann::json::array(
        {{{"rows", 1000}, {"end_row", 1000}, {"auc", base}, {"logloss", 0.5}},
         {{"rows", 1000}, {"end_row", 2000}, {"auc", base + 0.1}, {"logloss", 0.4}}});
    ++with_windows;
  }
  ASSERT_EQ(with_windows, 2);
  const std::string md = RenderMarkdown(*results, {});
  const size_t at = md.find("## Online AUC per window");
  ASSERT_NE(at, std::string::npos) << md;
  const std::string section = md.substr(at, md.find("## Plots") - at);
  EXPECT_NE(section.find("| 1000 | 0.6000 | 0.7000 |"), std::string::npos) << section;
  EXPECT_NE(section.find("| 2000 | 0.7000 | 0.8000 |"), std::string::npos) << section;
  EXPECT_NE(section.find("| mean | 0.6500 | 0.7500 |"), std::string::npos) << section;
  if (FindInPath("gnuplot").empty()) GTEST_SKIP() << "gnuplot not installed";
  const std::string dir = testing::FreshDir();
  auto plots = RenderPlots(*results, dir, "");
  ASSERT_TRUE(plots.ok()) << plots.status();
  bool found = false;
  for (const auto& p : *plots) found = found || p.file.rfind("online_auc-", 0) == 0;
  EXPECT_TRUE(found);
}

TEST(BenchReport, FailedRunsListedWithErrors) {
  const std::string md = Markdown();
  auto at = md.find("## Failed runs");
  ASSERT_NE(at, std::string::npos);
  const std::string failures = md.substr(at, md.find("## Methods") - at);
  for (const char* needle :
       {"d1/dlrm/robe/d16-b0.1-lr0.01", "robe diverged (NaN loss)", "d1/dlrm/int8/d16-b0.1-lr0.001",
        "Segmentation fault", "d1/dlrm/int8/d16-b0.1-lr0.01", "below 25%",
        "d1/dlrm/dedup/d16-b0.1-lr0.001", "interrupted",
        "runs/d1/dlrm/robe/d16-b0.1-lr0.01/stderr.log"})
    EXPECT_NE(failures.find(needle), std::string::npos) << needle;
  EXPECT_EQ(failures.find("d1/dlrm/hash/"), std::string::npos) << "ok runs are not failures";
}

TEST(BenchReport, TopThreeRanking) {
  EXPECT_EQ(TopThree({{"a", 0.9}, {"b", 0.8}, {"c", 0.7}, {"d", 0.6}}),
            (std::map<std::string, int>{{"a", 1}, {"b", 2}, {"c", 3}}));
  EXPECT_EQ(TopThree({{"a", 0.9}, {"b", 0.9}, {"c", 0.9}, {"d", 0.9}}).size(), 4u);
  EXPECT_EQ(TopThree({{"a", 0.5}}), (std::map<std::string, int>{{"a", 1}}));
}

TEST(BenchReport, CsvHasEveryRunAndMetric) {
  auto results = LoadResults(kFixed);
  ASSERT_TRUE(results.ok());
  const std::string csv = RenderCsv(*results);
  std::vector<std::string> lines = absl::StrSplit(csv, '\n', absl::SkipEmpty());
  EXPECT_EQ(lines.size(), (*results)["runs"].size() + 1);
  for (const auto& c : MetricColumns()) EXPECT_NE(lines[0].find(c), std::string::npos) << c;
  // The hash run selected on validation is flagged.
  EXPECT_NE(csv.find("d1,dlrm,hash,hashing,0.5,16,0.001,ok,true"), std::string::npos) << csv;
  EXPECT_NE(csv.find("d1,dlrm,hash,hashing,0.5,16,0.01,ok,false"), std::string::npos);
}

TEST(BenchReport, MergeKeepsPaperOrderAndAddsRegistered) {
  auto registered = ParseMethodList(R"([
      {"name": "full", "family": "baseline", "description": "uncompressed", "params": []},
      {"name": "newq", "family": "quantisation", "description": "something new", "params": []},
      {"name": "hash", "family": "hashing", "description": "one mod-hash table", "params": []}])");
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_FALSE(ParseMethodList("full baseline uncompressed\n").ok());
  auto merged = MergeMethods(*registered);
  ASSERT_EQ(merged.size(), PaperMethods().size() + 1);
  EXPECT_EQ(merged[0].name, "full");
  EXPECT_TRUE(merged[0].available);
  auto find = [&](const std::string& n) {
    return *std::find_if(merged.begin(), merged.end(), [&](const auto& m) { return m.name == n; });
  };
  EXPECT_TRUE(find("hash").available);
  EXPECT_FALSE(find("robe").available);
  EXPECT_EQ(find("newq").family, "quantization");
  // newq comes after the paper's quantization methods, before dimension ones.
  auto pos = [&](const std::string& n) {
    return std::find_if(merged.begin(), merged.end(), [&](const auto& m) { return m.name == n; }) -
           merged.begin();
  };
  EXPECT_GT(pos("newq"), pos("mixedprec"));
  EXPECT_LT(pos("newq"), pos("mde"));
}

// `ecps bench report` regenerates every output from a results.json.
TEST(BenchReportCli, RegeneratesOutputs) {
  const std::string dir = testing::FreshDir();
  auto r = testing::RunEcps({"bench", "report", "--results", kFixed, "--out", dir}, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"results.json", "results.csv", "report.md"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  const std::string md = ReadFile(dir + "/report.md").value_or("");
  EXPECT_NE(md.find("**0.79500**<sup>1</sup>"), std::string::npos);
  int pngs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/report"))
    pngs += e.path().extension() == ".png";
  EXPECT_EQ(pngs, 3) << "AUC/memory, time/budget, latency/budget for d1 x dlrm";
  EXPECT_NE(md.find("![Test AUC vs inference memory"), std::string::npos);
}

}  // namespace
}  // namespace ecps::bench
