// `ecps serve` (docs/cli.md): an HTTP/1.1 server (Boost.Beast) that scores
// rows with a trained model, through the same Predictor as `ecps predict`
// (worker/bundle.h), so a request's scores equal predict's for the same rows
// in the same batch, to the bit. Request bodies are parsed by
// worker/serve_request.h (fuzzed: fuzz/serve_request_fuzzer.cc); metrics are
// prometheus-cpp's text format.
//
// Threads: --threads run one io_context; a connection's operations run on
// its own strand. Parsing and answering run in parallel; scoring holds the
// model's mutex (one Predictor: serving memory is the model once, and its
// scratch is per Predictor). SIGTERM/SIGINT stop accepting, let every
// request being handled finish, close idle connections after a short grace,
// and exit 0.
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <iostream>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/cpu.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "common/process_memory.h"
#include "tools/commands.h"
#include "tools/load_model.h"
#include "worker/serve_request.h"

namespace ecps::tools {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr char kUsage[] =
    "usage: ecps serve --model BUNDLE_OR_CHECKPOINT [--bind HOST:PORT] [--threads N]\n"
    "                  [--data CACHE] [--max-body-bytes B] [--max-rows R] [--timeout S]\n"
    "                  [--max-connections C] [--batch-wait-us U] [--max-batch-rows N]\n"
    "\n"
    "Serves a trained model over HTTP/1.1 and scores rows with the same code as\n"
    "`ecps predict` (equal scores for the same rows in the same batch):\n"
    "  POST /v1/predict  {\"rows\": [{\"dense\": [x, ...], \"sparse\": [id, ...]}, ...]}\n"
    "                    or raw data lines as the model's data files hold them (Criteo,\n"
    "                    Avazu, libSVM; label first): a text/plain body, one per line, or\n"
    "                    {\"lines\": [\"...\", ...]}; mapped through the data's vocabulary\n"
    "                    (unseen values: the field's OOV id)\n"
    "                    -> {\"scores\": [p, ...]}  (400 naming the field on a bad body)\n"
    "  GET  /healthz     {\"status\": \"ok\", ...} once the model is loaded\n"
    "  GET  /metrics     Prometheus text format: requests, rows, errors, latency\n"
    "  POST /admin/reload  load --model again and swap it in (also SIGHUP); requests in\n"
    "                    flight finish on the old model (409 and the old model kept when\n"
    "                    the new one cannot be loaded or has another feature space)\n"
    "Prints 'ecps serve: listening on http://HOST:PORT' when ready. SIGTERM or SIGINT\n"
    "stops accepting, finishes the requests being handled and exits 0.\n"
    "\n"
    "options:\n"
    "  --model PATH        a bundle (ecps checkpoint convert, ecps compress) or a checkpoint\n"
    "  --data CACHE        a checkpoint's training data, when its config's data.* no longer\n"
    "                      names it (it must be the same data)\n"
    "  --bind HOST:PORT    address and port to listen on (default 127.0.0.1:8080: loopback\n"
    "                      only; port 0: any free port, printed; [::1]:P for IPv6)\n"
    "  --host H, --port P  the same, one at a time (not with --bind)\n"
    "  --threads N         threads serving connections (default: min(4, usable CPUs))\n"
    "  --max-body-bytes B  largest request body (default 8388608); larger: 413\n"
    "  --max-rows R        most rows per request (default 4096); more: 413\n"
    "  --timeout S         seconds to receive a request (default 30); then the connection\n"
    "                      is closed\n"
    "  --max-connections C open connections served at once (default 256); a connection\n"
    "                      beyond them gets 503 to its request and is closed\n"
    "  --batch-wait-us U   batch predict requests of concurrent connections into one\n"
    "                      forward pass, waiting up to U microseconds after the first for\n"
    "                      more (default 0: each request its own pass, bit-equal to predict;\n"
    "                      batched scores agree to float rounding)\n"
    "  --max-batch-rows N  most rows of one batched pass (default 4096)\n"
    "  -h, --help          print this help\n"
    "\n"
    "exit codes: 0 stopped by a signal, 1 runtime failure (a damaged model, the port in\n"
    "use), 2 bad usage or a missing model.\n";

struct Options {
  std::string model, data, host = "127.0.0.1", bind;
  uint64_t port = 8080, threads = 0, max_body = 8u << 20, max_rows = 4096, timeout_s = 30,
           max_connections = 256, batch_wait_us = 0, max_batch_rows = 4096;
};

int Fail(const Status& st) {
  std::cerr << "ecps serve: " << st.message() << "\n";
  const auto code = st.code();
  return code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument
             ? kExitUsage
             : kExitFailure;
}

// The server's Prometheus metrics (prometheus-cpp: each metric is atomic).
struct Metrics {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& requests =
      prometheus::BuildCounter()
          .Name("ecps_serve_requests_total")
          .Help("HTTP requests answered, by path (other: any unknown path)")
          .Register(*registry);
  prometheus::Counter& rows = prometheus::BuildCounter()
                                  .Name("ecps_serve_rows_total")
                                  .Help("rows scored by POST /v1/predict")
                                  .Register(*registry)
                                  .Add({});
  prometheus::Family<prometheus::Counter>& errors =
      prometheus::BuildCounter()
          .Name("ecps_serve_errors_total")
          .Help("requests answered with an error, by kind")
          .Register(*registry);
  prometheus::Histogram& latency =
      prometheus::BuildHistogram()
          .Name("ecps_serve_predict_latency_seconds")
          .Help("time from a whole POST /v1/predict request to its answer (parse and score)")
          .Register(*registry)
          .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                           0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                           1, 2.5, 10});
  prometheus::Family<prometheus::Counter>& reloads =
      prometheus::BuildCounter()
          .Name("ecps_serve_reloads_total")
          .Help("model reloads (POST /admin/reload, SIGHUP), by result")
          .Register(*registry);
  prometheus::Gauge& version = prometheus::BuildGauge()
                                   .Name("ecps_serve_model_version")
                                   .Help("the served model's version: 1 at start, +1 per reload")
                                   .Register(*registry)
                                   .Add({});
  prometheus::Counter& passes = prometheus::BuildCounter()
                                    .Name("ecps_serve_forward_passes_total")
                                    .Help(
                                        "forward passes run for POST /v1/predict (fewer than "
                                        "requests when --batch-wait-us batches them)")
                                    .Register(*registry)
                                    .Add({});
  prometheus::Gauge& resident = prometheus::BuildGauge()
                                    .Name("ecps_serve_resident_bytes")
                                    .Help("the server process's resident memory (VmRSS)")
                                    .Register(*registry)
                                    .Add({});
  prometheus::Family<prometheus::Gauge>& model =
      prometheus::BuildGauge()
          .Name("ecps_serve_model_bytes")
          .Help("the served model's memory: embedding at inference, dense parameters")
          .Register(*registry);

  void Request(const std::string& path) { requests.Add({{"path", path}}).Increment(); }
  void Error(const std::string& kind) { errors.Add({{"kind", kind}}).Increment(); }
};

