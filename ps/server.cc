#include "ps/server.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_split.h"
#include "common/blob.h"
#include "common/cpu.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "common/process_memory.h"
#include "common/rng.h"
#include "compressors/row_reduction.h"
#include "embedding/row_codec.h"
#include "embedding/row_init.h"
#include "ps/wire.h"

namespace ecps::ps {

using comm::Buffer;
using comm::Message;
using comm::MsgType;

// Pull and push counters of one table, and its hottest rows: Misra-Gries
// over a sample of the pulled rows.
//
// A client deduplicates a batch's rows, so a server sees a row at most once
// per pull: the hottest rows are the ones in most pulls, and even a row in
// every pull is only 1/U of the rows pulled (U distinct rows per pull).
// Misra-Gries with C counters keeps every row whose share exceeds 1/(C+1), so
// C must exceed the rows of a pull, whatever the few hot rows reported:
// kCounters covers pulls of a few thousand rows per server. One row in
// kSampleEvery is counted, from a pseudo-random start per pull (a row's place
// in a payload can follow a pattern, which a rotating start would alias),
// which keeps the shares and costs one hash probe per kSampleEvery rows. The
// summary sits on every pull's critical path: sampling one row in 8 cost
// ~25 us of a ~420 us pull+push of 4,096 rows on one core (ps_bench
// --hot-keys 0), one in 32 costs ~6 us. A row in a fraction f of P pulls is
// then estimated as f*P with a relative error of about sqrt(32/(f*P)):
// ~10% after 3,000 pulls for a row in every pull.
struct Server::TableStats {
  static constexpr size_t kCounters = 4096;
  static constexpr size_t kSampleEvery = 32;

  std::atomic<uint64_t> pulls{0}, pushes{0};
  Mutex mu;
  absl::flat_hash_map<uint64_t, uint64_t> counts ABSL_GUARDED_BY(mu);  // row -> sampled count
  uint64_t observed ABSL_GUARDED_BY(mu) = 0;                           // pulls observed

  void Observe(std::span<const uint64_t> rows) {
    MutexLock l(&mu);
    uint64_t x = ++observed;
    for (size_t i = SplitMix64(x) % kSampleEvery; i < rows.size(); i += kSampleEvery) {
      auto [it, fresh] = counts.try_emplace(rows[i], 0);
      ++it->second;
      if (!fresh || counts.size() <= kCounters) continue;
      // One less for every counter (the new row's goes to 0); zeros leave.
      for (auto c = counts.begin(); c != counts.end();) {
        if (--c->second == 0) {
          counts.erase(c++);
        } else {
          ++c;
        }
      }
    }
  }

  // The k most pulled rows: (row, estimated pulls), most first.
  std::vector<std::pair<uint64_t, uint64_t>> Hottest(size_t k) {
    std::vector<std::pair<uint64_t, uint64_t>> h;
    {
      MutexLock l(&mu);
      h.assign(counts.begin(), counts.end());
    }
    k = std::min(k, h.size());
    std::partial_sort(h.begin(), h.begin() + k, h.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;
    });
    h.resize(k);
    for (auto& e : h) e.second *= kSampleEvery;
    return h;
  }
};

Server::Server(ServerOptions options, comm::Transport* transport, int node_id)
    : opt_(std::move(options)),
      fast_shards_(opt_.shards),
      transport_(transport),
      node_id_(node_id) {
  for (int v = opt_.rank; v < opt_.shards.virtual_shards; v += opt_.shards.num_servers) {
    vshards_.push_back(std::make_unique<VShard>(v, NewLocalRowStore(opt_.optimizer)));
  }
  clocks_.assign(opt_.num_workers, 0);
  int row_threads = opt_.row_threads > 0 ? opt_.row_threads : UsableCpus();
  row_threads = std::clamp(row_threads, 1, std::max(1, static_cast<int>(vshards_.size())));
  row_pool_ = std::make_unique<ForkJoinPool>(row_threads);
}

Server::~Server() { Stop(); }

void Server::Start() {
  started_ = true;
  for (int i = 0; i < std::max(1, opt_.threads); ++i)
    handlers_.emplace_back([this] { HandlerLoop(); });
}

void Server::Wait() {
  MutexLock l(&done_mu_);
  while (!done_) done_cv_.Wait(&done_mu_);
}

