#include "worker/data/gen_data.h"

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string_view>
#include <thread>

#include "common/cpu.h"
#include "common/file_util.h"
#include "common/rng.h"
#include "worker/data/row_parser.h"  // LogTransform: the dense values preprocess computes

namespace ecps {
namespace {

// Real cardinalities, docs/methods.md §1.1.
constexpr uint64_t kCriteoCard[26] = {
    1460, 583,   10131227, 2202608, 305,  24,   12517, 633,     3,  93145, 5683,   8351593, 3194,
    27,   14992, 5461306,  10,      5652, 2173, 4,     7046547, 18, 15,    286181, 105,     142572};
constexpr uint64_t kAvazuCard[22] = {240,  7, 7, 4737, 7745, 26, 8552, 559, 36, 2686408, 6729486,
                                     8251, 5, 4, 2626, 8,    9,  435,  4,   68, 172,     60};
// Avazu columns printed as 8 hex digits (the others are decimal).
constexpr bool kAvazuHex[22] = {false, false, false, true,  true,  true,  true,  true,
                                true,  true,  true,  true,  false, false, false, false,
                                false, false, false, false, false, false};
constexpr const char* kAvazuHeader =
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
    "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,"
    "C17,C18,C19,C20,C21\n";
constexpr int kCriteoDense = 13;
constexpr int kPairDim = 4;
constexpr double kTargetCtr = 0.256;
// Share of the logit variance per component and the total logit sd; chosen
// so the oracle AUC lands near 0.8.
constexpr double kCatShare = 0.6, kDenseShare = 0.15, kPairShare = 0.25;
constexpr double kLogitSd = 1.45;
constexpr int kAucBins = 1 << 16;

uint64_t Mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
// Keyed bijection on 32 bits (xor, odd multiplies and xorshifts are each
// invertible), so distinct ranks always print as distinct values.
uint32_t Mix32(uint32_t x, uint32_t key) {
  x ^= key;
  x *= 0x9E3779B1u;
  x ^= x >> 16;
  x *= 0x85EBCA6Bu;
  x ^= x >> 13;
  return x;
}
// Deterministic uniform in [-1, 1) from a hash.
double HashUniform(uint64_t h) { return static_cast<double>(Mix64(h) >> 11) * 0x1.0p-52 - 1.0; }

bool IsLibsvmFamily(const std::string& format) {
  return format == "libsvm" || format == "libfm" || format == "libffm";
}
// The data set whose rows a format's file holds: libSVM-family files hold
// Criteo's rows (gen_data.h).
std::string ShapeOf(const std::string& format) {
  return IsLibsvmFamily(format) ? std::string("criteo") : format;
}

// Keyed bijection of [0, size): a mix that is a bijection of the bits-wide
// words (xor, odd multiplies and xorshifts mod 2^bits each are), walked until
// it lands below size (a cycle of a bijection always comes back there; fewer
// than 2 steps on average since 2^bits < 2 * size).
struct IndexPerm {
  uint64_t size = 1;
  uint64_t mask = 1;
  int shift = 1;
  uint64_t key = 0;
  uint64_t Mix(uint64_t x) const {
    x = (x ^ key) & mask;
    x = (x * 0x9E3779B97F4A7C15ull) & mask;
    x ^= x >> shift;
    x = (x * 0xBF58476D1CE4E5B9ull) & mask;
    x ^= x >> shift;
    return x;
  }
  uint64_t operator()(uint64_t x) const {
    do {
      x = Mix(x);
    } while (x >= size);
    return x;
  }
};

IndexPerm MakeIndexPerm(uint64_t size, uint64_t key) {
  IndexPerm p;
  p.size = size;
  const int bits = std::max(1, static_cast<int>(std::bit_width(size - 1)));
  p.mask = bits >= 64 ? ~0ull : (1ull << bits) - 1;
  p.shift = std::max(1, (bits + 1) / 2);
  p.key = key;
  return p;
}

struct FieldModel {
  uint64_t card = 0;
  double c = 0;      // (N+1)^-1/2 - 1: inverse-CDF constant of the x^-1.5 law
  double k = 0;      // 1 - (N+1)^(1-alpha): inverse-CDF constant of the x^-alpha law
  double inv = 0;    // 1 / (1 - alpha)
  double cap = 1;    // rank (continuous) where the weight scale stops growing
  double scale = 1;  // importance / normaliser of the weight scale
  uint32_t print_key = 0;
  uint64_t hash_key = 0;
  bool hex = true;
  // Drift: how far the hot set moves per cohort (ceil(card / 10); 0 for a
  // field that never drifts).
  uint64_t drift_shift = 0;
  // libSVM-family output: value v (card = missing) is feature offset + perm(v).
  IndexPerm perm;
  uint64_t offset = 0;
};

enum class Output { kCriteo, kAvazu, kLibsvm, kLibffm };

struct Model {
  std::string format;  // the rows' shape: criteo or avazu (ShapeOf)
  Output output = Output::kCriteo;
  int num_fields = 0, num_dense = 0;
  std::vector<FieldModel> fields;
  double mu[kCriteoDense], sigma[kCriteoDense], a[kCriteoDense];
  std::vector<std::pair<int, int>> pairs;
  double cat_scale = 1, dense_scale = 1, pair_scale = 1, bias = 0;
  double missing_rate = 0;
  // alpha == 1.5: the original closed form (x = 1 / base^2), kept so default
  // output stays byte-identical; otherwise the general x^-alpha inverse CDF.
  bool alpha15 = true;
};

// One drawn row, before labels and text.
struct RowDraw {
  uint32_t rank[32];  // card = missing
  int64_t ints[kCriteoDense];
  bool int_missing[kCriteoDense];
  double cat = 0, dense = 0, pair = 0;
};

// The value a drawn rank prints as in drift cohort `cohort` (gen_data.h).
uint32_t DriftedValue(const FieldModel& fm, uint32_t rank, uint64_t cohort) {
  if (cohort == 0 || fm.drift_shift == 0) return rank;
  const uint64_t off = (cohort % fm.card) * (fm.drift_shift % fm.card) % fm.card;
  return static_cast<uint32_t>(rank >= off ? rank - off : rank + fm.card - off);
}

void DrawRow(const Model& m, Rng& rng, RowDraw* d) {
  d->cat = d->dense = d->pair = 0;
  for (int j = 0; j < m.num_dense; ++j) {
    // Latent normal-ish value (sum of 4 uniforms, unit variance); the printed
    // count is exp of it, so log(x+1) recovers it up to rounding.
    // Four 16-bit uniforms from one draw (Irwin-Hall, unit variance).
    const uint64_t bits = rng.Next();
    const double sum4 = static_cast<double>((bits & 0xFFFF) + ((bits >> 16) & 0xFFFF) +
                                            ((bits >> 32) & 0xFFFF) + (bits >> 48));
    const double g = (sum4 * (1.0 / 65536.0) - 2.0) * 1.7320508;
    d->dense += m.a[j] * g;
    if (rng.Uniform() < m.missing_rate) {
      d->int_missing[j] = true;
      continue;
    }
    d->int_missing[j] = false;
    int64_t x = static_cast<int64_t>(std::exp(m.mu[j] + m.sigma[j] * g)) - 1;
    if (j == 1) x -= 2;  // like Criteo's I2, which has small negative values
    d->ints[j] = x;
  }
  for (int f = 0; f < m.num_fields; ++f) {
    const FieldModel& fm = m.fields[f];
    // One draw: the high 32 bits place the rank, the low 32 bits decide
    // whether the cell is missing.
    const uint64_t bits = rng.Next();
    const double u = static_cast<double>(bits >> 32) * 0x1.0p-32;
    const bool missing = static_cast<double>(bits & 0xFFFFFFFFu) * 0x1.0p-32 < m.missing_rate;
    uint32_t r;
    double s;
    if (m.format == "avazu" && f == 0) {
      r = 0;  // hour: set from the row position by the caller
      s = 0;
    } else if (missing) {
      r = static_cast<uint32_t>(fm.card);
      s = 1.0;
    } else {
      double x;
      if (m.alpha15) {
        // Inverse CDF of the density ~ x^-1.5 on [1, N+1): x = 1 / base^2.
        double base = 1.0 + u * fm.c;
        x = 1.0 / (base * base);
      } else {
        // Inverse CDF of the density ~ x^-alpha on [1, N+1):
        // x = (1 - u k)^(1 / (1 - alpha)), via log1p for alpha near 1.
        x = std::exp(std::log1p(-u * fm.k) * fm.inv);
      }
      uint64_t rank = static_cast<uint64_t>(x) - 1;
      if (rank >= fm.card) rank = fm.card - 1;
      r = static_cast<uint32_t>(rank);
      s = std::sqrt(std::sqrt(std::min(x, fm.cap)));
    }
    d->rank[f] = r;
    d->cat += fm.scale * s * HashUniform(fm.hash_key ^ r);
  }
  for (const auto& [f, g] : m.pairs) {
    const FieldModel& a = m.fields[f];
    const FieldModel& b = m.fields[g];
    for (int k = 0; k < kPairDim; ++k) {
      uint64_t salt = static_cast<uint64_t>(k + 1) << 40;
      d->pair += HashUniform(a.hash_key ^ salt ^ (d->rank[f] + 0x5555ull)) *
                 HashUniform(b.hash_key ^ salt ^ (d->rank[g] + 0xAAAAull));
    }
  }
}

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

StatusOr<Model> BuildModel(const GenDataOptions& o) {
  Model m;
  // Everything drawn depends on the shape only, so a libSVM-family file holds
  // the Criteo file's rows of the same seed.
  m.format = ShapeOf(o.format);
  m.output = o.format == "criteo"   ? Output::kCriteo
             : o.format == "avazu"  ? Output::kAvazu
             : o.format == "libffm" ? Output::kLibffm
                                    : Output::kLibsvm;
  ASSIGN_OR_RETURN(std::vector<uint64_t> cards, GenCardinalities(m.format, o.features));
  m.num_fields = static_cast<int>(cards.size());
  m.num_dense = m.format == "criteo" ? kCriteoDense : 0;
  m.missing_rate = o.missing_rate;
  m.alpha15 = o.alpha == kGenDefaultAlpha;
  const double a = o.alpha;
  Rng rng(o.seed * 0x9E3779B97F4A7C15ull + 1);
  for (int f = 0; f < m.num_fields; ++f) {
    FieldModel fm;
    fm.card = cards[f];
    double n1 = static_cast<double>(fm.card) + 1.0;
    fm.c = 1.0 / std::sqrt(n1) - 1.0;
    fm.k = -std::expm1((1.0 - a) * std::log(n1));
    fm.inv = 1.0 / (1.0 - a);
    fm.cap = std::max(1.0, 0.1 * static_cast<double>(fm.card));
    // E[min(x, cap)^0.5] under the x^-alpha law, so every field's weights
    // have unit variance before the importance factor.
    double e;
    if (m.alpha15) {
      double z = 2.0 * (1.0 - 1.0 / std::sqrt(n1));
      e = (std::log(fm.cap) + 2.0 * (1.0 - std::sqrt(fm.cap / n1))) / z;
    } else {
      // Density (a-1) x^-a / k: the head integral of x^0.5 up to cap, written
      // with expm1 so it tends to (a-1) ln(cap) as a -> 1.5, plus
      // cap^0.5 P(x > cap).
      const double b = 1.5 - a, lc = std::log(fm.cap);
      const double head = (a - 1.0) * (b != 0 ? std::expm1(b * lc) / b : lc);
      const double tail = std::exp(b * lc) - std::sqrt(fm.cap) * std::pow(n1, 1.0 - a);
      e = (head + tail) / fm.k;
    }
    double importance = rng.Uniform(0.3, 1.0);
    fm.scale = importance * 1.7320508 / std::sqrt(std::max(e, 1e-9));
    fm.print_key = static_cast<uint32_t>(rng.Next());
    fm.hash_key = rng.Next();
    fm.hex = m.format == "criteo" || kAvazuHex[f];
    // Only the large id spaces drift (the fields scaled to `features`, at
    // least 1000 values): small ones (device type, banner position) keep
    // their values, whose meaning would otherwise change every cohort.
    const bool hour = o.format == "avazu" && f == 0;
    if (o.drift > 0 && !hour && fm.card >= kGenDriftMinValues) fm.drift_shift = (fm.card + 9) / 10;
    m.fields.push_back(fm);
  }
  for (int j = 0; j < m.num_dense; ++j) {
    m.mu[j] = rng.Uniform(0.5, 4.0);
    m.sigma[j] = rng.Uniform(0.5, 1.5);
    m.a[j] = rng.Uniform(-1.0, 1.0);
  }
  if (m.format == "criteo") {
    m.pairs = {{2, 3}, {11, 15}, {0, 6}, {9, 23}};
  } else {
    m.pairs = {{3, 9}, {6, 10}, {14, 17}};
  }
  // Calibrate the component scales and the bias on a pilot sample drawn from
  // its own stream (so it does not depend on rows or threads).
  const int kPilot = 20000;
  std::vector<RowDraw> pilot(kPilot);
  Rng prng(o.seed * 0xD1B54A32D192ED03ull + 7);
  double sum[3] = {0, 0, 0}, sq[3] = {0, 0, 0};
  for (auto& d : pilot) {
    DrawRow(m, prng, &d);
    double v[3] = {d.cat, d.dense, d.pair};
    for (int i = 0; i < 3; ++i) {
      sum[i] += v[i];
      sq[i] += v[i] * v[i];
    }
  }
  auto sd = [&](int i) {
    double mean = sum[i] / kPilot;
    return std::sqrt(std::max(sq[i] / kPilot - mean * mean, 1e-12));
  };
  double dense_share = m.num_dense > 0 ? kDenseShare : 0.0;
  double norm = kCatShare + dense_share + kPairShare;
  m.cat_scale = kLogitSd * std::sqrt(kCatShare / norm) / sd(0);
  m.dense_scale = m.num_dense > 0 ? kLogitSd * std::sqrt(dense_share / norm) / sd(1) : 0.0;
  m.pair_scale = kLogitSd * std::sqrt(kPairShare / norm) / sd(2);
  double lo = -10, hi = 10;
  for (int it = 0; it < 60; ++it) {
    double b = (lo + hi) / 2, ctr = 0;
    for (const auto& d : pilot) {
      ctr += Sigmoid(b + m.cat_scale * d.cat + m.dense_scale * d.dense + m.pair_scale * d.pair);
    }
    (ctr / kPilot < kTargetCtr ? lo : hi) = b;
  }
  m.bias = (lo + hi) / 2;
  // Feature indices of the libSVM-family output, after everything drawn (so
  // the draws stay the Criteo file's): the dense columns are features
  // 0..12 when written, then each field's N_f + 1 indices.
  uint64_t offset = o.values ? static_cast<uint64_t>(m.num_dense) : 0;
  for (FieldModel& fm : m.fields) {
    fm.perm = MakeIndexPerm(fm.card + 1, Mix64(fm.hash_key ^ 0x6C69627376ull));
    fm.offset = offset;
    offset += fm.card + 1;
  }
  return m;
}

// Text helpers: append without allocation.
inline char* PutU64(char* p, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) *p++ = tmp[--n];
  return p;
}
inline char* PutI64(char* p, int64_t v) {
  if (v < 0) {
    *p++ = '-';
    return PutU64(p, static_cast<uint64_t>(-v));
  }
  return PutU64(p, static_cast<uint64_t>(v));
}
// The shortest decimal that reads back to the same float (the parser reads
// it as a double and narrows it; a float's shortest form is never near a
// midpoint of two floats, so it narrows back to the same float).
inline char* PutFloat(char* p, float v) { return std::to_chars(p, p + 32, v).ptr; }
inline char* PutHex8(char* p, uint32_t v) {
  static const char kDigits[] = "0123456789abcdef";
  for (int i = 7; i >= 0; --i) {
    p[i] = kDigits[v & 15];
    v >>= 4;
  }
  return p + 8;
}

struct ChunkOut {
  // Reused across waves; the raw buffer is not zero-filled on allocation.
  std::unique_ptr<char[]> raw;
  size_t raw_capacity = 0;
  std::string gz;
  const char* data = nullptr;  // the chunk's bytes (raw or gz)
  size_t size = 0;
  uint64_t positives = 0;
  std::vector<uint32_t> pos_hist, neg_hist;
};

Status Deflate(std::string_view in, std::string* out) {
  z_stream zs{};
  // windowBits 15 + 16: gzip wrapper. Each chunk becomes one gzip member;
  // concatenated members are a valid gzip file. Level 1 keeps up with the
  // generator; the header's mtime is 0, so output is reproducible.
  if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return IoError("deflateInit2 failed");
  }
  out->resize(deflateBound(&zs, in.size()) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out->data());
  zs.avail_out = static_cast<uInt>(out->size());
  int rc = deflate(&zs, Z_FINISH);
  out->resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return IoError("deflate failed");
  return OkStatus();
}