class Server;

// One connection: read a request, answer it, repeat while keep-alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server* server) : stream_(std::move(socket)), server_(server) {}
  void Start();
  // Over --max-connections: the connection's first request is answered 503
  // and the connection closed.
  void Reject() {
    reject_ = true;
    Start();
  }
  // Called on shutdown: a connection waiting for a request gets a short
  // grace to receive it, then closes; one being answered finishes.
  void Drain();

 private:
  void Read();
  void OnRead(beast::error_code ec);
  void Answer(http::response<http::string_body> res);
  void OnWrite(bool keep_alive, beast::error_code ec);
  void Close();

  beast::tcp_stream stream_;
  Server* server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<http::response<http::string_body>> res_;
  bool reading_ = false;  // on the strand only
  bool reject_ = false;   // set before Start()
};

class Server {
 public:
  Server(const Options& o, LoadedModel model) : opt_(o) {
    schema_ = model.predictor->schema();
    MutexLock l(&model_mu_);
    Install(std::move(model.predictor));
  }

  // Loads --model again and swaps it in (POST /admin/reload, SIGHUP). The
  // new model is loaded with no lock held; requests being scored finish on
  // the old one, later ones get the new one: none is dropped or failed. A
  // model that cannot be loaded, or of another feature space (the schema
  // requests are parsed against), is refused and the old one keeps serving.
  // Returns the new version.
  StatusOr<uint64_t> Reload() {
    MutexLock serial(&reload_mu_);
    StatusOr<LoadedModel> m = LoadModel(opt_.model, opt_.data);
    if (!m.ok()) {
      metrics_.reloads.Add({{"result", "failed"}}).Increment();
      return m.status();
    }
    const DatasetSchema& s = m->predictor->schema();
    if (s.num_dense != schema_.num_dense || s.cardinalities != schema_.cardinalities) {
      metrics_.reloads.Add({{"result", "failed"}}).Increment();
      return FailedPrecondition("model '", opt_.model, "' now has another feature space (",
                                s.num_dense, " dense, ", s.num_fields, " fields, ",
                                s.total_features(), " features; serving ", schema_.num_dense,
                                " dense, ", schema_.num_fields, " fields, ",
                                schema_.total_features(), "): restart the server to serve it");
    }
    MutexLock l(&model_mu_);
    Install(std::move(m->predictor));
    metrics_.reloads.Add({{"result", "ok"}}).Increment();
    return version_;
  }

