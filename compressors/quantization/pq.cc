#include "compressors/quantization/pq.h"

#include <algorithm>
#include <cstring>

#include "common/logging.h"
#include "compressors/hashing/hashing_util.h"

namespace ecps {
namespace {

constexpr uint64_t kChunkRows = 4096;
constexpr uint64_t kCentroids = uint64_t{1} << PqEmbedding::kBits;

uint64_t PqTableBytes(uint64_t rows, int dim, int m) {
  return method_internal::PqBytes(rows, dim, m, PqEmbedding::kBits);
}

}  // namespace

ParamSchema PqEmbedding::Schema() {
  return ParamSchema()
      .Int("m", 0, 0, 65536,
           "subspaces (must divide embedding.dim); 0: the largest whose codes and codebooks fit "
           "the budget")
      .Int("iters", 25, 1, 1000, "Lloyd rounds of each subspace's k-means")
      .Int("sample", 65536, 1, int64_t{1} << 40,
           "trained rows the codebooks are fitted on (a seeded draw; 256 per centroid)");
}

std::unique_ptr<Compressor> PqEmbedding::Create() { return std::make_unique<PqEmbedding>(); }

int PqEmbedding::SubspacesForBudget(uint64_t rows, int dim, uint64_t budget_bytes) {
  for (int c = dim; c >= 1; --c)
    if (dim % c == 0 && PqTableBytes(rows, dim, c) <= budget_bytes) return c;
  return 1;
}

Status PqEmbedding::Init(const CompressorContext& ctx, const ParamSet& params) {
  RETURN_IF_ERROR(quant_internal::CheckSpace(kName, ctx.space));
  space_ = ctx.space;
  init_bound_ = quant_internal::InitBound(space_);
  const int64_t m = params.GetInt("m");
  if (m > space_.dim || (m > 0 && space_.dim % m != 0))
    return InvalidArgument("embedding.params.m: ", m, " does not divide embedding.dim ",
                           space_.dim);
  m_ = m > 0 ? static_cast<int>(m)
             : SubspacesForBudget(space_.total(), space_.dim,
                                  hashing_internal::BudgetBytes(space_, ctx.budget));
  iters_ = static_cast<int>(params.GetInt("iters"));
  sample_ = static_cast<uint64_t>(params.GetInt("sample"));
  seed_ = ctx.seed;
  stage_ = 0;
  pq_ = method_internal::PqCore();
  return OkStatus();
}

std::vector<RowTableSpec> PqEmbedding::Tables() const {
  RowTableSpec e;
  e.name = "E";
  e.rows = space_.total();
  e.width = space_.dim;
  e.init_bound = init_bound_;
  if (stage_ == 0) return {e};
  // Integer codes with the identity map (value = code * 1 + 0).
  RowTableSpec c;
  c.name = "codes";
  c.rows = space_.total();
  c.width = m_;
  c.dtype = DType::kU8;
  c.quant = QuantScheme::kGlobal;
  c.scale = 1.0;
  c.zero = 0.0;
  c.trainable = false;
  return {c};
}

std::vector<StageSpec> PqEmbedding::Stages() const {
  StageSpec quantize{"quantize"};
  quantize.post_training = true;
  quantize.freeze_dense = true;
  return {StageSpec{"train"}, quantize};
}

void PqEmbedding::Decode(const LookupPlan& plan, const FetchedRows& rows, float* out) const {
  if (stage_ == 0) return OneTableMethod::Decode(plan, rows, out);
  const float* codes = rows.values[0].data();
  const size_t d = static_cast<size_t>(space_.dim), m = static_cast<size_t>(m_);
  std::vector<uint32_t> code(m);
  for (int i = 0; i < plan.num_keys; ++i) {
    // The store decodes u8 codes to exact floats 0..255.
    for (size_t j = 0; j < m; ++j) code[j] = static_cast<uint32_t>(codes[i * m + j]);
    pq_.DecodeCodes(code.data(), out + i * d);
  }
}

void PqEmbedding::DecodeBackward(const LookupPlan& plan, const FetchedRows& rows,
                                 const float* grad_out, FetchedRows* row_grads) {
  if (stage_ == 0) return OneTableMethod::DecodeBackward(plan, rows, grad_out, row_grads);
  // Codes are not parameters (the stage trains nothing).
  row_grads->values[0].assign(static_cast<size_t>(plan.num_keys) * m_, 0.0f);
}

Status PqEmbedding::BeginStage(int index) {
  if (index != 1) return InvalidArgument("pq has stages 0 and 1, not ", index);
  if (stage_ == 1) return FailedPrecondition("pq: the table is quantised already");
  if (rows_ == nullptr) return FailedPrecondition("pq: no row access attached");
  const uint64_t n = space_.total();
  const int d = space_.dim;
  // Pass 1: the sample rows (ascending), gathered chunk by chunk.
  const std::vector<uint64_t> picked = method_internal::PqSampleRows(n, sample_, seed_);
  std::vector<float> sample(picked.size() * d), buf;
  size_t next = 0;
  for (uint64_t begin = 0; begin < n && next < picked.size(); begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    if (picked[next] >= begin + count) continue;
    buf.resize(count * d);
    RETURN_IF_ERROR(rows_->ReadRows(0, begin, count, buf.data()));
    for (; next < picked.size() && picked[next] < begin + count; ++next)
      std::memcpy(sample.data() + next * d, buf.data() + (picked[next] - begin) * d,
                  d * sizeof(float));
  }
  pq_ = method_internal::TrainPqCodebooks(sample.data(), picked.size(), d, m_, kBits, iters_, seed_,
                                          nullptr, {});
  // Pass 2: every row's codes.
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    buf.resize(count * d);
    RETURN_IF_ERROR(rows_->ReadRows(0, begin, count, buf.data()));
    pq_.EncodeRows(buf.data(), count, nullptr);
  }
  stage_ = 1;
  ECPS_LOG_INFO("pq: {} rows in m = {} subspaces of {} dimensions, codebooks from {} rows", n, m_,
                d / m_, picked.size());
  return OkStatus();
}

