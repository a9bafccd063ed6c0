#include "comm/rpc_collective.h"

#include <cstring>

#include "absl/strings/numbers.h"

namespace ecps::comm {
namespace {

class RpcCollective final : public Collective {
 public:
  RpcCollective(Rpc* rpc, int root, int rank, int size, int timeout_ms)
      : rpc_(rpc), root_(root), rank_(rank), size_(size), timeout_ms_(timeout_ms) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Status AllreduceSum(std::span<float> data) override { return Sum(CollectiveOp::kSumF32, data); }
  Status AllreduceSum(std::span<double> data) override { return Sum(CollectiveOp::kSumF64, data); }
  Status Broadcast(std::string* data, int root) override {
    ASSIGN_OR_RETURN(Message r,
                     Exchange(CollectiveOp::kBroadcast,
                              Buffer::FromString(rank_ == root ? *data : std::string()), root));
    if (r.payloads.size() != 1) return DataLoss("collective broadcast: malformed reply");
    data->assign(r.payloads[0].view());
    return OkStatus();
  }
  Status Allgather(const std::string& mine, std::vector<std::string>* all) override {
    ASSIGN_OR_RETURN(Message r, Exchange(CollectiveOp::kAllgather, Buffer::FromString(mine), 0));
    if (r.payloads.size() != static_cast<size_t>(size_))
      return DataLoss("collective allgather: reply has ", r.payloads.size(), " parts, expected ",
                      size_);
    all->clear();
    for (const Buffer& b : r.payloads) all->emplace_back(b.view());
    return OkStatus();
  }
  Status Barrier() override {
    return Exchange(CollectiveOp::kBarrier, Buffer::FromString({}), 0).status();
  }
  Status Decide(const std::string& mine, std::string* decision) override {
    ASSIGN_OR_RETURN(Message r, Exchange(CollectiveOp::kDecide, Buffer::FromString(mine), 0));
    if (r.payloads.size() != 1) return DataLoss("collective decide: malformed reply");
    decision->assign(r.payloads[0].view());
    return OkStatus();
  }

 private:
  template <typename T>
  Status Sum(CollectiveOp op, std::span<T> data) {
    ASSIGN_OR_RETURN(Message r, Exchange(op, Buffer::Copy(data.data(), data.size_bytes()), 0));
    if (r.payloads.size() != 1 || r.payloads[0].size != data.size_bytes())
      return DataLoss("collective sum: malformed reply");
    std::memcpy(data.data(), r.payloads[0].data, data.size_bytes());
    return OkStatus();
  }

  StatusOr<Message> Exchange(CollectiveOp op, Buffer mine, int bcast_root) {
    Message m;
    m.header.type = MsgType::kCollective;
    m.header.step = seq_++;
    m.header.arg = static_cast<int64_t>(op);
    m.header.arg2 = rank_;
    m.header.text = std::to_string(bcast_root);
    m.payloads.push_back(std::move(mine));
    auto f = rpc_->Call(root_, std::move(m));
    return rpc_->Wait(f, timeout_ms_, absl::StrCat("collective #", seq_ - 1, " of rank ", rank_));
  }

