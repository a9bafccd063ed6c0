// RowInitStream: the documented stream (table t: the t-th fork of Rng(seed)),
// and rows drawn in pieces, with gaps, equal to the whole table drawn at once.
#include "embedding/row_init.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <string>
#include <vector>

#include "tests/testing/status_testing.h"

namespace ecps {
namespace {

std::vector<uint32_t> Bits(const std::vector<float>& v) {
  std::vector<uint32_t> b;
  for (float x : v) b.push_back(std::bit_cast<uint32_t>(x));
  return b;
}

TEST(RowInitTest, UniformTableIsTheTableForkOfTheSeed) {
  RowTableSpec s;
  s.rows = 7;
  s.width = 3;
  s.init_bound = 0.25;
  Rng root(11);
  root.Fork(0);
  root.Fork(1);
  Rng rng = root.Fork(2);
  std::vector<float> want(s.rows * s.width);
  for (float& x : want) x = static_cast<float>(rng.Uniform(-0.25, 0.25));
  std::vector<float> got(want.size());
  RowInitStream(s, 11, 2).Fill(0, s.rows, got);
  EXPECT_EQ(Bits(got), Bits(want));
}

TEST(RowInitTest, RowsInPiecesEqualTheWholeTableForEveryKind) {
  for (RowInit kind : {RowInit::kUniform, RowInit::kConstant}) {
    for (double bound : {0.0, 0.1}) {
      RowTableSpec s;
      s.name = "t";
      s.rows = 50;
      s.width = 4;
      s.init = kind;
      s.init_bound = bound;
      s.init_value = 0.5;
      std::vector<float> whole(s.rows * s.width);
      RowInitStream(s, 3, 1).Fill(0, s.rows, whole);
      std::vector<float> pieces(whole.size(), -1.0f);
      RowInitStream stream(s, 3, 1);
      // Rows [2, 5), [5, 6), [9, 20), [33, 50); the others are skipped.
      for (auto [b, e] : {std::pair<uint64_t, uint64_t>{2, 5}, {5, 6}, {9, 20}, {33, 50}})
        stream.Fill(b, e, std::span<float>(pieces).subspan(b * s.width, (e - b) * s.width));
      for (uint64_t r = 0; r < s.rows; ++r) {
        const bool drawn = (r >= 2 && r < 6) || (r >= 9 && r < 20) || r >= 33;
        for (int k = 0; k < s.width; ++k) {
          const size_t i = r * s.width + k;
          if (drawn)
            EXPECT_EQ(std::bit_cast<uint32_t>(pieces[i]), std::bit_cast<uint32_t>(whole[i]))
                << static_cast<int>(kind) << " row " << r;
          else
            EXPECT_EQ(pieces[i], -1.0f);
        }
      }
    }
  }
}

// The retired value 2 (kNormalTails) and any other unknown initialiser are
// refused with the table's name, not drawn as something else.
TEST(RowInitTest, UnknownInitialisersAreRefused) {
  RowTableSpec s;
  s.name = "core1";
  s.rows = 3;
  s.width = 2;
  ECPS_EXPECT_OK(CheckRowInit(s));
  s.init = RowInit::kConstant;
  ECPS_EXPECT_OK(CheckRowInit(s));
  for (int v : {2, 3, 255}) {
    s.init = static_cast<RowInit>(v);
    const Status st = CheckRowInit(s);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << v;
    EXPECT_NE(st.message().find("core1"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace ecps
