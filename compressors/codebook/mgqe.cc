#include "compressors/codebook/mgqe.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "common/mutex.h"
#include "compressors/internal/method_util.h"

namespace ecps {
namespace {

using method_internal::CheckSame;
using method_internal::EndState;
using method_internal::OpenState;
using method_internal::StateWriter;

constexpr uint64_t kChunkRows = 4096;
constexpr int kKept = 0, kHigh = 1, kLow = 2;

RowTableSpec CodesTable(const char* name, uint64_t rows, int bytes) {
  RowTableSpec t;
  t.name = name;
  t.rows = rows;
  t.width = bytes;
  t.dtype = DType::kU8;
  // Bytes with the identity map: value = byte.
  t.quant = QuantScheme::kGlobal;
  t.scale = 1.0;
  t.zero = 0.0;
  t.trainable = false;
  return t;
}

}  // namespace

ParamSchema MgqeEmbedding::Schema() {
  return ParamSchema()
      .Int("num_parts", 0, 0, 65536,
           "parts P of a row (a divisor of the dim); 0: the most parts that fit the budget")
      .Int("high_choices", 256, 2, 65536, "codewords per part of the frequent ids (CODE: 256)")
      .Int("low_choices", 64, 1, 65536,
           "codewords per part the other ids choose from, the first of the high ones (CODE: 64)")
      .Float("top_percent", 0.1, 0.0, 1.0,
             "share of each field's ids, by train count, that are frequent (CODE: 0.1)")
      .Float("reg_weight", 1.0, 0.0, 1e6,
             "weight of each field's codebook regulariser mean((c - sg(q))^2)")
      .Bool("score_bn", true,
            "BatchNorm (no affine) over each field's scores before the argmax, as CODE");
}

std::unique_ptr<Compressor> MgqeEmbedding::Create() { return std::make_unique<MgqeEmbedding>(); }

uint64_t MgqeEmbedding::FieldBytes(uint64_t n_f, uint64_t n_high, int dim, int parts,
                                   int high_choices, int low_choices, bool bn) {
  const uint64_t hb = codebook::CodeBytes(parts, codebook::CodeBits(high_choices));
  const uint64_t lb = codebook::CodeBytes(parts, codebook::CodeBits(low_choices));
  return n_high * hb + (n_f - n_high) * lb + 4ull * high_choices * dim + 4 * n_high +
         (bn ? 8ull * parts * high_choices : 0);
}

Status MgqeEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(method_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  const uint64_t n = space_.total();
  const int d = space_.dim, nf = space_.num_fields();
  if (!ctx.train_counts.empty() && ctx.train_counts.size() != n)
    return InvalidArgument(kName, ": ", ctx.train_counts.size(), " train counts for ", n,
                           " features");
  init_bound_ = method_internal::InitBound(space_);
  const int kh = static_cast<int>(params.GetInt("high_choices"));
  low_choices_ = static_cast<int>(params.GetInt("low_choices"));
  if (low_choices_ > kh)
    return InvalidArgument(kName, ": low_choices=", low_choices_, " exceeds high_choices=", kh,
                           " (the rare ids choose among the first of the frequent ids' codewords)");
  const double top = params.GetFloat("top_percent");
  reg_weight_ = params.GetFloat("reg_weight");
  score_bn_ = params.GetBool("score_bn");
  // Each field's frequent ids: the top share by train count, ties to the
  // smaller id (no counts: the first ids).
  std::vector<std::vector<uint32_t>> high(nf);
  for (int f = 0; f < nf; ++f) {
    const uint64_t nfx = space_.cardinalities[f];
    const uint64_t nh = static_cast<uint64_t>(std::floor(top * static_cast<double>(nfx)));
    std::vector<uint32_t> ids(nfx);
    std::iota(ids.begin(), ids.end(), 0u);
    if (!ctx.train_counts.empty()) {
      const uint32_t* c = ctx.train_counts.data() + space_.offsets[f];
      std::stable_sort(ids.begin(), ids.end(), [c](uint32_t a, uint32_t b) { return c[a] > c[b]; });
    }
    ids.resize(nh);
    std::sort(ids.begin(), ids.end());
    high[f] = std::move(ids);
  }
  // P: the most parts whose fields, each at the cheaper form, fit.
  auto total = [&](int p, std::vector<uint8_t>* comp) {
    uint64_t b = 0;
    comp->assign(nf, 0);
    for (int f = 0; f < nf; ++f) {
      const uint64_t nfx = space_.cardinalities[f];
      const uint64_t q = FieldBytes(nfx, high[f].size(), d, p, kh, low_choices_, score_bn_);
      const uint64_t full = 4ull * nfx * d;
      if (q < full) {
        (*comp)[f] = 1;
        b += q;
      } else {
        b += full;
      }
    }
    return b;
  };
  int parts = static_cast<int>(params.GetInt("num_parts"));
  if (parts != 0) {
    if (d % parts != 0)
      return InvalidArgument(kName, ": num_parts=", parts, " does not divide the dim ", d);
  } else {
    const double cap = std::floor(4.0 * static_cast<double>(n) * d * ctx.budget);
    parts = 1;
    std::vector<uint8_t> comp;
    for (int p = d; p >= 1; --p) {
      if (d % p != 0) continue;
      if (static_cast<double>(total(p, &comp)) <= cap) {
        parts = p;
        break;
      }
    }
  }
  total(parts, &compressed_);
  shape_ = codebook::PqShape{d, parts, kh};
  high_bits_ = codebook::CodeBits(kh);
  low_bits_ = codebook::CodeBits(low_choices_);
  high_bytes_ = codebook::CodeBytes(parts, high_bits_);
  low_bytes_ = codebook::CodeBytes(parts, low_bits_);
  // Rows: the kept fields first in E (so F is E's first rows), then the
  // compressed ones; the codes tables by rank.
  high_.assign(nf, {});
  block_.assign(nf, -1);
  e_off_.assign(nf, 0);
  high_off_.assign(nf, 0);
  low_off_.assign(nf, 0);
  kept_rows_ = high_rows_ = low_rows_ = 0;
  blocks_ = 0;
  for (int f = 0; f < nf; ++f)
    if (!compressed_[f]) {
      e_off_[f] = kept_rows_;
      kept_rows_ += space_.cardinalities[f];
    }
  uint64_t at = kept_rows_;
  for (int f = 0; f < nf; ++f) {
    if (!compressed_[f]) continue;
    e_off_[f] = at;
    at += space_.cardinalities[f];
    high_[f] = std::move(high[f]);
    block_[f] = blocks_++;
    high_off_[f] = high_rows_;
    low_off_[f] = low_rows_;
    high_rows_ += high_[f].size();
    low_rows_ += space_.cardinalities[f] - high_[f].size();
  }
  bn_.clear();
  if (score_bn_) {
    bn_.assign(2ull * blocks_ * shape_.rows(), 0.0f);
    for (int b = 0; b < blocks_; ++b)
      std::fill(bn_.begin() + (2ull * b + 1) * shape_.rows(),
                bn_.begin() + (2ull * b + 2) * shape_.rows(), 1.0f);
  }
  stage_ = 0;
  pending_high_.clear();
  pending_low_.clear();
  return OkStatus();
}

std::vector<RowTableSpec> MgqeEmbedding::Tables() const {
  RowTableSpec c;
  c.name = "C";
  c.rows = static_cast<uint64_t>(blocks_) * shape_.rows();
  c.width = shape_.part_dim();
  c.init_bound = init_bound_;  // the tiny init of §4 item 8
  RowTableSpec e;
  e.name = stage_ == 0 ? "E" : "F";
  e.rows = stage_ == 0 ? space_.total() : kept_rows_;
  e.width = space_.dim;
  e.init_bound = init_bound_;
  if (stage_ == 0) return {e, c};
  e.trainable = false;
  c.trainable = false;
  return {e, CodesTable("codes_high", high_rows_, high_bytes_),
          CodesTable("codes_low", low_rows_, low_bytes_), c};
}

std::vector<StageSpec> MgqeEmbedding::Stages() const {
  StageSpec sw{"switch"};
  sw.post_training = true;
  sw.freeze_dense = true;
  return {StageSpec{"train"}, sw};
}

int MgqeEmbedding::Tier(int f, uint32_t x, uint64_t* rank) const {
  if (!compressed_[f]) {
    *rank = e_off_[f] + x;
    return kKept;
  }
  const std::vector<uint32_t>& h = high_[f];
  const auto it = std::lower_bound(h.begin(), h.end(), x);
  const uint64_t below = static_cast<uint64_t>(it - h.begin());
  if (it != h.end() && *it == x) {
    *rank = high_off_[f] + below;
    return kHigh;
  }
  *rank = low_off_[f] + x - below;
  return kLow;
}

void MgqeEmbedding::Encode(std::span<const uint32_t> keys, LookupPlan* plan) const {
  const size_t n = keys.size();
  const int nf = space_.num_fields();
  const uint64_t c_rows = static_cast<uint64_t>(blocks_) * shape_.rows();
  if (stage_ == 0) {
    plan->Reset(static_cast<int>(n), 2);
    plan->per_key = {1, kPackedRows};
    plan->rows[0].resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int f = static_cast<int>(i % nf);
      plan->rows[0][i] = e_off_[f] + keys[i];
    }
    plan->rows[1].resize(c_rows);
    std::iota(plan->rows[1].begin(), plan->rows[1].end(), uint64_t{0});
    return;
  }
  plan->Reset(static_cast<int>(n), 4);
  plan->per_key = {1, 1, 1, kPackedRows};
  for (int t = 0; t < 3; ++t) plan->rows[t].assign(n, kNoRow);
  plan->aux_index.resize(n);
  for (size_t i = 0; i < n; ++i) {
    uint64_t rank = 0;
    const int tier = Tier(static_cast<int>(i % nf), keys[i], &rank);
    plan->rows[tier][i] = rank;
    plan->aux_index[i] = static_cast<uint32_t>(tier);
  }
  plan->rows[3].resize(c_rows);
  std::iota(plan->rows[3].begin(), plan->rows[3].end(), uint64_t{0});
}