  Status Listen() {
    beast::error_code ec;
    const net::ip::address addr = net::ip::make_address(opt_.host, ec);
    if (ec) return InvalidArgument("--host '", opt_.host, "' is not an IP address: ", ec.message());
    const tcp::endpoint ep(addr, static_cast<uint16_t>(opt_.port));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec)
      return FailedPrecondition("cannot listen on ", opt_.host, ":", opt_.port,
                                " (--host, --port): ", ec.message());
    port_ = acceptor_.local_endpoint().port();
    return OkStatus();
  }

  // Serves until SIGTERM/SIGINT; returns the number of requests answered.
  uint64_t Run(int threads) {
    WaitForSignal();
    Accept();
    if (batching()) {
      work_.emplace(ioc_.get_executor());
      scorer_ = std::thread([this] { ScoreLoop(); });
    } else {
      MutexLock l(&batch_mu_);
      scorer_done_ = true;
    }
    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([this] { ioc_.run(); });
    ioc_.run();
    for (std::thread& t : pool) t.join();
    if (scorer_.joinable()) scorer_.join();
    return answered_.load();
  }

  uint16_t port() const { return port_; }
  const Options& options() const { return opt_; }
  bool stopping() const { return stopping_.load(); }

  // Registers a live session (for Drain on shutdown); returns the number of
  // live sessions, this one included.
  size_t Add(const std::shared_ptr<Session>& s) {
    MutexLock l(&sessions_mu_);
    for (auto it = sessions_.begin(); it != sessions_.end();)
      it = it->expired() ? sessions_.erase(it) : std::next(it);
    sessions_.push_back(s);
    return sessions_.size();
  }

  http::response<http::string_body> Handle(const http::request<http::string_body>& req);
  // With --batch-wait-us > 0: POST /v1/predict requests are queued and scored
  // together with others that arrive within the wait (ScoreLoop); `reply`
  // gets the answer from the scoring thread (or at once for a bad body).
  using Reply = std::function<void(http::response<http::string_body>)>;
  bool batching() const { return opt_.batch_wait_us > 0; }
  void Submit(const http::request<http::string_body>& req, Reply reply);
  // A parse failure of the HTTP layer (before a request exists).
  http::response<http::string_body> Refuse(http::status status, const std::string& kind,
                                           const std::string& message, unsigned version) {
    metrics_.Request("other");
    metrics_.Error(kind);
    return Json(status, ErrorJson(kind, message), version, /*keep_alive=*/false);
  }
  void Answered() { answered_.fetch_add(1); }

 private:
  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (!acceptor_.is_open()) return;  // closed by Stop()
        std::cerr << "ecps serve: accept: " << ec.message() << "\n";
      } else {
        auto session = std::make_shared<Session>(std::move(s), this);
        if (Add(session) > opt_.max_connections) {
          session->Reject();
        } else {
          session->Start();
        }
      }
      if (!stopping_.load()) Accept();
    });
  }

  struct Pending {
    Batch batch;
    std::function<void(const Status&, std::span<const float>)> done;
  };
  http::response<http::string_body> PredictAnswer(const Status& st, std::span<const float> logits,
                                                  int rows,
                                                  std::chrono::steady_clock::time_point t0,
                                                  unsigned version, bool keep);
  void ScoreTogether(std::vector<Pending>& items);
  void ScoreLoop();
  // A predict body (JSON rows or raw lines, by its Content-Type) against the
  // served model's schema and vocabulary.
  Status Parse(const http::request<http::string_body>& req, Batch* batch) {
    std::shared_ptr<const VocabularyTable> vocabulary;
    {
      MutexLock l(&model_mu_);
      vocabulary = vocabulary_;
    }
    const auto type = req[http::field::content_type];
    return ParsePredictRequest(req.body(), schema_, opt_.max_rows, batch, vocabulary.get(),
                               std::string_view(type.data(), type.size()));
  }

  void WaitForSignal() {
    signals_.async_wait([this](beast::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        StatusOr<uint64_t> v = Reload();
        if (v.ok()) {
          std::cerr << "ecps serve: SIGHUP: reloaded '" << opt_.model << "' (version " << *v
                    << ")\n";
        } else {
          std::cerr << "ecps serve: SIGHUP: reload refused, still serving the old model: "
                    << v.status().message() << "\n";
        }
        if (!stopping_.load()) WaitForSignal();
        return;
      }
      std::cerr << "ecps serve: signal " << sig << ": stopping (finishing requests in flight)\n";
      Stop();
    });
  }

  // The served model and what /healthz and /metrics say of it.
  void Install(std::unique_ptr<Predictor> p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(model_mu_) {
    model_ = std::move(p);
    vocabulary_ = model_->vocabulary();
    method_ = model_->config().method();
    inference_bytes_ = model_->Memory().inference_bytes;
    dense_bytes_ = model_->dense_bytes();
    ++version_;
    metrics_.model.Add({{"part", "embedding_inference"}})
        .Set(static_cast<double>(inference_bytes_));
    metrics_.model.Add({{"part", "dense"}}).Set(static_cast<double>(dense_bytes_));
    metrics_.version.Set(static_cast<double>(version_));
  }

  void Stop() {
    stopping_.store(true);
    {
      MutexLock l(&batch_mu_);
      scorer_stop_ = true;
      batch_cv_.SignalAll();
    }
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    std::vector<std::shared_ptr<Session>> live;
    {
      MutexLock l(&sessions_mu_);
      for (const auto& w : sessions_)
        if (auto s = w.lock()) live.push_back(std::move(s));
    }
    for (const auto& s : live) s->Drain();
  }

  static http::response<http::string_body> Json(http::status status, std::string body,
                                                unsigned version, bool keep_alive) {
    http::response<http::string_body> res{status, version};
    res.set(http::field::server, "ecps-serve");
    res.set(http::field::content_type, "application/json");
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
  }

  const Options opt_;
  net::io_context ioc_;
  // On a strand: Stop() closes it from the signal's handler while an accept
  // may be completing on another thread.
  tcp::acceptor acceptor_{net::make_strand(ioc_)};
  net::signal_set signals_{ioc_, SIGINT, SIGTERM, SIGHUP};
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> answered_{0};
  Metrics metrics_;
  DatasetSchema schema_;  // fixed for the server's life (a reload must keep it)
  Mutex reload_mu_;       // one reload at a time
  // The batching queue (--batch-wait-us > 0) and its thread; work_ keeps the
  // io threads running while it may still post answers.
  Mutex batch_mu_;
  CondVar batch_cv_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(batch_mu_);
  bool scorer_stop_ ABSL_GUARDED_BY(batch_mu_) = false;
  bool scorer_done_ ABSL_GUARDED_BY(batch_mu_) = false;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::thread scorer_;
  Mutex model_mu_;
  std::unique_ptr<Predictor> model_ ABSL_GUARDED_BY(model_mu_);
  // The model's vocabulary (raw lines), read by parsing outside the model's
  // lock through a copy of the pointer.
  std::shared_ptr<const VocabularyTable> vocabulary_ ABSL_GUARDED_BY(model_mu_);
  std::string method_ ABSL_GUARDED_BY(model_mu_);
  uint64_t inference_bytes_ ABSL_GUARDED_BY(model_mu_) = 0;
  uint64_t dense_bytes_ ABSL_GUARDED_BY(model_mu_) = 0;
  uint64_t version_ ABSL_GUARDED_BY(model_mu_) = 0;  // 1 at start, +1 per reload
  Mutex sessions_mu_;
  std::list<std::weak_ptr<Session>> sessions_ ABSL_GUARDED_BY(sessions_mu_);
};

