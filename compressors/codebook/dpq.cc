#include "compressors/codebook/dpq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/mutex.h"
#include "compressors/internal/method_util.h"

namespace ecps {
namespace {

using method_internal::CheckSame;
using method_internal::EndState;
using method_internal::OpenState;
using method_internal::StateWriter;

constexpr uint64_t kChunkRows = 4096;

}  // namespace

ParamSchema DpqEmbedding::Schema() {
  return ParamSchema()
      .Int("num_parts", 0, 0, 65536,
           "parts P of a row (a divisor of the dim); 0: the most parts whose codes and codebook "
           "fit the budget")
      .Int("num_choices", 32, 2, 65536,
           "codewords K per part (codes of ceil(log2 K) bits; CODE: 32)")
      .Float("reg_weight", 1.0, 0.0, 1e6,
             "weight of the codebook regulariser mean((c - sg(q))^2), the only gradient of the "
             "codewords")
      .Bool("score_bn", true,
            "BatchNorm (no affine) over the scores before the argmax, as CODE; running "
            "statistics at evaluation and for the switch to codes");
}

std::unique_ptr<Compressor> DpqEmbedding::Create() { return std::make_unique<DpqEmbedding>(); }

uint64_t DpqEmbedding::ServedBytes(uint64_t n, int dim, int parts, int choices) {
  const int bytes = codebook::CodeBytes(parts, codebook::CodeBits(choices));
  return n * static_cast<uint64_t>(bytes) + 4ull * static_cast<uint64_t>(choices) * dim;
}

Status DpqEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = method_internal::InitBound(space_);
  const int d = space_.dim;
  const int choices = static_cast<int>(params.GetInt("num_choices"));
  reg_weight_ = params.GetFloat("reg_weight");
  score_bn_ = params.GetBool("score_bn");
  int parts = static_cast<int>(params.GetInt("num_parts"));
  const uint64_t n = space_.total();
  if (parts != 0) {
    if (d % parts != 0)
      return InvalidArgument(kName, ": num_parts=", parts, " does not divide the dim ", d);
  } else {
    // The solver: the most parts (finest codes) whose served form and, before
    // the switch, BatchNorm statistics fit; else one part (real ratio).
    const double budget = std::floor(4.0 * static_cast<double>(n) * d * ctx.budget);
    parts = 1;
    for (int p = d; p >= 1; --p) {
      if (d % p != 0) continue;
      const uint64_t stats = score_bn_ ? 8ull * p * choices : 0;
      if (static_cast<double>(ServedBytes(n, d, p, choices) + stats) <= budget) {
        parts = p;
        break;
      }
    }
  }
  shape_ = codebook::PqShape{d, parts, choices};
  bits_ = codebook::CodeBits(choices);
  code_bytes_ = codebook::CodeBytes(parts, bits_);
  // Running statistics start as the identity normalisation (mean 0, var 1).
  bn_.clear();
  if (score_bn_) {
    bn_.assign(2 * static_cast<size_t>(shape_.rows()), 0.0f);
    std::fill(bn_.begin() + shape_.rows(), bn_.end(), 1.0f);
  }
  stage_ = 0;
  pending_codes_.clear();
  return OkStatus();
}

std::vector<RowTableSpec> DpqEmbedding::Tables() const {
  RowTableSpec c;
  c.name = "C";
  c.rows = static_cast<uint64_t>(shape_.rows());
  c.width = shape_.part_dim();
  // The tiny init of §4 item 8, as the queries.
  c.init_bound = init_bound_;
  if (stage_ == 0) {
    RowTableSpec e;
    e.name = "E";
    e.rows = space_.total();
    e.width = space_.dim;
    e.init_bound = init_bound_;
    return {e, c};
  }
  RowTableSpec codes;
  codes.name = "codes";
  codes.rows = space_.total();
  codes.width = code_bytes_;
  codes.dtype = DType::kU8;
  // Bytes with the identity map: value = byte.
  codes.quant = QuantScheme::kGlobal;
  codes.scale = 1.0;
  codes.zero = 0.0;
  codes.trainable = false;
  c.trainable = false;
  return {codes, c};
}

std::vector<StageSpec> DpqEmbedding::Stages() const {
  StageSpec sw{"switch"};
  sw.post_training = true;
  sw.freeze_dense = true;
  return {StageSpec{"train"}, sw};
}

void DpqEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  plan->Reset(static_cast<int>(keys.size()), 2);
  plan->per_key = {1, kPackedRows};
  method_internal::GlobalRows(space_, keys, &plan->rows[0]);
  plan->rows[1].resize(static_cast<size_t>(shape_.rows()));
  std::iota(plan->rows[1].begin(), plan->rows[1].end(), uint64_t{0});
}

codebook::ScoreNorm DpqEmbedding::Norm(bool training) const {
  if (!score_bn_) return codebook::ScoreNorm::kNone;
  return training ? codebook::ScoreNorm::kBatch : codebook::ScoreNorm::kRunning;
}

void DpqEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  const size_t n = static_cast<size_t>(plan.num_keys);
  const int d = space_.dim, p = shape_.parts;
  const float* cb = rows.values[1].data();
  std::vector<int32_t> codes(n * p);
  if (stage_ == 1) {
    const float* bytes = rows.values[0].data();
    for (size_t i = 0; i < n; ++i) {
      codebook::UnpackCodes(bytes + i * code_bytes_, p, bits_, codes.data() + i * p);
      codebook::Reconstruct(shape_, cb, codes.data() + i * p, out + i * d);
    }
    return;
  }
  // saved = [codes (n·P, as floats) | batch mean (P·K) | batch variance
  // (P·K) | the batch's count over the workers].
  const size_t cols = static_cast<size_t>(shape_.rows());
  plan.saved.assign(n * p + 2 * cols + 1, 0.0f);
  float* batch_mean = plan.saved.data() + n * p;
  std::vector<uint32_t> members(n);
  std::iota(members.begin(), members.end(), 0u);
  std::vector<float> s;
  codebook::ScoreMatrix(shape_, cb, rows.values[0].data(), members, &s);
  const codebook::ScoreNorm norm = Norm(plan.training);
  if (norm == codebook::ScoreNorm::kBatch) {
    // The global batch's statistics: every worker's sums, all-reduced (every
    // worker makes this call once per training step, with or without keys).
    std::vector<double> moments(codebook::MomentsSize(shape_), 0.0);
    codebook::AddMoments(shape_, s.data(), n, moments.data());
    if (workers_ != nullptr && workers_->size() > 1) SumOverWorkers(moments);
    codebook::MomentsToStats(shape_, moments.data(), batch_mean, batch_mean + cols);
    plan.saved[n * p + 2 * cols] = static_cast<float>(moments[2 * cols]);
    codebook::ArgmaxCodes(shape_, s.data(), n, {}, batch_mean, batch_mean + cols, codes.data());
  } else if (norm == codebook::ScoreNorm::kRunning) {
    codebook::ArgmaxCodes(shape_, s.data(), n, {}, bn_.data(), bn_.data() + cols, codes.data());
  } else {
    codebook::ArgmaxCodes(shape_, s.data(), n, {}, nullptr, nullptr, codes.data());
  }
  for (size_t i = 0; i < n; ++i) {
    codebook::Reconstruct(shape_, cb, codes.data() + i * p, out + i * d);
    for (int q = 0; q < p; ++q) plan.saved[i * p + q] = static_cast<float>(codes[i * p + q]);
  }
}

void DpqEmbedding::SumOverWorkers(std::span<double> data) const {
  MutexLock l(&sync_mu_);
  if (!sync_error_.ok()) return;
  const Status st = workers_->AllreduceSum(data);
  if (!st.ok()) sync_error_ = Annotate(st, "dpq: all-reduce of the score BatchNorm statistics");
}

Status DpqEmbedding::AfterStep(int64_t step) {
  MutexLock l(&sync_mu_);
  Status st = sync_error_;
  sync_error_ = OkStatus();
  return st;
}

void DpqEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                  const float* grad_out, FetchedRows* row_grads) {
  std::vector<float>& de = row_grads->values[0];
  std::vector<float>& dc = row_grads->values[1];
  std::fill(dc.begin(), dc.end(), 0.0f);
  const size_t n = static_cast<size_t>(plan.num_keys);
  if (stage_ == 1) {
    std::fill(de.begin(), de.end(), 0.0f);
    return;
  }
  const int d = space_.dim, p = shape_.parts;
  // Straight through: the output's gradient is the query's.
  std::copy(grad_out, grad_out + n * d, de.begin());
  // reg = w · mean over the global batch's N·W·d elements of (c - sg(q))²;
  // this worker's share is the sum over its own keys / (N·W·d).
  const double w = workers_ != nullptr ? std::max(1, workers_->size()) : 1;
  const float coef =
      static_cast<float>(reg_weight_ / (static_cast<double>(n) * static_cast<double>(d) * w));
  const float* q = rows.values[0].data();
  const float* cb = rows.values[1].data();
  std::vector<int32_t> codes(p);
  for (size_t i = 0; i < n; ++i) {
    for (int k = 0; k < p; ++k) codes[k] = static_cast<int32_t>(plan.saved[i * p + k]);
    codebook::AddRegulariserGrad(shape_, cb, codes.data(), q + i * d, coef, dc.data());
  }
  if (plan.training && score_bn_ && !plan.saved.empty()) {
    // Every worker moves its replica by the global batch's statistics.
    const size_t cols = static_cast<size_t>(shape_.rows());
    const float* batch_mean = plan.saved.data() + n * p;
    const uint64_t count = static_cast<uint64_t>(plan.saved[n * p + 2 * cols]);
    if (count > 0)
      codebook::UpdateRunning(static_cast<int>(cols), count, batch_mean, batch_mean + cols,
                              bn_.data(), bn_.data() + cols);
  }
}