  Rpc* rpc_;
  const int root_, rank_, size_, timeout_ms_;
  int64_t seq_ = 0;
};

}  // namespace

std::unique_ptr<Collective> NewRpcCollective(Rpc* rpc, int root, int rank, int size,
                                             int timeout_ms) {
  return std::make_unique<RpcCollective>(rpc, root, rank, size, timeout_ms);
}

CollectiveRoot::CollectiveRoot(int size, SendFn send, Decider decider)
    : size_(size), send_(std::move(send)), decider_(std::move(decider)) {}

void CollectiveRoot::OnMessage(Message m) {
  const Header& h = m.header;
  const int64_t rank = h.arg2;
  const int64_t op = h.arg;
  Status bad;
  if (rank < 0 || rank >= size_) {
    bad = InvalidArgument("collective: rank ", rank, " outside [0, ", size_, ")");
  } else if (op < static_cast<int64_t>(CollectiveOp::kSumF32) ||
             op > static_cast<int64_t>(CollectiveOp::kDecide)) {
    bad = InvalidArgument("collective: unknown operation ", op);
  } else if (m.payloads.size() != 1) {
    bad = InvalidArgument("collective: ", m.payloads.size(), " payloads, expected 1");
  }
  if (!bad.ok()) {
    send_(h.sender, MakeErrorReply(h, bad));
    return;
  }
  Pending done;
  const int64_t seq = h.step;
  bool complete = false;
  {
    MutexLock l(&mu_);
    if (!aborted_.empty()) {
      send_(h.sender, MakeErrorReply(h, absl::AbortedError(aborted_)));
      return;
    }
    Pending& p = pending_[seq];
    if (p.parts.empty()) p.parts.resize(size_);
    if (p.parts[rank].header.type != MsgType::kInvalid) {
      send_(h.sender, MakeErrorReply(h, InvalidArgument("collective #", h.step, ": rank ", rank,
                                                        " contributed twice")));
      return;
    }
    p.parts[rank] = std::move(m);
    if (++p.arrived == size_) {
      done = std::move(p);
      pending_.erase(seq);
      complete = true;
    }
  }
  if (complete) Complete(seq, std::move(done));
}

void CollectiveRoot::Complete(int64_t seq, Pending p) {
  const int64_t op = p.parts[0].header.arg;
  for (const Message& m : p.parts)
    if (m.header.arg != op || m.header.text != p.parts[0].header.text)
      return Fail(std::move(p),
                  InvalidArgument("collective #", seq, ": members called different operations"));
  Buffer result;
  std::vector<Buffer> gathered;
  switch (static_cast<CollectiveOp>(op)) {
    case CollectiveOp::kSumF32:
    case CollectiveOp::kSumF64: {
      const size_t n = p.parts[0].payloads[0].size;
      for (const Message& m : p.parts)
        if (m.payloads[0].size != n)
          return Fail(std::move(p),
                      InvalidArgument("collective #", seq, ": members sent different sizes"));
      auto sum = [&](auto zero) {
        using T = decltype(zero);
        if (n % sizeof(T) != 0) return false;
        std::vector<T> acc(n / sizeof(T));
        std::memcpy(acc.data(), p.parts[0].payloads[0].data, n);
        for (size_t r = 1; r < p.parts.size(); ++r) {
          const T* x = reinterpret_cast<const T*>(p.parts[r].payloads[0].data);
          for (size_t i = 0; i < acc.size(); ++i) acc[i] += x[i];
        }
        result = Buffer::FromVector(std::move(acc));
        return true;
      };
      const bool ok = static_cast<CollectiveOp>(op) == CollectiveOp::kSumF32 ? sum(0.0f) : sum(0.0);
      if (!ok) return Fail(std::move(p), InvalidArgument("collective #", seq, ": ragged data"));
      break;
    }
    case CollectiveOp::kBroadcast: {
      int root = -1;
      if (!absl::SimpleAtoi(p.parts[0].header.text, &root) || root < 0 || root >= size_)
        return Fail(std::move(p), InvalidArgument("collective #", seq, ": bad broadcast root"));
      result = p.parts[root].payloads[0];
      break;
    }
    case CollectiveOp::kAllgather:
      for (const Message& m : p.parts) gathered.push_back(m.payloads[0]);
      break;
    case CollectiveOp::kBarrier:
      break;
    case CollectiveOp::kDecide: {
      if (!decider_)
        return Fail(std::move(p), FailedPrecondition("collective #", seq, ": no coordinator"));
      std::vector<std::string> parts;
      for (const Message& m : p.parts) parts.emplace_back(m.payloads[0].view());
      StatusOr<std::string> d = decider_(parts);
      if (!d.ok()) return Fail(std::move(p), d.status());
      result = Buffer::FromString(std::move(*d));
      break;
    }
  }
  for (const Message& m : p.parts) {
    Message reply = MakeReply(m.header, MsgType::kCollectiveReply);
    if (static_cast<CollectiveOp>(op) == CollectiveOp::kAllgather)
      reply.payloads = gathered;
    else
      reply.payloads.push_back(result);
    send_(m.header.sender, std::move(reply));
  }
}

void CollectiveRoot::Fail(Pending p, const Status& s) {
  for (const Message& m : p.parts)
    if (m.header.type != MsgType::kInvalid) send_(m.header.sender, MakeErrorReply(m.header, s));
}

void CollectiveRoot::Abort(const std::string& why) {
  std::map<int64_t, Pending> pending;
  {
    MutexLock l(&mu_);
    if (aborted_.empty()) aborted_ = why;
    pending.swap(pending_);
  }
  for (auto& [seq, p] : pending) Fail(std::move(p), absl::AbortedError(why));
}

}  // namespace ecps::comm
