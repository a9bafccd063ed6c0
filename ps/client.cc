#include "ps/client.h"

#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <cstring>

#include "absl/strings/str_join.h"
#include "common/check.h"
#include "embedding/row_codec.h"
#include "ps/wire.h"

namespace ecps::ps {

using comm::Buffer;
using comm::Message;
using comm::MsgType;

namespace {

constexpr char kCheckpointMagic[] = "ECPSPSCK";
constexpr uint32_t kCheckpointVersion = 1;

// Row -> first-occurrence slot, open addressing; reused across batches.
class Dedup {
 public:
  void Begin(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    if (keys_.size() < cap) {
      keys_.assign(cap, 0);
      vals_.assign(cap, 0);
      stamps_.assign(cap, 0);
      gen_ = 0;
    }
    mask_ = keys_.size() - 1;
    if (++gen_ == 0) {
      std::fill(stamps_.begin(), stamps_.end(), 0);
      gen_ = 1;
    }
  }
  // Returns a pointer to the row's value; *fresh when newly inserted.
  uint64_t* Find(uint64_t row, bool* fresh) {
    size_t h = static_cast<size_t>((row * 0x9E3779B97F4A7C15ull) >> 20) & mask_;
    for (;;) {
      if (stamps_[h] != gen_) {
        stamps_[h] = gen_;
        keys_[h] = row;
        *fresh = true;
        return &vals_[h];
      }
      if (keys_[h] == row) {
        *fresh = false;
        return &vals_[h];
      }
      h = (h + 1) & mask_;
    }
  }

 private:
  std::vector<uint64_t> keys_, vals_;
  std::vector<uint32_t> stamps_;
  size_t mask_ = 0;
  uint32_t gen_ = 0;
};

struct PsCheckpoint {
  std::string magic;
  uint32_t version = 0;
  uint32_t virtual_shards = 0;
  std::string specs;
  std::vector<uint32_t> ids;
  std::vector<std::string> blobs;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(magic, version);
    if (magic != kCheckpointMagic || version != kCheckpointVersion) return;
    ar(virtual_shards, specs, ids, blobs);
  }
};

StatusOr<PsCheckpoint> ParseCheckpoint(const std::string& blob) {
  PsCheckpoint ck;
  try {
    std::istringstream is(blob);
    cereal::PortableBinaryInputArchive ar(is);
    ar(ck);
  } catch (const std::exception& e) {
    return DataLoss("parameter-server checkpoint is truncated or corrupt: ", e.what());
  }
  if (ck.magic != kCheckpointMagic)
    return DataLoss("not a parameter-server embedding checkpoint (magic '", ck.magic,
                    "'): was it written by the single-process trainer?");
  if (ck.version != kCheckpointVersion)
    return FailedPrecondition("parameter-server checkpoint version ", ck.version,
                              ", this build reads ", kCheckpointVersion);
  if (ck.ids.size() != ck.blobs.size() || ck.ids.size() != ck.virtual_shards)
    return DataLoss("parameter-server checkpoint: ", ck.ids.size(), " shard ids, ", ck.blobs.size(),
                    " blobs, ", ck.virtual_shards, " virtual shards");
  return ck;
}

// Per-thread scratch of the pull/push paths (the RowStore calls are const).
struct Scratch {
  Dedup dedup;
  std::vector<std::vector<std::vector<uint64_t>>> rows;  // [server][table]
  std::vector<std::vector<std::vector<float>>> grads;    // [server][table]
  std::vector<uint64_t> where;                           // per plan position
};
thread_local Scratch tls_scratch;

}  // namespace

Client::Client(ClientOptions options, comm::Rpc* rpc) : opt_(std::move(options)), rpc_(rpc) {
  shards_.num_servers = static_cast<int>(opt_.servers.size());
  shards_.virtual_shards = opt_.virtual_shards;
}

StatusOr<Message> Client::CallServer(int s, Message m) const {
  auto f = rpc_->Call(opt_.servers[s], std::move(m));
  return comm::Rpc::Wait(f, opt_.timeout_ms,
                         absl::StrCat("server ", s, " (node ", opt_.servers[s], ")"));
}

