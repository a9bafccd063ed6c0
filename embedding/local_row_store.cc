// The in-process RowStore. kF32 tables keep their rows as a float array and
// run the optimizer in place (the hot path). Every other dtype goes through
// the row codecs of embedding/row_codec.h: Gather decodes to fp32, Push
// decodes the unique rows, applies the optimizer in fp32 (state always fp32,
// docs/methods.md §1.6) and encodes back with the table's rounding, drawing from
// rounding_rng_ (saved in checkpoints, so a resumed run rounds identically).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "common/blob.h"
#include "common/check.h"
#include "common/large_alloc.h"
#include "common/rng.h"
#include "embedding/row_codec.h"
#include "embedding/row_deduper.h"
#include "embedding/row_init.h"
#include "embedding/row_store.h"

namespace ecps {
namespace {

constexpr char kMagic[9] = "ECPSROWS";
// Version 2 appends codes, per-row scales and learned-scale state after the
// v1 fields of each table; an fp32 table's bytes are the same in both, so v1
// checkpoints still load.
constexpr uint32_t kVersion = 2;

// Everything about a table except its spec's hyper-parameters.
struct Table {
  RowTableSpec spec;
  int state_floats = 0;  // optimizer floats per row (0 if not trainable)
  // LargeVector: 64-byte aligned rows on huge pages (common/large_alloc.h).
  LargeVector<float> values;  // kF32 storage: rows x width
  LargeVector<float> state;   // rows x state_floats
  // Every other dtype: rows of row_bytes (row_codec.h layout) and, for
  // QuantScheme::kPerRow, one (scale, zero) pair per row. The pair is kept as
  // floats in memory but always holds values of scale_dtype (fp16-rounded for
  // kF16), which is what the memory accounting charges.
  size_t row_bytes = 0;
  LargeVector<uint8_t> codes;
  LargeVector<float> scale_zero;
  // learn_scale (ALPT): Adam (m, v) of each row's scale.
  LargeVector<float> scale_state;
  // Clipped and non-finite values written into the codes (row_codec.h).
  row_codec::WriteStats stats;
  bool coded() const { return spec.dtype != DType::kF32; }
};

Status CheckSupported(const RowTableSpec& s, int index) {
  if (s.width <= 0)
    return InvalidArgument("table ", index, " '", s.name, "': width must be > 0, got ", s.width);
  RETURN_IF_ERROR(CheckRowInit(s));
  const bool ints = row_codec::IsIntegerCode(s.dtype);
  if (!(s.dtype == DType::kF32 || s.dtype == DType::kF16 || ints))
    return Unimplemented("table ", index, " '", s.name, "': dtype ", DTypeName(s.dtype),
                         " is not supported by the local store");
  if (ints == (s.quant == QuantScheme::kNone))
    return InvalidArgument("table ", index, " '", s.name, "': dtype ", DTypeName(s.dtype),
                           ints ? " needs a quantisation scheme" : " takes no quantisation scheme");
  if (s.quant == QuantScheme::kGlobal && !(s.scale > 0))
    return InvalidArgument("table ", index, " '", s.name, "': global scale must be > 0, got ",
                           s.scale);
  if (s.quant == QuantScheme::kPerRow && s.scale_dtype != DType::kF32 &&
      s.scale_dtype != DType::kF16)
    return InvalidArgument("table ", index, " '", s.name, "': scale_dtype must be f32 or f16");
  if (s.learn_scale && (s.quant != QuantScheme::kPerRow || !(s.scale > 0) || s.scale_lr < 0))
    return InvalidArgument("table ", index, " '", s.name,
                           "': learn_scale needs kPerRow, an initial scale > 0 and scale_lr >= 0");
  const unsigned __int128 elems = static_cast<unsigned __int128>(s.rows) * s.width;
  if (elems > (static_cast<unsigned __int128>(1) << 40))
    return InvalidArgument("table ", index, " '", s.name, "': ", s.rows, " x ", s.width,
                           " elements is too large");
  return OkStatus();
}

// Floor of a learned (ALPT) scale: a scale driven to zero could never grow back.
constexpr float kMinLearnedScale = 1e-12f;

template <typename Writer>
void WriteSpec(const RowTableSpec& s, Writer* w) {
  w->Str(s.name);
  w->Pod(s.rows);
  w->Pod(s.width);
  w->Pod(s.dtype);
  w->Pod(s.quant);
  w->Pod(s.rounding);
  w->Pod(s.scale);
  w->Pod(s.zero);
  w->Pod(static_cast<uint8_t>(s.trainable));
  w->Pod(s.init_bound);
  w->Pod(s.init);
  w->Pod(s.init_value);
  w->Pod(s.scale_dtype);
  w->Pod(static_cast<uint8_t>(s.learn_scale));
  w->Pod(s.scale_lr);
}

bool ReadSpec(BlobStreamReader* r, RowTableSpec* s) {
  uint8_t trainable = 0, learn_scale = 0;
  bool ok = r->Str(&s->name) && r->Pod(&s->rows) && r->Pod(&s->width) && r->Pod(&s->dtype) &&
            r->Pod(&s->quant) && r->Pod(&s->rounding) && r->Pod(&s->scale) && r->Pod(&s->zero) &&
            r->Pod(&trainable) && r->Pod(&s->init_bound) && r->Pod(&s->init) &&
            r->Pod(&s->init_value) && r->Pod(&s->scale_dtype) && r->Pod(&learn_scale) &&
            r->Pod(&s->scale_lr);
  s->trainable = trainable != 0;
  s->learn_scale = learn_scale != 0;
  return ok;
}

Status RowOutOfRange(const Table& tb, uint64_t row) {
  return OutOfRange("row ", row, " of table '", tb.spec.name, "' is out of range (", tb.spec.rows,
                    " rows)");
}

// The storage of a coded table (row_codec.h layout): sizes, and the initial
// scales of a learned-scale table.
void AllocateCoded(Table* tb) {
  const RowTableSpec& s = tb->spec;
  tb->row_bytes = row_codec::RowBytes(s.dtype, s.width);
  tb->codes.assign(s.rows * tb->row_bytes, 0);
  if (s.quant == QuantScheme::kPerRow) {
    tb->scale_zero.assign(2 * s.rows, 0.0f);
    if (s.learn_scale) {
      for (uint64_t r = 0; r < s.rows; ++r) tb->scale_zero[2 * r] = static_cast<float>(s.scale);
      if (s.trainable) tb->scale_state.assign(2 * s.rows, 0.0f);
    }
  }
}

// Reads one row-store blob from `src` (RowStore::Save() layout, versions 1
// and 2). With `out`, each table's arrays are read into a table of `present`
// that has the same spec (its memory reused, so reloading a model allocates
// nothing) or into fresh arrays; without, they are only checksummed and
// skipped, and `out_specs`/`optimizer_bytes` describe them.
Status ParseRowStoreBlob(ByteSource* src, SparseOptimizerKind want_kind,
                         std::vector<Table>* present, std::vector<Table>* out, Rng::State* rs,
                         RowStoreContents* describe = nullptr) {
  BlobStreamReader r;
  RETURN_IF_ERROR(r.Open(src, kMagic, kVersion, "row store checkpoint"));
  SparseOptimizerKind kind;
  uint64_t num_tables = 0;
  if (!r.Pod(&kind) || !r.Pod(rs) || !r.Pod(&num_tables)) return r.Truncated();
  if (kind != want_kind)
    return FailedPrecondition("row store checkpoint was written with sparse optimizer ",
                              static_cast<int>(kind), ", this store uses ",
                              static_cast<int>(want_kind));
  for (uint64_t t = 0; t < num_tables; ++t) {
    Table tb;
    int32_t sf = 0;
    if (!ReadSpec(&r, &tb.spec) || !r.Pod(&sf)) return r.Truncated();
    RETURN_IF_ERROR(CheckSupported(tb.spec, static_cast<int>(t)));
    const int expected_sf = tb.spec.trainable ? StateFloatsPerRow(kind, tb.spec.width) : 0;
    if (sf != expected_sf) return r.Truncated();
    if (tb.coded() && r.version() < 2) return r.Truncated();
    tb.state_floats = sf;
    const uint64_t nv = tb.coded() ? 0 : tb.spec.rows * tb.spec.width;
    const uint64_t ns = tb.spec.rows * static_cast<uint64_t>(sf);
    if (r.remaining() / sizeof(float) < nv + ns) return r.Truncated();
    uint64_t codes = 0, scale_zero = 0, scale_state = 0;
    if (tb.coded()) {
      codes = tb.spec.rows * row_codec::RowBytes(tb.spec.dtype, tb.spec.width);
      if (r.remaining() < codes) return r.Truncated();
      if (tb.spec.quant == QuantScheme::kPerRow) {
        scale_zero = 2 * tb.spec.rows;
        if (tb.spec.learn_scale && tb.spec.trainable) scale_state = 2 * tb.spec.rows;
      }
    }
    if (out == nullptr) {
      if (!r.Skip((nv + ns + scale_zero + scale_state) * sizeof(float) + codes))
        return r.Truncated();
      describe->tables.push_back(tb.spec);
      describe->optimizer_bytes += (ns + scale_state) * sizeof(float);
      continue;
    }
    Table* reuse = nullptr;
    if (t < present->size() && (*present)[t].spec == tb.spec && (*present)[t].state_floats == sf)
      reuse = &(*present)[t];
    if (reuse != nullptr) {
      tb.values = std::move(reuse->values);
      tb.state = std::move(reuse->state);
      tb.codes = std::move(reuse->codes);
      tb.scale_zero = std::move(reuse->scale_zero);
      tb.scale_state = std::move(reuse->scale_state);
      tb.row_bytes = reuse->row_bytes;
    } else {
      if (t < present->size()) (*present)[t] = Table();  // its memory back before allocating
      tb.values.resize(nv);
      tb.state.resize(ns);
      if (tb.coded()) AllocateCoded(&tb);
    }
    // A reused table has the same spec, so the same sizes.
    ECPS_CHECK(tb.values.size() == nv && tb.state.size() == ns && tb.codes.size() == codes &&
               tb.scale_zero.size() == scale_zero && tb.scale_state.size() == scale_state)
        << "row store table '" << tb.spec.name << "' allocated with other sizes";
    if (!r.Bytes(tb.values.data(), nv * sizeof(float)) ||
        !r.Bytes(tb.state.data(), ns * sizeof(float)) || !r.Bytes(tb.codes.data(), codes) ||
        !r.Bytes(tb.scale_zero.data(), scale_zero * sizeof(float)) ||
        !r.Bytes(tb.scale_state.data(), scale_state * sizeof(float)))
      return r.Truncated();
    out->push_back(std::move(tb));
  }
  return r.Finish();
}

class LocalRowStore final : public RowStore {
 public:
  explicit LocalRowStore(const SparseOptimizerConfig& opt) : opt_(opt) {
    scale_opt_ = opt;
    scale_opt_.kind = SparseOptimizerKind::kAdam;  // ALPT's scale has its own Adam
  }

