// Where a row lives (docs/architecture.md "How a parameter server shards the
// rows"): row r of every table belongs to virtual shard r mod V at local
// index r div V, and virtual shard v is served by server v mod S. V is fixed
// for the life of a model (it is recorded in checkpoints); S may change
// between a checkpoint and the run that resumes from it, because a checkpoint
// is one blob per virtual shard.
//
// Thread-safety: immutable value type.
#pragma once

#include <cstdint>

namespace ecps::ps {

struct ShardMap {
  int num_servers = 1;
  int virtual_shards = 1;

  int VShardOf(uint64_t row) const { return static_cast<int>(row % virtual_shards); }
  uint64_t LocalRow(uint64_t row) const { return row / virtual_shards; }
  uint64_t GlobalRow(int vshard, uint64_t local) const {
    return local * virtual_shards + static_cast<uint64_t>(vshard);
  }
  int ServerOfVShard(int vshard) const { return vshard % num_servers; }
  int ServerOf(uint64_t row) const { return ServerOfVShard(VShardOf(row)); }
  // Rows of a table of `rows` rows held by virtual shard `vshard`.
  uint64_t RowsInVShard(uint64_t rows, int vshard) const {
    const uint64_t v = static_cast<uint64_t>(vshard);
    return rows > v ? (rows - v + virtual_shards - 1) / virtual_shards : 0;
  }
};

// Division by a fixed d >= 1 without a hardware division per call, for the
// per-row loops of the client and the server (a 64-bit division is an order
// of magnitude slower than a multiplication). With c = ceil(2^64 / d), for
// every n, d < 2^32: n div d = (c * n) >> 64, and n mod d = ((c * n mod 2^64)
// * d) >> 64 (Lemire, Kaser and Kurz, "Faster remainder by direct
// computation", 2019). Larger n or d fall back to the plain division.
class Divider {
 public:
  explicit Divider(uint64_t d = 1) : d_(d), c_(d >= 2 && d <= kMax32 ? ~uint64_t{0} / d + 1 : 0) {}
  uint64_t divisor() const { return d_; }
  // *q = n / d, *r = n % d.
  void DivMod(uint64_t n, uint64_t* q, uint64_t* r) const {
    if (c_ != 0 && n <= kMax32) {
      const uint64_t low = c_ * n;
      *q = MulHigh(c_, n);
      *r = MulHigh(low, d_);
    } else if (d_ == 1) {
      *q = n;
      *r = 0;
    } else {
      *q = n / d_;
      *r = n % d_;
    }
  }
  uint64_t Mod(uint64_t n) const {
    if (c_ != 0 && n <= kMax32) return MulHigh(c_ * n, d_);
    return d_ == 1 ? 0 : n % d_;
  }

 private:
  static constexpr uint64_t kMax32 = 0xFFFFFFFFull;
  static uint64_t MulHigh(uint64_t a, uint64_t b) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
  }
  uint64_t d_;
  uint64_t c_;  // ceil(2^64 / d), or 0 where the fast path does not apply
};

// A ShardMap's per-row functions through Dividers: the same results as
// ShardMap's, for the hot loops.
class FastShardMap {
 public:
  explicit FastShardMap(const ShardMap& sm = {})
      : v_(static_cast<uint64_t>(sm.virtual_shards)), s_(static_cast<uint64_t>(sm.num_servers)) {}
  int num_servers() const { return static_cast<int>(s_.divisor()); }
  // *vshard = row mod V, *local = row div V.
  void Split(uint64_t row, int* vshard, uint64_t* local) const {
    uint64_t q, r;
    v_.DivMod(row, &q, &r);
    *vshard = static_cast<int>(r);
    *local = q;
  }
  int VShardOf(uint64_t row) const { return static_cast<int>(v_.Mod(row)); }
  int ServerOfVShard(int vshard) const {
    return static_cast<int>(s_.Mod(static_cast<uint64_t>(vshard)));
  }
  int ServerOf(uint64_t row) const { return ServerOfVShard(VShardOf(row)); }

 private:
  Divider v_, s_;
};

// Consistency model of the sparse updates (the item 4).
//   kBsp: a step's pushes from all workers are summed (in worker order) and
//         applied once; a pull for step t sees exactly steps < t.
//   kSsp: pushes apply on arrival; a pull by a worker at clock c waits until
//         every worker has pushed clock c - staleness.
//   kAsp: pushes apply on arrival; pulls never wait.
enum class Consistency : uint8_t { kBsp = 0, kAsp = 1, kSsp = 2 };

// When a worker's pull of its next batch's rows (ps::Client::Prefetch(), sent
// while it computes the current batch) is served (the item 3):
//   kOff:     no prefetch; each batch's rows are pulled when it starts.
//   kOrdered: once this worker's push of the current step is applied, and
//             under BSP/SSP once the consistency model allows it: the rows
//             are exactly what the later pull would read (BSP results stay
//             bit-identical); the server serves the pull the moment the push
//             is applied instead of waiting for the request.
//   kEager:   at once (within the SSP bound): the read overlaps the worker's
//             compute, and may miss this worker's own last push. ASP/SSP
//             only (a config error under BSP).
enum class PrefetchMode : uint8_t { kOff = 0, kOrdered = 1, kEager = 2 };

}  // namespace ecps::ps
