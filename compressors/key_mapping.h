// Feature->row mappings held where the rows are (docs/architecture.md,
// "Feature->row mappings on the servers").
//
// A method whose encoding changes with the data it sees (managed-collision
// hashing, AdaptEmb's promotions) declares a *keyed* table: its plan
// addresses that table by key (the global feature id) instead of by row, and
// the store resolves each key to a row through the method's mapping kind.
// The mapping's state lives in two ordinary row tables of the method, so it
// is sharded, checkpointed, resharded and charged exactly as rows are:
//   key table  one row per key (width KeyWidth(spec)): the key's row, its
//              decayed frequency, the step it was last seen, ...;
//   row table  one row per data row (width RowWidth(spec)): its owner, a
//              cluster's statistics, ...
// Everything about a key lives in one partition: key k, its key-table row k,
// and the data rows it may use (r with r mod P == k mod P), where P =
// `partitions` is the model's virtual shard count. A parameter server holds
// whole partitions (its virtual shards), so resolving a key, counting it and
// moving rows at a promotion never cross the network, and the result of a
// step does not depend on how many servers hold the partitions.
//
// The store drives the kind (embedding/row_store.h SetKeyMappings):
//   Resolve  every read and write of the data table (pulls, pushes), const;
//   Count    the training occurrences of each key, from the pushes;
//   EndStep  once per step after every worker's push of that step
//            (promotions, demotions, admissions, evictions).
// Under BSP the mapping therefore changes only between steps: a step's pull
// and push of a key resolve to the same row.
//
// Thread-safety: kinds are stateless singletons; a KeyPartition is used by
// one thread at a time for Count/EndStep, and concurrently for Resolve.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace ecps {

struct KeyMappingSpec {
  std::string kind;    // a registered KeyMappingKind (FindKeyMappingKind)
  int data_table = 0;  // the table its plans address by key
  int key_table = 0;   // per-key state rows (rows = the number of keys)
  int row_table = 0;   // per-data-row state rows (rows = the data table's)
  int partitions = 1;
  // Keys the data table is addressed by (0: the key table's rows, one state
  // row per key). A kind whose key state is a sketch (CAFE's HotSketch) has
  // fewer key-table rows than keys.
  uint64_t keys = 0;           // P: key k and row r belong to partition k mod P, r mod P
  uint64_t seed = 0;           // the kind's hashes and initial values
  double init_bound = 0;       // InitRow: U(-init_bound, init_bound) (KeyInitialRow)
  std::vector<double> params;  // the kind's parameters (its own layout)
  // The first global key of each field (FeatureSpace::offsets: ascending,
  // from 0), for the statistics per field (KeyStats). Empty: one field.
  std::vector<uint64_t> field_offsets;
  bool operator==(const KeyMappingSpec&) const = default;
};

// One partition of a keyed table as its kind sees it: partition-local key and
// data-row ids (global id = local * P + partition), and the state rows as
// fp32 (exact small integers where they hold ids). The store implements it
// over its own arrays.
class KeyPartition {
 public:
  virtual ~KeyPartition() = default;
  virtual int partition() const = 0;
  virtual int partitions() const = 0;
  virtual uint64_t keys() const = 0;  // key-table rows of this partition (keys, or sketch rows)
  virtual uint64_t rows() const = 0;  // local data rows of this partition
  virtual const float* key_state(uint64_t key) const = 0;
  virtual float* mutable_key_state(uint64_t key) = 0;
  virtual const float* row_state(uint64_t row) const = 0;
  virtual float* mutable_row_state(uint64_t row) = 0;
  // The data rows themselves, read-only (CEL's reassignment compares a key's
  // gradient with the rows of its candidate clusters): width() floats.
  virtual int width() const = 0;
  virtual const float* data_row(uint64_t row) const = 0;
  // Data-row moves. The destination's optimizer state restarts (a promoted
  // or admitted row must not inherit another feature's moments).
  virtual void CopyRow(uint64_t src, uint64_t dst) = 0;
  // dst <- (1 - w) * dst + w * src; dst keeps its optimizer state.
  virtual void BlendRow(uint64_t src, uint64_t dst, float w) = 0;
  // dst <- the initial values of global key `global_key` (KeyInitialRow
  // with the spec's seed and init_bound), fresh optimizer state.
  virtual void InitRow(uint64_t dst, uint64_t global_key) = 0;
  uint64_t GlobalKey(uint64_t local) const {
    return local * static_cast<uint64_t>(partitions()) + static_cast<uint64_t>(partition());
  }
};