Status PqEmbedding::InitStageRows(int index) {
  if (index != 1 || rows_ == nullptr) return OkStatus();
  const uint64_t n = space_.total();
  if (pq_.n != n || pq_.codes.size() != n * static_cast<uint64_t>(m_))
    return FailedPrecondition("pq: InitStageRows without BeginStage");
  std::vector<float> buf;
  for (uint64_t begin = 0; begin < n; begin += kChunkRows) {
    const uint64_t count = std::min(kChunkRows, n - begin);
    const uint8_t* c = pq_.codes.data() + begin * m_;
    buf.assign(c, c + count * m_);
    RETURN_IF_ERROR(rows_->WriteRows(0, begin, count, buf.data()));
  }
  // The codes live on the store now.
  std::vector<uint8_t>().swap(pq_.codes);
  pq_.n = 0;
  return OkStatus();
}

MemoryReport PqEmbedding::Memory() const {
  const uint64_t n = space_.total();
  MemoryReport r;
  r.auxiliary_bytes = kCentroids * static_cast<uint64_t>(space_.dim) * 4;
  r.inference_bytes = PqTableBytes(n, space_.dim, m_);
  r.parameter_bytes = method_internal::FullBytes(space_) + n * static_cast<uint64_t>(m_);
  return r;
}

std::string PqEmbedding::SaveState() const {
  BlobWriter w = quant_internal::StateWriter(kStateMagic, 1, space_);
  w.Pod<int32_t>(m_);
  w.Pod<int32_t>(iters_);
  w.Pod(sample_);
  w.Pod<int32_t>(stage_);
  if (stage_ == 1) w.Vec(pq_.centroids);
  return w.Finish();
}

Status PqEmbedding::LoadState(const std::string& blob) {
  BlobReader r;
  RETURN_IF_ERROR(quant_internal::OpenState(blob, kStateMagic, 1, kName, space_, &r));
  int32_t m = 0, iters = 0, stage = 0;
  uint64_t sample = 0;
  if (!r.Pod(&m) || !r.Pod(&iters) || !r.Pod(&sample) || !r.Pod(&stage)) return r.Truncated();
  if (stage < 0 || stage > 1) return DataLoss(kName, " state: stage ", stage, " is not 0 or 1");
  std::vector<float> centroids;
  if (stage == 1 && !r.Vec(&centroids)) return r.Truncated();
  RETURN_IF_ERROR(quant_internal::EndState(r));
  RETURN_IF_ERROR(quant_internal::CheckSame(kName, "m", m, static_cast<int32_t>(m_)));
  RETURN_IF_ERROR(quant_internal::CheckSame(kName, "iters", iters, static_cast<int32_t>(iters_)));
  RETURN_IF_ERROR(quant_internal::CheckSame(kName, "sample", sample, sample_));
  const uint64_t want = kCentroids * static_cast<uint64_t>(space_.dim);
  if (stage == 1 && centroids.size() != want)
    return DataLoss(kName, " state: ", centroids.size(), " codebook values, expected ", want);
  pq_ = method_internal::PqCore();
  if (stage == 1) {
    pq_.dim = space_.dim;
    pq_.m = m_;
    pq_.bits = kBits;
    pq_.centroids = std::move(centroids);
  }
  stage_ = stage;
  return OkStatus();
}

}  // namespace ecps