http::response<http::string_body> Server::PredictAnswer(const Status& st,
                                                        std::span<const float> logits, int rows,
                                                        std::chrono::steady_clock::time_point t0,
                                                        unsigned version, bool keep) {
  if (!st.ok()) {
    metrics_.Error("internal");
    return Json(http::status::internal_server_error, ErrorJson("internal", st.message()), version,
                keep);
  }
  metrics_.rows.Increment(static_cast<double>(rows));
  auto res = Json(http::status::ok, PredictResponseJson(logits), version, keep);
  metrics_.latency.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return res;
}

void Server::Submit(const http::request<http::string_body>& req, Reply reply) {
  const unsigned v = req.version();
  const bool keep = req.keep_alive() && !stopping_.load();
  metrics_.Request("/v1/predict");
  const auto t0 = std::chrono::steady_clock::now();
  Pending p;
  Status st = Parse(req, &p.batch);
  if (!st.ok()) {
    const bool too_many = st.code() == absl::StatusCode::kResourceExhausted;
    metrics_.Error(too_many ? "too_large" : "bad_request");
    return reply(Json(too_many ? http::status::payload_too_large : http::status::bad_request,
                      ErrorJson(too_many ? "too_large" : "bad_request", st.message()), v, keep));
  }
  const int rows = p.batch.size;
  p.done = [this, reply = std::move(reply), rows, t0, v, keep](const Status& s,
                                                               std::span<const float> logits) {
    reply(PredictAnswer(s, logits, rows, t0, v, keep));
  };
  {
    MutexLock l(&batch_mu_);
    if (!scorer_done_) {
      queue_.push_back(std::move(p));
      batch_cv_.Signal();
      return;
    }
  }
  // The scorer has ended (shutting down): this request is scored here.
  std::vector<Pending> one;
  one.push_back(std::move(p));
  ScoreTogether(one);
}