codebook::ScoreNorm MgqeEmbedding::Norm(bool training) const {
  if (!score_bn_) return codebook::ScoreNorm::kNone;
  return training ? codebook::ScoreNorm::kBatch : codebook::ScoreNorm::kRunning;
}

void MgqeEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  const size_t n = static_cast<size_t>(plan.num_keys);
  const int d = space_.dim, p = shape_.parts, nf = space_.num_fields();
  const size_t block_floats = static_cast<size_t>(shape_.rows()) * shape_.part_dim();
  std::vector<int32_t> codes(p);
  if (stage_ == 1) {
    const float* cb = rows.values[3].data();
    for (size_t i = 0; i < n; ++i) {
      const int f = static_cast<int>(i % nf);
      const int tier = static_cast<int>(plan.aux_index[i]);
      if (tier == kKept) {
        std::copy_n(rows.values[0].data() + i * d, d, out + i * d);
        continue;
      }
      const int bytes = tier == kHigh ? high_bytes_ : low_bytes_;
      const int bits = tier == kHigh ? high_bits_ : low_bits_;
      codebook::UnpackCodes(rows.values[tier].data() + i * bytes, p, bits, codes.data());
      codebook::Reconstruct(shape_, cb + block_[f] * block_floats, codes.data(), out + i * d);
    }
    return;
  }
  const float* q = rows.values[0].data();
  const float* cb = rows.values[1].data();
  // saved = [codes (n·P, as floats) | per block: batch mean, batch variance
  // (P·K_h each), the field's count over the workers].
  const size_t cols = static_cast<size_t>(shape_.rows());
  const size_t per_block = 2 * cols + 1;
  plan.saved.assign(n * p + per_block * blocks_, 0.0f);
  const codebook::ScoreNorm norm = Norm(plan.training);
  std::vector<std::vector<uint32_t>> members(nf);
  std::vector<std::vector<uint16_t>> limits(nf);
  std::vector<std::vector<float>> scores(nf);
  std::vector<double> moments(codebook::MomentsSize(shape_) * blocks_, 0.0);
  for (int f = 0; f < nf; ++f) {
    for (size_t i = f; i < n; i += nf) members[f].push_back(static_cast<uint32_t>(i));
    if (!compressed_[f]) {
      for (uint32_t i : members[f]) std::copy_n(q + static_cast<size_t>(i) * d, d, out + i * d);
      continue;
    }
    limits[f].resize(members[f].size());
    for (size_t k = 0; k < members[f].size(); ++k) {
      const uint64_t local = plan.rows[0][members[f][k]] - e_off_[f];
      uint64_t rank = 0;
      const bool high = Tier(f, static_cast<uint32_t>(local), &rank) == kHigh;
      limits[f][k] = static_cast<uint16_t>(std::min(high ? shape_.choices : low_choices_, 65535));
    }
    codebook::ScoreMatrix(shape_, cb + block_[f] * block_floats, q, members[f], &scores[f]);
    if (norm == codebook::ScoreNorm::kBatch)
      codebook::AddMoments(shape_, scores[f].data(), members[f].size(),
                           moments.data() + codebook::MomentsSize(shape_) * block_[f]);
  }
  // Every field's global batch statistics in one all-reduce (every worker
  // makes it once per training step).
  if (norm == codebook::ScoreNorm::kBatch && workers_ != nullptr && workers_->size() > 1 &&
      blocks_ > 0)
    SumOverWorkers(moments);
  std::vector<int32_t> field_codes;
  for (int f = 0; f < nf; ++f) {
    if (!compressed_[f]) continue;
    const size_t m = members[f].size();
    float* stats = plan.saved.data() + n * p + per_block * block_[f];
    const float* mean = nullptr;
    const float* var = nullptr;
    if (norm == codebook::ScoreNorm::kBatch) {
      const double* mo = moments.data() + codebook::MomentsSize(shape_) * block_[f];
      codebook::MomentsToStats(shape_, mo, stats, stats + cols);
      stats[2 * cols] = static_cast<float>(mo[2 * cols]);
      mean = stats;
      var = stats + cols;
    } else if (norm == codebook::ScoreNorm::kRunning) {
      mean = bn_.data() + BnOffset(f);
      var = mean + cols;
    }
    field_codes.resize(m * p);
    codebook::ArgmaxCodes(shape_, scores[f].data(), m, limits[f], mean, var, field_codes.data());
    for (size_t k = 0; k < m; ++k) {
      const uint32_t i = members[f][k];
      codebook::Reconstruct(shape_, cb + block_[f] * block_floats, field_codes.data() + k * p,
                            out + static_cast<size_t>(i) * d);
      for (int j = 0; j < p; ++j)
        plan.saved[static_cast<size_t>(i) * p + j] = static_cast<float>(field_codes[k * p + j]);
    }
  }
}

