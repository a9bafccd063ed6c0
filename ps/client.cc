#include "ps/client.h"

#include <cstring>
#include <mutex>

#include "absl/strings/str_join.h"
#include "common/check.h"
#include "common/logging.h"
#include "compressors/row_reduction.h"
#include "embedding/row_codec.h"
#include "embedding/row_deduper.h"
#include "ps/wire.h"

namespace ecps::ps {

using comm::Buffer;
using comm::Message;
using comm::MsgType;

namespace {

// Copies one row of w floats. The common width 16 gets a constant size,
// which compiles to two vector moves instead of a memcpy call per row.
inline void CopyRow(void* dst, const void* src, size_t w) {
  if (w == 16) {
    std::memcpy(dst, src, 16 * sizeof(float));
  } else {
    std::memcpy(dst, src, w * sizeof(float));
  }
}

constexpr uint32_t kAbsent = ~0u;  // Layout::where of a kNoRow position
constexpr int kIndexBits = 40;     // Layout::pos = server << 40 | index
constexpr uint64_t kIndexMask = (uint64_t{1} << kIndexBits) - 1;

// One table's rows of a batch as they go on the wire: deduplicated (a hot row
// is sent once), sliced by server and, within a server's payload, grouped by
// virtual shard (the server then reads and updates each shard's rows in one
// run under one lock). Inside a virtual shard the rows keep first-occurrence
// order, which is the order the shard's store sums and rounds them in.
//
// A layout depends only on the rows and the shard map, so Build() keeps the
// last one: a Push() of the rows the Gather() before it pulled (the trainer's
// every step) reuses it, and with it the pull's row payloads.
struct Layout {
  std::vector<uint32_t> where;   // per plan position: unique index or kAbsent
  size_t num_unique = 0;         // distinct rows; the vectors below may be longer
  std::vector<uint64_t> unique;  // distinct rows, first-occurrence order
  std::vector<uint32_t> first;   // plan position of each unique row's first use
  std::vector<uint32_t> vshard;  // per unique row
  std::vector<uint64_t> pos;     // per unique row: server << 40 | payload index
  std::vector<size_t> count;     // rows per server
  // The row-id payload per server (the pull's and the push's are the same
  // bytes), written by RowPayloads(); empty until then.
  std::vector<Buffer> row_payloads;

  // Whether the layout is of `rows` under `sm`.
  bool Holds(const ShardMap& sm, const std::vector<uint64_t>& rows) const {
    const size_t n = rows.size();
    return built_ && built_servers_ == sm.num_servers && built_vshards_ == sm.virtual_shards &&
           built_rows_.size() == n &&
           (n == 0 || std::memcmp(built_rows_.data(), rows.data(), n * sizeof(uint64_t)) == 0);
  }

  // Returns true when the layout of the last call was kept (same rows and map).
  bool Build(const ShardMap& sm, const FastShardMap& fast, const std::vector<uint64_t>& rows,
             RowDeduper* dedup) {
    const size_t n = rows.size();
    if (Holds(sm, rows)) return true;
    built_ = false;
    row_payloads.clear();
    where.resize(n);
    // Sized for the worst case (only the first num_unique entries are
    // used): no growth checks per row.
    if (unique.size() < n) {
      unique.resize(n);
      first.resize(n);
      vshard.resize(n);
    }
    size_t nu = 0;
    dedup->Begin(n);
    static_assert(RowDeduper::kSkip == kAbsent);
    dedup->InsertAll(rows.data(), n, kNoRow, where.data(), [&](size_t i) {
      const uint64_t r = rows[i];
      unique[nu] = r;
      first[nu] = static_cast<uint32_t>(i);
      vshard[nu] = static_cast<uint32_t>(fast.VShardOf(r));
      ++nu;
    });
    num_unique = nu;
    // Counting sort by virtual shard; server s's payload holds its shards
    // v = s, s + S, ... in that order. next_[v] = the packed position of v's
    // next row (server << 40 | index), so placing a row is one increment.
    const size_t nv = sm.virtual_shards;
    next_.assign(nv, 0);
    for (size_t u = 0; u < nu; ++u) ++next_[vshard[u]];
    count.assign(sm.num_servers, 0);
    for (size_t v = 0; v < nv; ++v) {
      const size_t s = sm.ServerOfVShard(static_cast<int>(v));
      const uint64_t rows_v = next_[v];
      next_[v] = (static_cast<uint64_t>(s) << kIndexBits) | count[s];
      count[s] += rows_v;
    }
    if (pos.size() < nu) pos.resize(n);
    for (size_t u = 0; u < nu; ++u) pos[u] = next_[vshard[u]]++;
    built_rows_.assign(rows.begin(), rows.end());
    built_servers_ = sm.num_servers;
    built_vshards_ = sm.virtual_shards;
    built_ = true;
    return false;
  }