// What a method's mapping does, without knowing where it runs.
class KeyMappingKind {
 public:
  virtual ~KeyMappingKind() = default;
  virtual const char* Name() const = 0;
  // State-row widths; they may depend on the spec (CEL keeps d-wide
  // gradient statistics per cluster, d in its params).
  virtual int KeyWidth(const KeyMappingSpec& spec) const = 0;
  virtual int RowWidth(const KeyMappingSpec& spec) const = 0;
  // Checks spec.params; InvalidArgument naming the parameter.
  virtual Status Check(const KeyMappingSpec& spec) const = 0;
  // The local data row of local key `key`. Const: concurrent reads.
  virtual uint64_t Resolve(const KeyMappingSpec& spec, const KeyPartition& p,
                           uint64_t key) const = 0;
  // `n` training occurrences of local key `key` at 1-based step `step`, with
  // `grad` the key's summed gradient in this push (width() floats: CAFE's
  // importance is its norm, CEL's statistics the vector), read before the
  // push updates any row. Must not change what Resolve() returns: the mapping
  // moves only in EndStep(), so a step's pull and push of a key meet one row.
  virtual void Count(const KeyMappingSpec& spec, KeyPartition* p, uint64_t key, uint32_t n,
                     std::span<const float> grad, int64_t step) const = 0;
  // After every push of step `step`.
  virtual void EndStep(const KeyMappingSpec& spec, KeyPartition* p, int64_t step) const = 0;
  // fn(local key, its decayed frequency (or importance) at `step`, whether
  // it holds a row of its own) for every key this partition tracks
  // (statistics: histograms and top-k).
  virtual void ForEachTracked(const KeyMappingSpec& spec, const KeyPartition& p, int64_t step,
                              const std::function<void(uint64_t, double, bool)>& fn) const = 0;
};

// The registered kinds (compressors/key_mapping.cc); null for another name.
const KeyMappingKind* FindKeyMappingKind(const std::string& name);

// Checks `specs` against the tables they name: kind registered, tables
// distinct and present, widths equal to the kind's, key and row tables fp32,
// not trainable, as many rows as data rows for the row table, partitions >= 1,
// at most 2^24 local ids per partition (the state rows hold ids as exact
// floats). `table_rows[t]`, `table_widths[t]`, `f32_untrained[t]`: the
// tables' shapes. Errors name the mapping and the table.
Status CheckKeyMappings(const std::vector<KeyMappingSpec>& specs,
                        const std::vector<uint64_t>& table_rows,
                        const std::vector<bool>& f32_untrained);

// Initial values of a row handed to a new feature (an admitted or evicted
// slot): U(-bound, bound) per element from (seed, global key, element), the
// same on every server and in one process.
void KeyInitialRow(uint64_t seed, uint64_t global_key, double bound, int width, float* out);

// 2^(-(now - last) / half_life) * count: a frequency decayed with half-life
// `half_life` steps (0: no decay).
double DecayedCount(double count, double last, int64_t now, double half_life);

// A well-mixed 64-bit hash of (seed, key), for a kind's shared rows.
uint64_t KeyHash(uint64_t seed, uint64_t key);

// Frequency statistics of one keyed table (the results' "key_mappings",
// docs/cli.md), from ForEachTracked over its partitions: the keys seen, those
// holding a row of their own, a log2 histogram of the decayed counts (bin 0:
// below 1, bin b: [2^(b-1), 2^b), the last bin open) and the `top` hottest
// keys (count descending, then key ascending), in total and per field
// (spec.field_offsets). Parts of one table -- a server's virtual shards, the
// servers of a cluster -- merge exactly: counts and bins add, and the top of
// the union of the parts' tops is the top of the whole.
class KeyStats {
 public:
  static constexpr int kBins = 33;
  struct Group {
    uint64_t seen = 0, own = 0;
    std::vector<uint64_t> hist = std::vector<uint64_t>(kBins, 0);
    std::vector<std::pair<double, uint64_t>> top;  // (count, global key), hottest first
  };
  KeyStats(std::string kind, std::vector<uint64_t> field_offsets, int top);
  // One tracked key; f <= 0 is not counted.
  void Add(uint64_t global_key, double f, bool own_row);
  // Adds `other` (same kind and fields; InvalidArgument otherwise).
  Status Merge(const KeyStats& other);
  // {"kind", "keys_seen", "keys_with_own_row", "log2_histogram", "top": [[key, count]...],
  //  "fields": [{"field", "first_key", "keys_seen", "keys_with_own_row", "log2_histogram",
  //  "top"}...]}
  std::string Json() const;

  const std::string& kind() const { return kind_; }
  const std::vector<uint64_t>& field_offsets() const { return offsets_; }
  const Group& total() const { return total_; }
  const std::vector<Group>& fields() const { return fields_; }

 private:
  friend std::string EncodeKeyStats(const std::vector<std::pair<std::string, KeyStats>>& stats);
  friend StatusOr<std::vector<std::pair<std::string, KeyStats>>> DecodeKeyStats(
      const std::string& bytes);
  void Offer(Group* g, double f, uint64_t key) const;
  std::string kind_;
  std::vector<uint64_t> offsets_;
  int top_;
  Group total_;
  std::vector<Group> fields_;
};

// A store's statistics: one entry per keyed table, by its data table's name.
using NamedKeyStats = std::vector<std::pair<std::string, KeyStats>>;
// Adds `part` into `into` table by table (a table new to `into` is appended).
Status MergeKeyStats(NamedKeyStats* into, const NamedKeyStats& part);
// {"<table>": KeyStats::Json(), ...}; "{}" for none.
std::string KeyStatsJson(const NamedKeyStats& stats);
// Wire form (a parameter server's statistics reply; versioned, bounded).
std::string EncodeKeyStats(const NamedKeyStats& stats);
StatusOr<NamedKeyStats> DecodeKeyStats(const std::string& bytes);

// Wire and checkpoint encoding of mapping specs (versioned, bounded).
std::string EncodeKeyMappings(const std::vector<KeyMappingSpec>& specs);
StatusOr<std::vector<KeyMappingSpec>> DecodeKeyMappings(const std::string& bytes);

}  // namespace ecps
