// Deterministic random numbers. std:: distributions are implementation-defined,
// so ecps draws everything through this one generator (SplitMix64 seeding,
// xoshiro256** state) to keep "same seed, same config, same result" across
// compilers and machines. The state is a plain struct so checkpoints can save
// it. Not thread-safe: give each thread its own Rng (see Fork()).
#pragma once

#include <cmath>
#include <cstdint>

namespace ecps {

inline uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { Seed(seed); }
  void Seed(uint64_t seed) {
    uint64_t x = seed;
    for (auto& w : s_) w = SplitMix64(x);
  }
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform float in [0, 1) with 24 random bits.
  float UniformFloat() { return static_cast<float>(Next() >> 40) * 0x1.0p-24f; }
  // Uniform in [lo, hi).
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; negligible bias).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  // Standard normal by Box-Muller (one value per call; deterministic).
  double Normal() {
    double u1 = Uniform();
    double u2 = Uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // N(0, 1) conditioned on |z| >= a (a > 0), exactly, by Marsaglia's tail
  // method: x = sqrt(a^2 - 2 ln u1) accepted with probability a / x (about
  // 2.3 draws per value at a = 2, where rejecting plain normals needs ~22),
  // then a random sign.
  double NormalTail(double a) {
    for (;;) {
      const double u1 = 1.0 - Uniform();  // (0, 1]
      const double u2 = Uniform();
      const double x = std::sqrt(a * a - 2.0 * std::log(u1));
      if (u2 * x <= a) return Below(2) ? x : -x;
    }
  }
  // An independent stream derived from this one (for per-thread generators).
  Rng Fork(uint64_t stream) {
    uint64_t x = Next() ^ (stream * 0xD1B54A32D192ED03ull);
    return Rng(SplitMix64(x));
  }
  // Raw state for checkpoints.
  struct State {
    uint64_t s[4];
  };
  State state() const { return {{s_[0], s_[1], s_[2], s_[3]}}; }
  void set_state(const State& st) {
    for (int i = 0; i < 4; ++i) s_[i] = st.s[i];
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace ecps