  // The row-id payload of every server (written once per layout; Buffers
  // are immutable and shared, so the pull and the push send the same one).
  const std::vector<Buffer>& RowPayloads() {
    if (!row_payloads.empty()) return row_payloads;
    const size_t ns = count.size();
    std::vector<uint64_t*> dst(ns);
    row_payloads.resize(ns);
    for (size_t s = 0; s < ns; ++s) row_payloads[s] = Buffer::Allocate(count[s], &dst[s]);
    for (size_t u = 0; u < num_unique; ++u)
      dst[pos[u] >> kIndexBits][pos[u] & kIndexMask] = unique[u];
    return row_payloads;
  }

 private:
  std::vector<uint64_t> next_;  // per virtual shard, see Build()
  // What the kept layout was built from.
  bool built_ = false;
  int built_servers_ = 0, built_vshards_ = 0;
  std::vector<uint64_t> built_rows_;
};

// Lookups per table of the worker's whole batch (duplicates and kNoRow
// included): the N of ALPT's scale gradient, which the servers only see
// deduplicated and sliced (ps/wire.h kPush).
std::vector<uint64_t> BatchLookups(const LookupPlan& plan) {
  std::vector<uint64_t> n(plan.rows.size());
  for (size_t t = 0; t < plan.rows.size(); ++t) n[t] = plan.rows[t].size();
  return n;
}

// Decodes row `i` of the n rows of a coded pull payload (ps/wire.h kPull) of
// table `s` into out[0..width).
void DecodeCodedRow(const RowTableSpec& s, const uint8_t* payload, size_t n, size_t i, float* out) {
  const size_t rb = row_codec::RowBytes(s.dtype, s.width);
  float scale = static_cast<float>(s.scale), zero = static_cast<float>(s.zero);
  if (const size_t pb = internal::CodedParamBytes(s); pb > 0)
    internal::GetRowParams(s, payload + n * rb + i * pb, &scale, &zero);
  row_codec::DecodeRow(s.dtype, s.width, payload + i * rb, scale, zero, out);
}

}  // namespace

// Layouts of the pull/push paths: per thread for Gather and Push (the
// RowStore calls are const), and a prefetch's own.
struct Client::Scratch {
  RowDeduper dedup;
  std::vector<Layout> tables;  // per table