Status Client::Broadcast(Message m) const {
  std::vector<std::future<StatusOr<Message>>> fs;
  for (size_t s = 0; s < opt_.servers.size(); ++s) fs.push_back(rpc_->Call(opt_.servers[s], m));
  for (size_t s = 0; s < fs.size(); ++s) {
    auto r = comm::Rpc::Wait(fs[s], opt_.timeout_ms, absl::StrCat("server ", s));
    if (!r.ok()) return r.status();
  }
  return OkStatus();
}

int64_t Client::MinClockForRead() const {
  switch (opt_.consistency) {
    case Consistency::kBsp:
      return clock_;
    case Consistency::kSsp:
      return clock_ - opt_.staleness;
    case Consistency::kAsp:
      break;
  }
  return internal::kNoWait;
}

void Client::SetSpecs(const std::vector<RowTableSpec>& tables) {
  specs_ = tables;
  param_bytes_ = opt_bytes_ = 0;
  for (const RowTableSpec& s : specs_) {
    if (s.dtype == DType::kF32) {
      param_bytes_ += s.rows * s.width * 4;
    } else {
      param_bytes_ += s.rows * row_codec::RowBytes(s.dtype, s.width);
      if (s.quant == QuantScheme::kPerRow) param_bytes_ += s.rows * 2 * 4;
    }
    if (s.trainable) opt_bytes_ += s.rows * StateFloatsPerRow(opt_.optimizer.kind, s.width) * 4;
  }
}

Status Client::Reset(const std::vector<RowTableSpec>& tables, uint64_t seed) {
  // Quantised tables (fp16, int codes with global or per-row scales, ALPT)
  // live coded on the owning server's LocalRowStore: it decodes for pulls
  // and re-encodes after each push with its own rounding stream.
  SetSpecs(tables);
  if (!opt_.primary) return OkStatus();
  Message m;
  m.header.type = MsgType::kReset;
  m.header.step = static_cast<int64_t>(seed);
  m.payloads.push_back(Buffer::FromString(internal::EncodeSpecs(tables)));
  return Broadcast(std::move(m));
}

std::future<Status> Client::PullAsync(const LookupPlan& plan, FetchedRows* values) const {
  return std::async(std::launch::async, [this, &plan, values] { return DoPull(plan, values); });
}

void Client::Gather(const LookupPlan& plan, FetchedRows* values) const {
  Status s = DoPull(plan, values);
  ECPS_CHECK(s.ok()) << "parameter-server pull failed: " << s.ToString();
}

