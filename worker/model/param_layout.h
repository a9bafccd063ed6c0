// Builds the flat parameter layout of a dense network (the blocks() of
// dense_model.h) and initialises it deterministically.
//
// Blocks are appended in network order and each starts where the previous
// one ended (no padding), so the layout is a pure function of the config.
// Initialisation (docs/methods.md §1.3): every block draws its values in block
// order, row-major, from one Rng, in double precision, then casts to T. The
// float and double instantiations therefore start from the same values up to
// float rounding.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/rng.h"
#include "worker/model/dense_model.h"

namespace ecps::model {

enum class Init : uint8_t {
  kZero = 0,          // biases, DCN cross biases
  kXavierNormal = 1,  // N(0, std = sqrt(2 / (fan_in + fan_out)))
  kNormalFanOut = 2,  // N(0, std = sqrt(1 / fan_out)): the DLRM reference code's biases
};

class ParamLayout {
 public:
  // Appends a block and returns its offset (elements). fan_in / fan_out are
  // used by kXavierNormal only.
  size_t Add(std::string name, std::vector<int> shape, Init init, int fan_in = 0, int fan_out = 0) {
    size_t n = 1;
    for (int s : shape) {
      ECPS_CHECK_GT(s, 0) << name;
      n *= static_cast<size_t>(s);
    }
    ParamBlock b;
    b.name = std::move(name);
    b.offset = size_;
    b.shape = std::move(shape);
    blocks_.push_back(std::move(b));
    inits_.push_back({init, fan_in, fan_out, n});
    size_ += n;
    return blocks_.back().offset;
  }

  size_t size() const { return size_; }
  const std::vector<ParamBlock>& blocks() const { return blocks_; }

  // How Linear layers initialise their biases (kZero by default, docs/methods.md
  // §1.3; kNormalFanOut with DenseModelConfig::bias_init == "normal").
  void set_linear_bias_init(Init init) { linear_bias_init_ = init; }
  Init linear_bias_init() const { return linear_bias_init_; }

  // Fills params[0, size()) from `rng`.
  template <typename T>
  void Initialize(T* params, Rng& rng) const {
    for (size_t i = 0; i < blocks_.size(); ++i) {
      const InitSpec& s = inits_[i];
      T* p = params + blocks_[i].offset;
      if (s.init == Init::kZero) {
        for (size_t k = 0; k < s.count; ++k) p[k] = T(0);
      } else {
        const double std = s.init == Init::kNormalFanOut ? std::sqrt(1.0 / s.fan_out)
                                                         : std::sqrt(2.0 / (s.fan_in + s.fan_out));
        for (size_t k = 0; k < s.count; ++k) p[k] = static_cast<T>(std * rng.Normal());
      }
    }
  }

 private:
  struct InitSpec {
    Init init;
    int fan_in, fan_out;
    size_t count;
  };
  std::vector<ParamBlock> blocks_;
  std::vector<InitSpec> inits_;
  size_t size_ = 0;
  Init linear_bias_init_ = Init::kZero;
};

}  // namespace ecps::model
