// What a client of `ecps serve` controls: the bytes of an HTTP request. They
// go through Boost.Beast's request parser with the server's limits (16 KiB
// of header, a 64 KiB body here), and a complete request's body through
// ParsePredictRequest (worker/serve_request.h) on a small Criteo-shaped
// schema, whose every outcome is a Batch or a Status; an accepted body's
// scores are encoded as the server would.
#include <boost/beast/core/error.hpp>
#include <boost/beast/http.hpp>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "worker/serve_request.h"

namespace {

const ecps::DatasetSchema& Schema() {
  static const ecps::DatasetSchema s = [] {
    ecps::DatasetSchema d;
    d.format = "criteo";
    d.num_dense = 2;
    d.num_fields = 3;
    d.field_names = {"C1", "C2", "C3"};
    d.cardinalities = {5, 1, 1000};
    d.offsets = {0, 5, 6};
    return d;
  }();
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace http = boost::beast::http;
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  size_t used = 0;
  // Fed as a socket would deliver it, until the parser is done or refuses.
  while (used < size && !parser.is_done()) {
    const size_t n = parser.put(boost::asio::buffer(data + used, size - used), ec);
    if (ec == http::error::need_more) break;
    if (ec) return 0;
    if (n == 0) break;
    used += n;
  }
  if (!parser.is_done()) {
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }
  const std::string& body = parser.get().body();
  ecps::Batch batch;
  const ecps::Status st = ecps::ParsePredictRequest(body, Schema(), /*max_rows=*/64, &batch);
  if (st.ok()) {
    if (batch.size <= 0 || batch.size > 64) __builtin_trap();
    for (int i = 0; i < batch.size * 3; ++i)
      if (batch.sparse[i] >= Schema().cardinalities[i % 3]) __builtin_trap();
    std::vector<float> logits(batch.dense.begin(), batch.dense.begin() + batch.size);
    (void)ecps::PredictResponseJson(logits);
  } else {
    (void)ecps::ErrorJson("bad_request", st.message());
  }
  // The raw body again, without HTTP: the server parses exactly this.
  (void)ecps::ParsePredictRequest(std::string_view(reinterpret_cast<const char*>(data), size),
                                  Schema(), 64, &batch);
  return 0;
}