  Status Reset(const std::vector<RowTableSpec>& tables, uint64_t seed) override {
    return ResetImpl(tables, seed, nullptr);
  }

  Status ResetWithValues(const std::vector<RowTableSpec>& tables, uint64_t seed,
                         const std::vector<std::vector<float>>& values) override {
    if (values.size() != tables.size())
      return InvalidArgument(values.size(), " tables of initial values for ", tables.size(),
                             " tables");
    for (size_t t = 0; t < tables.size(); ++t)
      if (values[t].size() != tables[t].rows * static_cast<uint64_t>(tables[t].width))
        return InvalidArgument("table ", t, " '", tables[t].name, "': ", values[t].size(),
                               " initial values for ", tables[t].rows, " x ", tables[t].width);
    return ResetImpl(tables, seed, &values);
  }

  // `values` null: every table from its spec's initialiser.
  Status ResetImpl(const std::vector<RowTableSpec>& tables, uint64_t seed,
                   const std::vector<std::vector<float>>* values) {
    for (size_t t = 0; t < tables.size(); ++t)
      RETURN_IF_ERROR(CheckSupported(tables[t], static_cast<int>(t)));
    std::vector<Table> fresh(tables.size());
    // The rounding stream is seeded first: quantised tables round their fp32
    // initial values with it (INT8/16: "the fp32 init is quantised once with
    // stochastic rounding", docs/methods.md §2.17).
    rounding_rng_.Seed(seed ^ 0x5ec0ddedb0a710ffull);
    // A table's initial values depend only on (seed, its index, its spec)
    // (embedding/row_init.h).
    std::vector<float> init;
    for (size_t t = 0; t < tables.size(); ++t) {
      Table& tb = fresh[t];
      tb.spec = tables[t];
      tb.state_floats = tb.spec.trainable ? StateFloatsPerRow(opt_.kind, tb.spec.width) : 0;
      RowInitStream stream(tb.spec, seed, t);
      const uint64_t rows = tb.spec.rows;
      const size_t w = tb.spec.width;
      if (!tb.coded()) {
        tb.values.resize(rows * w);
        if (values != nullptr) {
          std::copy((*values)[t].begin(), (*values)[t].end(), tb.values.begin());
        } else {
          stream.Fill(0, rows, tb.values);
        }
      } else {
        AllocateCoded(&tb);
        const float* src = nullptr;
        if (values != nullptr) {
          src = (*values)[t].data();
        } else {
          init.resize(rows * w);
          stream.Fill(0, rows, init);
          src = init.data();
        }
        for (uint64_t r = 0; r < rows; ++r) EncodeOne(&tb, r, src + r * w, nullptr);
        RETURN_IF_ERROR(tb.stats.Check(tb.spec));
      }
      tb.state.assign(rows * tb.state_floats, StateInitValue(opt_));
    }
    tables_ = std::move(fresh);
    ClearKeyMappings();
    return OkStatus();
  }