Status DpqEmbedding::BeginStage(int index) {
  if (index != 1) return InvalidArgument(kName, " has stages 0 and 1, not ", index);
  if (rows_ == nullptr) return FailedPrecondition(kName, ": no row access attached");
  const uint64_t n = space_.total();
  const int d = space_.dim, p = shape_.parts;
  const size_t cols = static_cast<size_t>(shape_.rows());
  std::vector<float> cb(cols * shape_.part_dim());
  RETURN_IF_ERROR(rows_->ReadRows(1, 0, cols, cb.data()));
  pending_codes_.assign(n * code_bytes_, 0);
  std::vector<float> q(kChunkRows * d);
  std::vector<int32_t> codes(kChunkRows * p);
  std::vector<uint32_t> members;
  const codebook::ScoreNorm norm = Norm(/*training=*/false);
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    RETURN_IF_ERROR(rows_->ReadRows(0, begin, count, q.data()));
    members.resize(count);
    std::iota(members.begin(), members.end(), 0u);
    // The evaluation lookup's codes (running statistics), so the switched
    // model scores exactly as the last evaluation of the trained one.
    codebook::AssignCodes(
        shape_, cb.data(), q.data(), members, {}, norm, bn_.empty() ? nullptr : bn_.data(),
        bn_.empty() ? nullptr : bn_.data() + cols, nullptr, nullptr, codes.data());
    for (uint64_t r = 0; r < count; ++r)
      codebook::PackCodes(codes.data() + r * p, p, bits_,
                          pending_codes_.data() + (begin + r) * code_bytes_);
  }
  stage_ = 1;
  return OkStatus();
}

std::vector<RowCopy> DpqEmbedding::StageCopies(int index) const {
  if (index != 1) return {};
  // C stays table 1 at the same rows: every server copies its own.
  return {RowCopy{1, 0, 1, 0, static_cast<uint64_t>(shape_.rows())}};
}

Status DpqEmbedding::InitStageRows(int index) {
  if (index != 1 || rows_ == nullptr) return OkStatus();
  const uint64_t n = space_.total();
  if (pending_codes_.size() != n * code_bytes_)
    return FailedPrecondition(kName, ": InitStageRows(1) without BeginStage(1)");
  std::vector<float> chunk(kChunkRows * code_bytes_);
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    const uint8_t* src = pending_codes_.data() + begin * code_bytes_;
    for (uint64_t k = 0; k < count * code_bytes_; ++k) chunk[k] = static_cast<float>(src[k]);
    RETURN_IF_ERROR(rows_->WriteRows(0, begin, count, chunk.data()));
  }
  std::vector<uint8_t>().swap(pending_codes_);
  return OkStatus();
}

MemoryReport DpqEmbedding::Memory() const {
  const uint64_t n = space_.total();
  const uint64_t d = static_cast<uint64_t>(space_.dim);
  const uint64_t codebook_bytes = 4ull * shape_.rows() * shape_.part_dim();
  const uint64_t served = n * code_bytes_ + codebook_bytes;
  MemoryReport r;
  // The BatchNorm statistics are needed until the codes exist.
  r.auxiliary_bytes = stage_ == 0 ? bn_.size() * sizeof(float) : 0;
  r.inference_bytes = served + r.auxiliary_bytes;
  r.parameter_bytes = 4ull * n * d + codebook_bytes + served;
  return r;
}

std::string DpqEmbedding::SaveState() const {
  BlobWriter w = StateWriter(kStateMagic, 1, space_);
  w.Pod<int32_t>(shape_.parts);
  w.Pod<int32_t>(shape_.choices);
  w.Pod<uint8_t>(score_bn_ ? 1 : 0);
  w.Pod<int32_t>(stage_);
  return w.Finish();
}

Status DpqEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(OpenState(blob, kStateMagic, 1, kName, space_, &r));
  int32_t parts = 0, choices = 0, stage = 0;
  uint8_t bn = 0;
  if (!r.Pod(&parts) || !r.Pod(&choices) || !r.Pod(&bn) || !r.Pod(&stage)) return r.Truncated();
  RETURN_IF_ERROR(EndState(r));
  if (stage < 0 || stage > 1) return DataLoss(kName, " state: stage ", stage, " is not 0 or 1");
  if (bn > 1) return DataLoss(kName, " state: score_bn byte ", static_cast<int>(bn));
  RETURN_IF_ERROR(CheckSame(kName, "num_parts", parts, static_cast<int32_t>(shape_.parts)));
  RETURN_IF_ERROR(CheckSame(kName, "num_choices", choices, static_cast<int32_t>(shape_.choices)));
  RETURN_IF_ERROR(CheckSame(kName, "score_bn", bn == 1, score_bn_));
  stage_ = stage;
  return OkStatus();
}

}  // namespace ecps
