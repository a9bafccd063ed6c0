// In-process collectives: a two-phase rendezvous (arrive, read, depart) over
// one mutex. Reductions sum contributions in rank order, which makes them
// bit-reproducible from run to run.
#include <cstring>

#include "comm/collective.h"

namespace ecps::comm {

InProcCollectiveGroup::InProcCollectiveGroup(int size, Decider decider)
    : size_(size), decider_(std::move(decider)), slots_(size, nullptr) {}

void InProcCollectiveGroup::Abort(const std::string& why) {
  MutexLock l(&mu_);
  aborted_ = why.empty() ? "collective aborted" : why;
  cv_.SignalAll();
}

Status InProcCollectiveGroup::Exchange(
    int rank, const void* mine, const std::function<void(const std::vector<const void*>&)>& read) {
  MutexLock l(&mu_);
  if (!aborted_.empty()) return absl::AbortedError(aborted_);
  slots_[rank] = mine;
  const uint64_t gen = gen_in_;
  if (++arrived_ == size_) {
    arrived_ = 0;
    ++gen_in_;
    cv_.SignalAll();
  } else {
    while (gen_in_ == gen && aborted_.empty()) cv_.Wait(&mu_);
    if (gen_in_ == gen) return absl::AbortedError(aborted_);
  }
  l.Unlock();
  read(slots_);
  l.Lock();
  const uint64_t out = gen_out_;
  if (++departed_ == size_) {
    departed_ = 0;
    ++gen_out_;
    cv_.SignalAll();
  } else {
    while (gen_out_ == out && aborted_.empty()) cv_.Wait(&mu_);
    if (gen_out_ == out) return absl::AbortedError(aborted_);
  }
  return OkStatus();
}

namespace {

class InProcCollective final : public Collective {
 public:
  InProcCollective(InProcCollectiveGroup* g, int rank, int size)
      : g_(g), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Status AllreduceSum(std::span<float> data) override { return Reduce(data); }
  Status AllreduceSum(std::span<double> data) override { return Reduce(data); }

  Status Broadcast(std::string* data, int root) override {
    std::string result;
    RETURN_IF_ERROR(g_->Exchange(rank_, data, [&](const std::vector<const void*>& all) {
      result = *static_cast<const std::string*>(all[root]);
    }));
    *data = std::move(result);
    return OkStatus();
  }

  Status Allgather(const std::string& mine, std::vector<std::string>* all) override {
    std::vector<std::string> result(size_);
    RETURN_IF_ERROR(g_->Exchange(rank_, &mine, [&](const std::vector<const void*>& slots) {
      for (int r = 0; r < size_; ++r) result[r] = *static_cast<const std::string*>(slots[r]);
    }));
    *all = std::move(result);
    return OkStatus();
  }

  Status Barrier() override {
    return g_->Exchange(rank_, nullptr, [](const std::vector<const void*>&) {});
  }

  Status Decide(const std::string& mine, std::string* decision) override {
    if (!g_->decider()) return FailedPrecondition("this collective has no coordinator to decide");
    // Gather to rank 0, which plays the coordinator, then broadcast its answer
    // (first byte: 1 = ok, 0 = the error message follows).
    std::vector<std::string> all;
    RETURN_IF_ERROR(Allgather(mine, &all));
    std::string answer;
    if (rank_ == 0) {
      StatusOr<std::string> d = g_->decider()(all);
      answer = d.ok() ? std::string(1, '\1') + *d
                      : std::string(1, '\0') + std::string(d.status().message());
    }
    RETURN_IF_ERROR(Broadcast(&answer, 0));
    if (answer.empty() || answer[0] != 1)
      return InvalidArgument("coordinator: ", answer.empty() ? "" : answer.substr(1));
    *decision = answer.substr(1);
    return OkStatus();
  }

 private:
  template <typename T>
  Status Reduce(std::span<T> data) {
    if (size_ == 1) return OkStatus();
    // Everyone reads all contributions; nobody writes its own buffer until
    // all have read (Exchange's depart phase).
    scratch_.resize(data.size() * sizeof(T));
    T* sum = reinterpret_cast<T*>(scratch_.data());
    RETURN_IF_ERROR(g_->Exchange(rank_, data.data(), [&](const std::vector<const void*>& all) {
      std::memcpy(sum, all[0], data.size() * sizeof(T));
      for (int r = 1; r < size_; ++r) {
        const T* x = static_cast<const T*>(all[r]);
        for (size_t i = 0; i < data.size(); ++i) sum[i] += x[i];
      }
    }));
    std::memcpy(data.data(), sum, data.size() * sizeof(T));
    return OkStatus();
  }

  InProcCollectiveGroup* g_;
  int rank_, size_;
  std::vector<char> scratch_;
};

}  // namespace

std::unique_ptr<Collective> InProcCollectiveGroup::Member(int rank) {
  return std::make_unique<InProcCollective>(this, rank, size_);
}

}  // namespace ecps::comm