  Status Gather(const LookupPlan& plan, FetchedRows* values) const override {
    if (plan.rows.size() != tables_.size())
      return InvalidArgument("gather: the plan has rows of ", plan.rows.size(),
                             " tables, the store holds ", tables_.size());
    values->values.resize(tables_.size());
    thread_local std::vector<uint64_t> resolved;
    for (size_t t = 0; t < tables_.size(); ++t) {
      const Table& tb = tables_[t];
      if (IsKeyed(t)) RETURN_IF_ERROR(ResolveKeys(t, plan.rows[t], &resolved));
      const std::vector<uint64_t>& rows = IsKeyed(t) ? resolved : plan.rows[t];
      const size_t w = tb.spec.width;
      std::vector<float>& out = values->values[t];
      out.resize(rows.size() * w);
      float* dst = out.data();
      if (tb.coded()) {
        for (size_t i = 0; i < rows.size(); ++i, dst += w) {
          const uint64_t r = rows[i];
          if (r == kNoRow) {
            std::memset(dst, 0, w * sizeof(float));
            continue;
          }
          if (r >= tb.spec.rows) return RowOutOfRange(tb, r);
          DecodeOne(tb, r, dst);
        }
        continue;
      }
      const float* src = tb.values.data();
      for (size_t i = 0; i < rows.size(); ++i, dst += w) {
        const uint64_t r = rows[i];
        if (r == kNoRow) {
          std::memset(dst, 0, w * sizeof(float));
          continue;
        }
        if (r >= tb.spec.rows) return RowOutOfRange(tb, r);
        std::memcpy(dst, src + r * w, w * sizeof(float));
      }
    }
    return OkStatus();
  }

  Status Push(const LookupPlan& plan, const FetchedRows& grads, int64_t step) override {
    if (plan.rows.size() != tables_.size() || grads.values.size() < tables_.size())
      return InvalidArgument("push: the plan has rows of ", plan.rows.size(), " tables and ",
                             grads.values.size(), " gradients, the store holds ", tables_.size());
    const SparseStepFactors factors = MakeSparseStepFactors(opt_, step);
    for (size_t t = 0; t < tables_.size(); ++t) {
      Table& tb = tables_[t];
      const std::vector<uint64_t>& rows = plan.rows[t];
      if (!tb.spec.trainable || rows.empty()) continue;
      if (grads.values[t].size() != rows.size() * tb.spec.width)
        return InvalidArgument("push: table '", tb.spec.name, "' has ", rows.size(), " rows but ",
                               grads.values[t].size(), " gradient values (width ", tb.spec.width,
                               ")");
      const GradRun run{static_cast<int>(t), rows, grads.values[t].data()};
      if (IsKeyed(t)) {
        // As a parameter server receives it (ps::Client): each key once with
        // its summed gradient and its count, in first-occurrence order; then
        // the keys' rows, duplicates summed in that order. So 1 worker + 1
        // server gives these very sums.
        RETURN_IF_ERROR(
            SumDuplicates(tb, std::span<const GradRun>(&run, 1), -1, KeyLimit(t), &key_counts_));
        key_unique_.swap(unique_);
        key_sums_.swap(sums_);
        const GradRun keys{static_cast<int>(t), key_unique_, key_sums_.data(), key_counts_};
        RETURN_IF_ERROR(
            PushKeyed(tb, t, std::span<const GradRun>(&keys, 1), rows.size(), factors, step));
        continue;
      }
      RETURN_IF_ERROR(SumDuplicates(tb, std::span<const GradRun>(&run, 1)));
      Update(&tb, unique_.data(), sums_.data(), unique_.size(), rows.size(), factors);
      // A non-finite gradient made a non-finite weight: the step is refused
      // (the codes hold the value nearest 0, never an undefined cast).
      if (tb.coded()) RETURN_IF_ERROR(tb.stats.Check(tb.spec));
    }
    return AdvanceKeyMappings(step);
  }

  Status PushShare(std::span<const GradRun> runs, int64_t step, std::span<const uint64_t> lookups,
                   bool distinct) override {
    if (lookups.size() != tables_.size())
      return InvalidArgument("push: lookups of ", lookups.size(), " tables, the store holds ",
                             tables_.size());
    const SparseStepFactors factors = MakeSparseStepFactors(opt_, step);
    for (const GradRun& r : runs)
      if (r.table < 0 || static_cast<size_t>(r.table) >= tables_.size())
        return OutOfRange("push: table ", r.table, " not in [0, ", tables_.size(), ")");
    for (size_t t = 0; t < tables_.size(); ++t) {
      Table& tb = tables_[t];
      if (!tb.spec.trainable) continue;
      if (IsKeyed(t)) {
        RETURN_IF_ERROR(PushKeyed(tb, t, runs, lookups[t], factors, step));
        continue;
      }
      if (distinct) {
        // Each gradient is the row's sum already: update from the caller's
        // memory, run by run (the order a concatenated plan would give).
        for (const GradRun& r : runs) {
          if (r.table != static_cast<int>(t)) continue;
          for (uint64_t row : r.rows)
            if (row >= tb.spec.rows) return RowOutOfRange(tb, row);
          Update(&tb, r.rows.data(), r.grads, r.rows.size(), lookups[t], factors);
        }
        if (tb.coded()) RETURN_IF_ERROR(tb.stats.Check(tb.spec));
        continue;
      }
      RETURN_IF_ERROR(SumDuplicates(tb, runs, static_cast<int>(t)));
      if (!unique_.empty())
        Update(&tb, unique_.data(), sums_.data(), unique_.size(), lookups[t], factors);
      if (tb.coded()) RETURN_IF_ERROR(tb.stats.Check(tb.spec));
    }
    return OkStatus();
  }

