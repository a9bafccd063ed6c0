#include "common/evaluation.h"

#include <cstring>

#include "common/byte_io.h"
#include "common/metrics.h"

namespace ecps {
namespace {

constexpr char kContributionTag[4] = {'E', 'V', 'L', '1'};
constexpr char kDecisionTag[4] = {'E', 'V', 'D', '1'};

using bytes::Put;
using bytes::Take;

bool TakeFloats(std::string_view* in, uint64_t n, std::vector<float>* out) {
  if (in->size() / sizeof(float) < n) return false;
  out->resize(n);
  std::memcpy(out->data(), in->data(), n * sizeof(float));
  in->remove_prefix(n * sizeof(float));
  return true;
}

}  // namespace

std::string EncodeEvalContribution(const EvalContribution& c) {
  std::string out;
  out.reserve(48 + 8 * c.logits.size());
  out.append(kContributionTag, 4);
  Put<uint8_t>(&out, c.track ? 1 : 0);
  Put<uint8_t>(&out, c.stage_complete ? 1 : 0);
  Put<uint8_t>(&out, c.by_logloss ? 1 : 0);
  Put<int64_t>(&out, c.patience);
  Put<double>(&out, c.state.best);
  Put<int64_t>(&out, c.state.evals_since_best);
  Put<uint64_t>(&out, c.logits.size());
  out.append(reinterpret_cast<const char*>(c.logits.data()), c.logits.size() * sizeof(float));
  out.append(reinterpret_cast<const char*>(c.labels.data()), c.labels.size() * sizeof(float));
  return out;
}

bool IsEvalContribution(std::string_view bytes) {
  return bytes.size() >= 4 && std::memcmp(bytes.data(), kContributionTag, 4) == 0;
}

StatusOr<EvalContribution> DecodeEvalContribution(std::string_view in) {
  if (!IsEvalContribution(in)) return InvalidArgument("not an evaluation contribution");
  in.remove_prefix(4);
  EvalContribution c;
  uint8_t track = 0, complete = 0, by_logloss = 0;
  uint64_t n = 0;
  if (!Take(&in, &track) || !Take(&in, &complete) || !Take(&in, &by_logloss) ||
      !Take(&in, &c.patience) || !Take(&in, &c.state.best) ||
      !Take(&in, &c.state.evals_since_best) || !Take(&in, &n) || !TakeFloats(&in, n, &c.logits) ||
      !TakeFloats(&in, n, &c.labels) || !in.empty())
    return InvalidArgument("evaluation contribution is truncated or has trailing bytes");
  c.track = track != 0;
  c.stage_complete = complete != 0;
  c.by_logloss = by_logloss != 0;
  return c;
}

std::string EncodeEvalDecision(const EvalDecision& d) {
  std::string out(kDecisionTag, 4);
  Put<double>(&out, d.auc);
  Put<double>(&out, d.logloss);
  Put<uint64_t>(&out, d.rows);
  Put<uint8_t>(&out, d.improved ? 1 : 0);
  Put<uint8_t>(&out, d.stop ? 1 : 0);
  Put<uint8_t>(&out, d.stage_complete ? 1 : 0);
  Put<double>(&out, d.state.best);
  Put<int64_t>(&out, d.state.evals_since_best);
  return out;
}

StatusOr<EvalDecision> DecodeEvalDecision(std::string_view in) {
  if (in.size() < 4 || std::memcmp(in.data(), kDecisionTag, 4) != 0)
    return DataLoss("not an evaluation decision");
  in.remove_prefix(4);
  EvalDecision d;
  uint8_t improved = 0, stop = 0, complete = 0;
  if (!Take(&in, &d.auc) || !Take(&in, &d.logloss) || !Take(&in, &d.rows) ||
      !Take(&in, &improved) || !Take(&in, &stop) || !Take(&in, &complete) ||
      !Take(&in, &d.state.best) || !Take(&in, &d.state.evals_since_best) || !in.empty())
    return DataLoss("evaluation decision is truncated or has trailing bytes");
  d.improved = improved != 0;
  d.stop = stop != 0;
  d.stage_complete = complete != 0;
  return d;
}

StatusOr<EvalDecision> DecideEvaluation(const std::vector<std::string>& contributions) {
  if (contributions.empty()) return InvalidArgument("evaluation: no contributions");
  std::vector<float> logits, labels;
  EvalContribution first;
  for (size_t r = 0; r < contributions.size(); ++r) {
    ASSIGN_OR_RETURN(EvalContribution c, DecodeEvalContribution(contributions[r]));
    if (r == 0) {
      first.track = c.track;
      first.patience = c.patience;
      first.by_logloss = c.by_logloss;
      first.state = c.state;
      first.stage_complete = c.stage_complete;
    } else if (c.track != first.track) {
      return InvalidArgument("evaluation: worker ", r, " disagrees with worker 0 on tracking");
    } else if (c.stage_complete != first.stage_complete) {
      // Every worker holds a replica of the method; replicas that disagree
      // have diverged, and a stage that ends on some workers only would hang.
      return InvalidArgument("evaluation: worker ", r,
                             " disagrees with worker 0 on whether the method's stage is complete "
                             "(the method's replicated state diverged)");
    }
    logits.insert(logits.end(), c.logits.begin(), c.logits.end());
    labels.insert(labels.end(), c.labels.begin(), c.labels.end());
  }
  EvalDecision d;
  d.rows = logits.size();
  d.state = first.state;
  d.stage_complete = first.track && first.stage_complete;
  if (d.rows > 0) {
    d.auc = RocAuc(logits, labels);
    d.logloss = LogLossFromLogits(logits, labels);
  }
  if (first.track) {
    const double value = first.by_logloss ? d.logloss : d.auc;
    // -1: no evaluation yet; a NaN log loss never improves.
    d.improved = first.by_logloss
                     ? (d.rows > 0 && (first.state.best < 0 || value < first.state.best))
                     : value > first.state.best;
    if (d.improved) {
      d.state.best = value;
      d.state.evals_since_best = 0;
    } else {
      ++d.state.evals_since_best;
    }
    d.stop = first.patience > 0 && d.state.evals_since_best >= first.patience;
  }
  return d;
}

}  // namespace ecps