Status Client::DoPull(const LookupPlan& plan, FetchedRows* values) const {
  const size_t nt = specs_.size();
  const int ns = shards_.num_servers;
  if (plan.rows.size() != nt)
    return InvalidArgument("plan has ", plan.rows.size(), " tables, the store ", nt);
  Scratch& sc = tls_scratch;
  sc.rows.resize(ns);
  for (auto& r : sc.rows) {
    r.resize(nt);
    for (auto& v : r) v.clear();
  }
  // where[t] positions, packed (server << 40 | index), ~0 for kNoRow.
  std::vector<std::vector<uint64_t>> where(nt);
  for (size_t t = 0; t < nt; ++t) {
    const auto& rows = plan.rows[t];
    where[t].resize(rows.size());
    sc.dedup.Begin(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      const uint64_t r = rows[i];
      if (r == kNoRow) {
        where[t][i] = ~0ull;
        continue;
      }
      bool fresh;
      uint64_t* slot = sc.dedup.Find(r, &fresh);
      if (fresh) {
        const int s = shards_.ServerOf(r);
        *slot = (static_cast<uint64_t>(s) << 40) | sc.rows[s][t].size();
        sc.rows[s][t].push_back(r);
      }
      where[t][i] = *slot;
    }
  }
  std::vector<std::future<StatusOr<Message>>> fs(ns);
  std::vector<char> sent(ns, 0);
  for (int s = 0; s < ns; ++s) {
    size_t total = 0;
    for (auto& v : sc.rows[s]) total += v.size();
    if (total == 0) continue;
    Message m;
    m.header.type = MsgType::kPull;
    m.header.step = MinClockForRead();
    m.header.arg = opt_.worker;
    m.header.arg2 = clock_;
    for (auto& v : sc.rows[s]) m.payloads.push_back(Buffer::Copy(v.data(), v.size() * 8));
    fs[s] = rpc_->Call(opt_.servers[s], std::move(m));
    sent[s] = 1;
  }
  std::vector<Message> replies(ns);
  for (int s = 0; s < ns; ++s) {
    if (!sent[s]) continue;
    ASSIGN_OR_RETURN(replies[s],
                     comm::Rpc::Wait(fs[s], opt_.timeout_ms, absl::StrCat("pull from server ", s)));
    if (replies[s].payloads.size() != nt + 1 || replies[s].payloads[nt].size != nt)
      return DataLoss("pull reply of server ", s, " has ", replies[s].payloads.size(),
                      " payloads for ", nt, " tables");
    const auto modes = replies[s].payloads[nt].As<uint8_t>();
    for (size_t t = 0; t < nt; ++t) {
      if (modes[t] > 1 || (modes[t] == 1 && !internal::CodedPull(specs_[t])))
        return DataLoss("pull reply of server ", s, " table ", t, " has encoding ", modes[t]);
      const size_t row_bytes = modes[t] == 1 ? row_codec::RowBytes(specs_[t].dtype, specs_[t].width)
                                             : static_cast<size_t>(specs_[t].width) * 4;
      if (replies[s].payloads[t].size != sc.rows[s][t].size() * row_bytes)
        return DataLoss("pull reply of server ", s, " table ", t, " has the wrong size");
    }
  }
  values->values.resize(nt);
  for (size_t t = 0; t < nt; ++t) {
    const RowTableSpec& spec = specs_[t];
    const size_t w = spec.width;
    const size_t rb = internal::CodedPull(spec) ? row_codec::RowBytes(spec.dtype, spec.width) : 0;
    auto& out = values->values[t];
    out.resize(plan.rows[t].size() * w);
    for (size_t i = 0; i < where[t].size(); ++i) {
      const uint64_t p = where[t][i];
      if (p == ~0ull) {
        std::memset(out.data() + i * w, 0, w * 4);
        continue;
      }
      const Message& r = replies[p >> 40];
      if (r.payloads[nt].As<uint8_t>()[t] == 1) {
        // Codes: decoded with the table's codec, exactly the server's rows.
        const uint8_t* row = r.payloads[t].As<uint8_t>().data() + (p & ((1ull << 40) - 1)) * rb;
        row_codec::DecodeRow(spec.dtype, spec.width, row, static_cast<float>(spec.scale),
                             static_cast<float>(spec.zero), out.data() + i * w);
        continue;
      }
      const float* src =
          replies[p >> 40].payloads[t].As<float>().data() + (p & ((1ull << 40) - 1)) * w;
      std::memcpy(out.data() + i * w, src, w * 4);
    }
  }
  return OkStatus();
}

void Client::Push(const LookupPlan& plan, const FetchedRows& grads, int64_t step) {
  Status s = DoPush(plan, grads, step);
  ECPS_CHECK(s.ok()) << "parameter-server push failed: " << s.ToString();
}