  bool Holds(const ShardMap& sm, const LookupPlan& plan) const {
    if (tables.size() != plan.rows.size()) return false;
    for (size_t t = 0; t < tables.size(); ++t)
      if (!tables[t].Holds(sm, plan.rows[t])) return false;
    return true;
  }
};

struct Client::Pull {
  Scratch* sc = nullptr;                           // the layouts the pull was sent with
  std::vector<std::future<StatusOr<Message>>> fs;  // per server
  std::vector<char> sent;                          // per server: a request went out
};

struct Client::Prefetched {
  Scratch scratch;
  Pull pull;
  int64_t use_clock = 0;  // the clock at which a Gather() may take the rows
  bool pending = false;   // sent and neither taken nor dropped
};

Client::Scratch& Client::ThreadScratch() {
  thread_local Scratch scratch;
  return scratch;
}

Client::Client(ClientOptions options, comm::Rpc* rpc) : opt_(std::move(options)), rpc_(rpc) {
  shards_.num_servers = static_cast<int>(opt_.servers.size());
  shards_.virtual_shards = opt_.virtual_shards;
  fast_shards_ = FastShardMap(shards_);
  ECPS_CHECK(opt_.prefetch != PrefetchMode::kEager || opt_.consistency != Consistency::kBsp)
      << "eager prefetch would make BSP reads miss the step's pushes";
}

Client::~Client() = default;

StatusOr<Message> Client::CallServer(int s, Message m) const {
  auto f = rpc_->Call(opt_.servers[s], std::move(m));
  return rpc_->Wait(f, opt_.timeout_ms,
                    absl::StrCat("server ", s, " (node ", opt_.servers[s], ")"));
}

Status Client::CallEachServer(const std::function<Message(int)>& make, const char* what) const {
  std::vector<std::future<StatusOr<Message>>> fs;
  for (int s = 0; s < shards_.num_servers; ++s) fs.push_back(rpc_->Call(opt_.servers[s], make(s)));
  for (int s = 0; s < shards_.num_servers; ++s)
    RETURN_IF_ERROR(
        rpc_->Wait(fs[s], opt_.timeout_ms, absl::StrCat(what, " on server ", s)).status());
  return OkStatus();
}

Status Client::Broadcast(Message m) const {
  return CallEachServer([&](int) { return m; }, comm::MsgTypeName(m.header.type));
}

int64_t Client::MinClockForRead(int64_t clock) const {
  switch (opt_.consistency) {
    case Consistency::kBsp:
      return clock;
    case Consistency::kSsp:
      return clock - opt_.staleness;
    case Consistency::kAsp:
      break;
  }
  return internal::kNoWait;
}

void Client::SetSpecs(const std::vector<RowTableSpec>& tables) {
  specs_ = tables;
  mappings_.clear();  // the servers drop theirs with the old tables too
  param_bytes_ = opt_bytes_ = 0;
  // The servers' LocalRowStores charge exactly this (the same functions).
  for (const RowTableSpec& s : specs_) {
    param_bytes_ += s.rows * StoredRowBytes(s);
    opt_bytes_ += s.rows * OptimizerRowBytes(s, opt_.optimizer.kind);
  }
}

Status Client::Reset(const std::vector<RowTableSpec>& tables, uint64_t seed) {
  // Quantised tables (fp16, int codes with global or per-row scales, ALPT)
  // live coded on the owning server's LocalRowStore: it decodes for pulls
  // and re-encodes after each push with its own rounding stream.
  RETURN_IF_ERROR(WaitForPushes());
  DropPrefetch();
  SetSpecs(tables);
  if (!opt_.primary) return OkStatus();
  Message m;
  m.header.type = MsgType::kReset;
  internal::SetResetSeed(&m.header, seed);
  m.payloads.push_back(Buffer::FromString(internal::EncodeSpecs(tables)));
  return Broadcast(std::move(m));
}

std::future<Status> Client::PullAsync(const LookupPlan& plan, FetchedRows* values) const {
  // Sent here, at this clock; received on another thread, with layouts of
  // its own.
  auto p = std::make_shared<Prefetched>();
  p->pull.sc = &p->scratch;
  Status s = SendPull(plan, MinClockForRead(), clock_, &p->pull);
  if (!s.ok()) {
    std::promise<Status> failed;
    failed.set_value(s);
    return failed.get_future();
  }
  return std::async(std::launch::async,
                    [this, p, values] { return ReceivePull(&p->pull, values); });
}

Status Client::Gather(const LookupPlan& plan, FetchedRows* values) const {
  bool taken = false;
  RETURN_IF_ERROR(Annotate(TakePrefetched(plan, values, &taken), "parameter-server pull"));
  if (taken) return OkStatus();
  return Annotate(DoPull(plan, values), "parameter-server pull");
}

void Client::Prefetch(const LookupPlan& plan) const {
  if (opt_.prefetch == PrefetchMode::kOff) return;
  if (prefetch_ == nullptr) {
    prefetch_ = std::make_unique<Prefetched>();
    prefetch_->pull.sc = &prefetch_->scratch;
  }
  Prefetched& p = *prefetch_;
  // A pull for the clock after the next push. kOrdered: the server serves it
  // once that push of this worker is applied (reader clock = that clock),
  // and under BSP/SSP once every worker has pushed as far as a pull at that
  // clock needs; kEager: with this worker's current clock as its own.
  p.use_clock = clock_ + 1;
  const int64_t reader = opt_.prefetch == PrefetchMode::kOrdered ? p.use_clock : clock_;
  // A failure leaves nothing pending: the Gather() of these rows pulls them
  // itself and reports the error.
  p.pending = SendPull(plan, MinClockForRead(p.use_clock), reader, &p.pull).ok();
}

Status Client::TakePrefetched(const LookupPlan& plan, FetchedRows* values, bool* taken) const {
  *taken = false;
  if (prefetch_ == nullptr || !prefetch_->pending) return OkStatus();
  Prefetched& p = *prefetch_;
  // Other rows (an evaluation batch) leave the prefetch pending; the rows at
  // another clock than the one they were read for are dropped.
  if (!p.scratch.Holds(shards_, plan)) return OkStatus();
  p.pending = false;
  if (p.use_clock != clock_) return OkStatus();
  RETURN_IF_ERROR(ReceivePull(&p.pull, values));
  // The push of these rows finds their layouts (and row payloads) kept.
  std::swap(ThreadScratch().tables, p.scratch.tables);
  ++prefetch_hits_;
  *taken = true;
  return OkStatus();
}

void Client::DropPrefetch() const {
  // The reply of a dropped pull is matched to its abandoned future and
  // discarded when it arrives.
  if (prefetch_ != nullptr) prefetch_->pending = false;
}

Status Client::DoPull(const LookupPlan& plan, FetchedRows* values) const {
  Pull p;
  p.sc = &ThreadScratch();
  RETURN_IF_ERROR(SendPull(plan, MinClockForRead(), clock_, &p));
  return ReceivePull(&p, values);
}

Status Client::SendPull(const LookupPlan& plan, int64_t min_clock, int64_t reader, Pull* p) const {
  const size_t nt = specs_.size();
  const int ns = shards_.num_servers;
  if (plan.rows.size() != nt)
    return InvalidArgument("plan has ", plan.rows.size(), " tables, the store ", nt);
  Scratch& sc = *p->sc;
  sc.tables.resize(nt);
  // Row payloads, written in place: [server][table].
  std::vector<std::vector<Buffer>> out(ns, std::vector<Buffer>(nt));
  for (size_t t = 0; t < nt; ++t) {
    Layout& lay = sc.tables[t];
    lay.Build(shards_, fast_shards_, plan.rows[t], &sc.dedup);
    const std::vector<Buffer>& rows = lay.RowPayloads();
    for (int s = 0; s < ns; ++s) out[s][t] = rows[s];
  }
  p->fs.clear();
  p->fs.resize(ns);
  p->sent.assign(ns, 0);
  for (int s = 0; s < ns; ++s) {
    size_t total = 0;
    for (size_t t = 0; t < nt; ++t) total += sc.tables[t].count[s];
    if (total == 0) continue;
    Message m;
    m.header.type = MsgType::kPull;
    internal::SetPullFields(&m.header, {min_clock, opt_.worker, reader});
    m.payloads = std::move(out[s]);
    p->fs[s] = rpc_->Call(opt_.servers[s], std::move(m));
    p->sent[s] = 1;
  }
  return OkStatus();
}

Status Client::ReceivePull(Pull* p, FetchedRows* values) const {
  const size_t nt = specs_.size();
  const int ns = shards_.num_servers;
  const Scratch& sc = *p->sc;
  const std::vector<char>& sent = p->sent;
  std::vector<Message> replies(ns);
  for (int s = 0; s < ns; ++s) {
    if (!sent[s]) continue;
    ASSIGN_OR_RETURN(replies[s],
                     rpc_->Wait(p->fs[s], opt_.timeout_ms, absl::StrCat("pull from server ", s)));
    if (replies[s].payloads.size() != nt + 1 || replies[s].payloads[nt].size != nt)
      return DataLoss("pull reply of server ", s, " has ", replies[s].payloads.size(),
                      " payloads for ", nt, " tables");
    const auto modes = replies[s].payloads[nt].As<uint8_t>();
    for (size_t t = 0; t < nt; ++t) {
      if (modes[t] > 1 || (modes[t] == 1 && !internal::CodedPull(specs_[t])))
        return DataLoss("pull reply of server ", s, " table ", t, " has encoding ", modes[t]);
      const size_t row_bytes = modes[t] == 1 ? internal::CodedPullRowBytes(specs_[t])
                                             : static_cast<size_t>(specs_[t].width) * 4;
      if (replies[s].payloads[t].size != sc.tables[t].count[s] * row_bytes)
        return DataLoss("pull reply of server ", s, " table ", t, " has the wrong size");
    }
  }
  values->values.resize(nt);
  for (size_t t = 0; t < nt; ++t) {
    const RowTableSpec& spec = specs_[t];
    const Layout& lay = sc.tables[t];
    const size_t w = spec.width;
    // Per server: the table's reply rows and whether they are codes.
    std::vector<const uint8_t*> src(ns, nullptr);
    std::vector<char> coded(ns, 0);
    for (int s = 0; s < ns; ++s) {
      if (!sent[s]) continue;
      src[s] = replies[s].payloads[t].data;
      coded[s] = replies[s].payloads[nt].As<uint8_t>()[t] == 1;
    }
    auto& out_t = values->values[t];
    const size_t n = lay.where.size();
    out_t.resize(n * w);
    for (size_t i = 0; i < n; ++i) {
      float* dst = out_t.data() + i * w;
      if (lay.where[i] == kAbsent) {
        std::memset(dst, 0, w * 4);
        continue;
      }
      const uint64_t p = lay.pos[lay.where[i]];
      const size_t s = p >> kIndexBits, index = p & kIndexMask;
      if (coded[s]) {
        // Codes: decoded with the table's codec, exactly the server's rows.
        DecodeCodedRow(spec, src[s], lay.count[s], index, dst);
        continue;
      }
      CopyRow(dst, src[s] + index * w * 4, w);
    }
  }
  return OkStatus();
}

Status Client::Push(const LookupPlan& plan, const FetchedRows& grads, int64_t step) {
  return Annotate(DoPush(plan, grads, step), "parameter-server push");
}

Status Client::DoPush(const LookupPlan& plan, const FetchedRows& grads, int64_t step) {
  RETURN_IF_ERROR(WaitForPushes());
  const size_t nt = specs_.size();
  const int ns = shards_.num_servers;
  Scratch& sc = ThreadScratch();
  sc.tables.resize(nt);
  // Payloads: [server][2t] rows (the pull's, when it pulled these rows),
  // [server][2t + 1] grads, written in place.
  std::vector<std::vector<Buffer>> out(ns, std::vector<Buffer>(2 * nt));
  std::vector<float*> grads_dst(ns);
  for (size_t t = 0; t < nt; ++t) {
    if (!specs_[t].trainable) {
      // Nothing to push; the table's layout is kept for the next pull.
      uint8_t* unused;
      for (int s = 0; s < ns; ++s) out[s][2 * t] = out[s][2 * t + 1] = Buffer::Allocate(0, &unused);
      continue;
    }
    Layout& lay = sc.tables[t];
    lay.Build(shards_, fast_shards_, plan.rows[t], &sc.dedup);
    const std::vector<Buffer>& rows = lay.RowPayloads();
    const size_t w = specs_[t].width;
    for (int s = 0; s < ns; ++s) {
      out[s][2 * t] = rows[s];
      out[s][2 * t + 1] = Buffer::Allocate(lay.count[s] * w, &grads_dst[s]);
    }
    const float* g = grads.values[t].data();
    // Sums in plan order, first occurrence first: LocalRowStore's order.
    for (size_t i = 0; i < lay.where.size(); ++i) {
      const uint32_t u = lay.where[i];
      if (u == kAbsent) continue;
      const uint64_t p = lay.pos[u];
      float* acc = grads_dst[p >> kIndexBits] + (p & kIndexMask) * w;
      if (lay.first[u] == i) {
        CopyRow(acc, g + i * w, w);
      } else {
        for (size_t j = 0; j < w; ++j) acc[j] += g[i * w + j];
      }
    }
  }
  // Keyed tables: each key's occurrences in this batch, aligned with its
  // row payload (the servers count the keys' frequencies from them).
  std::vector<std::vector<Buffer>> counts(ns);
  for (const KeyMappingSpec& km : mappings_) {
    const size_t t = static_cast<size_t>(km.data_table);
    Layout& lay = sc.tables[t];
    std::vector<uint32_t*> dst(ns);
    for (int s = 0; s < ns; ++s) {
      uint8_t* p;
      counts[s].push_back(Buffer::Allocate(lay.count[s] * sizeof(uint32_t), &p));
      dst[s] = reinterpret_cast<uint32_t*>(p);
      std::fill_n(dst[s], lay.count[s], 0u);
    }
    for (size_t i = 0; i < lay.where.size(); ++i) {
      const uint32_t u = lay.where[i];
      if (u == kAbsent) continue;
      const uint64_t p = lay.pos[u];
      ++dst[p >> kIndexBits][p & kIndexMask];
    }
  }
  ++clock_;
  std::vector<std::future<StatusOr<Message>>> fs(ns);
  for (int s = 0; s < ns; ++s) {
    Message m;
    m.header.type = MsgType::kPush;
    internal::SetPushFields(&m.header, {step, opt_.worker, clock_});
    m.payloads = std::move(out[s]);
    m.payloads.push_back(Buffer::FromVector(BatchLookups(plan)));
    for (Buffer& b : counts[s]) m.payloads.push_back(std::move(b));
    fs[s] = rpc_->Call(opt_.servers[s], std::move(m));
  }
  // Under BSP the acknowledgements are collected by the next push (or
  // whole-store operation): every later read carries the new clock as its
  // min clock, so the servers serve it only after this push is applied, and
  // meanwhile the worker prepares its next batch. SSP and ASP reads may be
  // served earlier: there the push is acknowledged before returning, so a
  // worker always reads its own writes.
  pending_pushes_ = std::move(fs);
  if (opt_.consistency != Consistency::kBsp) return WaitForPushes();
  return OkStatus();
}

Status Client::WaitForPushes() const {
  std::vector<std::future<StatusOr<Message>>> fs = std::move(pending_pushes_);
  pending_pushes_.clear();
  for (size_t s = 0; s < fs.size(); ++s)
    RETURN_IF_ERROR(
        rpc_->Wait(fs[s], opt_.timeout_ms, absl::StrCat("push to server ", s)).status());
  return OkStatus();
}

Status Client::SetKeyMappings(const std::vector<KeyMappingSpec>& specs, int partition) {
  if (partition != -1)
    return InvalidArgument("a parameter-server client holds every partition (partition ", partition,
                           ")");
  RETURN_IF_ERROR(WaitForPushes());
  DropPrefetch();
  for (const KeyMappingSpec& s : specs)
    if (s.partitions != shards_.virtual_shards)
      return InvalidArgument("key mapping ", s.kind, " has ", s.partitions,
                             " partitions, the cluster ", shards_.virtual_shards,
                             " virtual shards (cluster.virtual_shards): they must be equal");
  // Every worker keeps them (its pushes carry the keys' counts); the primary
  // hands them to the servers, and the trainer barriers the workers after.
  mappings_ = specs;
  if (!opt_.primary || specs.empty()) return OkStatus();
  Message m;
  m.header.type = MsgType::kKeyMappings;
  m.payloads.push_back(Buffer::FromString(EncodeKeyMappings(specs)));
  return Annotate(Broadcast(std::move(m)), "setting the key mappings");
}

Status Client::ResetOptimizerState() {
  DropPrefetch();
  RETURN_IF_ERROR(WaitForPushes());
  if (!opt_.primary) return OkStatus();
  Message m;
  m.header.type = MsgType::kResetOptState;
  return Annotate(Broadcast(std::move(m)), "resetting the optimizer state");
}

uint64_t Client::parameter_bytes() const { return param_bytes_; }
uint64_t Client::optimizer_bytes() const { return opt_bytes_; }

// The rows live on the servers, which write them as one file per virtual
// shard (SaveShards/LoadShards); there is no single blob to return.
constexpr char kNoBlobCheckpoint[] =
    "ps::Client holds no rows to save or load as one blob: checkpoint through "
    "SaveShards/LoadShards (docs/formats.md \"Sharded checkpoint\")";

StatusOr<std::string> Client::Save() const { return Unimplemented(kNoBlobCheckpoint); }

Status Client::Load(const std::string& /*blob*/) { return FailedPrecondition(kNoBlobCheckpoint); }

std::string Client::EncodedSpecs() const { return internal::EncodeSpecs(specs_); }

StatusOr<std::vector<Client::ShardFile>> Client::SaveShards(const std::string& prefix) const {
  // A failed asynchronous push must fail the checkpoint, not be found later.
  RETURN_IF_ERROR(WaitForPushes());
  std::vector<ShardFile> files(shards_.virtual_shards);
  std::vector<bool> seen(shards_.virtual_shards, false);
  std::vector<std::future<StatusOr<Message>>> fs;
  for (int s = 0; s < shards_.num_servers; ++s) {
    Message m;
    m.header.type = MsgType::kSave;
    internal::SetMinClock(&m.header, MinClockForRead());
    m.header.text = prefix;
    fs.push_back(rpc_->Call(opt_.servers[s], std::move(m)));
  }
  for (int s = 0; s < shards_.num_servers; ++s) {
    ASSIGN_OR_RETURN(Message r, rpc_->Wait(fs[s], opt_.timeout_ms,
                                           absl::StrCat("checkpoint shards of server ", s)));
    if (r.payloads.size() != 2) return DataLoss("checkpoint reply of server ", s, " is malformed");
    ASSIGN_OR_RETURN(size_t n, comm::ElementsOf<uint32_t>(r.payloads[0], "vshard ids"));
    ASSIGN_OR_RETURN(size_t pairs, comm::ElementsOf<uint64_t>(r.payloads[1], "shard sizes"));
    if (pairs != 2 * n) return DataLoss("checkpoint reply of server ", s, " is malformed");
    auto ids = r.payloads[0].As<uint32_t>();
    auto sizes = r.payloads[1].As<uint64_t>();
    for (size_t i = 0; i < n; ++i) {
      const int v = static_cast<int>(ids[i]);
      if (v >= shards_.virtual_shards || seen[v])
        return DataLoss("server ", s, " saved virtual shard ", v, " unexpectedly");
      seen[v] = true;
      files[v] = {v, internal::ShardFilePath(prefix, v), sizes[2 * i], sizes[2 * i + 1]};
    }
  }
  for (int v = 0; v < shards_.virtual_shards; ++v)
    if (!seen[v]) return DataLoss("no server saved virtual shard ", v);
  return files;
}

Status Client::LoadShards(const std::string& encoded_specs, const std::vector<ShardFile>& files) {
  RETURN_IF_ERROR(WaitForPushes());
  DropPrefetch();
  ASSIGN_OR_RETURN(auto specs, internal::DecodeSpecs(encoded_specs));
  std::vector<const ShardFile*> by_vshard(shards_.virtual_shards, nullptr);
  for (const ShardFile& f : files) {
    if (f.vshard < 0 || f.vshard >= shards_.virtual_shards || by_vshard[f.vshard] != nullptr)
      return FailedPrecondition("checkpoint shard '", f.path, "' is virtual shard ", f.vshard,
                                "; this cluster uses ", shards_.virtual_shards,
                                " virtual shards (set cluster.virtual_shards to match)");
    by_vshard[f.vshard] = &f;
  }
  for (int v = 0; v < shards_.virtual_shards; ++v)
    if (by_vshard[v] == nullptr)
      return FailedPrecondition("checkpoint has no shard for virtual shard ", v, " of ",
                                shards_.virtual_shards);
  SetSpecs(specs);
  if (!opt_.primary) return OkStatus();
  // Each virtual shard goes to its owner under the *current* server count.
  return CallEachServer(
      [&](int s) {
        Message m;
        m.header.type = MsgType::kLoad;
        std::vector<uint32_t> ids;
        std::vector<uint64_t> sizes;
        std::vector<std::string> paths;
        for (int v = s; v < shards_.virtual_shards; v += shards_.num_servers) {
          ids.push_back(v);
          sizes.push_back(by_vshard[v]->bytes);
          sizes.push_back(by_vshard[v]->checksum);
          paths.push_back(by_vshard[v]->path);
        }
        m.header.text = absl::StrJoin(paths, "\n");
        m.payloads.push_back(Buffer::FromString(encoded_specs));
        m.payloads.push_back(Buffer::FromVector(std::move(ids)));
        m.payloads.push_back(Buffer::FromVector(std::move(sizes)));
        return m;
      },
      "load");
}

Status Client::ReadRows(int table, uint64_t begin, uint64_t count, float* out) const {
  RETURN_IF_ERROR(WaitForPushes());
  if (table < 0 || static_cast<size_t>(table) >= specs_.size())
    return OutOfRange("table ", table, " not in [0, ", specs_.size(), ")");
  const uint64_t n = specs_[table].rows;
  if (begin > n || count > n - begin) return OutOfRange("rows out of range");
  const size_t w = specs_[table].width;
  const int ns = shards_.num_servers;
  // Each server's rows grouped by virtual shard, so it reads them in runs.
  const uint64_t nv = shards_.virtual_shards, end = begin + count;
  std::vector<std::vector<uint64_t>> rows(ns);
  for (uint64_t v = 0; v < nv; ++v) {
    auto& rs = rows[shards_.ServerOfVShard(static_cast<int>(v))];
    for (uint64_t r = begin + (v + nv - begin % nv) % nv; r < end; r += nv) rs.push_back(r);
  }
  std::vector<std::future<StatusOr<Message>>> fs(ns);
  for (int s = 0; s < ns; ++s) {
    Message m;
    m.header.type = MsgType::kReadRows;
    internal::SetTable(&m.header, table);
    internal::SetMinClock(&m.header, MinClockForRead());
    m.payloads.push_back(Buffer::FromVector(std::vector<uint64_t>(rows[s])));
    fs[s] = rpc_->Call(opt_.servers[s], std::move(m));
  }
  for (int s = 0; s < ns; ++s) {
    ASSIGN_OR_RETURN(Message r,
                     rpc_->Wait(fs[s], opt_.timeout_ms, absl::StrCat("read_rows on server ", s)));
    if (r.payloads.size() != 1 || r.payloads[0].size != rows[s].size() * w * 4)
      return DataLoss("read_rows reply of server ", s, " has the wrong size");
    const float* v = r.payloads[0].As<float>().data();
    for (size_t i = 0; i < rows[s].size(); ++i)
      std::memcpy(out + (rows[s][i] - begin) * w, v + i * w, w * 4);
  }
  return OkStatus();
}

Status Client::WriteRows(int table, uint64_t begin, uint64_t count, const float* values,
                         const float* scale_zero) {
  RETURN_IF_ERROR(WaitForPushes());
  DropPrefetch();
  if (table < 0 || static_cast<size_t>(table) >= specs_.size())
    return OutOfRange("table ", table, " not in [0, ", specs_.size(), ")");
  const uint64_t n = specs_[table].rows;
  if (begin > n || count > n - begin) return OutOfRange("rows out of range");
  if (!opt_.primary) return OkStatus();
  const size_t w = specs_[table].width;
  const int ns = shards_.num_servers;
  std::vector<std::vector<uint64_t>> rows(ns);
  std::vector<std::vector<float>> vals(ns), sz(ns);
  for (uint64_t r = begin; r < begin + count; ++r) {
    const int s = shards_.ServerOf(r);
    rows[s].push_back(r);
    vals[s].insert(vals[s].end(), values + (r - begin) * w, values + (r - begin + 1) * w);
    if (scale_zero != nullptr)
      sz[s].insert(sz[s].end(), scale_zero + (r - begin) * 2, scale_zero + (r - begin + 1) * 2);
  }
  std::vector<std::future<StatusOr<Message>>> fs(ns);
  for (int s = 0; s < ns; ++s) {
    Message m;
    m.header.type = MsgType::kWriteRows;
    internal::SetTable(&m.header, table);
    // Applied after every worker's pushes up to this worker's clock, like a
    // read at it: a method's write after a step lands after the step.
    internal::SetMinClock(&m.header, MinClockForRead());
    m.payloads.push_back(Buffer::FromVector(std::move(rows[s])));
    m.payloads.push_back(Buffer::FromVector(std::move(vals[s])));
    if (scale_zero != nullptr) m.payloads.push_back(Buffer::FromVector(std::move(sz[s])));
    fs[s] = rpc_->Call(opt_.servers[s], std::move(m));
  }
  for (int s = 0; s < ns; ++s)
    RETURN_IF_ERROR(
        rpc_->Wait(fs[s], opt_.timeout_ms, absl::StrCat("write_rows on server ", s)).status());
  return OkStatus();
}

StatusOr<std::vector<double>> Client::ReduceRows(const RowReduction& op) const {
  RETURN_IF_ERROR(WaitForPushes());
  if (op.table < 0 || static_cast<size_t>(op.table) >= specs_.size())
    return OutOfRange("row reduction: table ", op.table, " not in [0, ", specs_.size(), ")");
  const uint64_t rows = specs_[op.table].rows;
  RETURN_IF_ERROR(ValidateRowReduction(op, rows));
  const size_t size = RowReductionSize(op, rows);
  const int ns = shards_.num_servers;
  // A pair's blocks whose in-block rows lie in different virtual shards: no
  // server can compare them alone (it would answer FailedPrecondition).
  bool split_pairs = op.kind == RowReductionKind::kBlockPairAgreement &&
                     op.block_rows % static_cast<uint64_t>(shards_.virtual_shards) != 0;
  std::vector<std::future<StatusOr<Message>>> fs(split_pairs ? 0 : ns);
  for (int s = 0; s < ns && !split_pairs; ++s) {
    Message m;
    m.header.type = MsgType::kReduceRows;
    // Read at this worker's clock, like ReadRows.
    internal::SetMinClock(&m.header, MinClockForRead());
    m.payloads = internal::EncodeRowReduction(op);
    fs[s] = rpc_->Call(opt_.servers[s], std::move(m));
  }
  std::vector<double> out(size, 0.0);
  for (int s = 0; s < static_cast<int>(fs.size()); ++s) {
    StatusOr<Message> r =
        rpc_->Wait(fs[s], opt_.timeout_ms, absl::StrCat("reduce_rows on server ", s));
    if (!r.ok()) {
      // Pairs split over virtual shards: every server says so; the other
      // replies are still collected (or fail the call).
      if (r.status().code() == absl::StatusCode::kFailedPrecondition &&
          op.kind == RowReductionKind::kBlockPairAgreement) {
        split_pairs = true;
        continue;
      }
      return r.status();
    }
    if (r->payloads.size() != 1 || r->payloads[0].size != size * sizeof(double))
      return DataLoss("reduce_rows reply of server ", s, " has ", r->payloads.size(),
                      " payloads or the wrong size (", size, " results expected)");
    const auto part = r->payloads[0].As<double>();
    for (size_t i = 0; i < size; ++i) out[i] += part[i];
  }
  if (split_pairs) {
    static std::once_flag warned;
    std::call_once(warned, [&] {
      ECPS_LOG_WARN(
          "block pairs of {} rows (block_rows) span several of the {} virtual shards "
          "(cluster.virtual_shards): the rows of table '{}' are read by the worker for the "
          "comparison; a block_rows that is a multiple of cluster.virtual_shards keeps them at "
          "the servers",
          op.block_rows, shards_.virtual_shards, specs_[op.table].name);
    });
    return ReduceAllRows(op, *this);
  }
  return out;
}

Status Client::Reshape(const std::vector<RowTableSpec>& tables, uint64_t seed,
                       std::span<const RowCopy> copies) {
  RETURN_IF_ERROR(WaitForPushes());
  DropPrefetch();
  RETURN_IF_ERROR(ValidateRowCopies(specs_, tables, copies));
  const int ns = shards_.num_servers;
  const uint64_t V = static_cast<uint64_t>(shards_.virtual_shards);
  // The primary reads the rows of copies across virtual shards and sends
  // each server those of its destination rows, grouped by virtual shard
  // (ps/wire.h kReshape).
  std::vector<std::vector<Buffer>> values(ns);
  for (size_t i = 0; i < copies.size(); ++i) {
    const RowCopy& c = copies[i];
    if (internal::AlignedCopy(c, shards_.virtual_shards)) continue;
    static std::once_flag warned;
    std::call_once(warned, [&] {
      ECPS_LOG_WARN(
          "a row copy of the stage change ({} rows {} -> {}) moves rows between virtual shards "
          "(cluster.virtual_shards = {}): its rows travel through worker 0",
          c.count, c.src_begin, c.dst_begin, V);
    });
    if (!opt_.primary) continue;
    const size_t w = static_cast<size_t>(tables[c.dst_table].width);
    std::vector<float> rows(c.count * w);
    RETURN_IF_ERROR(ReadRows(c.src_table, c.src_begin, c.count, rows.data()));
    for (int s = 0; s < ns; ++s) {
      std::vector<float> mine;
      for (uint64_t v = static_cast<uint64_t>(s); v < V; v += static_cast<uint64_t>(ns))
        for (uint64_t j = (v + V - c.dst_begin % V) % V; j < c.count; j += V)
          mine.insert(mine.end(), rows.begin() + j * w, rows.begin() + (j + 1) * w);
      values[s].push_back(Buffer::FromVector(std::move(mine)));
    }
  }
  const Buffer specs = Buffer::FromString(internal::EncodeSpecs(tables));
  const Buffer encoded = internal::EncodeRowCopies(copies);
  RETURN_IF_ERROR(CallEachServer(
      [&](int s) {
        Message m;
        m.header.type = MsgType::kReshape;
        internal::SetReshapeFields(&m.header, {MinClockForRead(), seed, opt_.worker});
        m.payloads = {specs, encoded};
        for (const Buffer& b : values[s]) m.payloads.push_back(b);
        return m;
      },
      "reshape"));
  SetSpecs(tables);
  return OkStatus();
}

StatusOr<NamedKeyStats> Client::KeyStatistics(int64_t step, int top) const {
  if (mappings_.empty()) return NamedKeyStats{};
  RETURN_IF_ERROR(WaitForPushes());
  NamedKeyStats out;
  for (int s = 0; s < shards_.num_servers; ++s) {
    Message m;
    m.header.type = MsgType::kStats;
    m.header.step = step;
    m.header.arg = std::max(1, top);
    ASSIGN_OR_RETURN(Message r, CallServer(s, std::move(m)));
    if (r.payloads.size() != 1)
      return DataLoss("server ", s, " sent no key statistics (", r.payloads.size(), " payloads)");
    ASSIGN_OR_RETURN(NamedKeyStats part, DecodeKeyStats(std::string(r.payloads[0].view())));
    RETURN_IF_ERROR(Annotate(MergeKeyStats(&out, part), absl::StrCat("server ", s)));
  }
  return out;
}

StatusOr<std::string> Client::ServerStats() const {
  RETURN_IF_ERROR(WaitForPushes());
  std::string out = "[";
  for (int s = 0; s < shards_.num_servers; ++s) {
    Message m;
    m.header.type = MsgType::kStats;
    ASSIGN_OR_RETURN(Message r, CallServer(s, std::move(m)));
    if (s > 0) out += ",";
    out += r.header.text;
  }
  return out + "]";
}

}  // namespace ecps::ps