void MgqeEmbedding::SumOverWorkers(std::span<double> data) const {
  MutexLock l(&sync_mu_);
  if (!sync_error_.ok()) return;
  const Status st = workers_->AllreduceSum(data);
  if (!st.ok()) sync_error_ = Annotate(st, "mgqe: all-reduce of the score BatchNorm statistics");
}

Status MgqeEmbedding::AfterStep(int64_t step) {
  MutexLock l(&sync_mu_);
  Status st = sync_error_;
  sync_error_ = OkStatus();
  return st;
}

void MgqeEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                   const float* grad_out, FetchedRows* row_grads) {
  for (std::vector<float>& g : row_grads->values) std::fill(g.begin(), g.end(), 0.0f);
  const size_t n = static_cast<size_t>(plan.num_keys);
  if (stage_ == 1 || plan.saved.empty()) return;
  const int d = space_.dim, p = shape_.parts, nf = space_.num_fields();
  // Straight through for the compressed fields, the identity for the others.
  std::copy(grad_out, grad_out + n * d, row_grads->values[0].begin());
  const size_t cols = static_cast<size_t>(shape_.rows());
  const size_t block_floats = cols * shape_.part_dim();
  const double w = workers_ != nullptr ? std::max(1, workers_->size()) : 1;
  const float* q = rows.values[0].data();
  const float* cb = rows.values[1].data();
  float* dc = row_grads->values[1].data();
  std::vector<int32_t> codes(p);
  for (int f = 0; f < nf; ++f) {
    if (!compressed_[f]) continue;
    const uint64_t m = static_cast<uint64_t>(f) < n ? (n - f + nf - 1) / nf : 0;
    // The field's w·mean over its m·d elements, this worker's 1/W share.
    const float coef = static_cast<float>(
        reg_weight_ / (static_cast<double>(std::max<uint64_t>(m, 1)) * static_cast<double>(d) * w));
    for (size_t i = f; i < n; i += nf) {
      for (int j = 0; j < p; ++j) codes[j] = static_cast<int32_t>(plan.saved[i * p + j]);
      codebook::AddRegulariserGrad(shape_, cb + block_[f] * block_floats, codes.data(), q + i * d,
                                   coef, dc + block_[f] * block_floats);
    }
    if (plan.training && score_bn_) {
      // Every worker moves its replica by the global batch's statistics.
      const float* stats = plan.saved.data() + n * p + (2 * cols + 1) * block_[f];
      float* run = bn_.data() + BnOffset(f);
      const uint64_t count = static_cast<uint64_t>(stats[2 * cols]);
      if (count > 0)
        codebook::UpdateRunning(static_cast<int>(cols), count, stats, stats + cols, run,
                                run + cols);
    }
  }
}