Status Client::DoPush(const LookupPlan& plan, const FetchedRows& grads, int64_t step) {
  const size_t nt = specs_.size();
  const int ns = shards_.num_servers;
  Scratch& sc = tls_scratch;
  sc.rows.resize(ns);
  sc.grads.resize(ns);
  for (int s = 0; s < ns; ++s) {
    sc.rows[s].resize(nt);
    sc.grads[s].resize(nt);
    for (auto& v : sc.rows[s]) v.clear();
    for (auto& v : sc.grads[s]) v.clear();
  }
  for (size_t t = 0; t < nt; ++t) {
    if (!specs_[t].trainable) continue;
    const auto& rows = plan.rows[t];
    const size_t w = specs_[t].width;
    const float* g = grads.values[t].data();
    sc.dedup.Begin(rows.size());
    // Sums in plan order, first occurrence first: LocalRowStore's order.
    for (size_t i = 0; i < rows.size(); ++i) {
      const uint64_t r = rows[i];
      if (r == kNoRow) continue;
      bool fresh;
      uint64_t* slot = sc.dedup.Find(r, &fresh);
      const int s = shards_.ServerOf(r);
      auto& gs = sc.grads[s][t];
      if (fresh) {
        *slot = sc.rows[s][t].size();
        sc.rows[s][t].push_back(r);
        gs.insert(gs.end(), g + i * w, g + (i + 1) * w);
      } else {
        float* acc = gs.data() + *slot * w;
        for (size_t j = 0; j < w; ++j) acc[j] += g[i * w + j];
      }
    }
  }
  ++clock_;
  std::vector<std::future<StatusOr<Message>>> fs(ns);
  for (int s = 0; s < ns; ++s) {
    Message m;
    m.header.type = MsgType::kPush;
    m.header.step = step;
    m.header.arg = opt_.worker;
    m.header.arg2 = clock_;
    for (size_t t = 0; t < nt; ++t) {
      m.payloads.push_back(Buffer::FromVector(std::move(sc.rows[s][t])));
      m.payloads.push_back(Buffer::FromVector(std::move(sc.grads[s][t])));
      sc.rows[s][t] = {};
      sc.grads[s][t] = {};
    }
    fs[s] = rpc_->Call(opt_.servers[s], std::move(m));
  }
  for (int s = 0; s < ns; ++s)
    RETURN_IF_ERROR(
        comm::Rpc::Wait(fs[s], opt_.timeout_ms, absl::StrCat("push to server ", s)).status());
  return OkStatus();
}

void Client::ResetOptimizerState() {
  if (!opt_.primary) return;
  Message m;
  m.header.type = MsgType::kResetOptState;
  Status s = Broadcast(std::move(m));
  ECPS_CHECK(s.ok()) << s.ToString();
}

uint64_t Client::parameter_bytes() const { return param_bytes_; }
uint64_t Client::optimizer_bytes() const { return opt_bytes_; }

std::string Client::Save() const {
  PsCheckpoint ck;
  ck.magic = kCheckpointMagic;
  ck.version = kCheckpointVersion;
  ck.virtual_shards = static_cast<uint32_t>(shards_.virtual_shards);
  ck.specs = internal::EncodeSpecs(specs_);
  ck.ids.resize(shards_.virtual_shards);
  ck.blobs.resize(shards_.virtual_shards);
  for (int s = 0; s < shards_.num_servers; ++s) {
    Message m;
    m.header.type = MsgType::kSave;
    m.header.step = MinClockForRead();
    auto r = CallServer(s, std::move(m));
    ECPS_CHECK(r.ok()) << "checkpoint: " << r.status().ToString();
    auto ids = r->payloads[0].As<uint32_t>();
    ECPS_CHECK_EQ(r->payloads.size(), ids.size() + 1);
    for (size_t i = 0; i < ids.size(); ++i) {
      ck.ids[ids[i]] = ids[i];
      ck.blobs[ids[i]] = std::string(r->payloads[1 + i].view());
    }
  }
  std::ostringstream os;
  {
    cereal::PortableBinaryOutputArchive ar(os);
    ar(ck);
  }
  return os.str();
}

std::string Client::EncodedSpecs() const { return internal::EncodeSpecs(specs_); }