// Scores `items` in one forward pass: their rows concatenated in order, the
// logits handed back to each.
void Server::ScoreTogether(std::vector<Pending>& items) {
  Batch all;
  int total = 0;
  bool values = false;  // raw lines with weighted feature values: then all carry them
  for (const Pending& p : items) {
    total += p.batch.size;
    values |= !p.batch.values.empty();
  }
  all.Resize(total, schema_.num_dense, schema_.num_fields, values);
  std::fill(all.values.begin(), all.values.end(), 1.0f);
  size_t d = 0, f = 0;
  for (const Pending& p : items) {
    std::copy(p.batch.dense.begin(), p.batch.dense.end(), all.dense.begin() + d);
    std::copy(p.batch.sparse.begin(), p.batch.sparse.end(), all.sparse.begin() + f);
    std::copy(p.batch.values.begin(), p.batch.values.end(), all.values.begin() + f);
    d += p.batch.dense.size();
    f += p.batch.sparse.size();
  }
  std::vector<float> logits(static_cast<size_t>(total));
  Status st;
  {
    MutexLock l(&model_mu_);
    st = model_->Logits(all, logits.data());
  }
  metrics_.passes.Increment();
  size_t at = 0;
  for (Pending& p : items) {
    p.done(st, std::span<const float>(logits).subspan(at, static_cast<size_t>(p.batch.size)));
    at += static_cast<size_t>(p.batch.size);
  }
}