  // One optimizer step for each of the n distinct `rows`, in order, with
  // gradients grads[u * width ...]. `lookups`: the batch's references to the
  // table (ALPT's N).
  void Update(Table* tb, const uint64_t* rows, const float* grads, size_t n, size_t lookups,
              const SparseStepFactors& factors) {
    if (tb->coded()) {
      PushCoded(tb, rows, grads, n, lookups, factors);
      return;
    }
    ApplySparseUpdates(opt_, factors, tb->spec.width, rows, n, grads, tb->values.data(),
                       tb->state.data());
  }

  Status ResetOptimizerState() override {
    for (Table& tb : tables_) {
      std::fill(tb.state.begin(), tb.state.end(), StateInitValue(opt_));
      std::fill(tb.scale_state.begin(), tb.scale_state.end(), 0.0f);
    }
    return OkStatus();
  }

  uint64_t parameter_bytes() const override {
    uint64_t b = 0;
    for (const Table& tb : tables_) b += tb.spec.rows * StoredRowBytes(tb.spec);
    return b;
  }

  uint64_t optimizer_bytes() const override {
    uint64_t b = 0;
    for (const Table& tb : tables_) b += (tb.state.size() + tb.scale_state.size()) * sizeof(float);
    return b;
  }

  StatusOr<std::string> Save() const override {
    CountingSink size;  // one allocation of the blob's exact size
    RETURN_IF_ERROR(SaveTo(&size));
    std::string out;
    out.reserve(size.bytes());
    StringSink sink(&out);
    RETURN_IF_ERROR(SaveTo(&sink));
    return out;
  }

  Status SaveTo(ByteSink* sink) const override {
    BlobStreamWriter w(sink, kMagic, kVersion);
    w.Pod(opt_.kind);
    const Rng::State rs = rounding_rng_.state();
    w.Pod(rs);
    w.Pod<uint64_t>(tables_.size());
    for (const Table& tb : tables_) {
      WriteSpec(tb.spec, &w);
      w.Pod<int32_t>(tb.state_floats);
      // Each array straight from its huge-page memory to the sink (a file
      // sink writes it without copying it into a buffer).
      w.Bytes(tb.values.data(), tb.values.size() * sizeof(float));
      w.Bytes(tb.state.data(), tb.state.size() * sizeof(float));
      w.Bytes(tb.codes.data(), tb.codes.size());
      w.Bytes(tb.scale_zero.data(), tb.scale_zero.size() * sizeof(float));
      w.Bytes(tb.scale_state.data(), tb.scale_state.size() * sizeof(float));
    }
    return w.Finish();
  }

  Status Load(const std::string& blob) override {
    // The checksum first: a damaged blob leaves the store as it was.
    BlobReader check;
    RETURN_IF_ERROR(check.Open(blob, kMagic, kVersion, "row store checkpoint"));
    StringSource src(blob);
    return LoadFrom(&src);
  }

  Status LoadFrom(ByteSource* src) override {
    std::vector<Table> present = std::move(tables_);
    tables_.clear();
    std::vector<Table> loaded;
    Rng::State rs;
    RETURN_IF_ERROR(ParseRowStoreBlob(src, opt_.kind, &present, &loaded, &rs));
    tables_ = std::move(loaded);
    rounding_rng_.set_state(rs);
    return OkStatus();
  }

  std::vector<RowTableSpec> StoredTables() const override {
    std::vector<RowTableSpec> specs;
    for (const Table& tb : tables_) specs.push_back(tb.spec);
    return specs;
  }

  Status ReadRows(int table, uint64_t begin, uint64_t count, float* out) const override {
    RETURN_IF_ERROR(CheckRange(table, begin, count));
    const Table& tb = tables_[table];
    const size_t w = tb.spec.width;
    if (!tb.coded()) {
      std::memcpy(out, tb.values.data() + begin * w, count * w * sizeof(float));
      return OkStatus();
    }
    for (uint64_t i = 0; i < count; ++i) DecodeOne(tb, begin + i, out + i * w);
    return OkStatus();
  }

  Status ReadRowsAt(int table, std::span<const uint64_t> rows, float* out) const override {
    RETURN_IF_ERROR(CheckRange(table, 0, 0));
    const Table& tb = tables_[table];
    const size_t w = tb.spec.width;
    for (uint64_t r : rows)
      if (r >= tb.spec.rows)
        return OutOfRange("row ", r, " of table '", tb.spec.name, "' (", tb.spec.rows, " rows)");
    if (tb.coded()) {
      for (size_t i = 0; i < rows.size(); ++i) DecodeOne(tb, rows[i], out + i * w);
      return OkStatus();
    }
    const float* src = tb.values.data();
    const size_t n = rows.size();
    constexpr size_t kAhead = 8;  // scattered rows: keep several misses in flight
    for (size_t i = 0; i < n; ++i) {
      if (i + kAhead < n) {  // first and last line: a row may straddle two
        __builtin_prefetch(src + rows[i + kAhead] * w);
        __builtin_prefetch(src + rows[i + kAhead] * w + w - 1);
      }
      if (w == 16) {  // the common width: a constant-size copy, no call per row
        std::memcpy(out + i * w, src + rows[i] * w, 16 * sizeof(float));
      } else {
        std::memcpy(out + i * w, src + rows[i] * w, w * sizeof(float));
      }
    }
    return OkStatus();
  }