Status MgqeEmbedding::BeginStage(int index) {
  if (index != 1) return InvalidArgument(kName, " has stages 0 and 1, not ", index);
  if (rows_ == nullptr) return FailedPrecondition(kName, ": no row access attached");
  const int d = space_.dim, p = shape_.parts, nf = space_.num_fields();
  const size_t cols = static_cast<size_t>(shape_.rows());
  const size_t block_floats = cols * shape_.part_dim();
  std::vector<float> cb(blocks_ * block_floats);
  if (!cb.empty()) RETURN_IF_ERROR(rows_->ReadRows(1, 0, cols * blocks_, cb.data()));
  pending_high_.assign(high_rows_ * high_bytes_, 0);
  pending_low_.assign(low_rows_ * low_bytes_, 0);
  std::vector<float> q(kChunkRows * d);
  std::vector<int32_t> codes(kChunkRows * p);
  std::vector<uint32_t> members;
  std::vector<uint16_t> limits;
  const codebook::ScoreNorm norm = Norm(/*training=*/false);
  for (int f = 0; f < nf; ++f) {
    if (!compressed_[f]) continue;
    const uint64_t nfx = space_.cardinalities[f];
    const float* run = bn_.empty() ? nullptr : bn_.data() + BnOffset(f);
    for (uint64_t begin = 0; begin < nfx; begin += kChunkRows) {
      const uint64_t count = std::min(kChunkRows, nfx - begin);
      RETURN_IF_ERROR(rows_->ReadRows(0, e_off_[f] + begin, count, q.data()));
      members.resize(count);
      std::iota(members.begin(), members.end(), 0u);
      limits.resize(count);
      std::vector<uint64_t> ranks(count);
      std::vector<int> tiers(count);
      for (uint64_t r = 0; r < count; ++r) {
        tiers[r] = Tier(f, static_cast<uint32_t>(begin + r), &ranks[r]);
        limits[r] = static_cast<uint16_t>(
            std::min<int>(tiers[r] == kHigh ? shape_.choices : low_choices_, 65535));
      }
      // The evaluation lookup's codes (running statistics).
      codebook::AssignCodes(shape_, cb.data() + block_[f] * block_floats, q.data(), members, limits,
                            norm, run, run == nullptr ? nullptr : run + cols, nullptr, nullptr,
                            codes.data());
      for (uint64_t r = 0; r < count; ++r) {
        if (tiers[r] == kHigh) {
          codebook::PackCodes(codes.data() + r * p, p, high_bits_,
                              pending_high_.data() + ranks[r] * high_bytes_);
        } else {
          codebook::PackCodes(codes.data() + r * p, p, low_bits_,
                              pending_low_.data() + ranks[r] * low_bytes_);
        }
      }
    }
  }
  stage_ = 1;
  return OkStatus();
}