// The batching thread (--batch-wait-us > 0): takes the oldest request, waits
// up to the deadline for more while they fit in --max-batch-rows, scores
// them together. Ends when the server stops and nothing is queued.
void Server::ScoreLoop() {
  for (;;) {
    std::vector<Pending> items;
    {
      MutexLock l(&batch_mu_);
      while (queue_.empty() && !scorer_stop_) batch_cv_.Wait(&batch_mu_);
      if (queue_.empty()) {
        scorer_done_ = true;
        break;
      }
      const auto deadline =
          std::chrono::steady_clock::now() + std::chrono::microseconds(opt_.batch_wait_us);
      uint64_t rows = 0;
      for (;;) {
        while (!queue_.empty() &&
               (items.empty() ||
                rows + static_cast<uint64_t>(queue_.front().batch.size) <= opt_.max_batch_rows)) {
          rows += static_cast<uint64_t>(queue_.front().batch.size);
          items.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        if (!queue_.empty() || rows >= opt_.max_batch_rows || scorer_stop_) break;
        if (batch_cv_.WaitUntil(&batch_mu_, deadline)) {
          // Past the deadline: whatever arrived meanwhile joins if it fits.
          while (!queue_.empty() &&
                 rows + static_cast<uint64_t>(queue_.front().batch.size) <= opt_.max_batch_rows) {
            rows += static_cast<uint64_t>(queue_.front().batch.size);
            items.push_back(std::move(queue_.front()));
            queue_.pop_front();
          }
          break;
        }
      }
    }
    ScoreTogether(items);
  }
  work_.reset();  // the io threads may now run out of work and return
}

http::response<http::string_body> Server::Handle(const http::request<http::string_body>& req) {
  const unsigned v = req.version();
  const bool keep = req.keep_alive() && !stopping_.load();
  const std::string target(req.target());
  const std::string path = target.substr(0, target.find('?'));
  auto wrong_method = [&](const char* allow) {
    metrics_.Error("method_not_allowed");
    auto res = Json(http::status::method_not_allowed,
                    ErrorJson("method_not_allowed", absl::StrCat(path, " takes ", allow, ", not ",
                                                                 std::string(req.method_string()))),
                    v, keep);
    res.set(http::field::allow, allow);
    return res;
  };
  if (path == "/v1/predict") {
    metrics_.Request(path);
    if (req.method() != http::verb::post) return wrong_method("POST");
    const auto t0 = std::chrono::steady_clock::now();
    Batch batch;
    Status st = Parse(req, &batch);
    if (!st.ok()) {
      const bool too_many = st.code() == absl::StatusCode::kResourceExhausted;
      metrics_.Error(too_many ? "too_large" : "bad_request");
      return Json(too_many ? http::status::payload_too_large : http::status::bad_request,
                  ErrorJson(too_many ? "too_large" : "bad_request", st.message()), v, keep);
    }
    std::vector<float> logits(static_cast<size_t>(batch.size));
    {
      MutexLock l(&model_mu_);
      st = model_->Logits(batch, logits.data());
    }
    metrics_.passes.Increment();
    return PredictAnswer(st, logits, batch.size, t0, v, keep);
  }
  if (path == "/healthz" || path == "/metrics") {
    metrics_.Request(path);
    if (req.method() != http::verb::get) return wrong_method("GET");
    if (path == "/healthz") {
      nlohmann::json h = {{"status", stopping_.load() ? "stopping" : "ok"},
                          {"model", opt_.model},
                          {"resident_bytes", CurrentRssBytes()}};
      {
        MutexLock l(&model_mu_);
        h.update({{"method", method_},
                  {"version", version_},
                  {"raw_lines", vocabulary_ != nullptr},
                  {"inference_memory_bytes", inference_bytes_},
                  {"dense_parameter_bytes", dense_bytes_}});
      }
      return Json(http::status::ok,
                  h.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), v, keep);
    }
    http::response<http::string_body> res{http::status::ok, v};
    res.set(http::field::server, "ecps-serve");
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(keep);
    metrics_.resident.Set(static_cast<double>(CurrentRssBytes()));
    res.body() = prometheus::TextSerializer().Serialize(metrics_.registry->Collect());
    res.prepare_payload();
    return res;
  }
  if (path == "/admin/reload") {
    metrics_.Request(path);
    if (req.method() != http::verb::post) return wrong_method("POST");
    StatusOr<uint64_t> version = Reload();
    if (!version.ok()) {
      metrics_.Error("reload_failed");
      return Json(http::status::conflict, ErrorJson("reload_failed", version.status().message()), v,
                  keep);
    }
    std::string method;
    {
      MutexLock l(&model_mu_);
      method = method_;
    }
    return Json(
        http::status::ok,
        nlohmann::json{{"status", "reloaded"}, {"version", *version}, {"method", method}}.dump(
            -1, ' ', false, nlohmann::json::error_handler_t::replace),
        v, keep);
  }
  metrics_.Request("other");
  metrics_.Error("not_found");
  return Json(
      http::status::not_found,
      ErrorJson(
          "not_found",
          absl::StrCat("no resource '", path,
                       "' (POST /v1/predict, GET /healthz, GET /metrics, POST /admin/reload)")),
      v, keep);
}

