// Helpers shared by the `ecps bench` tests: a fresh folder per test and a
// way to run the real ecps binary (ECPS_BIN) with the scripted trainer
// (FAKE_ECPS) behind it.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "nlohmann/json.hpp"
#include "tools/bench/process.h"

namespace ecps::bench::testing {

// An empty folder named after the running test.
inline std::string FreshDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path p =
      std::filesystem::path(::testing::TempDir()) /
      (std::string("ecps_bench_") + info->test_suite_name() + "_" + info->name());
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs `ecps <args>`; stdout and stderr are captured.
inline CliResult RunEcps(const std::vector<std::string>& args, const std::string& dir) {
  std::vector<std::string> argv = {ECPS_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string err = dir + "/cli_stderr.log";
  std::filesystem::remove(err);
  ExitInfo info;
  CliResult r;
  auto out = RunAndCapture(argv, &info, err);
  EXPECT_TRUE(out.ok()) << out.status();
  r.out = out.ok() ? *out : "";
  r.err = ReadFile(err).value_or("");
  r.exit_code = info.signal ? 128 + info.signal : info.exit_code;
  return r;
}

inline nlohmann::json ReadJson(const std::string& path) {
  auto text = ReadFile(path);
  EXPECT_TRUE(text.ok()) << path;
  return nlohmann::json::parse(text.value_or("null"));
}

inline int CountLines(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return 0;
  int n = 0;
  for (char c : *text) n += c == '\n';
  return n;
}

}  // namespace ecps::bench::testing
