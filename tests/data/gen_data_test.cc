#include "worker/data/gen_data.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "gtest/gtest.h"
#include "tests/data/data_test_util.h"
#include "worker/data/criteo_parser.h"
#include "worker/data/libsvm_parser.h"
#include "worker/data/preprocess.h"
#include "worker/data/text_reader.h"

namespace ecps {
namespace {

using testing_data::ReadAll;
using testing_data::TempDir;

GenDataOptions Criteo(uint64_t rows, uint64_t seed) {
  GenDataOptions o;
  o.rows = rows;
  o.features = 100000;
  o.seed = seed;
  return o;
}

TEST(GenDataTest, SameSeedSameBytesRegardlessOfThreadsAndOtherSeedDiffers) {
  TempDir dir;
  GenDataOptions o = Criteo(150000, 7);  // 3 chunks
  o.threads = 1;
  ASSERT_TRUE(GenerateData(o, dir.File("a.txt")).ok());
  o.threads = 3;
  auto r = GenerateData(o, dir.File("b.txt"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows, 150000u);
  const std::string a = ReadAll(dir.File("a.txt"));
  EXPECT_EQ(r->bytes, a.size());
  EXPECT_EQ(a, ReadAll(dir.File("b.txt")));
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 150000);
  o.seed = 8;
  ASSERT_TRUE(GenerateData(o, dir.File("c.txt")).ok());
  EXPECT_NE(a, ReadAll(dir.File("c.txt")));
}

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// Golden hashes of files written before the alpha option existed: the
// default alpha (1.5) keeps the original formula, so its output must not
// change by a single byte.
TEST(GenDataTest, DefaultAlphaOutputIsUnchanged) {
  TempDir dir;
  GenDataOptions o = Criteo(150000, 7);
  EXPECT_EQ(o.alpha, 1.5);
  o.threads = 2;
  ASSERT_TRUE(GenerateData(o, dir.File("c.txt")).ok());
  EXPECT_EQ(Fnv1a(ReadAll(dir.File("c.txt"))), 0xacbe0c4aa40237c2ull);
  GenDataOptions a;
  a.format = "avazu";
  a.rows = 20000;
  a.features = 50000;
  a.seed = 2;
  ASSERT_TRUE(GenerateData(a, dir.File("a.csv")).ok());
  EXPECT_EQ(Fnv1a(ReadAll(dir.File("a.csv"))), 0x59ac57c6dd96081cull);
}

TEST(GenDataTest, LowerAlphaGivesManyMoreDistinctValuesDeterministically) {
  TempDir dir;
  GenDataOptions o = Criteo(150000, 7);
  auto steep = GenerateData(o, dir.File("steep.txt"));
  ASSERT_TRUE(steep.ok()) << steep.status();
  o.alpha = 1.1;
  o.threads = 1;
  auto flat = GenerateData(o, dir.File("flat1.txt"));
  ASSERT_TRUE(flat.ok()) << flat.status();
  o.threads = 3;
  ASSERT_TRUE(GenerateData(o, dir.File("flat3.txt")).ok());
  const std::string text = ReadAll(dir.File("flat1.txt"));
  EXPECT_EQ(text, ReadAll(dir.File("flat3.txt"))) << "same options, same bytes";
  EXPECT_NE(text, ReadAll(dir.File("steep.txt")));
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 150000);
  // 29k vs 70k distinct values at these sizes.
  EXPECT_GT(static_cast<double>(flat->observed_features),
            2.0 * static_cast<double>(steep->observed_features));
  EXPECT_EQ(flat->cardinalities, steep->cardinalities);
  // Same planted signal and calibration.
  EXPECT_NEAR(flat->positive_rate, 0.256, 0.03);
  EXPECT_GT(flat->oracle_auc, 0.75);
  EXPECT_LT(flat->oracle_auc, 0.88);
  // The general formula is continuous in alpha: next to 1.5 it matches the
  // closed form's profile.
  o.alpha = 1.5000001;
  auto near = GenerateData(o, dir.File("near.txt"));
  ASSERT_TRUE(near.ok());
  EXPECT_NEAR(static_cast<double>(near->observed_features),
              static_cast<double>(steep->observed_features),
              0.01 * static_cast<double>(steep->observed_features));
  EXPECT_NEAR(near->oracle_auc, steep->oracle_auc, 0.005);
}

TEST(GenDataTest, StemNamesAlphaOnlyWhenNotDefault) {
  GenDataOptions o;
  o.rows = 2000000;
  o.features = 750000;
  EXPECT_EQ(GenDataStem(o), "gen-criteo-r2000000-f750000-s1");
  o.threads = 3;
  EXPECT_EQ(GenDataStem(o), "gen-criteo-r2000000-f750000-s1") << "threads do not change data";
  o.alpha = 1.1;
  EXPECT_EQ(GenDataStem(o), "gen-criteo-r2000000-f750000-s1-a1.1");
  o.alpha = std::nextafter(1.1, 2.0);
  EXPECT_NE(GenDataStem(o), "gen-criteo-r2000000-f750000-s1-a1.1") << "no collisions";
  o.alpha = 1.25;
  o.format = "avazu";
  o.seed = 4;
  EXPECT_EQ(GenDataStem(o), "gen-avazu-r2000000-f750000-s4-a1.25");
  o.drift = 10;
  EXPECT_EQ(GenDataStem(o), "gen-avazu-r2000000-f750000-s4-a1.25-d10");
  o.alpha = 1.5;
  o.drift = 2.5;
  EXPECT_EQ(GenDataStem(o), "gen-avazu-r2000000-f750000-s4-d2.5");
}

// Per field, the occurrence counts of each value in rows [lo, hi) of a
// generated Criteo file.
std::vector<absl::flat_hash_map<uint64_t, uint64_t>> CountValues(const std::string& path,
                                                                 uint64_t lo, uint64_t hi) {
  std::vector<absl::flat_hash_map<uint64_t, uint64_t>> freq(26);
  auto reader = TextReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return freq;
  CriteoParser parser;
  ParsedRow row;
  ParseError err;
  std::string_view line;
  for (uint64_t r = 0; r < hi && (*reader)->NextLine(&line); ++r) {
    if (r < lo) continue;
    EXPECT_TRUE(parser.Parse(line, &row, &err)) << err.what;
    for (int f = 0; f < 26; ++f)
      if (!row.missing[f]) ++freq[f][row.keys[f]];
  }
  return freq;
}

// The k most frequent values of one field's counts.
std::vector<uint64_t> TopValues(const absl::flat_hash_map<uint64_t, uint64_t>& counts, size_t k) {
  std::vector<std::pair<uint64_t, uint64_t>> v(counts.begin(), counts.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  std::vector<uint64_t> top;
  for (size_t i = 0; i < v.size() && i < k; ++i) top.push_back(v[i].first);
  return top;
}

// Share of a window's occurrences of one field held by `values`.
double ShareOf(const absl::flat_hash_map<uint64_t, uint64_t>& counts,
               const std::vector<uint64_t>& values) {
  uint64_t total = 0, held = 0;
  for (const auto& kv : counts) total += kv.second;
  for (uint64_t v : values) {
    auto it = counts.find(v);
    if (it != counts.end()) held += it->second;
  }
  return total > 0 ? static_cast<double>(held) / static_cast<double>(total) : 0.0;
}

// --drift 25: four cohorts of 50k rows. Measured from the file: the last
// cohort's hot values were (almost) absent from the first cohort, the first
// cohort's hot values have cooled (but still occur: they moved down the
// ranks), without drift the hot set stays, and cohort 0 is the undrifted
// stream byte for byte.
TEST(GenDataTest, DriftMovesTheHotSetToAFreshCohortEveryPeriod) {
  TempDir dir;
  GenDataOptions o = Criteo(200000, 5);
  o.drift = 25;
  o.threads = 1;
  auto r = GenerateData(o, dir.File("drift1.txt"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->drift_period_rows, 50000u);
  o.threads = 3;
  ASSERT_TRUE(GenerateData(o, dir.File("drift3.txt")).ok());
  const std::string text = ReadAll(dir.File("drift1.txt"));
  EXPECT_EQ(text, ReadAll(dir.File("drift3.txt"))) << "deterministic for a seed";
  GenDataOptions plain = Criteo(200000, 5);
  auto p = GenerateData(plain, dir.File("plain.txt"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->drift_period_rows, 0u);
  const std::string plain_text = ReadAll(dir.File("plain.txt"));
  EXPECT_NE(text, plain_text);
  // Cohort 0 (the first 50k lines) is the undrifted stream byte for byte.
  size_t cut = 0;
  for (int i = 0; i < 50000; ++i) cut = text.find('\n', cut) + 1;
  EXPECT_EQ(text.substr(0, cut), plain_text.substr(0, cut));
  // Only value cells move: labels (so the CTR and the ceiling) are the
  // undrifted stream's line for line.
  EXPECT_EQ(r->positive_rate, p->positive_rate);
  EXPECT_EQ(r->oracle_auc, p->oracle_auc);
  for (size_t a = 0, b = 0; a < text.size();
       a = text.find('\n', a) + 1, b = plain_text.find('\n', b) + 1) {
    ASSERT_EQ(text[a], plain_text[b]) << "label of the line at byte " << a;
  }

  const auto first = CountValues(dir.File("drift1.txt"), 0, 50000);
  const auto last = CountValues(dir.File("drift1.txt"), 150000, 200000);
  const auto plain_first = CountValues(dir.File("plain.txt"), 0, 50000);
  const auto plain_last = CountValues(dir.File("plain.txt"), 150000, 200000);
  int checked = 0;
  for (int f = 0; f < 26; ++f) {
    const uint64_t card = r->cardinalities[f];
    if (card < 1000) continue;
    const size_t k = card / 100;  // the hottest 1% of the field's values
    const std::vector<uint64_t> hot_last = TopValues(last[f], k);
    const std::vector<uint64_t> hot_first = TopValues(first[f], k);
    // The last cohort's hot values sat at ranks 7S..8S of the first cohort
    // (the far tail): a fraction of a percent of its occurrences.
    EXPECT_LT(ShareOf(first[f], hot_last), 0.01) << "C" << f + 1;
    // ... while they hold most of the last cohort's occurrences.
    EXPECT_GT(ShareOf(last[f], hot_last), 0.5) << "C" << f + 1;
    // The first cohort's hot values are cold by the last (ranks 3S..4S).
    EXPECT_LT(ShareOf(last[f], hot_first), 0.05) << "C" << f + 1;
    // Without drift the first window's hot set is still the last one's.
    EXPECT_GT(ShareOf(plain_last[f], TopValues(plain_first[f], k)), 0.5) << "C" << f + 1;
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST(GenDataTest, CardinalitiesScaleToTheTarget) {
  for (uint64_t target : {1000ull, 100000ull, 1000000ull, 40000000ull}) {
    auto c = GenCardinalities("criteo", target);
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_EQ(c->size(), 26u);
    uint64_t sum = 0;
    for (uint64_t v : *c) sum += v;
    EXPECT_NEAR(static_cast<double>(sum), static_cast<double>(target), 0.02 * target) << target;
    // Ordering of the real cardinalities is kept: C3 (10M) >= C9 (3).
    EXPECT_GE((*c)[2], (*c)[8]);
  }
  auto small = GenCardinalities("criteo", 100000);
  EXPECT_EQ((*small)[5], 24u) << "small fields keep their real size";
  EXPECT_EQ((*small)[8], 3u);
  auto av = GenCardinalities("avazu", 100000);
  ASSERT_TRUE(av.ok());
  EXPECT_EQ(av->size(), 22u);
  EXPECT_EQ((*av)[0], 240u);
  EXPECT_FALSE(GenCardinalities("criteo", 10).ok());
  EXPECT_FALSE(GenCardinalities("movielens", 100000).ok());
}

// Parses the generated file and checks the frequency profile and the signal.
TEST(GenDataTest, ZipfProfileSignalAndValidFormat) {
  TempDir dir;
  GenDataOptions o = Criteo(200000, 3);
  auto r = GenerateData(o, dir.File("g.txt"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->positive_rate, 0.256, 0.03);
  EXPECT_GT(r->oracle_auc, 0.75);
  EXPECT_LT(r->oracle_auc, 0.88);

  auto reader = TextReader::Open(dir.File("g.txt"));
  ASSERT_TRUE(reader.ok());
  CriteoParser parser;
  ParsedRow row;
  ParseError err;
  std::vector<absl::flat_hash_map<uint64_t, uint64_t>> freq(26);
  std::vector<uint64_t> missing(26, 0);
  std::string_view line;
  uint64_t rows = 0, negative_ints = 0, empty_ints = 0;
  while ((*reader)->NextLine(&line)) {
    ASSERT_TRUE(parser.Parse(line, &row, &err)) << err.what << ": " << line;
    ++rows;
    for (int f = 0; f < 26; ++f) {
      if (row.missing[f]) {
        ++missing[f];
      } else {
        ++freq[f][row.keys[f]];
      }
    }
    if (line.find("\t-") != std::string_view::npos) ++negative_ints;
    if (line.find("\t\t") != std::string_view::npos) ++empty_ints;
  }
  EXPECT_EQ(rows, 200000u);
  EXPECT_GT(negative_ints, 0u);
  EXPECT_GT(empty_ints, 0u);
  int checked = 0;
  for (int f = 0; f < 26; ++f) {
    EXPECT_LE(freq[f].size(), r->cardinalities[f]) << f;
    EXPECT_NEAR(static_cast<double>(missing[f]) / rows, o.missing_rate, 0.005) << f;
    if (r->cardinalities[f] < 1000) continue;
    // Top 10% of the field's values hold > 90% of its occurrences.
    std::vector<uint64_t> counts;
    uint64_t total = 0;
    for (const auto& kv : freq[f]) {
      counts.push_back(kv.second);
      total += kv.second;
    }
    std::sort(counts.rbegin(), counts.rend());
    uint64_t top = 0;
    for (size_t i = 0; i < counts.size() && i < r->cardinalities[f] / 10; ++i) top += counts[i];
    EXPECT_GT(static_cast<double>(top) / total, 0.9) << "field C" << f + 1;
    // ... yet the tail is not empty: many values occur.
    EXPECT_GT(freq[f].size(), r->cardinalities[f] / 20) << "field C" << f + 1;
    ++checked;
  }
  EXPECT_GE(checked, 10);
  uint64_t distinct = 0;
  for (const auto& m : freq) distinct += m.size();
  EXPECT_EQ(r->observed_features, distinct);
}

TEST(GenDataTest, GzipOutputHoldsTheSameText) {
  TempDir dir;
  GenDataOptions o = Criteo(70000, 5);
  ASSERT_TRUE(GenerateData(o, dir.File("plain.txt")).ok());
  o.gzip = true;
  auto r = GenerateData(o, dir.File("packed.gz"));
  ASSERT_TRUE(r.ok());
  auto reader = TextReader::Open(dir.File("packed.gz"));
  ASSERT_TRUE(reader.ok());
  EXPECT_TRUE((*reader)->gzipped());
  std::string text;
  std::string_view line;
  while ((*reader)->NextLine(&line)) {
    text.append(line);
    text.push_back('\n');
  }
  EXPECT_TRUE((*reader)->status().ok());
  EXPECT_EQ(text, ReadAll(dir.File("plain.txt")));
  EXPECT_LT(r->bytes, text.size() / 2);
}

TEST(GenDataTest, GeneratedFilesPreprocessCleanly) {
  TempDir dir;
  GenDataOptions o = Criteo(30000, 11);
  ASSERT_TRUE(GenerateData(o, dir.File("c.txt")).ok());
  PreprocessOptions p;
  // Every generated value gets an id (data.vocabulary=all): the cardinalities
  // below are the generator's.
  p.vocabulary_from_train = false;
  p.inputs = {dir.File("c.txt")};
  p.output = dir.File("c.cache");
  auto r = Preprocess(p);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->malformed.total(), 0u);
  EXPECT_EQ(r->rows_written, 30000u);

  GenDataOptions a;
  a.format = "avazu";
  a.rows = 20000;
  a.features = 50000;
  a.seed = 2;
  auto g = GenerateData(a, dir.File("a.csv"));
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_GT(g->oracle_auc, 0.7);
  EXPECT_EQ(ReadAll(dir.File("a.csv")).rfind("id,click,hour,C1,banner_pos,", 0), 0u);
  p.inputs = {dir.File("a.csv")};
  p.format = "avazu";
  p.output = dir.File("a.cache");
  auto ra = Preprocess(p);
  ASSERT_TRUE(ra.ok()) << ra.status();
  EXPECT_EQ(ra->malformed.total(), 0u);
  EXPECT_EQ(ra->rows_written, 20000u);
  // 10 days of hours: the last day is a tenth of the rows.
  EXPECT_EQ(ra->test_rows + ra->val_rows, 2000u);
  EXPECT_EQ(ra->cardinalities[0], 240u);
}

// The raw cells of a Criteo line: label, I1..I13, C1..C26.
std::vector<std::string_view> TabCells(std::string_view line) {
  std::vector<std::string_view> cells;
  size_t start = 0;
  for (size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == '\t') {
      cells.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  return cells;
}

struct LibsvmCase {
  std::string format;
  bool values, signed_labels, crlf;
};

// Issue 13: gen-data --format libsvm|libfm|libffm writes the criteo file's rows
// of the same seed: parsed back, every line has the same label, each dense
// column (--values) the same value preprocess computes from the criteo cell
// (libffm: absent exactly where the cell is empty), and per field the
// features are a bijection of the criteo values (libsvm: the empty cell its
// own feature; libffm: absent exactly where it is empty). Two chunks and two
// threads; the bytes do not depend on the threads.
TEST(GenDataTest, LibsvmFamilyHoldsTheCriteoRowsOfTheSameSeed) {
  TempDir dir;
  GenDataOptions c = Criteo(70000, 9);  // 2 chunks
  c.threads = 2;
  auto rc = GenerateData(c, dir.File("c.txt"));
  ASSERT_TRUE(rc.ok()) << rc.status();
  for (const LibsvmCase& k :
       {LibsvmCase{"libsvm", false, false, false}, LibsvmCase{"libfm", true, true, true},
        LibsvmCase{"libffm", true, false, false}, LibsvmCase{"libffm", false, true, true}}) {
    SCOPED_TRACE(k.format + (k.values ? " values" : "") + (k.signed_labels ? " pm1" : "") +
                 (k.crlf ? " crlf" : ""));
    GenDataOptions o = c;
    o.format = k.format;
    o.values = k.values;
    o.signed_labels = k.signed_labels;
    o.crlf = k.crlf;
    auto r = GenerateData(o, dir.File("l.txt"));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->rows, 70000u);
    EXPECT_EQ(r->positive_rate, rc->positive_rate);
    EXPECT_EQ(r->observed_features, rc->observed_features);
    const std::string text = ReadAll(dir.File("l.txt"));
    o.threads = 1;
    ASSERT_TRUE(GenerateData(o, dir.File("l1.txt")).ok());
    EXPECT_EQ(text, ReadAll(dir.File("l1.txt")));
    const size_t crlf_count = [&] {
      size_t n = 0;
      for (size_t i = text.find("\r\n"); i != std::string::npos; i = text.find("\r\n", i + 2)) ++n;
      return n;
    }();
    EXPECT_EQ(crlf_count, k.crlf ? 70000u : 0u);
    EXPECT_EQ(text.rfind(k.signed_labels ? "-1 " : "0 ", 0) == 0 ||
                  text.rfind(k.signed_labels ? "+1 " : "1 ", 0) == 0,
              true)
        << text.substr(0, 40);

    auto lr = TextReader::Open(dir.File("l.txt"));
    auto cr = TextReader::Open(dir.File("c.txt"));
    ASSERT_TRUE(lr.ok() && cr.ok());
    LibsvmParser lp(k.format);
    CriteoParser cp;
    ParsedRow lrow, crow;
    ParseError err;
    const int dense = k.values ? 13 : 0;
    // Per field: criteo key (or ~0 for the empty cell) -> libsvm feature, and back.
    std::vector<absl::flat_hash_map<uint64_t, uint64_t>> to(26), back(26);
    std::string_view lline, cline;
    uint64_t rows = 0, empty_cells = 0, empty_ints = 0, valued = 0, positives = 0;
    bool same = true;
    while ((*lr)->NextLine(&lline)) {
      ASSERT_TRUE((*cr)->NextLine(&cline));
      ASSERT_TRUE(lp.Parse(lline, &lrow, &err)) << err.what << ": " << lline;
      ASSERT_TRUE(cp.Parse(cline, &crow, &err)) << err.what;
      ++rows;
      positives += lrow.label > 0;
      if (lrow.label != crow.label) same = false;
      const std::vector<std::string_view> cells = TabCells(cline);
      ASSERT_EQ(cells.size(), 40u);
      for (int j = 0; j < dense; ++j) {
        const bool empty = cells[1 + j].empty();
        empty_ints += empty;
        if (k.format == "libffm" && empty) {
          if (j < static_cast<int>(lrow.missing.size()) && !lrow.missing[j]) same = false;
          continue;
        }
        ASSERT_LT(j, static_cast<int>(lrow.keys.size()));
        if (lrow.missing[j] || lrow.keys[j] != static_cast<uint64_t>(j) ||
            lrow.values[j] != crow.dense[j])
          same = false;
        valued += lrow.values[j] != 1.0f;
      }
      for (int f = 0; f < 26; ++f) {
        const int lf = dense + f;
        const bool lmissing = lf >= static_cast<int>(lrow.missing.size()) || lrow.missing[lf];
        if (crow.missing[f]) ++empty_cells;
        if (k.format == "libffm") {
          if (lmissing != static_cast<bool>(crow.missing[f])) same = false;
          if (lmissing) continue;
        } else if (lmissing) {
          same = false;  // libsvm writes every field at its position
          continue;
        }
        if (lrow.values[lf] != 1.0f) same = false;
        const uint64_t ck = crow.missing[f] ? ~0ull : crow.keys[f];
        auto [it, fresh] = to[f].emplace(ck, lrow.keys[lf]);
        auto [jt, fresh_back] = back[f].emplace(lrow.keys[lf], ck);
        if (it->second != lrow.keys[lf] || jt->second != ck || fresh != fresh_back) same = false;
      }
      ASSERT_TRUE(same) << "line " << rows << ": " << lline << " vs " << cline;
    }
    EXPECT_FALSE((*cr)->NextLine(&cline));
    EXPECT_EQ(rows, 70000u);
    EXPECT_EQ(positives, static_cast<uint64_t>(std::llround(r->positive_rate * 70000)));
    EXPECT_EQ(lp.num_fields(), dense + 26);
    EXPECT_GT(empty_cells, 0u);  // the missing cells were exercised
    if (k.values) {
      EXPECT_GT(empty_ints, 0u);
      EXPECT_GT(valued, rows);  // most integer cells carry a value other than 1
    }
    // Global feature indices: the fields' features never overlap.
    absl::flat_hash_map<uint64_t, int> owner;
    for (int f = 0; f < 26; ++f) {
      EXPECT_GT(to[f].size(), 1u) << f;
      for (const auto& [key, feature] : to[f]) {
        EXPECT_GE(feature, static_cast<uint64_t>(dense)) << f;
        auto [it, fresh] = owner.emplace(feature, f);
        EXPECT_TRUE(fresh) << "feature " << feature << " in fields " << it->second << " and " << f;
      }
    }
  }
}

// Each generated libSVM-family file preprocesses without a malformed line;
// the valued file's cache carries values.
TEST(GenDataTest, LibsvmFamilyFilesPreprocessCleanly) {
  TempDir dir;
  for (const std::string format : {"libsvm", "libffm"}) {
    GenDataOptions o = Criteo(20000, 4);
    o.format = format;
    o.values = true;
    o.signed_labels = true;
    o.crlf = true;
    ASSERT_TRUE(GenerateData(o, dir.File(format + ".txt")).ok());
    PreprocessOptions p;
    p.inputs = {dir.File(format + ".txt")};
    p.format = format;
    p.split = "ratio";
    p.output = dir.File(format + ".cache");
    auto r = Preprocess(p);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->malformed.total(), 0u) << format;
    EXPECT_EQ(r->rows_written, 20000u) << format;
    EXPECT_EQ(r->cardinalities.size(), 39u) << format;
    EXPECT_TRUE(r->has_values) << format;
  }
}

TEST(GenDataTest, RejectsBadOptions) {
  TempDir dir;
  GenDataOptions o = Criteo(0, 1);
  EXPECT_EQ(GenerateData(o, dir.File("x")).status().code(), absl::StatusCode::kInvalidArgument);
  o.rows = 10;
  o.format = "tsv";
  EXPECT_EQ(GenerateData(o, dir.File("x")).status().code(), absl::StatusCode::kInvalidArgument);
  o.format = "criteo";
  EXPECT_FALSE(GenerateData(o, "/nonexistent/dir/x.txt").ok());
  for (double alpha : {1.0, 0.5, -2.0, 11.0, std::nan("")}) {
    o.alpha = alpha;
    auto r = GenerateData(o, dir.File("x"));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << alpha;
    EXPECT_NE(r.status().message().find("alpha"), std::string::npos) << r.status();
  }
  o.alpha = 1.5;
  for (double drift : {-1.0, 100.5, std::nan("")}) {
    o.drift = drift;
    auto r = GenerateData(o, dir.File("x"));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << drift;
    EXPECT_NE(r.status().message().find("drift"), std::string::npos) << r.status();
  }
  // Values and signed labels exist only in the libSVM family.
  o.drift = 0;
  for (const std::string format : {"criteo", "avazu"}) {
    o.format = format;
    o.values = true;
    auto r = GenerateData(o, dir.File("x"));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << format;
    EXPECT_NE(r.status().message().find("values need a libsvm"), std::string::npos) << r.status();
    o.values = false;
    o.signed_labels = true;
    r = GenerateData(o, dir.File("x"));
    EXPECT_NE(r.status().message().find("signed labels need a libsvm"), std::string::npos)
        << r.status();
    o.signed_labels = false;
  }
}

}  // namespace
}  // namespace ecps
