#include "worker/data/vocabulary.h"

#include <algorithm>
#include <utility>

namespace ecps {

FieldVocabulary::Mapping FieldVocabulary::Finalize(
    uint64_t min_count, const std::vector<uint32_t>* train_counts) const {
  // Sorting by key makes the ids independent of the order values were first
  // seen in and of the hash map's iteration order.
  std::vector<std::pair<uint64_t, uint32_t>> sorted(ids_.begin(), ids_.end());
  std::sort(sorted.begin(), sorted.end());
  Mapping m;
  m.final_id.assign(counts_.size(), 0);
  // A train-only vocabulary always has the bucket: validation and test may
  // hold values train has not (and a value needs one train occurrence).
  const std::vector<uint32_t>& counts = train_counts != nullptr ? *train_counts : counts_;
  const uint64_t need = train_counts != nullptr ? std::max<uint64_t>(min_count, 1) : min_count;
  uint32_t next = need > 0 ? 1 : 0;  // id 0 is the OOV bucket
  m.oov_bucket = need > 0;
  auto assign = [&](uint32_t prov) {
    if (need > 0 && counts[prov] < need) {
      m.final_id[prov] = 0;
      ++m.num_oov_values;
    } else {
      m.final_id[prov] = next++;
    }
  };
  if (missing_id_ >= 0) assign(static_cast<uint32_t>(missing_id_));
  for (const auto& kv : sorted) {
    const uint32_t before = next;
    assign(kv.second);
    if (next != before) m.keys.push_back(kv.first);
  }
  m.cardinality = next;
  return m;
}

}  // namespace ecps