void Session::Start() {
  net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->Read(); });
}

void Session::Drain() {
  net::post(stream_.get_executor(), [self = shared_from_this()] {
    if (self->reading_) self->stream_.expires_after(std::chrono::milliseconds(500));
  });
}

void Session::Read() {
  if (server_->stopping()) return Close();
  parser_.emplace();
  parser_->header_limit(16 * 1024);
  parser_->body_limit(server_->options().max_body);
  stream_.expires_after(std::chrono::seconds(server_->options().timeout_s));
  reading_ = true;
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
}

void Session::OnRead(beast::error_code ec) {
  reading_ = false;
  if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
      ec == net::error::operation_aborted || ec == net::error::connection_reset ||
      ec == net::error::eof)
    return Close();
  if (ec == http::error::body_limit) {
    return Answer(
        server_->Refuse(http::status::payload_too_large, "too_large",
                        absl::StrCat("the request body is larger than the server's limit of ",
                                     server_->options().max_body, " bytes (--max-body-bytes)"),
                        11));
  }
  if (ec == http::error::header_limit) {
    return Answer(server_->Refuse(http::status::request_header_fields_too_large, "too_large",
                                  "the request's header is larger than 16384 bytes", 11));
  }
  if (ec) {
    // Anything else Beast's parser refuses: a malformed request line,
    // header or chunk. The connection cannot be resynchronised: closed.
    if (ec.category() == http::make_error_code(http::error::bad_target).category())
      return Answer(server_->Refuse(http::status::bad_request, "bad_request",
                                    absl::StrCat("malformed HTTP request: ", ec.message()), 11));
    return Close();
  }
  if (reject_)
    return Answer(server_->Refuse(
        http::status::service_unavailable, "overloaded",
        absl::StrCat("the server has its --max-connections ", server_->options().max_connections,
                     " connections open; retry later"),
        parser_->get().version()));
  const auto& req = parser_->get();
  if (server_->batching() && req.method() == http::verb::post &&
      req.target().substr(0, req.target().find('?')) == "/v1/predict") {
    // Answered from the scoring thread, on this connection's strand.
    return server_->Submit(req, [self = shared_from_this()](http::response<http::string_body> r) {
      net::dispatch(self->stream_.get_executor(),
                    [self, r = std::move(r)]() mutable { self->Answer(std::move(r)); });
    });
  }
  Answer(server_->Handle(req));
}

void Session::Answer(http::response<http::string_body> res) {
  const bool keep_alive = res.keep_alive();
  res_ = std::make_shared<http::response<http::string_body>>(std::move(res));
  stream_.expires_after(std::chrono::seconds(server_->options().timeout_s));
  http::async_write(stream_, *res_,
                    [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
                      self->OnWrite(keep_alive, ec);
                    });
}

void Session::OnWrite(bool keep_alive, beast::error_code ec) {
  server_->Answered();
  res_.reset();
  if (ec || !keep_alive) return Close();
  Read();
}

void Session::Close() {
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  stream_.socket().close(ignored);
}

bool ParseCount(const std::string& flag, const std::string& text, uint64_t lo, uint64_t hi,
                uint64_t* out) {
  if (!absl::SimpleAtoi(text, out) || text[0] == '-' || *out < lo || *out > hi) {
    std::cerr << "ecps serve: " << flag << " '" << text << "' is not an integer in [" << lo << ", "
              << hi << "]\n";
    return false;
  }
  return true;
}

}  // namespace