void Server::Stop() {
  {
    MutexLock l(&queue_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  queue_cv_.SignalAll();
  transport_->Close();
  for (auto& t : handlers_) t.join();
  handlers_.clear();
  MutexLock l(&done_mu_);
  done_ = true;
  done_cv_.SignalAll();
}

void Server::Enqueue(Message m) {
  {
    MutexLock l(&queue_mu_);
    queue_.push_back(std::move(m));
  }
  queue_cv_.Signal();
}

// Leader/follower: an idle handler thread with nothing queued becomes the
// one receiver; once a message arrives it hands the receiving over to the
// next idle thread and handles the message itself. Compared with a separate
// receiving thread this saves a thread wake-up per request. The queue only
// holds parked requests released by ReleaseParked(), which runs on a handler
// thread that then comes back here and finds them.
void Server::HandlerLoop() {
  for (;;) {
    Message m;
    {
      MutexLock l(&queue_mu_);
      while (!stopping_ && queue_.empty() && receiving_) queue_cv_.Wait(&queue_mu_);
      if (stopping_) return;
      if (!queue_.empty()) {
        m = std::move(queue_.front());
        queue_.pop_front();
      } else {
        receiving_ = true;
        l.Unlock();
        StatusOr<Message> r = transport_->Recv(-1);
        l.Lock();
        receiving_ = false;
        queue_cv_.Signal();  // the next receiver
        if (!r.ok()) {
          if (r.status().code() == absl::StatusCode::kCancelled) return;
          ++rejected_;
          ECPS_LOG_WARN("server {}: {}", opt_.rank, r.status().ToString());
          continue;
        }
        m = std::move(*r);
      }
    }
    Handle(std::move(m));
  }
}

int64_t Server::MinClock() const { return *std::min_element(clocks_.begin(), clocks_.end()); }

bool Server::Ready(const Message& m) const {
  // Every message that may be parked carries a min clock (a pull's too).
  const int64_t min_clock = internal::GetMinClock(m.header);
  if (min_clock != internal::kNoWait && MinClock() < min_clock) return false;
  if (m.header.type != MsgType::kPull) return true;
  // A bad worker index is left for HandlePull to reject.
  const internal::PullFields f = internal::GetPullFields(m.header);
  return f.worker < 0 || f.worker >= static_cast<int64_t>(clocks_.size()) ||
         clocks_[f.worker] >= f.reader_clock;
}

bool Server::ParkIfEarly(Message* m) {
  MutexLock l(&clock_mu_);
  if (Ready(*m)) {
    const internal::PullFields f = internal::GetPullFields(m->header);
    if (m->header.type == MsgType::kPull && f.min_clock != internal::kNoWait) {
      const int64_t stale = f.reader_clock - MinClock();
      int64_t cur = max_staleness_.load();
      while (stale > cur && !max_staleness_.compare_exchange_weak(cur, stale)) {
      }
    }
    return false;
  }
  parked_.push_back(std::move(*m));
  return true;
}

void Server::ReleaseParked() {
  std::vector<Message> ready;
  {
    MutexLock l(&clock_mu_);
    for (auto it = parked_.begin(); it != parked_.end();) {
      if (Ready(*it)) {
        ready.push_back(std::move(*it));
        it = parked_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (Message& m : ready) Enqueue(std::move(m));
}

void Server::Handle(Message m) {
  const comm::Header h = m.header;
  Message reply;
  Status s;
  bool send_reply = true;
  switch (h.type) {
    case MsgType::kPull:
      if (ParkIfEarly(&m)) return;
      reply = comm::MakeReply(h, MsgType::kPullReply);
      s = HandlePull(m, &reply);
      break;
    case MsgType::kPush:
      reply = comm::MakeReply(h, MsgType::kAck);
      s = HandlePush(std::move(m));
      break;
    case MsgType::kReset:
      reply = comm::MakeReply(h, MsgType::kAck);
      s = HandleReset(m);
      break;
    case MsgType::kResetOptState: {
      reply = comm::MakeReply(h, MsgType::kAck);
      ReaderMutexLock tl(&tables_mu_);
      for (auto& vs : vshards_) {
        WriterMutexLock l(&vs->mu);
        s.Update(vs->store->ResetOptimizerState());
      }
      break;
    }
    case MsgType::kSave:
      if (ParkIfEarly(&m)) return;
      reply = comm::MakeReply(h, MsgType::kSaveReply);
      s = HandleSave(m, &reply);
      break;
    case MsgType::kLoad:
      reply = comm::MakeReply(h, MsgType::kAck);
      s = HandleLoad(m);
      break;
    case MsgType::kReadRows:
      if (ParkIfEarly(&m)) return;
      reply = comm::MakeReply(h, MsgType::kReadRowsReply);
      s = HandleReadRows(m, &reply);
      break;
    case MsgType::kWriteRows:
      if (ParkIfEarly(&m)) return;
      reply = comm::MakeReply(h, MsgType::kAck);
      s = HandleWriteRows(m);
      break;
    case MsgType::kReduceRows:
      if (ParkIfEarly(&m)) return;
      {
        reply = comm::MakeReply(h, MsgType::kReduceRowsReply);
        bool later = false;
        s = HandleReduceRows(m, &reply, &later);
        if (s.ok() && later) send_reply = false;
        break;
      }
    case MsgType::kReshape: {
      if (ParkIfEarly(&m)) return;
      reply = comm::MakeReply(h, MsgType::kAck);
      bool later = false;
      s = HandleReshape(std::move(m), &later);
      if (s.ok() && later) send_reply = false;
      break;
    }
    case MsgType::kKeyMappings:
      reply = comm::MakeReply(h, MsgType::kAck);
      s = HandleKeyMappings(m);
      break;
    case MsgType::kStats:
      reply = comm::MakeReply(h, MsgType::kStatsReply);
      reply.header.text = StatsJson();
      // arg > 0: also the keyed tables' statistics at step h.step with the
      // arg hottest keys (ps/wire.h), merged over this server's shards.
      if (h.arg > 0) {
        auto stats = KeyStatistics(h.step, static_cast<int>(std::min<int64_t>(h.arg, 1 << 16)));
        s = stats.status();
        if (s.ok()) reply.payloads.push_back(Buffer::FromString(EncodeKeyStats(*stats)));
      }
      break;
    case MsgType::kEcho:
      reply = comm::MakeReply(h, MsgType::kEchoReply);
      if (internal::GetEchoCopies(h)) {
        // The reply's bytes written by the server, as a real reply's are
        // (bench/ps_bench.cc: a baseline that moves bytes in-process too).
        for (const Buffer& b : m.payloads) {
          uint8_t* p;
          reply.payloads.push_back(Buffer::Allocate(b.size, &p));
          std::memcpy(p, b.data, b.size);
        }
      } else {
        reply.payloads = std::move(m.payloads);
      }
      break;
    case MsgType::kShutdown: {
      (void)transport_->Send(h.sender, comm::MakeReply(h, MsgType::kAck));
      MutexLock l(&done_mu_);
      done_ = true;
      done_cv_.SignalAll();
      send_reply = false;
      break;
    }
    default:
      s = InvalidArgument("server ", opt_.rank, ": unexpected message type ",
                          comm::MsgTypeName(h.type), " (", static_cast<int>(h.type), ")");
  }
  if (!s.ok()) {
    ++rejected_;
    ECPS_LOG_WARN("server {}: rejected {} from node {}: {}", opt_.rank, comm::MsgTypeName(h.type),
                  h.sender, s.ToString());
    reply = comm::MakeErrorReply(h, s);
  }
  if (send_reply) {
    Status ss = transport_->Send(h.sender, std::move(reply));
    if (absl::IsResourceExhausted(ss)) {
      // The reply is over the limits its requester would drop it at
      // (Transport::Send refused it): say so rather than leave the requester
      // waiting for its timeout.
      ++rejected_;
      ss = transport_->Send(h.sender, comm::MakeErrorReply(h, ss));
    }
    if (!ss.ok())
      ECPS_LOG_WARN("server {}: reply to node {}: {}", opt_.rank, h.sender, ss.ToString());
  }
}

Server::VShard* Server::Owner(uint64_t row) const {
  const int v = opt_.shards.VShardOf(row);
  if (opt_.shards.ServerOfVShard(v) != opt_.rank) return nullptr;
  return vshards_[v / opt_.shards.num_servers].get();
}

Status Server::PlanReads(int table, std::span<const uint64_t> rows, float* out, uint64_t* local,
                         std::vector<ReadRun>* runs, bool keys) const {
  const ShardMap& sm = opt_.shards;
  const RowTableSpec& spec = specs_[table];
  const size_t w = spec.width;
  // A pull of a keyed table carries keys (compressors/key_mapping.h).
  keys = keys && static_cast<size_t>(table) < key_limit_.size() && key_limit_[table] > 0;
  const uint64_t limit = keys ? key_limit_[table] : spec.rows;
  for (size_t b = 0; b < rows.size();) {
    const int v = fast_shards_.VShardOf(rows[b]);
    if (fast_shards_.ServerOfVShard(v) != opt_.rank) return CheckRows(table, rows.subspan(b, 1));
    size_t e = b;
    for (; e < rows.size(); ++e) {
      const uint64_t r = rows[e];
      int rv;
      fast_shards_.Split(r, &rv, &local[e]);
      if (r >= limit || rv != v) break;
    }
    if (e == b) {  // out of range
      if (rows[b] >= limit)
        return OutOfRange(keys ? "key " : "row ", rows[b], " of table '", spec.name, "' (", limit,
                          keys ? " keys)" : " rows)");
      return CheckRows(table, rows.subspan(b, 1));
    }
    // Clients send each server's rows grouped by virtual shard, so a pull
    // is a few runs: one shared lock and one bulk read per run.
    runs->push_back({vshards_[v / sm.num_servers].get(), table,
                     std::span<const uint64_t>(local + b, e - b), out + b * w, keys});
    b = e;
  }
  return OkStatus();
}

Status Server::ReadRuns(std::span<const ReadRun> runs, size_t rows,
                        const std::function<void()>& also) const {
  std::vector<Status> status(runs.size());
  // `also` is item 0, so it starts first and overlaps the reads.
  const size_t first = also ? 1 : 0;
  RowWork(rows, runs.size() + first, [&](size_t item) {
    if (item < first) {
      also();
      return;
    }
    const size_t i = item - first;
    const ReadRun& r = runs[i];
    ReaderMutexLock l(&r.vs->mu);
    status[i] = r.keys ? r.vs->store->ReadKeysAt(r.table, r.local, r.out)
                       : r.vs->store->ReadRowsAt(r.table, r.local, r.out);
  });
  for (Status& s : status) RETURN_IF_ERROR(s);
  return OkStatus();
}

StatusOr<bool> Server::ReadGlobalCodes(int table, std::span<const uint64_t> rows,
                                       std::vector<uint8_t>* out) const {
  RETURN_IF_ERROR(CheckRows(table, rows));
  const RowTableSpec& s = specs_[table];
  const size_t n = rows.size(), rb = row_codec::RowBytes(s.dtype, s.width);
  const size_t pb = internal::CodedParamBytes(s);
  out->resize(n * (rb + pb));
  // Positions of the rows per local virtual shard, so each is read in bulk.
  const size_t slots = vshards_.size();
  std::vector<std::vector<uint32_t>> pos(slots);
  for (size_t i = 0; i < n; ++i)
    pos[opt_.shards.VShardOf(rows[i]) / opt_.shards.num_servers].push_back(
        static_cast<uint32_t>(i));
  std::vector<uint64_t> local;
  std::vector<uint8_t> codes;
  std::vector<float> sz;
  for (size_t k = 0; k < slots; ++k) {
    if (pos[k].empty()) continue;
    local.clear();
    for (uint32_t i : pos[k]) local.push_back(opt_.shards.LocalRow(rows[i]));
    codes.resize(local.size() * rb);
    sz.resize(2 * local.size());
    {
      ReaderMutexLock l(&vshards_[k]->mu);
      RETURN_IF_ERROR(vshards_[k]->store->ReadCodes(table, local, codes.data(), sz.data()));
    }
    for (size_t j = 0; j < pos[k].size(); ++j) {
      const size_t i = pos[k][j];
      std::memcpy(out->data() + i * rb, codes.data() + j * rb, rb);
      if (pb > 0 &&
          !internal::PutRowParams(s, sz[2 * j], sz[2 * j + 1], out->data() + n * rb + i * pb))
        return false;
    }
  }
  return true;
}

Status Server::CheckRows(int table, std::span<const uint64_t> rows) const {
  // A keyed table's pulls and pushes carry keys (compressors/key_mapping.h).
  const uint64_t n = static_cast<size_t>(table) < key_limit_.size() && key_limit_[table] > 0
                         ? key_limit_[table]
                         : specs_[table].rows;
  // The common case first, in one vectorised pass: one server owns every
  // row, and every row is in range.
  if (opt_.shards.num_servers == 1) {
    uint64_t max = 0;
    for (uint64_t r : rows) max = std::max(max, r);
    if (rows.empty() || max < n) return OkStatus();
  }
  for (uint64_t r : rows) {
    if (r >= n) return OutOfRange("row ", r, " of table '", specs_[table].name, "' (", n, " rows)");
    if (fast_shards_.ServerOf(r) != opt_.rank)
      return InvalidArgument("row ", r, " of table '", specs_[table].name, "' belongs to server ",
                             opt_.shards.ServerOf(r), ", not ", opt_.rank);
  }
  return OkStatus();
}

Status Server::HandlePull(const Message& m, Message* reply) {
  ReaderMutexLock tl(&tables_mu_);
  if (m.payloads.size() != specs_.size())
    return InvalidArgument("pull has ", m.payloads.size(), " tables, the server holds ",
                           specs_.size());
  size_t total = 0;
  for (size_t t = 0; t < specs_.size(); ++t) {
    ASSIGN_OR_RETURN(size_t n, comm::ElementsOf<uint64_t>(m.payloads[t], "pull rows"));
    total += n;
  }
  // The fp32 tables' runs are collected over the whole request and read
  // together (in parallel when the request is big); coded tables are read
  // table by table.
  thread_local std::vector<uint64_t> local_scratch;
  thread_local std::vector<ReadRun> runs_scratch;
  std::vector<uint64_t>& local = local_scratch;
  std::vector<ReadRun>& runs = runs_scratch;
  local.resize(total);
  runs.clear();
  size_t fp32_rows = 0, offset = 0;
  std::vector<uint8_t> modes(specs_.size(), 0);
  for (size_t t = 0; t < specs_.size(); ++t) {
    std::span<const uint64_t> rows = m.payloads[t].As<uint64_t>();
    const size_t n = rows.size();
    std::vector<uint8_t> codes;
    bool coded = false;
    if (internal::CodedPull(specs_[t])) {
      ASSIGN_OR_RETURN(coded, ReadGlobalCodes(static_cast<int>(t), rows, &codes));
    }
    if (coded) {
      reply->payloads.push_back(Buffer::FromVector(std::move(codes)));
      modes[t] = 1;
    } else {
      // The fp32 rows are read straight into the reply payload (no copy).
      float* values;
      reply->payloads.push_back(Buffer::Allocate(n * specs_[t].width, &values));
      RETURN_IF_ERROR(PlanReads(static_cast<int>(t), rows, values, local.data() + offset, &runs,
                                /*keys=*/true));
      fp32_rows += n;
    }
    offset += n;
    stats_[t]->pulls += n;
  }
  // The hottest-keys summary is updated alongside the reads, before the
  // reply (a later stats request sees it). It may run on a row_pool_ thread,
  // while this thread holds tables_mu_ shared until ReadRuns returns: the
  // annotation states that hold (clang checks the body against it; it does
  // not follow the call through std::function).
  auto observe = [&]() ABSL_SHARED_LOCKS_REQUIRED(tables_mu_) {
    for (size_t t = 0; t < specs_.size(); ++t) stats_[t]->Observe(m.payloads[t].As<uint64_t>());
  };
  RETURN_IF_ERROR(
      ReadRuns(runs, fp32_rows, opt_.hot_keys > 0 ? std::function<void()>(observe) : nullptr));
  reply->payloads.push_back(Buffer::FromVector(std::move(modes)));
  return OkStatus();
}

Status Server::HandlePush(Message m) {
  {
    ReaderMutexLock tl(&tables_mu_);
    if (m.payloads.size() != 2 * specs_.size() + 1 + mappings_.size())
      return InvalidArgument("push has ", m.payloads.size(), " payloads, expected ",
                             2 * specs_.size() + 1 + mappings_.size());
    for (size_t j = 0; j < mappings_.size(); ++j) {
      const size_t t = static_cast<size_t>(mappings_[j].data_table);
      ASSIGN_OR_RETURN(size_t nc, comm::ElementsOf<uint32_t>(m.payloads[2 * specs_.size() + 1 + j],
                                                             "push key counts"));
      if (nc != m.payloads[2 * t].size / sizeof(uint64_t))
        return InvalidArgument("push of keyed table '", specs_[t].name, "': ", nc, " counts for ",
                               m.payloads[2 * t].size / sizeof(uint64_t), " keys");
    }
    ASSIGN_OR_RETURN(size_t nl,
                     comm::ElementsOf<uint64_t>(m.payloads[2 * specs_.size()], "push lookups"));
    if (nl != specs_.size())
      return InvalidArgument("push has lookups of ", nl, " tables, expected ", specs_.size());
    for (size_t t = 0; t < specs_.size(); ++t) {
      ASSIGN_OR_RETURN(size_t n, comm::ElementsOf<uint64_t>(m.payloads[2 * t], "push rows"));
      ASSIGN_OR_RETURN(size_t g, comm::ElementsOf<float>(m.payloads[2 * t + 1], "push grads"));
      if (g != n * static_cast<size_t>(specs_[t].width))
        return InvalidArgument("push of table '", specs_[t].name, "': ", n, " rows but ", g,
                               " gradient values (width ", specs_[t].width, ")");
      RETURN_IF_ERROR(CheckRows(static_cast<int>(t), m.payloads[2 * t].As<uint64_t>()));
    }
  }
  const internal::PushFields f = internal::GetPushFields(m.header);
  const int worker = static_cast<int>(f.worker);
  if (worker < 0 || worker >= opt_.num_workers)
    return InvalidArgument("push from worker ", f.worker, " of ", opt_.num_workers);
  const int64_t clock = f.clock;
  if (opt_.consistency != Consistency::kBsp) {
    RETURN_IF_ERROR(ApplyPushes({&m}, f.opt_step));
    bool step_done = false;
    {
      MutexLock l(&clock_mu_);
      const int64_t before = MinClock();
      clocks_[worker] = std::max(clocks_[worker], clock);
      step_done = MinClock() > before;
    }
    // The mappings move once every worker has pushed the step.
    if (step_done) RETURN_IF_ERROR(AdvanceKeyMappings(f.opt_step));
    ReleaseParked();
    return OkStatus();
  }
  // BSP: the step is applied once, when every worker's push has arrived, with
  // the pushes taken in worker order (deterministic summation).
  std::vector<Message> complete;
  {
    MutexLock l(&clock_mu_);
    auto& slot = bsp_pending_[clock];
    slot.resize(opt_.num_workers);
    if (slot[worker].header.type != MsgType::kInvalid)
      return InvalidArgument("worker ", worker, " pushed clock ", clock, " twice");
    slot[worker] = std::move(m);
    for (const Message& p : slot)
      if (p.header.type == MsgType::kInvalid) return OkStatus();
    complete = std::move(slot);
    bsp_pending_.erase(clock);
  }
  std::vector<const Message*> ptrs;
  for (const Message& p : complete) ptrs.push_back(&p);
  Status s = ApplyPushes(ptrs, internal::GetPushFields(complete[0].header).opt_step);
  // The keyed tables' mappings move between steps: before any read of the
  // next clock is released.
  if (s.ok()) s = AdvanceKeyMappings(internal::GetPushFields(complete[0].header).opt_step);
  {
    MutexLock l(&clock_mu_);
    for (int64_t& c : clocks_) c = std::max(c, clock);
  }
  ReleaseParked();
  return s;
}

Status Server::ApplyPushes(const std::vector<const Message*>& msgs, int64_t opt_step) {
  ReaderMutexLock tl(&tables_mu_);
  const ShardMap& sm = opt_.shards;
  const size_t num_tables = specs_.size();
  const size_t slots = vshards_.size();
  // The step's whole batch: every worker's lookups (ALPT's N).
  std::vector<uint64_t> lookups(num_tables, 0);
  size_t total = 0;
  for (const Message* m : msgs) {
    std::span<const uint64_t> l = m->payloads[2 * num_tables].As<uint64_t>();
    for (size_t t = 0; t < num_tables; ++t) {
      lookups[t] += l[t];
      total += m->payloads[2 * t].size / sizeof(uint64_t);
    }
  }
  // Per slot, the runs of (local row ids, gradients) in the order the store
  // sums and updates them: worker order, then the message's order. The
  // gradients stay in the messages; only the ids are rewritten (global ->
  // local), into `local`, sized up front so the runs' spans stay valid.
  thread_local std::vector<uint64_t> local_scratch;
  thread_local std::vector<std::vector<RowStore::GradRun>> runs_scratch;
  std::vector<uint64_t>& local = local_scratch;
  std::vector<std::vector<RowStore::GradRun>>& runs = runs_scratch;
  local.resize(total);
  runs.resize(slots);
  for (auto& r : runs) r.clear();
  size_t used = 0;
  // Per table, its key mapping's index (a keyed table's pushes carry counts).
  std::vector<int> mapping_of(num_tables, -1);
  for (size_t j = 0; j < mappings_.size(); ++j)
    mapping_of[mappings_[j].data_table] = static_cast<int>(j);
  for (const Message* m : msgs) {
    for (size_t t = 0; t < num_tables; ++t) {
      std::span<const uint64_t> rows = m->payloads[2 * t].As<uint64_t>();
      const float* g = m->payloads[2 * t + 1].As<float>().data();
      const size_t w = specs_[t].width;
      const uint32_t* counts =
          mapping_of[t] >= 0 ? m->payloads[2 * num_tables + 1 + static_cast<size_t>(mapping_of[t])]
                                   .As<uint32_t>()
                                   .data()
                             : nullptr;
      stats_[t]->pushes += rows.size();
      // Rows arrive grouped by virtual shard: one run per shard.
      for (size_t b = 0; b < rows.size();) {
        const int v = fast_shards_.VShardOf(rows[b]);
        size_t e = b;
        for (; e < rows.size(); ++e) {
          int rv;
          fast_shards_.Split(rows[e], &rv, &local[used + e - b]);
          if (rv != v) break;
        }
        runs[static_cast<size_t>(v / sm.num_servers)].push_back(
            {static_cast<int>(t), std::span<const uint64_t>(local.data() + used, e - b), g + b * w,
             counts != nullptr ? std::span<const uint32_t>(counts + b, e - b)
                               : std::span<const uint32_t>()});
        used += e - b;
        b = e;
      }
    }
  }
  // A worker's push holds each row once (the client deduplicates), so with
  // one message the store applies the gradients where they lie.
  const bool distinct = msgs.size() == 1;
  std::vector<size_t> todo;
  for (size_t k = 0; k < slots; ++k)
    if (!runs[k].empty()) todo.push_back(k);
  // One item per virtual shard: its rows are summed, updated and rounded by
  // one thread in the order above, whichever thread that is.
  // The rows were checked on arrival (HandlePush), so a store error here is
  // an invariant broken; it is still reported, not swallowed.
  std::vector<Status> status(todo.size());
  RowsChanged();
  RowWork(total, todo.size(), [&](size_t i) {
    VShard& vs = *vshards_[todo[i]];
    WriterMutexLock l(&vs.mu);
    status[i] = vs.store->PushShare(runs[todo[i]], opt_step, lookups, distinct);
  });
  RowsChanged();
  for (Status& st : status) RETURN_IF_ERROR(st);
  return OkStatus();
}

void Server::RowWork(size_t rows, size_t items, const std::function<void(size_t)>& fn) const {
  if (rows < kParallelRows) {
    for (size_t i = 0; i < items; ++i) fn(i);
    return;
  }
  row_pool_->Run(items, fn);
}

Status Server::CheckArrivingSpecs(const std::vector<RowTableSpec>& specs, const char* what) const {
  // The checks of a table built in this process: RowInitStream and the
  // stores trust them (a forged initialiser aborted the server in
  // RowInitStream's check, issue 14).
  for (size_t t = 0; t < specs.size(); ++t)
    RETURN_IF_ERROR(Annotate(CheckRowTableSpec(specs[t], static_cast<int>(t)), what));
  // What this server would allocate: InitialShards' fp32 draw of its rows,
  // then the rows in their dtype and their optimizer state. A row count is
  // otherwise allocated as a message states it (a forged 2^40 rows).
  const uint64_t limit = opt_.max_memory_bytes > 0 ? opt_.max_memory_bytes : AvailableMemoryBytes();
  if (limit == 0) return OkStatus();  // unknown: nothing to compare with
  const ShardMap& sm = opt_.shards;
  unsigned __int128 total = 0, largest = 0;
  size_t big = 0;
  uint64_t big_here = 0;
  for (size_t t = 0; t < specs.size(); ++t) {
    const RowTableSpec& s = specs[t];
    uint64_t here = 0;
    for (const auto& vs : vshards_) here += sm.RowsInVShard(s.rows, vs->id);
    const unsigned __int128 bytes = static_cast<unsigned __int128>(here) *
                                    (uint64_t{4} * static_cast<uint64_t>(s.width) +
                                     StoredRowBytes(s) + OptimizerRowBytes(s, opt_.optimizer.kind));
    total += bytes;
    if (bytes > largest) {
      largest = bytes;
      big = t;
      big_here = here;
    }
  }
  if (total <= limit) return OkStatus();
  const bool configured = opt_.max_memory_bytes > 0;
  const RowTableSpec& b = specs[big];
  return absl::ResourceExhaustedError(absl::StrCat(
      what, ": the ", specs.size(), " tables would take ", static_cast<uint64_t>(total >> 20),
      " MiB on server ", opt_.rank,
      " (rows, optimizer state and their initial values), more than the ", limit >> 20,
      " MiB it may use (",
      configured ? "cluster.server_memory_mb"
                 : "its host's or cgroup's memory; cluster.server_memory_mb sets a limit",
      "); the largest is table ", big, " '", b.name, "' of ", b.rows, " rows x ", b.width, " (",
      big_here, " rows here): refused before allocating it"));
}

void Server::InitialShards(const std::vector<RowTableSpec>& specs, uint64_t seed,
                           std::vector<std::vector<RowTableSpec>>* local,
                           std::vector<std::vector<std::vector<float>>>* values) const {
  const ShardMap& sm = opt_.shards;
  // Local specs: the rows this vshard holds, no initialiser (the values are
  // drawn below from the global stream and rounded with the vshard's own).
  local->assign(vshards_.size(), specs);
  values->assign(vshards_.size(), std::vector<std::vector<float>>(specs.size()));
  for (size_t t = 0; t < specs.size(); ++t) {
    const RowTableSpec& s = specs[t];
    for (size_t k = 0; k < vshards_.size(); ++k) {
      RowTableSpec& ls = (*local)[k][t];
      ls.rows = sm.RowsInVShard(s.rows, vshards_[k]->id);
      ls.init = RowInit::kUniform;
      ls.init_bound = 0.0;
      (*values)[k][t].reserve(ls.rows * s.width);
    }
    // Every server draws the whole table's stream, in row order, and keeps
    // its own rows: the values of the single-process store (row_init.h).
    RowInitStream stream(s, seed, t);
    for (uint64_t r = 0; r < s.rows; ++r) {
      if (sm.ServerOf(r) != opt_.rank) continue;
      auto& dst = (*values)[sm.VShardOf(r) / sm.num_servers][t];
      const size_t at = dst.size();
      dst.resize(at + s.width);
      stream.Fill(r, r + 1, std::span<float>(dst).subspan(at));
    }
  }
}

Status Server::HandleReset(const Message& m) {
  if (m.payloads.size() != 1) return InvalidArgument("reset needs 1 payload");
  ASSIGN_OR_RETURN(auto specs, internal::DecodeSpecs(m.payloads[0].view()));
  RETURN_IF_ERROR(CheckArrivingSpecs(specs, "reset"));
  const uint64_t seed = internal::GetResetSeed(m.header);
  std::vector<std::vector<RowTableSpec>> local;
  std::vector<std::vector<std::vector<float>>> values;
  InitialShards(specs, seed, &local, &values);
  WriterMutexLock tl(&tables_mu_);
  RowsChanged();
  for (size_t k = 0; k < vshards_.size(); ++k) {
    auto store = NewLocalRowStore(opt_.optimizer);
    RETURN_IF_ERROR(
        store->ResetWithValues(local[k], seed ^ static_cast<uint64_t>(vshards_[k]->id), values[k]));
    WriterMutexLock l(&vshards_[k]->mu);
    vshards_[k]->store = std::move(store);
  }
  SetSpecs(std::move(specs));
  RowsChanged();
  return OkStatus();
}

namespace {

// The rows i in [0, count) of a run starting at global row `begin` that
// virtual shard v of V holds: i = i0, i0 + V, ...; *n of them, the first at
// local row *local (0 of them: *n = 0).
void RunInVShard(uint64_t begin, uint64_t count, uint64_t v, uint64_t V, uint64_t* i0, uint64_t* n,
                 uint64_t* local) {
  *i0 = (v + V - begin % V) % V;
  *n = *i0 < count ? (count - *i0 + V - 1) / V : 0;
  *local = (begin + *i0) / V;
}

// Partial sums a reduction request keeps at once (groups of virtual shards,
// each summed in vshard order, then the groups in order): a number that
// depends only on the result's size, so the result does not depend on the
// number of row threads; fewer groups for large results (at most
// kReductionGroupDoubles doubles in all, beyond the first group).
constexpr size_t kReductionGroups = 8;
constexpr size_t kReductionGroupDoubles = size_t{1} << 24;  // 128 MiB

}  // namespace

Status Server::HandleReduceRows(const Message& m, Message* reply, bool* later) {
  *later = false;
  std::string key;
  for (const Buffer& b : m.payloads) {
    key += std::to_string(b.size);
    key += ':';
    key.append(b.view());
  }
  const uint64_t version = rows_version_.load();
  bool leads = false;
  {
    MutexLock l(&reduce_mu_);
    if (reduce_done_ != nullptr && reduce_done_->key == key && reduce_done_->version == version) {
      reply->payloads.push_back(reduce_done_->result);
      return OkStatus();
    }
    if (reduce_inflight_ != nullptr) {
      if (reduce_inflight_->key == key && reduce_inflight_->version == version) {
        reduce_inflight_->waiting.push_back(m.header);
        *later = true;
        return OkStatus();
      }
    } else {
      leads = true;
      reduce_inflight_ = std::make_unique<Reduction>();
      reduce_inflight_->key = std::move(key);
      reduce_inflight_->version = version;
    }
  }
  StatusOr<Buffer> r = ComputeReduction(m);
  if (leads) {
    std::vector<comm::Header> waiting;
    {
      MutexLock l(&reduce_mu_);
      waiting = std::move(reduce_inflight_->waiting);
      // Kept only if no change of the rows overlapped the computation.
      if (r.ok() && r->size <= kKeptReductionBytes && rows_version_.load() == version) {
        reduce_inflight_->result = *r;
        reduce_done_ = std::move(reduce_inflight_);
      }
      reduce_inflight_.reset();
    }
    for (const comm::Header& h : waiting) {
      Message out = comm::MakeReply(h, MsgType::kReduceRowsReply);
      if (r.ok()) {
        out.payloads.push_back(*r);
      } else {
        ++rejected_;
        out = comm::MakeErrorReply(h, r.status());
      }
      Status ss = transport_->Send(h.sender, std::move(out));
      if (!ss.ok())
        ECPS_LOG_WARN("server {}: reply to node {}: {}", opt_.rank, h.sender, ss.ToString());
    }
  }
  RETURN_IF_ERROR(r.status());
  reply->payloads.push_back(std::move(*r));
  return OkStatus();
}

StatusOr<Buffer> Server::ComputeReduction(const Message& m) const {
  ASSIGN_OR_RETURN(RowReduction op, internal::DecodeRowReduction(m.payloads));
  ReaderMutexLock tl(&tables_mu_);
  if (op.table < 0 || static_cast<size_t>(op.table) >= specs_.size())
    return OutOfRange("reduce_rows: table ", op.table, " not in [0, ", specs_.size(), ")");
  const RowTableSpec& spec = specs_[op.table];
  // The op's sizes are bounded there (the directions, the results).
  RETURN_IF_ERROR(ValidateRowReduction(op, spec.rows));
  const ShardMap& sm = opt_.shards;
  const uint64_t V = static_cast<uint64_t>(sm.virtual_shards);
  // A pair's two blocks hold the same in-block row in one virtual shard only
  // when a block is a whole number of shard strides (the client then reads
  // the rows itself).
  if (op.kind == RowReductionKind::kBlockPairAgreement && V > 1 && op.block_rows % V != 0)
    return FailedPrecondition("reduce_rows: block pairs of ", op.block_rows,
                              " rows are split over virtual shards: block_rows is not a multiple "
                              "of ",
                              V, " virtual shards");
  const size_t size = RowReductionSize(op, spec.rows);
  // One context per request: the projection directions are the large part
  // and the same for every virtual shard.
  const RowReductionContext ctx(op, spec.width);
  const size_t slots = vshards_.size();
  const size_t groups =
      std::min({slots, kReductionGroups, 1 + kReductionGroupDoubles / std::max<size_t>(size, 1)});
  std::vector<std::vector<double>> part(groups);
  std::vector<Status> status(groups);
  uint64_t held_here = 0;
  for (const auto& vs : vshards_) held_here += sm.RowsInVShard(spec.rows, vs->id);
  const int table = op.table;
  const uint64_t table_rows = spec.rows;
  const int width = spec.width;
  RowWork(held_here, groups, [&](size_t g) {
    part[g].assign(size, 0.0);
    for (size_t k = g; k < slots; k += groups) {
      VShard& vs = *vshards_[k];
      HeldRows held;
      held.table_rows = table_rows;
      held.width = width;
      held.first = static_cast<uint64_t>(vs.id);
      held.stride = V;
      held.count = sm.RowsInVShard(table_rows, vs.id);
      held.read = [&vs, table](uint64_t begin, uint64_t n, float* out) {
        ReaderMutexLock l(&vs.mu);
        return vs.store->ReadRows(table, begin, n, out);
      };
      status[g] = AccumulateRowReduction(ctx, held, part[g].data());
      if (!status[g].ok()) return;
    }
  });
  for (Status& st : status) RETURN_IF_ERROR(st);
  std::vector<double> out = groups > 0 ? std::move(part[0]) : std::vector<double>(size, 0.0);
  for (size_t g = 1; g < groups; ++g)
    for (size_t i = 0; i < size; ++i) out[i] += part[g][i];
  ++reductions_computed_;
  return Buffer::FromVector(std::move(out));
}

Status Server::CheckReshape(const Message& m) const {
  if (m.payloads.size() < 2) return InvalidArgument("reshape needs specs and copies");
  ASSIGN_OR_RETURN(auto specs, internal::DecodeSpecs(m.payloads[0].view()));
  ASSIGN_OR_RETURN(auto copies, internal::DecodeRowCopies(m.payloads[1]));
  // Every request is checked here before it waits; ApplyReshape takes the
  // first and requires the others to be the same bytes.
  RETURN_IF_ERROR(CheckArrivingSpecs(specs, "reshape"));
  ReaderMutexLock tl(&tables_mu_);
  RETURN_IF_ERROR(Annotate(ValidateRowCopies(specs_, specs, copies), "reshape"));
  size_t unaligned = 0;
  for (const RowCopy& c : copies)
    unaligned += internal::AlignedCopy(c, opt_.shards.virtual_shards) ? 0 : 1;
  // Only the primary sends the values of unaligned copies; the others none.
  if (m.payloads.size() != 2 && m.payloads.size() != 2 + unaligned)
    return InvalidArgument("reshape: ", m.payloads.size() - 2, " value payloads for ", unaligned,
                           " copies across virtual shards");
  return OkStatus();
}

Status Server::HandleReshape(Message m, bool* later) {
  *later = false;
  const internal::ReshapeFields f = internal::GetReshapeFields(m.header);
  if (f.worker < 0 || f.worker >= opt_.num_workers)
    return InvalidArgument("reshape from worker ", f.worker, " of ", opt_.num_workers);
  RETURN_IF_ERROR(CheckReshape(m));
  // Every worker's request, so that the rows change only once each worker
  // is done with the old tables (a reduction in the method's BeginStage()
  // that another worker still runs).
  std::vector<Message> all;
  {
    MutexLock l(&reshape_mu_);
    reshape_pending_.resize(opt_.num_workers);
    if (reshape_pending_[f.worker].header.type != MsgType::kInvalid)
      return InvalidArgument("worker ", f.worker, " sent a second reshape before the first ended");
    reshape_pending_[f.worker] = std::move(m);
    for (const Message& p : reshape_pending_)
      if (p.header.type == MsgType::kInvalid) {
        *later = true;
        return OkStatus();
      }
    all = std::move(reshape_pending_);
    reshape_pending_.clear();
  }
  const Status s = ApplyReshape(all);
  // The other workers' replies from here; this request's from Handle().
  for (size_t w = 0; w < all.size(); ++w) {
    if (static_cast<int64_t>(w) == f.worker) continue;
    const Message& p = all[w];
    Message r =
        s.ok() ? comm::MakeReply(p.header, MsgType::kAck) : comm::MakeErrorReply(p.header, s);
    if (!s.ok()) ++rejected_;
    Status ss = transport_->Send(p.header.sender, std::move(r));
    if (!ss.ok())
      ECPS_LOG_WARN("server {}: reply to node {}: {}", opt_.rank, p.header.sender, ss.ToString());
  }
  return s;
}

Status Server::ApplyReshape(const std::vector<Message>& all) {
  const Message& base = all[0];
  for (size_t w = 1; w < all.size(); ++w)
    if (all[w].payloads[0].view() != base.payloads[0].view() ||
        all[w].payloads[1].view() != base.payloads[1].view() ||
        internal::GetReshapeFields(all[w].header).seed !=
            internal::GetReshapeFields(base.header).seed)
      return FailedPrecondition("reshape: worker ", w,
                                " asked for other tables, copies or seed than worker 0 (the "
                                "replicas of the method disagree)");
  ASSIGN_OR_RETURN(auto specs, internal::DecodeSpecs(base.payloads[0].view()));
  ASSIGN_OR_RETURN(auto copies, internal::DecodeRowCopies(base.payloads[1]));
  const uint64_t seed = internal::GetReshapeFields(base.header).seed;
  const ShardMap& sm = opt_.shards;
  const uint64_t V = static_cast<uint64_t>(sm.virtual_shards);
  const size_t slots = vshards_.size();
  // The values of the unaligned copies: the primary's (the first request
  // that carries them), one payload per such copy.
  const Message* with_values = nullptr;
  for (const Message& p : all)
    if (p.payloads.size() > 2) {
      with_values = &p;
      break;
    }
  // Per copy: its payload (unaligned) or null, and per slot the offset of
  // that vshard's rows in it.
  std::vector<const float*> src_values(copies.size(), nullptr);
  std::vector<std::vector<uint64_t>> offset(copies.size(), std::vector<uint64_t>(slots, 0));
  size_t next_payload = 2;
  for (size_t i = 0; i < copies.size(); ++i) {
    const RowCopy& c = copies[i];
    if (internal::AlignedCopy(c, sm.virtual_shards)) continue;
    if (with_values == nullptr)
      return InvalidArgument("reshape: copy ", i,
                             " crosses virtual shards but no worker sent its rows");
    const Buffer& b = with_values->payloads[next_payload++];
    const uint64_t w = static_cast<uint64_t>(specs[c.dst_table].width);
    uint64_t here = 0;
    for (size_t k = 0; k < slots; ++k) {
      uint64_t i0, n, local;
      RunInVShard(c.dst_begin, c.count, static_cast<uint64_t>(vshards_[k]->id), V, &i0, &n, &local);
      offset[i][k] = here * w;
      here += n;
    }
    ASSIGN_OR_RETURN(size_t nv, comm::ElementsOf<float>(b, "reshape values"));
    if (nv != here * w)
      return InvalidArgument("reshape: copy ", i, " has ", nv, " values for ", here, " rows x ", w,
                             " here");
    src_values[i] = b.As<float>().data();
  }
  std::vector<std::vector<RowTableSpec>> local;
  std::vector<std::vector<std::vector<float>>> values;
  InitialShards(specs, seed, &local, &values);
  WriterMutexLock tl(&tables_mu_);
  // Checked again under the lock: the tables may have changed since the
  // requests arrived.
  RETURN_IF_ERROR(Annotate(ValidateRowCopies(specs_, specs, copies), "reshape"));
  std::vector<std::unique_ptr<RowStore>> fresh(slots);
  std::vector<Status> status(slots);
  uint64_t rows_here = 0;
  for (size_t k = 0; k < slots; ++k)
    for (const RowTableSpec& ls : local[k]) rows_here += ls.rows;
  // Per virtual shard: the new tables as Reset() makes them, then each copy
  // in order (RowStore::Reshape's order), from the shard's own old rows or
  // the primary's values. The old stores stay until every shard succeeded.
  RowWork(rows_here, slots, [&](size_t k) {
    VShard& vs = *vshards_[k];
    auto store = NewLocalRowStore(opt_.optimizer);
    Status& st = status[k];
    st = store->ResetWithValues(local[k], seed ^ static_cast<uint64_t>(vs.id), values[k]);
    std::vector<float> buf;
    for (size_t i = 0; i < copies.size() && st.ok(); ++i) {
      const RowCopy& c = copies[i];
      const size_t w = static_cast<size_t>(specs[c.dst_table].width);
      uint64_t i0, n, dst_local;
      RunInVShard(c.dst_begin, c.count, static_cast<uint64_t>(vs.id), V, &i0, &n, &dst_local);
      if (n == 0) continue;
      const float* v = nullptr;
      if (src_values[i] != nullptr) {
        v = src_values[i] + offset[i][k];
      } else {
        // Aligned: row src_begin + i0 is in this vshard too.
        buf.resize(n * w);
        {
          ReaderMutexLock l(&vs.mu);
          st = vs.store->ReadRows(c.src_table, (c.src_begin + i0) / V, n, buf.data());
        }
        v = buf.data();
      }
      if (st.ok()) st = store->WriteRows(c.dst_table, dst_local, n, v);
    }
    if (st.ok()) fresh[k] = std::move(store);
  });
  for (size_t k = 0; k < slots; ++k)
    RETURN_IF_ERROR(
        Annotate(status[k], absl::StrCat("reshape of virtual shard ", vshards_[k]->id)));
  RowsChanged();
  for (size_t k = 0; k < slots; ++k) {
    WriterMutexLock l(&vshards_[k]->mu);
    vshards_[k]->store = std::move(fresh[k]);
  }
  SetSpecs(std::move(specs));
  RowsChanged();
  return OkStatus();
}

void Server::SetSpecs(std::vector<RowTableSpec> specs) {
  // A table that stays (same name and rows: a checkpoint loaded, a stage
  // that re-initialises its rows) keeps counting from where it was.
  std::vector<std::unique_ptr<TableStats>> stats;
  for (const RowTableSpec& spec : specs) {
    std::unique_ptr<TableStats> kept;
    for (size_t t = 0; t < specs_.size(); ++t)
      if (stats_[t] != nullptr && specs_[t].name == spec.name && specs_[t].rows == spec.rows)
        kept = std::move(stats_[t]);
    stats.push_back(kept != nullptr ? std::move(kept) : std::make_unique<TableStats>());
  }
  specs_ = std::move(specs);
  stats_ = std::move(stats);
  // New tables: the workers send their mappings again (kKeyMappings).
  mappings_.clear();
  key_limit_.assign(specs_.size(), 0);
}

Status Server::HandleKeyMappings(const Message& m) {
  if (m.payloads.size() != 1) return InvalidArgument("key_mappings needs 1 payload");
  ASSIGN_OR_RETURN(std::vector<KeyMappingSpec> specs,
                   DecodeKeyMappings(std::string(m.payloads[0].view())));
  WriterMutexLock tl(&tables_mu_);
  std::vector<uint64_t> rows;
  std::vector<bool> f32_untrained;
  for (const RowTableSpec& t : specs_) {
    rows.push_back(t.rows);
    f32_untrained.push_back(t.dtype == DType::kF32 && !t.trainable);
  }
  RETURN_IF_ERROR(CheckKeyMappings(specs, rows, f32_untrained));
  for (const KeyMappingSpec& s : specs)
    if (s.partitions != opt_.shards.virtual_shards)
      return InvalidArgument("key mapping ", s.kind, " has ", s.partitions,
                             " partitions; the servers hold ", opt_.shards.virtual_shards,
                             " virtual shards (cluster.virtual_shards): they must be equal");
  for (auto& vs : vshards_) {
    WriterMutexLock l(&vs->mu);
    RETURN_IF_ERROR(
        Annotate(vs->store->SetKeyMappings(specs, vs->id), absl::StrCat("virtual shard ", vs->id)));
  }
  key_limit_.assign(specs_.size(), 0);
  for (const KeyMappingSpec& s : specs)
    key_limit_[s.data_table] = s.keys != 0 ? s.keys : specs_[s.key_table].rows;
  mappings_ = std::move(specs);
  return OkStatus();
}

Status Server::AdvanceKeyMappings(int64_t step) {
  ReaderMutexLock tl(&tables_mu_);
  if (mappings_.empty()) return OkStatus();
  std::vector<Status> status(vshards_.size());
  RowsChanged();
  // Each virtual shard's partitions on one thread: the decisions depend on
  // the shard's state rows only, whichever thread makes them.
  RowWork(kParallelRows, vshards_.size(), [&](size_t k) {
    VShard& vs = *vshards_[k];
    WriterMutexLock l(&vs.mu);
    status[k] = vs.store->AdvanceKeyMappings(step);
  });
  RowsChanged();
  for (Status& st : status) RETURN_IF_ERROR(st);
  return OkStatus();
}

Status Server::HandleSave(const Message& m, Message* reply) {
  // text = the checkpoint's path prefix (never empty: a save is always to files).
  if (m.header.text.empty()) return InvalidArgument("save needs the checkpoint's path prefix");
  ReaderMutexLock tl(&tables_mu_);
  std::vector<uint32_t> ids;
  for (auto& vs : vshards_) ids.push_back(static_cast<uint32_t>(vs->id));
  reply->payloads.push_back(Buffer::FromVector(std::move(ids)));
  std::vector<uint64_t> sizes;  // (bytes, checksum) per vshard
  for (auto& vs : vshards_) {
    // Each server writes its own shards: the rows never cross the network
    // for a checkpoint. The manifest (written last, by the coordinator)
    // records the size and checksum returned here. The blob is streamed from
    // the store's arrays to the file (no shard-sized buffer) and checksummed
    // on the way.
    const std::string path = internal::ShardFilePath(m.header.text, vs->id);
    const std::string what = absl::StrCat("server ", opt_.rank, " writing its checkpoint shard");
    auto file = AtomicFileSink::Open(path);
    if (!file.ok()) return Annotate(file.status(), what);
    {
      ReaderMutexLock l(&vs->mu);
      RETURN_IF_ERROR(Annotate(vs->store->SaveTo(file->get()), what));
    }
    RETURN_IF_ERROR(Annotate((*file)->Commit(), what));
    sizes.push_back((*file)->bytes());
    sizes.push_back((*file)->checksum());
  }
  reply->payloads.push_back(Buffer::FromVector(std::move(sizes)));
  return OkStatus();
}

Status Server::HandleLoad(const Message& m) {
  if (m.payloads.size() < 2) return InvalidArgument("load needs specs and vshard ids");
  ASSIGN_OR_RETURN(auto specs, internal::DecodeSpecs(m.payloads[0].view()));
  RETURN_IF_ERROR(CheckArrivingSpecs(specs, "load"));
  ASSIGN_OR_RETURN(size_t n, comm::ElementsOf<uint32_t>(m.payloads[1], "vshard ids"));
  // payload 2 = (bytes, checksum) per id; text = one path per id.
  if (m.payloads.size() != 3) return InvalidArgument("load: 3 payloads expected");
  const std::vector<std::string> paths = absl::StrSplit(m.header.text, '\n');
  ASSIGN_OR_RETURN(size_t pairs, comm::ElementsOf<uint64_t>(m.payloads[2], "shard sizes"));
  if (pairs != 2 * n || paths.size() != n)
    return InvalidArgument("load: ", n, " ids but ", pairs / 2, " sizes and ", paths.size(),
                           " files");
  auto ids = m.payloads[1].As<uint32_t>();
  const auto want = m.payloads[2].As<uint64_t>();
  std::vector<const std::string*> path_of(vshards_.size(), nullptr);
  for (size_t i = 0; i < n; ++i) {
    const int v = static_cast<int>(ids[i]);
    if (v >= opt_.shards.virtual_shards || opt_.shards.ServerOfVShard(v) != opt_.rank)
      return InvalidArgument("load: virtual shard ", v, " does not belong to server ", opt_.rank);
    // The shard may have been written by another server (another server
    // count): any server reads any shard file, and verifies it against the
    // manifest's size and checksum (read a chunk at a time) before trusting it.
    ASSIGN_OR_RETURN(FileDigest d, DigestFile(paths[i]));
    if (d.bytes != want[2 * i] || d.checksum != want[2 * i + 1])
      return DataLoss("checkpoint shard '", paths[i], "' is damaged: ", d.bytes,
                      " bytes (manifest: ", want[2 * i], ") or checksum mismatch");
    path_of[v / opt_.shards.num_servers] = &paths[i];
  }
  for (size_t k = 0; k < path_of.size(); ++k)
    if (path_of[k] == nullptr)
      return InvalidArgument("load: virtual shard ", vshards_[k]->id, " missing");
  // Every file verified: each is streamed into its shard's present tables
  // (same specs: no second copy of the rows while loading).
  WriterMutexLock tl(&tables_mu_);
  RowsChanged();
  for (size_t k = 0; k < path_of.size(); ++k) {
    ASSIGN_OR_RETURN(std::unique_ptr<FileSource> file, FileSource::Open(*path_of[k]));
    WriterMutexLock l(&vshards_[k]->mu);
    RETURN_IF_ERROR(
        Annotate(vshards_[k]->store->LoadFrom(file.get()),
                 absl::StrCat("virtual shard ", vshards_[k]->id, " ('", *path_of[k], "')")));
  }
  SetSpecs(std::move(specs));
  RowsChanged();
  return OkStatus();
}

Status Server::HandleReadRows(const Message& m, Message* reply) {
  ReaderMutexLock tl(&tables_mu_);
  const int64_t t = internal::GetTable(m.header);
  if (t < 0 || static_cast<size_t>(t) >= specs_.size() || m.payloads.size() != 1)
    return InvalidArgument("read_rows: bad table ", t, " or payloads");
  RETURN_IF_ERROR(comm::ElementsOf<uint64_t>(m.payloads[0], "rows").status());
  auto rows = m.payloads[0].As<uint64_t>();
  float* values;
  Buffer out = Buffer::Allocate(rows.size() * specs_[t].width, &values);
  std::vector<uint64_t> local(rows.size());
  std::vector<ReadRun> runs;
  RETURN_IF_ERROR(PlanReads(static_cast<int>(t), rows, values, local.data(), &runs));
  RETURN_IF_ERROR(ReadRuns(runs, rows.size()));
  reply->payloads.push_back(std::move(out));
  return OkStatus();
}

Status Server::HandleWriteRows(const Message& m) {
  ReaderMutexLock tl(&tables_mu_);
  const int64_t t = internal::GetTable(m.header);
  if (t < 0 || static_cast<size_t>(t) >= specs_.size() ||
      (m.payloads.size() != 2 && m.payloads.size() != 3))
    return InvalidArgument("write_rows: bad table ", t, " or payloads");
  ASSIGN_OR_RETURN(size_t n, comm::ElementsOf<uint64_t>(m.payloads[0], "rows"));
  ASSIGN_OR_RETURN(size_t nv, comm::ElementsOf<float>(m.payloads[1], "values"));
  const int w = specs_[t].width;
  if (nv != n * w) return InvalidArgument("write_rows: ", n, " rows but ", nv, " values");
  const float* sz = nullptr;  // optional per-row (scale, zero) pairs
  if (m.payloads.size() == 3) {
    ASSIGN_OR_RETURN(size_t ns, comm::ElementsOf<float>(m.payloads[2], "scale_zero"));
    if (ns != 2 * n) return InvalidArgument("write_rows: ", n, " rows but ", ns, " scale/zero");
    sz = m.payloads[2].As<float>().data();
  }
  auto rows = m.payloads[0].As<uint64_t>();
  RETURN_IF_ERROR(CheckRows(static_cast<int>(t), rows));
  const float* v = m.payloads[1].As<float>().data();
  RowsChanged();
  Status s;
  for (size_t i = 0; i < n && s.ok(); ++i) {
    VShard* vs = Owner(rows[i]);
    WriterMutexLock l(&vs->mu);
    s = vs->store->WriteRows(static_cast<int>(t), opt_.shards.LocalRow(rows[i]), 1, v + i * w,
                             sz ? sz + 2 * i : nullptr);
  }
  RowsChanged();
  return s;
}

StatusOr<NamedKeyStats> Server::KeyStatistics(int64_t step, int top) const {
  ReaderMutexLock tl(&tables_mu_);
  NamedKeyStats out;
  for (auto& vs : vshards_) {
    ReaderMutexLock l(&vs->mu);
    ASSIGN_OR_RETURN(NamedKeyStats part, vs->store->KeyStatistics(step, top));
    RETURN_IF_ERROR(MergeKeyStats(&out, part));
  }
  return out;
}

std::string Server::StatsJson() const {
  ReaderMutexLock tl(&tables_mu_);
  nlohmann::json tables = nlohmann::json::array();
  uint64_t param = 0, optim = 0;
  for (auto& vs : vshards_) {
    ReaderMutexLock l(&vs->mu);
    param += vs->store->parameter_bytes();
    optim += vs->store->optimizer_bytes();
  }
  for (size_t t = 0; t < specs_.size(); ++t) {
    uint64_t here = 0;
    for (auto& vs : vshards_) here += opt_.shards.RowsInVShard(specs_[t].rows, vs->id);
    nlohmann::json hot = nlohmann::json::array();
    for (auto& [k, c] : stats_[t]->Hottest(opt_.hot_keys)) hot.push_back({k, c});
    tables.push_back({{"name", specs_[t].name},
                      {"rows", specs_[t].rows},
                      {"rows_here", here},
                      {"bytes", here * StoredRowBytes(specs_[t])},
                      {"pulls", stats_[t]->pulls.load()},
                      {"pushes", stats_[t]->pushes.load()},
                      {"hot", hot}});
  }
  return nlohmann::json{{"server", opt_.rank},
                        {"virtual_shards", vshards_.size()},
                        {"parameter_bytes", param},
                        {"optimizer_bytes", optim},
                        // The serving process's (in --simulate: the one process's).
                        {"peak_rss_bytes", PeakRssBytes()},
                        {"tables", tables},
                        {"rejected_messages", rejected_.load()},
                        {"max_staleness", max_staleness_.load()}}
      .dump();
}

}  // namespace ecps::ps