  Status ReadKeysAt(int table, std::span<const uint64_t> keys, float* out) const override {
    RETURN_IF_ERROR(CheckRange(table, 0, 0));
    if (!IsKeyed(table))
      return InvalidArgument("table '", tables_[table].spec.name, "' is not keyed");
    thread_local std::vector<uint64_t> resolved;
    RETURN_IF_ERROR(ResolveKeys(table, keys, &resolved));
    for (uint64_t r : resolved)
      if (r == kNoRow) return InvalidArgument("a read of a keyed table by key holds kNoRow");
    return ReadRowsAt(table, resolved, out);
  }

  Status WriteRows(int table, uint64_t begin, uint64_t count, const float* values,
                   const float* scale_zero = nullptr) override {
    RETURN_IF_ERROR(CheckRange(table, begin, count));
    Table& tb = tables_[table];
    const size_t w = tb.spec.width;
    // Whole-table writes are rare: every value is checked before any is
    // written, so a bad write changes nothing.
    for (size_t i = 0; i < count * w; ++i)
      if (!std::isfinite(values[i]))
        return InvalidArgument("write of table '", tb.spec.name, "': row ", begin + i / w,
                               " element ", i % w, " is ", values[i],
                               " (not finite); nothing was written");
    if (!tb.coded()) {
      std::memcpy(tb.values.data() + begin * w, values, count * w * sizeof(float));
      return OkStatus();
    }
    if (tb.spec.quant != QuantScheme::kPerRow) scale_zero = nullptr;
    for (uint64_t i = 0; i < count; ++i)
      EncodeOne(&tb, begin + i, values + i * w, scale_zero ? scale_zero + 2 * i : nullptr);
    return tb.stats.Check(tb.spec);
  }

  Status ReadCodes(int table, std::span<const uint64_t> rows, uint8_t* codes,
                   float* scale_zero) const override {
    RETURN_IF_ERROR(CheckRange(table, 0, 0));
    const Table& tb = tables_[table];
    if (!tb.coded()) return InvalidArgument("table '", tb.spec.name, "' is fp32: it has no codes");
    const bool per_row = tb.spec.quant == QuantScheme::kPerRow;
    for (size_t i = 0; i < rows.size(); ++i) {
      const uint64_t r = rows[i];
      if (r >= tb.spec.rows)
        return OutOfRange("row ", r, " of table '", tb.spec.name, "' with ", tb.spec.rows, " rows");
      std::memcpy(codes + i * tb.row_bytes, tb.codes.data() + r * tb.row_bytes, tb.row_bytes);
      if (per_row && scale_zero != nullptr)
        std::memcpy(scale_zero + 2 * i, tb.scale_zero.data() + 2 * r, 2 * sizeof(float));
    }
    return OkStatus();
  }

  Status SetKeyMappings(const std::vector<KeyMappingSpec>& specs, int partition) override {
    std::vector<uint64_t> rows;
    std::vector<bool> f32_untrained;
    for (const Table& tb : tables_) {
      rows.push_back(tb.spec.rows);
      f32_untrained.push_back(!tb.coded() && !tb.spec.trainable);
    }
    RETURN_IF_ERROR(CheckKeyMappings(specs, rows, f32_untrained));
    std::vector<Mapping> next;
    for (const KeyMappingSpec& spec : specs) {
      const KeyMappingKind* kind = FindKeyMappingKind(spec.kind);
      const Table& data = tables_[spec.data_table];
      if (data.coded())
        return InvalidArgument("key mapping ", spec.kind, ": data table '", data.spec.name,
                               "' must be fp32");
      if (tables_[spec.key_table].spec.width != kind->KeyWidth(spec) ||
          tables_[spec.row_table].spec.width != kind->RowWidth(spec))
        return InvalidArgument("key mapping ", spec.kind, ": key/row tables of width ",
                               tables_[spec.key_table].spec.width, "/",
                               tables_[spec.row_table].spec.width, ", the kind needs ",
                               kind->KeyWidth(spec), "/", kind->RowWidth(spec));
      if (partition >= spec.partitions)
        return InvalidArgument("key mapping ", spec.kind, ": partition ", partition, " of ",
                               spec.partitions);
      next.push_back({spec, kind, partition, rows});
    }
    mappings_ = std::move(next);
    keyed_.assign(tables_.size(), -1);
    for (size_t i = 0; i < mappings_.size(); ++i)
      keyed_[mappings_[i].spec.data_table] = static_cast<int>(i);
    return OkStatus();
  }

  Status AdvanceKeyMappings(int64_t step) override {
    for (const Mapping& m : mappings_) {
      RETURN_IF_ERROR(CheckMapping(m));
      ForEachPartition(m, [&](PartitionView* v) { m.kind->EndStep(m.spec, v, step); });
    }
    return OkStatus();
  }

  StatusOr<NamedKeyStats> KeyStatistics(int64_t step, int top) const override {
    NamedKeyStats out;
    for (const Mapping& m : mappings_) {
      if (!CheckMapping(m).ok()) continue;
      KeyStats stats(m.spec.kind, m.spec.field_offsets, top);
      const_cast<LocalRowStore*>(this)->ForEachPartition(m, [&](PartitionView* v) {
        m.kind->ForEachTracked(m.spec, *v, step, [&](uint64_t k, double f, bool own) {
          stats.Add(v->GlobalKey(k), f, own);
        });
      });
      out.emplace_back(tables_[m.spec.data_table].spec.name, std::move(stats));
    }
    return out;
  }

 private:
  Status CheckRange(int table, uint64_t begin, uint64_t count) const {
    if (table < 0 || static_cast<size_t>(table) >= tables_.size())
      return OutOfRange("table ", table, " not in [0, ", tables_.size(), ")");
    const uint64_t rows = tables_[table].spec.rows;
    if (begin > rows || count > rows - begin)
      return OutOfRange("rows [", begin, ", ", begin + count, ") of table '",
                        tables_[table].spec.name, "' with ", rows, " rows");
    return OkStatus();
  }

  // The (scale, zero) pair that decodes row r.
  static void RowParams(const Table& tb, uint64_t r, float* scale, float* zero) {
    if (tb.spec.quant == QuantScheme::kPerRow) {
      *scale = tb.scale_zero[2 * r];
      *zero = tb.scale_zero[2 * r + 1];
    } else {
      *scale = static_cast<float>(tb.spec.scale);
      *zero = static_cast<float>(tb.spec.zero);
    }
  }

  static void DecodeOne(const Table& tb, uint64_t r, float* out) {
    float scale, zero;
    RowParams(tb, r, &scale, &zero);
    row_codec::DecodeRow(tb.spec.dtype, tb.spec.width, tb.codes.data() + r * tb.row_bytes, scale,
                         zero, out);
  }