int RunServe(const std::vector<std::string>& args) {
  SetLogLevel("info");  // warnings (a clipped code) to stderr: stdout is the summary
  Options o;
  std::string port = "8080", threads = "0", max_body = "8388608", max_rows = "4096", timeout = "30",
              max_connections = "256", batch_wait = "0", max_batch_rows = "4096";
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    std::string* value = a == "--model"             ? &o.model
                         : a == "--data"            ? &o.data
                         : a == "--host"            ? &o.host
                         : a == "--bind"            ? &o.bind
                         : a == "--port"            ? &port
                         : a == "--threads"         ? &threads
                         : a == "--max-body-bytes"  ? &max_body
                         : a == "--max-rows"        ? &max_rows
                         : a == "--timeout"         ? &timeout
                         : a == "--max-connections" ? &max_connections
                         : a == "--batch-wait-us"   ? &batch_wait
                         : a == "--max-batch-rows"  ? &max_batch_rows
                                                    : nullptr;
    if (value == nullptr) {
      std::cerr << "ecps serve: unknown argument '" << a << "' (see --help)\n";
      return kExitUsage;
    }
    if (i + 1 >= args.size()) {
      std::cerr << "ecps serve: " << a << " needs a value\n";
      return kExitUsage;
    }
    *value = args[++i];
  }
  if (o.model.empty()) {
    std::cerr << "ecps serve: needs --model (see --help)\n";
    return kExitUsage;
  }
  if (!o.bind.empty()) {
    // HOST:PORT, the host of an IPv6 address in brackets ([::1]:8080).
    const bool given = std::find(args.begin(), args.end(), "--host") != args.end() ||
                       std::find(args.begin(), args.end(), "--port") != args.end();
    const size_t colon = o.bind.rfind(':');
    if (given || colon == std::string::npos || colon == 0) {
      std::cerr << "ecps serve: --bind '" << o.bind << "' "
                << (given ? "and --host/--port: give one of them"
                          : "is not HOST:PORT (e.g. 127.0.0.1:8080)")
                << "\n";
      return kExitUsage;
    }
    o.host = o.bind.substr(0, colon);
    if (o.host.size() >= 2 && o.host.front() == '[' && o.host.back() == ']')
      o.host = o.host.substr(1, o.host.size() - 2);
    port = o.bind.substr(colon + 1);
    if (port.empty()) port = "-";  // refused below, naming the range
  }
  if (!ParseCount(o.bind.empty() ? "--port" : "--bind's port", port, 0, 65535, &o.port) ||
      !ParseCount("--threads", threads, 0, 1024, &o.threads) ||
      !ParseCount("--max-body-bytes", max_body, 1, uint64_t{1} << 32, &o.max_body) ||
      !ParseCount("--max-rows", max_rows, 1, uint64_t{1} << 24, &o.max_rows) ||
      !ParseCount("--timeout", timeout, 1, 3600, &o.timeout_s) ||
      !ParseCount("--max-connections", max_connections, 1, 1 << 20, &o.max_connections) ||
      !ParseCount("--batch-wait-us", batch_wait, 0, 1000000, &o.batch_wait_us) ||
      !ParseCount("--max-batch-rows", max_batch_rows, 1, uint64_t{1} << 24, &o.max_batch_rows))
    return kExitUsage;
  const int nthreads =
      o.threads > 0 ? static_cast<int>(o.threads) : std::max(1, std::min(4, UsableCpus()));

  StatusOr<LoadedModel> model = LoadModel(o.model, o.data);
  if (!model.ok()) return Fail(model.status());
  const std::string method = model->predictor->config().method();
  const uint64_t inference_bytes = model->predictor->Memory().inference_bytes;
  Server server(o, std::move(*model));
  Status st = server.Listen();
  if (!st.ok()) return Fail(st);
  std::printf(
      "ecps serve: listening on http://%s:%u (model %s, method %s, %llu B of embedding "
      "at inference, %d threads)\n",
      o.host.c_str(), static_cast<unsigned>(server.port()), o.model.c_str(), method.c_str(),
      static_cast<unsigned long long>(inference_bytes), nthreads);
  std::fflush(stdout);
  const uint64_t answered = server.Run(nthreads);
  std::printf("ecps serve: stopped after %llu answers\n",
              static_cast<unsigned long long>(answered));
  return kExitOk;
}

}  // namespace ecps::tools
