// comm::SumsThrough (comm/collective.h): sums through one collective,
// everything else through another.
#include "comm/collective.h"
#include "common/check.h"

namespace ecps::comm {

namespace {

class SumsThroughCollective final : public Collective {
 public:
  SumsThroughCollective(Collective* rest, Collective* sums, std::atomic<uint64_t>* sent)
      : rest_(rest), sums_(sums), sent_(sent) {
    ECPS_CHECK(rest->rank() == sums->rank() && rest->size() == sums->size())
        << "collectives of different groups: rank " << rest->rank() << "/" << rest->size() << " vs "
        << sums->rank() << "/" << sums->size();
  }
  int rank() const override { return rest_->rank(); }
  int size() const override { return rest_->size(); }
  Status AllreduceSum(std::span<float> data) override { return Sum(data); }
  Status AllreduceSum(std::span<double> data) override { return Sum(data); }
  Status Broadcast(std::string* data, int root) override { return rest_->Broadcast(data, root); }
  Status Allgather(const std::string& mine, std::vector<std::string>* all) override {
    return rest_->Allgather(mine, all);
  }
  Status Barrier() override { return rest_->Barrier(); }
  Status Decide(const std::string& mine, std::string* decision) override {
    return rest_->Decide(mine, decision);
  }

 private:
  template <typename T>
  Status Sum(std::span<T> data) {
    if (sent_ != nullptr && size() > 1)
      *sent_ += 2 * (static_cast<uint64_t>(size()) - 1) * data.size_bytes() / size();
    return sums_->AllreduceSum(data);
  }

  Collective* rest_;
  Collective* sums_;
  std::atomic<uint64_t>* sent_;
};

}  // namespace

std::unique_ptr<Collective> SumsThrough(Collective* rest, Collective* sums,
                                        std::atomic<uint64_t>* sent_bytes) {
  return std::make_unique<SumsThroughCollective>(rest, sums, sent_bytes);
}

}  // namespace ecps::comm