StatusOr<std::vector<Client::ShardFile>> Client::SaveShards(const std::string& prefix) const {
  std::vector<ShardFile> files(shards_.virtual_shards);
  std::vector<bool> seen(shards_.virtual_shards, false);
  std::vector<std::future<StatusOr<Message>>> fs;
  for (int s = 0; s < shards_.num_servers; ++s) {
    Message m;
    m.header.type = MsgType::kSave;
    m.header.step = MinClockForRead();
    m.header.arg = internal::kShardFiles;
    m.header.text = prefix;
    fs.push_back(rpc_->Call(opt_.servers[s], std::move(m)));
  }
  for (int s = 0; s < shards_.num_servers; ++s) {
    ASSIGN_OR_RETURN(Message r, comm::Rpc::Wait(fs[s], opt_.timeout_ms,
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
  std::vector<std::future<StatusOr<Message>>> fs;
  for (int s = 0; s < shards_.num_servers; ++s) {
    Message m;
    m.header.type = MsgType::kLoad;
    m.header.arg = internal::kShardFiles;
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
    fs.push_back(rpc_->Call(opt_.servers[s], std::move(m)));
  }
  for (int s = 0; s < shards_.num_servers; ++s)
    RETURN_IF_ERROR(
        comm::Rpc::Wait(fs[s], opt_.timeout_ms, absl::StrCat("load on server ", s)).status());
  return OkStatus();
}

Status Client::Load(const std::string& blob) {
  ASSIGN_OR_RETURN(PsCheckpoint ck, ParseCheckpoint(blob));
  if (static_cast<int>(ck.virtual_shards) != shards_.virtual_shards)
    return FailedPrecondition("checkpoint has ", ck.virtual_shards,
                              " virtual shards, this cluster uses ", shards_.virtual_shards,
                              " (set cluster.virtual_shards to match)");
  ASSIGN_OR_RETURN(auto specs, internal::DecodeSpecs(ck.specs));
  SetSpecs(specs);
  if (!opt_.primary) return OkStatus();
  // Each virtual shard goes to its owner under the *current* server count.
  std::vector<std::future<StatusOr<Message>>> fs;
  for (int s = 0; s < shards_.num_servers; ++s) {
    Message m;
    m.header.type = MsgType::kLoad;
    m.payloads.push_back(Buffer::FromString(ck.specs));
    std::vector<uint32_t> ids;
    for (int v = s; v < shards_.virtual_shards; v += shards_.num_servers) ids.push_back(v);
    for (uint32_t v : ids) m.payloads.push_back(Buffer::FromString(std::move(ck.blobs[v])));
    m.payloads.insert(m.payloads.begin() + 1, Buffer::FromVector(std::move(ids)));
    fs.push_back(rpc_->Call(opt_.servers[s], std::move(m)));
  }
  for (int s = 0; s < shards_.num_servers; ++s)
    RETURN_IF_ERROR(
        comm::Rpc::Wait(fs[s], opt_.timeout_ms, absl::StrCat("load on server ", s)).status());
  return OkStatus();
}

Status Client::ReadRows(int table, uint64_t begin, uint64_t count, float* out) const {
  if (table < 0 || static_cast<size_t>(table) >= specs_.size())
    return OutOfRange("table ", table, " not in [0, ", specs_.size(), ")");
  const uint64_t n = specs_[table].rows;
  if (begin > n || count > n - begin) return OutOfRange("rows out of range");
  const size_t w = specs_[table].width;
  const int ns = shards_.num_servers;
  std::vector<std::vector<uint64_t>> rows(ns);
  for (uint64_t r = begin; r < begin + count; ++r) rows[shards_.ServerOf(r)].push_back(r);
  std::vector<std::future<StatusOr<Message>>> fs(ns);
  for (int s = 0; s < ns; ++s) {
    Message m;
    m.header.type = MsgType::kReadRows;
    m.header.arg = table;
    m.header.step = MinClockForRead();
    m.payloads.push_back(Buffer::FromVector(std::vector<uint64_t>(rows[s])));
    fs[s] = rpc_->Call(opt_.servers[s], std::move(m));
  }
  for (int s = 0; s < ns; ++s) {
    ASSIGN_OR_RETURN(Message r, comm::Rpc::Wait(fs[s], opt_.timeout_ms,
                                                absl::StrCat("read_rows on server ", s)));
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
    m.header.arg = table;
    m.payloads.push_back(Buffer::FromVector(std::move(rows[s])));
    m.payloads.push_back(Buffer::FromVector(std::move(vals[s])));
    if (scale_zero != nullptr) m.payloads.push_back(Buffer::FromVector(std::move(sz[s])));
    fs[s] = rpc_->Call(opt_.servers[s], std::move(m));
  }
  for (int s = 0; s < ns; ++s)
    RETURN_IF_ERROR(
        comm::Rpc::Wait(fs[s], opt_.timeout_ms, absl::StrCat("write_rows on server ", s)).status());
  return OkStatus();
}

StatusOr<std::string> Client::ServerStats() const {
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
