// The request bodies of `ecps serve` (docs/cli.md "ecps serve"): the JSON of
// POST /v1/predict into a Batch on the model's schema, and the JSON of its
// answers. Apart from the server so that a fuzz target
// (fuzz/serve_request_fuzzer.cc) covers every byte a client controls, and so
// that it links without the rest of worker/ (the model, the compressors).
//
// A body is {"rows": [{"dense": [x, ...], "sparse": [id, ...]}, ...]}: each
// row has exactly num_dense finite numbers (as the data cache holds them:
// log(1 + x) of a raw Criteo integer) and num_fields field-local ids, id f
// below cardinalities[f]. Anything else is refused, naming the field.
//
// Or raw data lines, as the model's data files hold them (Criteo TSV, Avazu
// CSV, libSVM/libFM/libFFM; the label column is read and ignored): the body
// of a text/plain request, one line per row (blank lines skipped), or
// {"lines": ["...", ...]}. They are parsed by the parser the preprocessor
// used and mapped through the vocabulary of the model's data
// (worker/data/vocabulary_table.h): a value the training data did not have
// is its field's OOV id, as a cache row holding it would be.
//
// Thread-safety: free functions.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "common/status.h"
#include "worker/data/batch.h"
#include "worker/data/vocabulary_table.h"

namespace ecps {

// The deepest nesting a predict body may have ({"rows":[{"dense":[...]}]} is
// 4): checked before the JSON parser runs, so a body of 8 MiB of '[' costs a
// scan, not a tree.
inline constexpr int kMaxRequestDepth = 8;

// Parses a predict body into `out` (labels 0, or the raw lines' labels).
// `content_type` is the request's Content-Type ("text/plain...": raw lines);
// `vocabulary` the model's (null: raw lines are refused, naming why).
// Errors: InvalidArgument naming the field ("rows[3].sparse[2]: ...",
// "line 2: field 5 (C6): ..."), ResourceExhausted when it holds more than
// `max_rows` rows.
Status ParsePredictRequest(std::string_view body, const DatasetSchema& schema, uint64_t max_rows,
                           Batch* out, const VocabularyTable* vocabulary = nullptr,
                           std::string_view content_type = {});

// Raw data lines (above) into `out`, labels included; errors name the line
// ("line 3": 1-based). Values are filled when the vocabulary weights them.
Status ParseRawLines(std::span<const std::string_view> lines, const DatasetSchema& schema,
                     const VocabularyTable* vocabulary, uint64_t max_rows, Batch* out);

// The probability of a logit, as `ecps predict` writes it: exp in float (of
// the float logit), the rest in double, so the two verbs print the same digits.
inline double Probability(float logit) { return 1.0 / (1.0 + std::exp(-logit)); }

// The 200 answer: {"scores": [p, ...]}, one probability per row in order
// (shortest round-trip decimal of each double).
std::string PredictResponseJson(std::span<const float> logits);

// An error answer: {"error": kind, "message": message}.
std::string ErrorJson(absl::string_view kind, absl::string_view message);

}  // namespace ecps