  // Writes fp32 values into row r with the table's rounding. Per-row tables
  // take `sz` (scale, zero) if given, keep a learned scale, or derive the
  // pair from the row's min/max.
  void EncodeOne(Table* tb, uint64_t r, const float* in, const float* sz) {
    const RowTableSpec& s = tb->spec;
    float scale, zero;
    if (s.quant == QuantScheme::kPerRow) {
      float* pair = tb->scale_zero.data() + 2 * r;
      if (sz != nullptr) {
        pair[0] = sz[0];
        pair[1] = s.learn_scale ? 0.0f : sz[1];
        if (s.scale_dtype == DType::kF16) {
          pair[0] = row_codec::HalfToFloat(row_codec::FloatToHalf(pair[0]));
          pair[1] = row_codec::HalfToFloat(row_codec::FloatToHalf(pair[1]));
        }
      } else if (!s.learn_scale) {
        row_codec::RowMinMaxParams(s.dtype, s.width, in, s.scale_dtype == DType::kF16, pair,
                                   pair + 1);
      }
    }
    RowParams(*tb, r, &scale, &zero);
    const float* u = nullptr;
    int stride = 0;
    switch (s.rounding) {
      case Rounding::kNearest:
        break;
      case Rounding::kStochasticPerRow:
        draws_.resize(1);
        draws_[0] = rounding_rng_.UniformFloat();
        u = draws_.data();
        break;
      case Rounding::kStochasticPerElement:
        draws_.resize(s.width);
        for (float& d : draws_) d = rounding_rng_.UniformFloat();
        u = draws_.data();
        stride = 1;
        break;
    }
    tb->stats.Add(row_codec::EncodeRow(s.dtype, s.width, in, scale, zero, u, stride,
                                       tb->codes.data() + r * tb->row_bytes));
  }

  // The optimizer step of a coded table for the n distinct `rows` with
  // gradients grads[u * width ...]: decode, fp32 update, (ALPT: scale step),
  // encode with rounding. `lookups` is the number of (duplicated) row
  // references in the batch.
  void PushCoded(Table* tb, const uint64_t* rows, const float* grads, size_t n, size_t lookups,
                 const SparseStepFactors& factors) {
    const RowTableSpec& s = tb->spec;
    const int w = s.width;
    const size_t sf = tb->state_floats;
    row_.resize(w);
    // LSQ gradient scale g = 1 / sqrt(N * d * qmax) (docs/methods.md §2.18); N is
    // the table's lookups in this batch, the batch dimension of CODE's
    // embedding lookup.
    const row_codec::CodeRange cr = row_codec::Range(s.dtype);
    const double lsq_g =
        s.learn_scale ? 1.0 / std::sqrt(static_cast<double>(lookups) * w * cr.qmax) : 0.0;
    SparseOptimizerConfig scale_cfg = scale_opt_;
    scale_cfg.lr = static_cast<float>(s.scale_lr);
    for (size_t u = 0; u < n; ++u) {
      const uint64_t r = rows[u];
      const float* g = grads + u * w;
      DecodeOne(*tb, r, row_.data());
      ApplySparseUpdate(opt_, factors, w, g, row_.data(), tb->state.data() + r * sf);
      if (s.learn_scale) {
        float* scale = tb->scale_zero.data() + 2 * r;
        float grad =
            static_cast<float>(row_codec::LsqScaleGrad(row_.data(), g, w, *scale, cr) * lsq_g);
        ApplySparseUpdate(scale_cfg, factors, 1, &grad, scale, tb->scale_state.data() + 2 * r);
        // A scale that reached 0 could never recover; keep it positive.
        *scale = std::max(*scale, kMinLearnedScale);
      }
      EncodeOne(tb, r, row_.data(), nullptr);
    }
  }

  // Fills unique_ (rows of table `table` in first-occurrence order over the
  // runs of that table, kNoRow skipped) and sums_ (their summed gradients,
  // summed in that order). Nothing is updated yet, so an error loses nothing.
  // `limit` (0: the table's rows) bounds the ids (keys of a keyed table);
  // `counts`, if set, gets each unique id's occurrences.
  Status SumDuplicates(const Table& tb, std::span<const GradRun> runs, int table = -1,
                       uint64_t limit = 0, std::vector<uint32_t>* counts = nullptr) {
    const size_t w = tb.spec.width;
    if (limit == 0) limit = tb.spec.rows;
    if (counts != nullptr) counts->clear();
    size_t total = 0;
    for (const GradRun& run : runs)
      if (table < 0 || run.table == table) total += run.rows.size();
    dedup_.Begin(total);
    unique_.clear();
    unique_.reserve(total);
    if (sums_.size() < total * w) sums_.resize(total * w);
    constexpr size_t kAhead = 8;
    for (const GradRun& run : runs) {
      if (table >= 0 && run.table != table) continue;
      const std::span<const uint64_t> rows = run.rows;
      for (size_t i = 0; i < rows.size(); ++i) {
        if (i + kAhead < rows.size() && rows[i + kAhead] != kNoRow)
          dedup_.Prefetch(rows[i + kAhead]);
        const uint64_t r = rows[i];
        if (r == kNoRow) continue;
        if (r >= limit) return RowOutOfRange(tb, r);
        bool inserted;
        const uint32_t u = dedup_.Insert(r, &inserted);
        float* __restrict s = sums_.data() + static_cast<size_t>(u) * w;
        const float* __restrict g = run.grads + i * w;
        if (inserted) {
          unique_.push_back(r);
          std::memcpy(s, g, w * sizeof(float));
          if (counts != nullptr) counts->push_back(0);
        } else {
          for (size_t j = 0; j < w; ++j) s[j] += g[j];
        }
        if (counts != nullptr) ++(*counts)[u];
      }
    }
    return OkStatus();
  }

  // ------------------------------------------------------------ keyed tables
  struct Mapping {
    KeyMappingSpec spec;
    const KeyMappingKind* kind = nullptr;
    int partition = -1;          // -1: every partition, global ids
    std::vector<uint64_t> rows;  // the tables' rows when set (CheckMapping)
  };

