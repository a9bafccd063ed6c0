// The initial values of a table's rows, from its spec's initialiser
// (RowTableSpec::init: RowInit). The one place they are drawn: the
// single-process store (LocalRowStore::Reset) and the parameter servers (each
// drawing a table's stream and keeping its own rows, ps/server.cc) both go
// through RowInitStream, so a model on S servers starts from exactly the rows
// of the single-process trainer.
//
// The values of a model reset with `seed`: one stream per table, forked from
// Rng(seed) in table order (table t: the t-th Fork), its elements drawn in
// row-major order.
//
// Thread-safety: one stream per thread.
#pragma once

#include <cstdint>
#include <span>

#include "common/rng.h"
#include "common/status.h"
#include "compressors/compressor.h"

namespace ecps {

// OkStatus when spec.init is a RowInit this code draws (kUniform,
// kConstant); an error naming the table otherwise, e.g. the retired value 2
// (kNormalTails) read from an old checkpoint. RowInitStream requires it.
Status CheckRowInit(const RowTableSpec& spec);

class RowInitStream {
 public:
  // The stream of table `table` (0-based, in the order the tables are reset)
  // of a model reset with `seed`. Keeps a reference to `spec`, whose init
  // passes CheckRowInit (checked: a spec that did not is a programming error).
  RowInitStream(const RowTableSpec& spec, uint64_t seed, size_t table);

  // Writes the initial values of rows [begin, end) to `out` ((end - begin) x
  // spec.width floats, row-major). Calls come in increasing row order: begin
  // is at least the previous call's end; the rows in between are drawn and
  // dropped, so every row gets the value it has when all rows are drawn.
  void Fill(uint64_t begin, uint64_t end, std::span<float> out);

 private:
  // Draws (and drops) the values of `rows` rows.
  void Skip(uint64_t rows);

  const RowTableSpec& spec_;
  Rng rng_;
  uint64_t next_ = 0;  // the first row not drawn yet
};

}  // namespace ecps