std::vector<RowCopy> MgqeEmbedding::StageCopies(int index) const {
  if (index != 1) return {};
  // E's first rows are F's and C stays C, at the same rows: every server
  // copies its own.
  std::vector<RowCopy> copies;
  if (kept_rows_ > 0) copies.push_back(RowCopy{0, 0, 0, 0, kept_rows_});
  if (blocks_ > 0)
    copies.push_back(RowCopy{1, 0, 3, 0, static_cast<uint64_t>(blocks_) * shape_.rows()});
  return copies;
}

Status MgqeEmbedding::InitStageRows(int index) {
  if (index != 1 || rows_ == nullptr) return OkStatus();
  if (pending_high_.size() != high_rows_ * high_bytes_ ||
      pending_low_.size() != low_rows_ * low_bytes_)
    return FailedPrecondition(kName, ": InitStageRows(1) without BeginStage(1)");
  for (const auto& [table, codes, bytes, rows] :
       {std::tuple{1, &pending_high_, high_bytes_, high_rows_},
        std::tuple{2, &pending_low_, low_bytes_, low_rows_}}) {
    std::vector<float> chunk(kChunkRows * bytes);
    for (uint64_t begin = 0; begin < rows; begin += kChunkRows) {
      const uint64_t count = std::min(kChunkRows, rows - begin);
      const uint8_t* src = codes->data() + begin * bytes;
      for (uint64_t k = 0; k < count * bytes; ++k) chunk[k] = static_cast<float>(src[k]);
      RETURN_IF_ERROR(rows_->WriteRows(table, begin, count, chunk.data()));
    }
  }
  std::vector<uint8_t>().swap(pending_high_);
  std::vector<uint8_t>().swap(pending_low_);
  return OkStatus();
}

