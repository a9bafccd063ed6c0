// The hashing family's entries of the method registry (compressors/registry.cc),
// in docs/methods.md order.
#include <vector>

#include "compressors/compressor.h"
#include "compressors/hashing/binarycode.h"
#include "compressors/hashing/cce.h"
#include "compressors/hashing/compoemb.h"
#include "compressors/hashing/dhe.h"
#include "compressors/hashing/doublehash.h"
#include "compressors/hashing/hash.h"
#include "compressors/hashing/memcom.h"
#include "compressors/hashing/robe.h"
#include "compressors/hashing/tt_rec.h"
#include "compressors/registry.h"

namespace ecps {

void AddHashingMethods(std::vector<CompressorInfo>* out) {
  out->push_back({HashEmbedding::kName, "hashing",
                  "one table of floor(n*CR) rows, global id mod m (docs/methods.md 2.2)",
                  HashEmbedding::Schema(), &HashEmbedding::Create});
  out->push_back(
      {CompoEmbedding::kName, "hashing",
       "quotient-remainder: Q[x div c] * R[x mod c] per field; shared c, per-field c filling the "
       "budget, or the authors' solver (docs/methods.md 2.3)",
       CompoEmbedding::Schema(), &CompoEmbedding::Create});
  out->push_back({CceEmbedding::kName, "hashing",
                  "clustered compositional: per field c column chunks, each a k-means-clustered "
                  "row plus a hashed row, re-clustered between stages (docs/methods.md 2.3b)",
                  CceEmbedding::Schema(), &CceEmbedding::Create});
  out->push_back({DoubleHashEmbedding::kName, "hashing",
                  "frequent ids own rows, the rest sum two hashed rows of one shared table "
                  "(per_field: one per field) (docs/methods.md 2.4)",
                  DoubleHashEmbedding::Schema(), &DoubleHashEmbedding::Create});
  out->push_back(
      {MemComEmbedding::kName, "hashing",
       "hashed row times a per-feature weight plus a per-feature bias (docs/methods.md 2.5)",
       MemComEmbedding::Schema(), &MemComEmbedding::Create});
  out->push_back(
      {BinaryCodeEmbedding::kName, "hashing",
       "sum of rows selected by c-bit blocks of the id's binary code (docs/methods.md 2.6)",
       BinaryCodeEmbedding::Schema(), &BinaryCodeEmbedding::Create});
  out->push_back({TtRecEmbedding::kName, "hashing",
                  "three-core tensor train per field with one rank R solved for the budget "
                  "(docs/methods.md 2.7)",
                  TtRecEmbedding::Schema(), &TtRecEmbedding::Create});
  out->push_back({DheEmbedding::kName, "hashing",
                  "k hash encodings of the id through a per-field MLP (Linear, BatchNorm, Mish) "
                  "whose width is solved for the budget; no table (docs/methods.md 2.8)",
                  DheEmbedding::Schema(), &DheEmbedding::Create});
  out->push_back({RobeEmbedding::kName, "hashing",
                  "each embedding is a signed window at a hashed offset of one flat array "
                  "(docs/methods.md 2.9)",
                  RobeEmbedding::Schema(), &RobeEmbedding::Create});
}

}  // namespace ecps
