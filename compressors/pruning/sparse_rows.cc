#include "compressors/pruning/sparse_rows.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "common/check.h"

namespace ecps::pruning {

const char* SparseFormatName(SparseFormat f) { return f == SparseFormat::kCsr ? "csr" : "coo"; }

SparseFormat FormatForBudget(double budget, int dim) {
  return budget * dim >= 3.0 ? SparseFormat::kCsr : SparseFormat::kCoo;
}

DType ColumnType(int dim) { return dim <= 256 ? DType::kU8 : DType::kU16; }
uint64_t ColumnBytes(int dim) { return dim <= 256 ? 1 : 2; }

uint64_t IndexBytes(SparseFormat f, uint64_t rows, uint64_t nnz) {
  return f == SparseFormat::kCsr ? 4 * (rows + 1) : 4 * nnz;
}

uint64_t SparseBytes(SparseFormat f, uint64_t rows, int dim, uint64_t nnz) {
  return nnz * (4 + ColumnBytes(dim)) + IndexBytes(f, rows, nnz);
}

uint64_t NonzerosForBudget(SparseFormat f, uint64_t rows, int dim, uint64_t budget_bytes) {
  const uint64_t all = rows * static_cast<uint64_t>(dim);
  uint64_t nnz = 0;
  if (f == SparseFormat::kCsr) {
    const uint64_t index = IndexBytes(f, rows, 0);
    nnz = budget_bytes <= index ? 0 : (budget_bytes - index) / (4 + ColumnBytes(dim));
  } else {
    nnz = budget_bytes / (8 + ColumnBytes(dim));
  }
  return std::min(nnz, all);
}

RowTableSpec ValuesTable(uint64_t nnz) {
  RowTableSpec t;
  t.name = "values";
  t.rows = nnz;
  t.width = 1;
  t.trainable = false;
  return t;
}

RowTableSpec ColumnsTable(uint64_t nnz, int dim) {
  RowTableSpec t;
  t.name = "columns";
  t.rows = nnz;
  t.width = 1;
  t.dtype = ColumnType(dim);
  // Integer codes with the identity map: value = code * 1 + 0.
  t.quant = QuantScheme::kGlobal;
  t.scale = 1.0;
  t.zero = 0.0;
  t.trainable = false;
  return t;
}

void SparseRows::Start(SparseFormat f, uint64_t rows, int dim) {
  format_ = f;
  rows_ = rows;
  dim_ = dim;
  nnz_ = 0;
  appended_ = 0;
  row_ptr_.clear();
  coo_rows_.clear();
  values_.clear();
  columns_.clear();
  if (f == SparseFormat::kCsr) {
    row_ptr_.reserve(rows + 1);
    row_ptr_.push_back(0);
  }
}

void SparseRows::AppendRow(const float* row, const uint8_t* keep) {
  for (int c = 0; c < dim_; ++c) {
    if (keep != nullptr ? keep[c] == 0 : row[c] == 0.0f) continue;
    values_.push_back(row[c]);
    columns_.push_back(static_cast<float>(c));
    if (format_ == SparseFormat::kCoo) coo_rows_.push_back(static_cast<uint32_t>(appended_));
    ++nnz_;
  }
  // Past kMaxNonzeros the pointer wraps; Finish() refuses the layout.
  if (format_ == SparseFormat::kCsr) row_ptr_.push_back(static_cast<uint32_t>(nnz_));
  ++appended_;
}

Status SparseRows::Finish() {
  if (appended_ != rows_)
    return FailedPrecondition("sparse rows: ", appended_, " of ", rows_, " rows appended");
  if (nnz_ > kMaxNonzeros || rows_ > kMaxNonzeros)
    return InvalidArgument("sparse rows: ", nnz_, " nonzeros of ", rows_,
                           " rows exceed the uint32 index (", kMaxNonzeros, ")");
  return OkStatus();
}

void SparseRows::ReleaseValues() {
  std::vector<float>().swap(values_);
  std::vector<float>().swap(columns_);
}

void SparseRows::Range(uint64_t row, uint64_t* begin, uint64_t* count) const {
  if (format_ == SparseFormat::kCsr) {
    *begin = row_ptr_[row];
    *count = row_ptr_[row + 1] - row_ptr_[row];
    return;
  }
  const uint32_t r = static_cast<uint32_t>(row);
  const auto [lo, hi] = std::equal_range(coo_rows_.begin(), coo_rows_.end(), r);
  *begin = static_cast<uint64_t>(lo - coo_rows_.begin());
  *count = static_cast<uint64_t>(hi - lo);
}

void SparseRows::Encode(std::span<const uint64_t> rows_of_keys, int values_table, int columns_table,
                        LookupPlan* plan) const {
  plan->per_key[values_table] = kPackedRows;
  plan->per_key[columns_table] = kPackedRows;
  std::vector<uint64_t>& ids = plan->rows[values_table];
  ids.clear();
  plan->aux_index.resize(2 * rows_of_keys.size());
  for (size_t i = 0; i < rows_of_keys.size(); ++i) {
    uint64_t begin = 0, count = 0;
    Range(rows_of_keys[i], &begin, &count);
    plan->aux_index[2 * i] = static_cast<uint32_t>(ids.size());
    plan->aux_index[2 * i + 1] = static_cast<uint32_t>(count);
    for (uint64_t j = 0; j < count; ++j) ids.push_back(begin + j);
  }
  plan->rows[columns_table] = ids;
}

void SparseRows::Decode(const LookupPlan& plan, const FetchedRows& fetched, int values_table,
                        int columns_table, float* out) const {
  const float* v = fetched.values[values_table].data();
  const float* c = fetched.values[columns_table].data();
  const size_t d = static_cast<size_t>(dim_);
  for (int i = 0; i < plan.num_keys; ++i) {
    float* o = out + static_cast<size_t>(i) * d;
    std::fill(o, o + d, 0.0f);
    const uint32_t start = plan.aux_index[2 * i], count = plan.aux_index[2 * i + 1];
    for (uint32_t j = start; j < start + count; ++j) o[static_cast<size_t>(c[j])] = v[j];
  }
}

void SparseRows::DecodeBackward(const LookupPlan& plan, const FetchedRows& fetched,
                                const float* grad_out, int values_table, int columns_table,
                                FetchedRows* row_grads) const {
  const float* c = fetched.values[columns_table].data();
  float* gv = row_grads->values[values_table].data();
  const size_t d = static_cast<size_t>(dim_);
  for (int i = 0; i < plan.num_keys; ++i) {
    const float* g = grad_out + static_cast<size_t>(i) * d;
    const uint32_t start = plan.aux_index[2 * i], count = plan.aux_index[2 * i + 1];
    for (uint32_t j = start; j < start + count; ++j) gv[j] = g[static_cast<size_t>(c[j])];
  }
  // Column indices are not parameters.
  std::fill(row_grads->values[columns_table].begin(), row_grads->values[columns_table].end(), 0.0f);
}

void SparseRows::Save(BlobWriter* w) const {
  w->Pod(static_cast<uint8_t>(format_));
  w->Pod(rows_);
  w->Pod<int32_t>(dim_);
  w->Pod(nnz_);
  if (format_ == SparseFormat::kCsr)
    w->Vec(row_ptr_);
  else
    w->Vec(coo_rows_);
}

Status SparseRows::Load(BlobReader* r, const char* method, uint64_t rows, int dim) {
  uint8_t format = 0;
  uint64_t n = 0, nnz = 0;
  int32_t d = 0;
  if (!r->Pod(&format) || !r->Pod(&n) || !r->Pod(&d) || !r->Pod(&nnz)) return r->Truncated();
  if (format > 1) return DataLoss(method, " state: sparse format ", int{format}, " is unknown");
  if (n != rows || d != dim)
    return DataLoss(method, " state: a sparse layout of ", n, " x ", d, " rows, expected ", rows,
                    " x ", dim);
  if (nnz > rows * static_cast<uint64_t>(dim) || nnz > kMaxNonzeros)
    return DataLoss(method, " state: ", nnz, " nonzeros in ", rows, " x ", dim, " elements");
  std::vector<uint32_t> index;
  if (!r->Vec(&index)) return r->Truncated();
  const SparseFormat f = static_cast<SparseFormat>(format);
  if (f == SparseFormat::kCsr) {
    if (index.size() != rows + 1 || index[0] != 0 || index.back() != nnz)
      return DataLoss(method, " state: ", index.size(), " CSR row pointers (", rows + 1,
                      " expected, from 0 to ", nnz, ")");
    for (uint64_t i = 0; i < rows; ++i)
      if (index[i + 1] < index[i] || index[i + 1] - index[i] > static_cast<uint32_t>(dim))
        return DataLoss(method, " state: CSR row ", i, " has ",
                        static_cast<int64_t>(index[i + 1]) - index[i], " nonzeros");
  } else {
    if (index.size() != nnz)
      return DataLoss(method, " state: ", index.size(), " COO rows for ", nnz, " nonzeros");
    for (uint64_t i = 0; i < nnz; ++i)
      if (index[i] >= rows || (i > 0 && index[i] < index[i - 1]))
        return DataLoss(method, " state: COO row ", index[i], " at nonzero ", i,
                        " is unsorted or past ", rows, " rows");
  }
  format_ = f;
  rows_ = rows;
  dim_ = dim;
  nnz_ = nnz;
  appended_ = rows;
  row_ptr_.clear();
  coo_rows_.clear();
  if (f == SparseFormat::kCsr)
    row_ptr_ = std::move(index);
  else
    coo_rows_ = std::move(index);
  values_.clear();
  columns_.clear();
  return OkStatus();
}

StatusOr<uint64_t> TargetNonzeros(const char* method, SparseFormat f, uint64_t rows, int dim,
                                  double budget, uint64_t budget_bytes, bool paper) {
  uint64_t nnz = 0;
  if (paper) {
    const double r = budget * dim;
    const double density = f == SparseFormat::kCsr ? (r - 1) / (2.0 * dim) : budget / 3;
    nnz = static_cast<uint64_t>(std::floor(std::clamp(density, 0.0, 1.0) *
                                           static_cast<double>(rows * static_cast<uint64_t>(dim))));
  } else {
    nnz = NonzerosForBudget(f, rows, dim, budget_bytes);
  }
  if (nnz > SparseRows::kMaxNonzeros || rows > SparseRows::kMaxNonzeros)
    return InvalidArgument("embedding.budget: ", nnz, " nonzeros of ", rows, " rows exceed ",
                           method, "'s uint32 sparse index");
  return nnz;
}

StatusOr<uint64_t> LoadElementMask(BlobReader* r, const char* method, uint64_t elements,
                                   uint64_t budget, std::vector<uint64_t>* mask) {
  if (!r->Vec(mask)) return r->Truncated();
  if (mask->size() != (elements + 63) / 64)
    return DataLoss(method, " state: a mask of ", mask->size(), " words, expected ",
                    (elements + 63) / 64);
  uint64_t kept = 0;
  for (uint64_t word : *mask) kept += static_cast<uint64_t>(std::popcount(word));
  if (elements % 64 != 0 && (mask->back() >> (elements % 64)) != 0)
    return DataLoss(method, " state: mask bits past the table");
  if (kept > budget)
    return DataLoss(method, " state: the mask keeps ", kept, " elements, the budget ", budget);
  return kept;
}

Status LoadBudgetedSparse(BlobReader* r, const char* method, uint64_t rows, int dim,
                          SparseFormat format, uint64_t budget, SparseRows* out) {
  RETURN_IF_ERROR(out->Load(r, method, rows, dim));
  if (out->format() != format || out->nnz() > budget)
    return DataLoss(method, " state: a sparse layout of ", out->nnz(),
                    " nonzeros, the budget allows ", budget, " in ", SparseFormatName(format));
  return OkStatus();
}

}  // namespace ecps::pruning