MemoryReport MgqeEmbedding::Memory() const {
  const uint64_t n = space_.total();
  const uint64_t d = static_cast<uint64_t>(space_.dim);
  const uint64_t codebook_bytes = 4ull * blocks_ * shape_.rows() * shape_.part_dim();
  const uint64_t served =
      4 * kept_rows_ * d + high_rows_ * high_bytes_ + low_rows_ * low_bytes_ + codebook_bytes;
  MemoryReport r;
  // The high-id lists find a key's codes row; the BatchNorm statistics are
  // needed until the codes exist.
  r.auxiliary_bytes = 4 * high_rows_ + (stage_ == 0 ? bn_.size() * sizeof(float) : 0);
  r.mapping_bytes = 4 * high_rows_;
  r.inference_bytes = served + r.auxiliary_bytes;
  r.parameter_bytes = 4 * n * d + codebook_bytes + served;
  return r;
}

std::string MgqeEmbedding::SaveState() const {
  BlobWriter w = StateWriter(kStateMagic, 1, space_);
  w.Pod<int32_t>(shape_.parts);
  w.Pod<int32_t>(shape_.choices);
  w.Pod<int32_t>(low_choices_);
  w.Pod<uint8_t>(score_bn_ ? 1 : 0);
  w.Vec(compressed_);
  for (const std::vector<uint32_t>& h : high_) w.Vec(h);
  w.Pod<int32_t>(stage_);
  return w.Finish();
}

Status MgqeEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(OpenState(blob, kStateMagic, 1, kName, space_, &r));
  int32_t parts = 0, kh = 0, kl = 0, stage = 0;
  uint8_t bn = 0;
  std::vector<uint8_t> compressed;
  if (!r.Pod(&parts) || !r.Pod(&kh) || !r.Pod(&kl) || !r.Pod(&bn) || !r.Vec(&compressed))
    return r.Truncated();
  if (compressed.size() != static_cast<size_t>(space_.num_fields()))
    return DataLoss(kName, " state: ", compressed.size(), " field flags for ", space_.num_fields(),
                    " fields");
  std::vector<std::vector<uint32_t>> high(space_.num_fields());
  for (std::vector<uint32_t>& h : high)
    if (!r.Vec(&h)) return r.Truncated();
  if (!r.Pod(&stage)) return r.Truncated();
  RETURN_IF_ERROR(EndState(r));
  if (stage < 0 || stage > 1) return DataLoss(kName, " state: stage ", stage, " is not 0 or 1");
  if (bn > 1) return DataLoss(kName, " state: score_bn byte ", static_cast<int>(bn));
  RETURN_IF_ERROR(CheckSame(kName, "num_parts", parts, static_cast<int32_t>(shape_.parts)));
  RETURN_IF_ERROR(CheckSame(kName, "high_choices", kh, static_cast<int32_t>(shape_.choices)));
  RETURN_IF_ERROR(CheckSame(kName, "low_choices", kl, static_cast<int32_t>(low_choices_)));
  RETURN_IF_ERROR(CheckSame(kName, "score_bn", bn == 1, score_bn_));
  RETURN_IF_ERROR(CheckSame(kName, "compressed fields", compressed, compressed_));
  for (int f = 0; f < space_.num_fields(); ++f)
    RETURN_IF_ERROR(
        CheckSame(kName, "frequent ids of field " + std::to_string(f), high[f], high_[f]));
  stage_ = stage;
  return OkStatus();
}

}  // namespace ecps
