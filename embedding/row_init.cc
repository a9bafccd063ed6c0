#include "embedding/row_init.h"

#include <algorithm>

#include "common/check.h"

namespace ecps {

Status CheckRowInit(const RowTableSpec& spec) {
  if (spec.init == RowInit::kUniform || spec.init == RowInit::kConstant) return OkStatus();
  return InvalidArgument("table '", spec.name, "': unknown row initialiser ",
                         static_cast<int>(spec.init),
                         spec.init == static_cast<RowInit>(2)
                             ? " (the retired normal tails: TT-Rec now writes its cores itself)"
                             : "");
}

RowInitStream::RowInitStream(const RowTableSpec& spec, uint64_t seed, size_t table) : spec_(spec) {
  const Status known = CheckRowInit(spec);
  ECPS_CHECK(known.ok()) << known.message();
  // Forking advances the root by one draw per table: the t-th fork is the
  // (t+1)-th draw's.
  Rng root(seed);
  for (size_t t = 0; t < table; ++t) root.Next();
  rng_ = root.Fork(table);
}

void RowInitStream::Skip(uint64_t rows) {
  const uint64_t n = rows * static_cast<uint64_t>(spec_.width);
  switch (spec_.init) {
    case RowInit::kUniform:
      if (spec_.init_bound != 0.0)
        for (uint64_t i = 0; i < n; ++i) rng_.Next();  // one draw per element
      return;
    case RowInit::kConstant:
      return;
  }
}

void RowInitStream::Fill(uint64_t begin, uint64_t end, std::span<float> out) {
  ECPS_CHECK_GE(begin, next_) << "table '" << spec_.name << "': rows drawn out of order";
  ECPS_CHECK_LE(begin, end);
  ECPS_CHECK_EQ(out.size(), (end - begin) * static_cast<uint64_t>(spec_.width));
  Skip(begin - next_);
  next_ = end;
  const RowTableSpec& s = spec_;
  switch (s.init) {
    case RowInit::kUniform:
      if (s.init_bound == 0.0) {
        std::fill(out.begin(), out.end(), 0.0f);
      } else {
        for (float& x : out) x = static_cast<float>(rng_.Uniform(-s.init_bound, s.init_bound));
      }
      return;
    case RowInit::kConstant:
      std::fill(out.begin(), out.end(), static_cast<float>(s.init_value));
      return;
  }
}

}  // namespace ecps