  // One partition of a mapping over this store's arrays (key_mapping.h).
  // Built per call: a few words. Resolve() uses the const accessors only;
  // the store is const there.
  class PartitionView final : public KeyPartition {
   public:
    PartitionView(const LocalRowStore* store, const Mapping& m, int p)
        : store_(const_cast<LocalRowStore*>(store)),
          m_(m),
          p_(p),
          step_(m.partition >= 0 ? 1 : static_cast<uint64_t>(m.spec.partitions)),
          first_(m.partition >= 0 ? 0 : static_cast<uint64_t>(p)) {}
    int partition() const override { return p_; }
    int partitions() const override { return m_.spec.partitions; }
    uint64_t keys() const override { return Count(store_->tables_[m_.spec.key_table].spec.rows); }
    uint64_t rows() const override { return Count(store_->tables_[m_.spec.data_table].spec.rows); }
    const float* key_state(uint64_t k) const override { return State(m_.spec.key_table, k); }
    float* mutable_key_state(uint64_t k) override { return State(m_.spec.key_table, k); }
    const float* row_state(uint64_t r) const override { return State(m_.spec.row_table, r); }
    float* mutable_row_state(uint64_t r) override { return State(m_.spec.row_table, r); }
    int width() const override { return Data().spec.width; }
    const float* data_row(uint64_t r) const override {
      return Data().values.data() + Id(r) * Data().spec.width;
    }
    void CopyRow(uint64_t src, uint64_t dst) override {
      Table& tb = Data();
      const size_t w = tb.spec.width;
      std::memcpy(tb.values.data() + Id(dst) * w, tb.values.data() + Id(src) * w,
                  w * sizeof(float));
      FreshState(dst);
    }
    void BlendRow(uint64_t src, uint64_t dst, float wt) override {
      Table& tb = Data();
      const size_t w = tb.spec.width;
      const float* a = tb.values.data() + Id(src) * w;
      float* b = tb.values.data() + Id(dst) * w;
      for (size_t j = 0; j < w; ++j) b[j] = (1.0f - wt) * b[j] + wt * a[j];
    }
    void InitRow(uint64_t dst, uint64_t global_key) override {
      Table& tb = Data();
      KeyInitialRow(m_.spec.seed, global_key, m_.spec.init_bound, tb.spec.width,
                    tb.values.data() + Id(dst) * tb.spec.width);
      FreshState(dst);
    }
    // The store's id of partition-local id `local`.
    uint64_t Id(uint64_t local) const { return local * step_ + first_; }

   private:
    uint64_t Count(uint64_t n) const { return n > first_ ? (n - first_ + step_ - 1) / step_ : 0; }
    float* State(int table, uint64_t local) const {
      Table& tb = store_->tables_[table];
      return tb.values.data() + Id(local) * tb.spec.width;
    }
    Table& Data() const { return store_->tables_[m_.spec.data_table]; }
    void FreshState(uint64_t local) const {
      Table& tb = Data();
      const size_t sf = tb.state_floats;
      std::fill_n(tb.state.data() + Id(local) * sf, sf, StateInitValue(store_->opt_));
    }

    LocalRowStore* store_;
    const Mapping& m_;
    const int p_;
    const uint64_t step_, first_;
  };

  bool IsKeyed(size_t t) const { return t < keyed_.size() && keyed_[t] >= 0; }

  void ClearKeyMappings() {
    mappings_.clear();
    keyed_.assign(tables_.size(), -1);
  }

  // The tables still have the shapes the mapping was set for (a Load() of
  // other tables leaves a stale mapping that must not index them).
  Status CheckMapping(const Mapping& m) const {
    if (m.rows.size() != tables_.size())
      return FailedPrecondition("key mapping ", m.spec.kind,
                                ": the tables changed since it was set; set it again");
    for (size_t t = 0; t < tables_.size(); ++t)
      if (tables_[t].spec.rows != m.rows[t])
        return FailedPrecondition("key mapping ", m.spec.kind,
                                  ": the tables changed since it was set; set it again");
    return OkStatus();
  }

  // Keys of keyed table t (the key table's rows, in this store's ids).
  uint64_t KeyLimit(size_t t) const {
    const Mapping& m = mappings_[keyed_[t]];
    if (m.spec.keys == 0) return tables_[m.spec.key_table].spec.rows;
    if (m.partition < 0) return m.spec.keys;
    const uint64_t np = static_cast<uint64_t>(m.spec.partitions);
    const uint64_t v = static_cast<uint64_t>(m.partition);
    return m.spec.keys > v ? (m.spec.keys - v + np - 1) / np : 0;
  }

  template <typename Fn>
  void ForEachPartition(const Mapping& m, Fn fn) {
    if (m.partition >= 0) {
      PartitionView v(this, m, m.partition);
      fn(&v);
      return;
    }
    for (int p = 0; p < m.spec.partitions; ++p) {
      PartitionView v(this, m, p);
      fn(&v);
    }
  }

  // out[i] = the row of key keys[i] of keyed table t (kNoRow stays kNoRow).
  Status ResolveKeys(size_t t, std::span<const uint64_t> keys, std::vector<uint64_t>* out) const {
    const Mapping& m = mappings_[keyed_[t]];
    RETURN_IF_ERROR(CheckMapping(m));
    const uint64_t limit = KeyLimit(t);
    out->resize(keys.size());
    const uint64_t np = static_cast<uint64_t>(m.spec.partitions);
    for (size_t i = 0; i < keys.size(); ++i) {
      const uint64_t k = keys[i];
      if (k == kNoRow) {
        (*out)[i] = kNoRow;
        continue;
      }
      if (k >= limit)
        return OutOfRange("key ", k, " of keyed table '", tables_[t].spec.name, "' (", limit,
                          " keys)");
      if (m.partition >= 0) {
        const PartitionView v(this, m, m.partition);
        (*out)[i] = m.kind->Resolve(m.spec, v, k);
        continue;
      }
      const int p = static_cast<int>(k % np);
      const PartitionView v(this, m, p);
      (*out)[i] = v.Id(m.kind->Resolve(m.spec, v, k / np));
    }
    return OkStatus();
  }