// Which values occur: one bit per (field, rank), shared by all threads. A
// relaxed load skips the atomic RMW for values already seen (the head), and
// the final set does not depend on the interleaving.
struct SeenBits {
  std::vector<uint64_t> word_offset;  // per field
  std::unique_ptr<std::atomic<uint64_t>[]> words;
  uint64_t num_words = 0;
  void Mark(int f, uint32_t rank) {
    std::atomic<uint64_t>& w = words[word_offset[f] + (rank >> 6)];
    const uint64_t bit = 1ull << (rank & 63);
    if ((w.load(std::memory_order_relaxed) & bit) == 0) w.fetch_or(bit, std::memory_order_relaxed);
  }
};

Status GenerateChunk(const Model& m, const GenDataOptions& o, uint64_t chunk, SeenBits* seen,
                     ChunkOut* out) {
  const uint64_t first = chunk * kGenChunkRows;
  const uint64_t n = std::min<uint64_t>(kGenChunkRows, o.rows - first);
  uint64_t x = o.seed ^ (chunk * 0xA24BAED4963EE407ull) ^ 0x5851F42D4C957F2Dull;
  Rng rng(SplitMix64(x));
  // Generous per-row bound: 40 cells of at most 21 chars (libSVM family: 24,
  // "field:feature:value" with a 12-digit feature or a 15-char value), plus
  // the label and CR LF.
  const bool libsvm_family = m.output == Output::kLibsvm || m.output == Output::kLibffm;
  const size_t row_max = 40 * (libsvm_family ? 24 : 22) + 8;
  const size_t need = n * row_max + 512;
  if (out->raw_capacity < need) {
    out->raw.reset(new char[need]);
    out->raw_capacity = need;
  }
  char* const begin = out->raw.get();
  char* p = begin;
  if (chunk == 0 && m.output == Output::kAvazu) {
    std::memcpy(p, kAvazuHeader, std::strlen(kAvazuHeader));
    p += std::strlen(kAvazuHeader);
  }
  out->positives = 0;
  out->pos_hist.assign(kAucBins, 0);
  out->neg_hist.assign(kAucBins, 0);
  const bool criteo = m.format == "criteo";
  const bool ffm = m.output == Output::kLibffm;
  RowDraw d;
  const uint64_t period = GenDriftPeriodRows(o);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t row = first + i;
    DrawRow(m, rng, &d);
    const uint64_t cohort = period > 0 ? row / period : 0;
    uint32_t hour = 0;
    double extra = 0;
    if (!criteo) {
      hour = static_cast<uint32_t>(row * 240 / o.rows);
      d.rank[0] = hour;
      // Hour-of-day effect (small): part of the hidden model.
      extra = 0.3 * HashUniform(m.fields[0].hash_key ^ (hour % 24));
    }
    double z =
        m.bias + m.cat_scale * (d.cat) + m.dense_scale * d.dense + m.pair_scale * d.pair + extra;
    double prob = Sigmoid(z);
    bool label = rng.Uniform() < prob;
    int bin = std::min(kAucBins - 1, static_cast<int>(prob * kAucBins));
    if (label) {
      ++out->positives;
      ++out->pos_hist[bin];
    } else {
      ++out->neg_hist[bin];
    }
    if (libsvm_family) {
      if (o.signed_labels) {
        *p++ = label ? '+' : '-';
        *p++ = '1';
      } else {
        *p++ = label ? '1' : '0';
      }
      int field = 0;  // libffm's field number of the next cell
      if (o.values) {
        for (int j = 0; j < kCriteoDense; ++j, ++field) {
          if (ffm && d.int_missing[j]) continue;  // an absent field is missing
          *p++ = ' ';
          if (ffm) {
            p = PutU64(p, static_cast<uint64_t>(field));
            *p++ = ':';
          }
          p = PutU64(p, static_cast<uint64_t>(j));
          *p++ = ':';
          p = PutFloat(p, d.int_missing[j] ? 0.0f : data_internal::LogTransform(d.ints[j]));
        }
      }
      for (int f = 0; f < m.num_fields; ++f, ++field) {
        const FieldModel& fm = m.fields[f];
        uint64_t v = fm.card;  // the missing cell's own feature (libsvm)
        if (d.rank[f] != fm.card) {
          v = DriftedValue(fm, d.rank[f], cohort);
          seen->Mark(f, static_cast<uint32_t>(v));
        } else if (ffm) {
          continue;
        }
        *p++ = ' ';
        if (ffm) {
          p = PutU64(p, static_cast<uint64_t>(field));
          *p++ = ':';
        }
        p = PutU64(p, fm.offset + fm.perm(v));
        *p++ = ':';
        *p++ = '1';
      }
    } else if (criteo) {
      *p++ = label ? '1' : '0';
      for (int j = 0; j < kCriteoDense; ++j) {
        *p++ = '\t';
        if (!d.int_missing[j]) p = PutI64(p, d.ints[j]);
      }
      for (int f = 0; f < m.num_fields; ++f) {
        *p++ = '\t';
        const FieldModel& fm = m.fields[f];
        if (d.rank[f] != fm.card) {
          const uint32_t v = DriftedValue(fm, d.rank[f], cohort);
          seen->Mark(f, v);
          p = PutHex8(p, Mix32(v, fm.print_key));
        }
      }
    } else {
      p = PutU64(p, Mix64(o.seed ^ (row * 0x9E3779B97F4A7C15ull)));
      *p++ = ',';
      *p++ = label ? '1' : '0';
      *p++ = ',';
      // YYMMDDHH over 10 days starting 2014-10-21, time-ordered like Avazu.
      p = PutU64(p, 14102100u + (hour / 24) * 100u + hour % 24);
      seen->Mark(0, hour);
      for (int f = 1; f < m.num_fields; ++f) {
        *p++ = ',';
        const FieldModel& fm = m.fields[f];
        if (d.rank[f] == fm.card) continue;
        const uint32_t value = DriftedValue(fm, d.rank[f], cohort);
        seen->Mark(f, value);
        uint32_t v = Mix32(value, fm.print_key);
        p = fm.hex ? PutHex8(p, v) : PutU64(p, v);
      }
    }
    if (o.crlf) *p++ = '\r';
    *p++ = '\n';
  }
  const std::string_view text(begin, static_cast<size_t>(p - begin));
  if (o.gzip) {
    RETURN_IF_ERROR(Deflate(text, &out->gz));
    out->data = out->gz.data();
    out->size = out->gz.size();
  } else {
    out->data = text.data();
    out->size = text.size();
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::vector<uint64_t>> GenCardinalities(const std::string& format, uint64_t features) {
  std::vector<uint64_t> real;
  const std::string shape = ShapeOf(format);
  if (shape == "criteo") {
    real.assign(kCriteoCard, kCriteoCard + 26);
  } else if (shape == "avazu") {
    real.assign(kAvazuCard, kAvazuCard + 22);
  } else {
    return InvalidArgument("gen-data: unknown format '", format,
                           "' (choices: criteo, avazu, libsvm, libfm, libffm)");
  }
  const size_t nf = real.size();
  if (features < 2 * nf) {
    return InvalidArgument("gen-data: features must be at least ", 2 * nf, " for ", format);
  }
  const bool avazu = shape == "avazu";
  auto compute = [&](double s, bool keep_small) {
    std::vector<uint64_t> c(nf);
    for (size_t f = 0; f < nf; ++f) {
      double scaled = std::round(static_cast<double>(real[f]) * s);
      if (avazu && f == 0) {
        c[f] = real[f];  // hour: the time axis
      } else if (keep_small) {
        c[f] = real[f] <= 1000 ? real[f] : static_cast<uint64_t>(std::max(1000.0, scaled));
      } else {
        c[f] = std::min(real[f], static_cast<uint64_t>(std::max(2.0, scaled)));
      }
    }
    return c;
  };
  auto sum = [](const std::vector<uint64_t>& c) {
    uint64_t t = 0;
    for (uint64_t v : c) t += v;
    return t;
  };
  const bool keep_small = sum(compute(0.0, true)) <= features;
  double lo = 0, hi = keep_small ? 1e6 : 1.0;
  for (int it = 0; it < 200; ++it) {
    double mid = (lo + hi) / 2;
    (sum(compute(mid, keep_small)) < features ? lo : hi) = mid;
  }
  // Take whichever bracket end lands closer to the target.
  auto a = compute(lo, keep_small), b = compute(hi, keep_small);
  auto dist = [&](const std::vector<uint64_t>& c) {
    uint64_t t = sum(c);
    return t > features ? t - features : features - t;
  };
  return dist(a) <= dist(b) ? a : b;
}

uint64_t GenDriftPeriodRows(const GenDataOptions& o) {
  if (!(o.drift > 0)) return 0;
  const double period = std::round(static_cast<double>(o.rows) * o.drift / 100.0);
  return std::max<uint64_t>(1, static_cast<uint64_t>(period));
}

std::string GenDataStem(const GenDataOptions& o) {
  std::string stem = "gen-" + o.format + "-r" + std::to_string(o.rows) + "-f" +
                     std::to_string(o.features) + "-s" + std::to_string(o.seed);
  // The shortest decimal that reads back to the same double: distinct values
  // never share a name.
  auto shortest = [](double v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    return ec == std::errc() ? std::string(buf, end) : std::string("?");
  };
  if (o.alpha != kGenDefaultAlpha) stem += "-a" + shortest(o.alpha);
  if (o.drift != 0) stem += "-d" + shortest(o.drift);
  if (o.values) stem += "-values";
  if (o.signed_labels) stem += "-pm1";
  if (o.crlf) stem += "-crlf";
  return stem;
}

StatusOr<GenDataReport> GenerateData(const GenDataOptions& options, const std::string& out_path) {
  const auto start = std::chrono::steady_clock::now();
  if (options.rows == 0) return InvalidArgument("gen-data: rows must be > 0");
  if (!(options.missing_rate >= 0 && options.missing_rate < 1)) {
    return InvalidArgument("gen-data: missing_rate must be in [0, 1)");
  }
  if (!(options.alpha > 1 && options.alpha <= 10)) {
    return InvalidArgument("gen-data: alpha (tail exponent) must be in (1, 10], got ",
                           options.alpha);
  }
  if (!(options.drift >= 0 && options.drift <= 100)) {
    return InvalidArgument(
        "gen-data: drift (percent of the rows per cohort) must be in [0, 100], "
        "got ",
        options.drift);
  }
  if ((options.values || options.signed_labels) && !IsLibsvmFamily(options.format)) {
    return InvalidArgument("gen-data: ", options.values ? "values" : "signed labels",
                           " need a libsvm, libfm or libffm format (format '", options.format,
                           "' has no feature values and labels 0/1)");
  }
  ASSIGN_OR_RETURN(Model model, BuildModel(options));
  for (const FieldModel& fm : model.fields) {
    if (fm.card >= 0xFFFFFFFFull) return InvalidArgument("gen-data: a field is too large");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> file, AtomicFileWriter::Open(out_path));
  SeenBits seen;
  for (const FieldModel& fm : model.fields) {
    seen.word_offset.push_back(seen.num_words);
    seen.num_words += (fm.card + 63) / 64;
  }
  seen.words.reset(new std::atomic<uint64_t>[seen.num_words]);
  for (uint64_t i = 0; i < seen.num_words; ++i) seen.words[i].store(0);

  const uint64_t chunks = (options.rows + kGenChunkRows - 1) / kGenChunkRows;
  int threads = options.threads > 0 ? options.threads : UsableCpus();
  threads = std::max(1, std::min<int>(threads, static_cast<int>(chunks)));
  // Waves of chunks: threads fill a wave in any order, then the main thread
  // writes it in chunk order, so the file does not depend on scheduling.
  const uint64_t wave = static_cast<uint64_t>(threads) * 2;
  std::vector<ChunkOut> outs(wave);
  std::vector<uint64_t> pos_hist(kAucBins, 0), neg_hist(kAucBins, 0);
  uint64_t positives = 0;
  for (uint64_t w0 = 0; w0 < chunks; w0 += wave) {
    const uint64_t w1 = std::min(chunks, w0 + wave);
    std::atomic<uint64_t> next{w0};
    std::vector<Status> status(w1 - w0);
    auto work = [&]() {
      for (uint64_t c = next++; c < w1; c = next++) {
        status[c - w0] = GenerateChunk(model, options, c, &seen, &outs[c - w0]);
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (auto& t : pool) t.join();
    for (uint64_t c = w0; c < w1; ++c) {
      RETURN_IF_ERROR(Annotate(status[c - w0], "gen-data '" + out_path + "'"));
      ChunkOut& o = outs[c - w0];
      RETURN_IF_ERROR(file->Append(o.data, o.size));
      positives += o.positives;
      for (int b = 0; b < kAucBins; ++b) {
        pos_hist[b] += o.pos_hist[b];
        neg_hist[b] += o.neg_hist[b];
      }
    }
  }
  RETURN_IF_ERROR(file->Commit());

  GenDataReport report;
  report.rows = options.rows;
  report.bytes = file->bytes_written();
  report.positive_rate = static_cast<double>(positives) / static_cast<double>(options.rows);
  // AUC from the probability histogram: pairs in the same bin count as ties.
  double neg_below = 0, auc = 0;
  for (int b = 0; b < kAucBins; ++b) {
    auc += static_cast<double>(pos_hist[b]) * (neg_below + 0.5 * static_cast<double>(neg_hist[b]));
    neg_below += static_cast<double>(neg_hist[b]);
  }
  const double pn = static_cast<double>(positives) * static_cast<double>(options.rows - positives);
  report.oracle_auc = pn > 0 ? auc / pn : 0.5;
  report.drift_period_rows = GenDriftPeriodRows(options);
  for (const FieldModel& fm : model.fields) report.cardinalities.push_back(fm.card);
  for (uint64_t i = 0; i < seen.num_words; ++i) {
    report.observed_features += static_cast<uint64_t>(std::popcount(seen.words[i].load()));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return report;
}

}  // namespace ecps