  // A push of keyed table t: runs of distinct keys (per run) with their
  // summed gradients and counts. Counts the keys, resolves them and applies
  // the rows' summed gradients.
  Status PushKeyed(Table& tb, size_t t, std::span<const GradRun> runs, uint64_t lookups,
                   const SparseStepFactors& factors, int64_t step) {
    const Mapping& m = mappings_[keyed_[t]];
    RETURN_IF_ERROR(CheckMapping(m));
    const uint64_t limit = KeyLimit(t);
    const uint64_t np = static_cast<uint64_t>(m.spec.partitions);
    size_t total = 0;
    for (const GradRun& r : runs) {
      if (r.table != static_cast<int>(t)) continue;
      if (r.counts.size() != r.rows.size())
        return InvalidArgument("push of keyed table '", tb.spec.name, "': ", r.rows.size(),
                               " keys but ", r.counts.size(), " counts");
      for (uint64_t k : r.rows)
        if (k >= limit)
          return OutOfRange("key ", k, " of keyed table '", tb.spec.name, "' (", limit, " keys)");
      total += r.rows.size();
    }
    resolved_.resize(total);
    resolved_runs_.clear();
    size_t used = 0;
    for (const GradRun& r : runs) {
      if (r.table != static_cast<int>(t)) continue;
      for (size_t i = 0; i < r.rows.size(); ++i) {
        const uint64_t k = r.rows[i];
        const int p = m.partition >= 0 ? m.partition : static_cast<int>(k % np);
        const uint64_t local = m.partition >= 0 ? k : k / np;
        PartitionView v(this, m, p);
        const std::span<const float> g(r.grads + i * tb.spec.width, tb.spec.width);
        m.kind->Count(m.spec, &v, local, r.counts[i], g, step);
        resolved_[used + i] = v.Id(m.kind->Resolve(m.spec, v, local));
      }
      resolved_runs_.push_back(
          {r.table, std::span<const uint64_t>(resolved_.data() + used, r.rows.size()), r.grads});
      used += r.rows.size();
    }
    RETURN_IF_ERROR(SumDuplicates(tb, resolved_runs_, static_cast<int>(t)));
    if (!unique_.empty())
      Update(&tb, unique_.data(), sums_.data(), unique_.size(), lookups, factors);
    return OkStatus();
  }

  std::vector<Mapping> mappings_;
  std::vector<int> keyed_;  // per table: its mapping's index, or -1
  std::vector<uint64_t> key_unique_, resolved_;
  std::vector<float> key_sums_;
  std::vector<uint32_t> key_counts_;
  std::vector<GradRun> resolved_runs_;

  SparseOptimizerConfig opt_;
  SparseOptimizerConfig scale_opt_;
  std::vector<Table> tables_;
  Rng rounding_rng_;
  // Per-Push scratch, kept to avoid allocating in the steady state.
  RowDeduper dedup_;
  std::vector<uint64_t> unique_;
  std::vector<float> sums_;
  std::vector<float> row_;
  std::vector<float> draws_;
};

}  // namespace

Status ValidateRowCopies(const std::vector<RowTableSpec>& from, const std::vector<RowTableSpec>& to,
                         std::span<const RowCopy> copies) {
  for (size_t i = 0; i < copies.size(); ++i) {
    const RowCopy& c = copies[i];
    if (c.src_table < 0 || static_cast<size_t>(c.src_table) >= from.size() || c.dst_table < 0 ||
        static_cast<size_t>(c.dst_table) >= to.size())
      return OutOfRange("row copy ", i, ": table ", c.src_table, " -> ", c.dst_table,
                        " does not exist (", from.size(), " tables before, ", to.size(), " after)");
    const RowTableSpec& s = from[c.src_table];
    const RowTableSpec& d = to[c.dst_table];
    if (s.width != d.width)
      return InvalidArgument("row copy ", i, ": table '", s.name, "' has width ", s.width, " but '",
                             d.name, "' ", d.width);
    if (c.src_begin > s.rows || c.count > s.rows - c.src_begin || c.dst_begin > d.rows ||
        c.count > d.rows - c.dst_begin)
      return OutOfRange("row copy ", i, ": rows [", c.src_begin, ", +", c.count, ") of '", s.name,
                        "' (", s.rows, " rows) to [", c.dst_begin, ", +", c.count, ") of '", d.name,
                        "' (", d.rows, " rows)");
  }
  return OkStatus();
}

Status RowStore::Reshape(const std::vector<RowTableSpec>& tables, uint64_t seed,
                         std::span<const RowCopy> copies) {
  RETURN_IF_ERROR(ValidateRowCopies(StoredTables(), tables, copies));
  std::vector<std::vector<float>> kept(copies.size());
  for (size_t i = 0; i < copies.size(); ++i) {
    const RowCopy& c = copies[i];
    kept[i].resize(c.count * static_cast<size_t>(tables[c.dst_table].width));
    RETURN_IF_ERROR(ReadRows(c.src_table, c.src_begin, c.count, kept[i].data()));
  }
  RETURN_IF_ERROR(Reset(tables, seed));
  for (size_t i = 0; i < copies.size(); ++i)
    RETURN_IF_ERROR(
        WriteRows(copies[i].dst_table, copies[i].dst_begin, copies[i].count, kept[i].data()));
  return OkStatus();
}

Status CheckRowTableSpec(const RowTableSpec& spec, int index) {
  return CheckSupported(spec, index);
}

uint64_t StoredRowBytes(const RowTableSpec& spec) {
  uint64_t b = row_codec::RowBytes(spec.dtype, spec.width);
  if (spec.quant == QuantScheme::kPerRow) {
    // A learned scale has no zero point (ALPT: zero fixed at 0).
    const uint64_t params = spec.learn_scale ? 1 : 2;
    b += params * DTypeBits(spec.scale_dtype) / 8;
  }
  return b;
}

uint64_t OptimizerRowBytes(const RowTableSpec& spec, SparseOptimizerKind kind) {
  if (!spec.trainable) return 0;
  uint64_t floats = StateFloatsPerRow(kind, spec.width);
  if (spec.quant == QuantScheme::kPerRow && spec.learn_scale) floats += 2;  // AllocateCoded
  return floats * sizeof(float);
}

std::unique_ptr<RowStore> NewLocalRowStore(const SparseOptimizerConfig& opt) {
  return std::make_unique<LocalRowStore>(opt);
}

StatusOr<RowStoreContents> DescribeRowStore(ByteSource* src, SparseOptimizerKind kind) {
  RowStoreContents c;
  Rng::State rs;
  RETURN_IF_ERROR(ParseRowStoreBlob(src, kind, nullptr, nullptr, &rs, &c));
  return c;
}

}  // namespace ecps
