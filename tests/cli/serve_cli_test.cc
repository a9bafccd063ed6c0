// `ecps serve` through the real binary: a server on port 0 (the bound port
// read from its first line), real HTTP requests (a Boost.Beast client), the
// scores compared with `ecps predict` on the same rows, the error answers,
// /healthz, /metrics and the exit on SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"
#include "tests/cli/bench_test_util.h"
#include "worker/data/dataset.h"
#include "worker/data/vocabulary_table.h"

extern char** environ;

namespace ecps::bench::testing {
namespace {

namespace fs = std::filesystem;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// Trains a small single-process run (20000 generated rows) in `dir`/run.
std::string Train(const std::string& dir, const std::vector<std::string>& sets) {
  std::vector<std::string> args = {"train", "--log-level", "warn"};
  std::vector<std::string> all = {"data.generate.rows=20000",
                                  "data.generate.features=5000",
                                  "data.cache_dir=" + dir + "/data",
                                  "model.bottom=16",
                                  "model.top=16",
                                  "train.max_steps=30",
                                  "train.latency_batches=3",
                                  "output.dir=" + dir + "/run",
                                  "output.progress=none"};
  all.insert(all.end(), sets.begin(), sets.end());
  for (const std::string& s : all) args.insert(args.end(), {"--set", s});
  CliResult r = RunEcps(args, dir);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? dir + "/run" : "";
}

std::string CacheOf(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir + "/data"))
    if (e.path().extension() == ".ecache") return e.path().string();
  return "";
}

// A running `ecps serve`; stopped with SIGTERM by Stop() (or killed at the end).
class ServeProcess {
 public:
  ServeProcess(const std::string& dir, std::vector<std::string> args) : dir_(dir) {
    if (std::find(args.begin(), args.end(), "--bind") == args.end())
      args.insert(args.begin(), {"--port", "0"});
    args.insert(args.begin(), {ECPS_BIN, "serve"});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    out_ = dir + "/serve_stdout.log";
    err_ = dir + "/serve_stderr.log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, ECPS_BIN, &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) pid_ = -1;
  }
  ~ServeProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  // The port from "listening on http://127.0.0.1:PORT", 0 if the server
  // exited or did not start within a minute.
  int WaitForPort() {
    const std::regex re("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    for (int i = 0; i < 600 && pid_ > 0; ++i) {
      std::smatch m;
      const std::string text = ReadFile(out_).value_or("");
      if (std::regex_search(text, m, re)) return std::stoi(m[1]);
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return 0;
  }

  // SIGTERM, then the exit code (-1: not exited within 30 s or signalled).
  int Stop() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 300; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }

  pid_t pid() const { return pid_; }
  std::string out() const { return ReadFile(out_).value_or(""); }
  std::string err() const { return ReadFile(err_).value_or(""); }

 private:
  std::string dir_, out_, err_;
  pid_t pid_ = -1;
};

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
};

Reply Request(int port, http::verb verb, const std::string& target, const std::string& body = "",
              const std::string& type = "application/json") {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, type);
  req.body() = body;
  req.prepare_payload();
  http::write(socket, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(socket, buffer, parser);
  Reply r;
  r.status = static_cast<int>(parser.get().result_int());
  r.body = parser.get().body();
  r.content_type = std::string(parser.get()[http::field::content_type]);
  return r;
}

// Raw bytes, then whatever comes back until the server closes.
// With `half_close`, the write side is shut after the bytes (a client that
// gave up mid-request).
std::string RawRequest(int port, const std::string& bytes, bool half_close = false) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  beast::error_code wec;
  net::write(socket, net::buffer(bytes), wec);  // the server may refuse and close first
  if (half_close) socket.shutdown(tcp::socket::shutdown_send, wec);
  std::string out;
  beast::error_code ec;
  char buf[4096];
  for (;;) {
    const size_t n = socket.read_some(net::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

// The JSON body of rows [first, first + n) of the test split of `data`.
std::string RowsJson(const Dataset& data, uint64_t first, uint64_t n) {
  std::vector<uint64_t> rows(n);
  std::iota(rows.begin(), rows.end(), first);
  Batch b;
  data.Gather(Split::kTest, rows, &b);
  nlohmann::json j = {{"rows", nlohmann::json::array()}};
  for (uint64_t i = 0; i < n; ++i) {
    nlohmann::json dense = nlohmann::json::array(), sparse = nlohmann::json::array();
    for (int k = 0; k < b.num_dense; ++k) dense.push_back(b.dense[i * b.num_dense + k]);
    for (int f = 0; f < b.num_fields; ++f) sparse.push_back(b.sparse[i * b.num_fields + f]);
    j["rows"].push_back({{"dense", dense}, {"sparse", sparse}});
  }
  return j.dump();
}

// The scores of a 200 answer in predict's text form (%.9g per line).
std::vector<std::string> ScoreLines(const Reply& r) {
  std::vector<std::string> lines;
  const nlohmann::json j = nlohmann::json::parse(r.body);
  for (const auto& s : j.at("scores")) lines.push_back(absl::StrFormat("%.9g", s.get<double>()));
  return lines;
}

std::vector<std::string> PredictLines(const std::string& path) {
  std::vector<std::string> lines =
      absl::StrSplit(ReadFile(path).value_or(""), '\n', absl::SkipEmpty());
  return lines;
}

// The value of a metric line `name` (with its labels) in a /metrics text.
double Metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  ADD_FAILURE() << "no metric " << name << " in:\n" << text;
  return -1;
}

TEST(ServeTest, ScoresEqualPredictAndEveryErrorIsNamed) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, {});
  ASSERT_FALSE(run.empty());
  const std::string cache = CacheOf(dir);
  ASSERT_FALSE(cache.empty());
  // 64 rows: below train.eval_batch_size, so predict scores them in one
  // batch, as the server scores one request.
  CliResult p = RunEcps({"predict", "--model", run + "/best.ckpt", "--max-rows", "64", "--out",
                         dir + "/p.txt", "--progress", "none"},
                        dir);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const std::vector<std::string> want = PredictLines(dir + "/p.txt");
  ASSERT_EQ(want.size(), 64u);

  ServeProcess server(dir, {"--model", run + "/best.ckpt", "--threads", "2", "--max-rows", "64",
                            "--max-body-bytes", "200000"});
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.out() << server.err();
  auto data = Dataset::Open(cache);
  ASSERT_TRUE(data.ok()) << data.status();

  Reply r = Request(port, http::verb::post, "/v1/predict", RowsJson(**data, 0, 64));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(ScoreLines(r), want);  // to the bit (9 digits of a float's logit)
  // One row a request: another batch shape, the same row's score.
  for (uint64_t i = 0; i < 3; ++i) {
    Reply one = Request(port, http::verb::post, "/v1/predict", RowsJson(**data, i, 1));
    ASSERT_EQ(one.status, 200) << one.body;
    ASSERT_EQ(ScoreLines(one).size(), 1u);
    EXPECT_NEAR(std::stod(ScoreLines(one)[0]), std::stod(want[i]), 1e-6) << i;
  }

  Reply health = Request(port, http::verb::get, "/healthz");
  EXPECT_EQ(health.status, 200);
  const nlohmann::json h = nlohmann::json::parse(health.body);
  EXPECT_EQ(h["status"], "ok");
  EXPECT_EQ(h["method"], "full");
  EXPECT_GT(h["inference_memory_bytes"].get<uint64_t>(), 0u);

  // Bad bodies: 400 naming the field.
  nlohmann::json bad = nlohmann::json::parse(RowsJson(**data, 0, 2));
  bad["rows"][1]["sparse"][2] = 1u << 30;
  r = Request(port, http::verb::post, "/v1/predict", bad.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("rows[1].sparse[2]"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("cardinality"), std::string::npos) << r.body;
  bad = nlohmann::json::parse(RowsJson(**data, 0, 1));
  bad["rows"][0].erase("dense");
  r = Request(port, http::verb::post, "/v1/predict", bad.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("rows[0].dense: missing"), std::string::npos) << r.body;
  bad = nlohmann::json::parse(RowsJson(**data, 0, 1));
  bad["rows"][0]["dense"][0] = "x";
  r = Request(port, http::verb::post, "/v1/predict", bad.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("rows[0].dense[0]"), std::string::npos) << r.body;
  r = Request(port, http::verb::post, "/v1/predict", "{\"rows\": [");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("not JSON"), std::string::npos) << r.body;
  r = Request(port, http::verb::post, "/v1/predict", std::string(1000, '['));
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("nested deeper"), std::string::npos) << r.body;
  // Limits: 65 rows (--max-rows 64), a body over --max-body-bytes.
  r = Request(port, http::verb::post, "/v1/predict", RowsJson(**data, 0, 65));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("--max-rows"), std::string::npos) << r.body;
  // (Refused on its header, before the body is sent: the connection closes.)
  std::string raw =
      RawRequest(port, "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 413", 0), 0u) << raw;
  EXPECT_NE(raw.find("--max-body-bytes"), std::string::npos) << raw;
  // Unknown resource, wrong method, malformed HTTP.
  r = Request(port, http::verb::get, "/v2/predict");
  EXPECT_EQ(r.status, 404);
  r = Request(port, http::verb::get, "/v1/predict");
  EXPECT_EQ(r.status, 405);
  raw = RawRequest(port, "BLAH BLAH\r\n\r\n");
  EXPECT_EQ(raw.rfind("HTTP/1.1 400", 0), 0u) << raw;

  // Every answer counted: 1 + 3 + 1 predict scoring 67 rows, 7 refused bodies.
  Reply m = Request(port, http::verb::get, "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.content_type.rfind("text/plain; version=0.0.4", 0), 0u) << m.content_type;
  EXPECT_EQ(Metric(m.body, "ecps_serve_rows_total"), 67);
  EXPECT_EQ(Metric(m.body, "ecps_serve_predict_latency_seconds_count"), 4);
  // Every predict request but the one whose body was over the limit (refused
  // before its target was read: counted as "other").
  EXPECT_EQ(Metric(m.body, "ecps_serve_requests_total{path=\"/v1/predict\"}"), 11);
  EXPECT_EQ(Metric(m.body, "ecps_serve_requests_total{path=\"/healthz\"}"), 1);
  EXPECT_EQ(Metric(m.body, "ecps_serve_requests_total{path=\"other\"}"), 3);
  EXPECT_EQ(Metric(m.body, "ecps_serve_errors_total{kind=\"bad_request\"}"), 6);
  EXPECT_EQ(Metric(m.body, "ecps_serve_errors_total{kind=\"too_large\"}"), 2);
  EXPECT_EQ(Metric(m.body, "ecps_serve_errors_total{kind=\"not_found\"}"), 1);
  EXPECT_EQ(Metric(m.body, "ecps_serve_errors_total{kind=\"method_not_allowed\"}"), 1);

  EXPECT_EQ(server.Stop(), 0) << server.err();
  EXPECT_NE(server.out().find("stopped after"), std::string::npos) << server.out();
}

// A bundle serves the same scores as its checkpoint predicts, for methods
// whose tables are stored compressed (int8, post4bits: decoded at lookup) or
// hashed.
class ServeMethodTest : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(ServeMethodTest, BundleScoresAsPredict) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, GetParam());
  ASSERT_FALSE(run.empty());
  CliResult c =
      RunEcps({"checkpoint", "convert", "--out", dir + "/m.bundle", run + "/best.ckpt"}, dir);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  CliResult p = RunEcps({"predict", "--model", dir + "/m.bundle", "--max-rows", "32", "--out",
                         dir + "/p.txt", "--progress", "none"},
                        dir);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  ServeProcess server(dir, {"--model", dir + "/m.bundle"});
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.out() << server.err();
  auto data = Dataset::Open(CacheOf(dir));
  ASSERT_TRUE(data.ok()) << data.status();
  Reply r = Request(port, http::verb::post, "/v1/predict", RowsJson(**data, 0, 32));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ScoreLines(r), PredictLines(dir + "/p.txt"));
  const std::string method = GetParam()[0].substr(GetParam()[0].find('=') + 1);
  EXPECT_EQ(nlohmann::json::parse(Request(port, http::verb::get, "/healthz").body)["method"],
            method);
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

INSTANTIATE_TEST_SUITE_P(
    Methods, ServeMethodTest,
    ::testing::Values(std::vector<std::string>{"embedding.method=int8"},
                      std::vector<std::string>{"embedding.method=post4bits"},
                      std::vector<std::string>{"embedding.method=hash", "embedding.budget=0.25"}),
    [](const auto& info) { return info.param[0].substr(info.param[0].find('=') + 1); });

// The server's resident memory in KiB (VmRSS), 0 when unreadable.
long RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

// 10,000 malformed or truncated requests (bodies, headers, request lines),
// one connection each, on loopback: every one is answered 4xx (or, for a
// mutation that happens to stay valid, 200), never 5xx, never left without
// an answer; the server survives and its memory does not grow with them.
TEST(ServeTest, TenThousandMalformedRequestsEachGetA4xx) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, {});
  ASSERT_FALSE(run.empty());
  ServeProcess server(dir, {"--model", run + "/best.ckpt", "--max-body-bytes", "65536",
                            "--max-rows", "8", "--timeout", "5"});
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.out() << server.err();
  auto data = Dataset::Open(CacheOf(dir));
  ASSERT_TRUE(data.ok()) << data.status();
  const std::string body = RowsJson(**data, 0, 2);
  const std::string head =
      "POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  const std::string valid = head + body;
  ASSERT_EQ(RawRequest(port, valid, true).rfind("HTTP/1.1 200", 0), 0u);
  std::mt19937_64 rng(7);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  const std::string junk = "{}[]\",:0-9eE.\r\n \x00\xff\\";
  int answered4xx = 0, answered200 = 0;
  long rss_at_1000 = 0;
  for (int i = 0; i < 10000; ++i) {
    std::string req;
    switch (i % 5) {
      case 0:  // truncated anywhere (the client gives up)
        req = valid.substr(0, 1 + pick(valid.size() - 1));
        break;
      case 1: {  // the body with a byte replaced (Content-Length kept)
        std::string b = body;
        for (int k = 0; k < 1 + static_cast<int>(pick(3)); ++k)
          b[pick(b.size())] = junk[pick(junk.size())];
        req = head + b;
        break;
      }
      case 2: {  // a header byte replaced
        std::string h = head;
        h[pick(h.size() - 4)] = junk[pick(junk.size())];
        req = h + body;
        break;
      }
      case 3: {  // a body of random bytes of the declared length
        std::string b(body.size(), ' ');
        for (char& ch : b) ch = static_cast<char>(rng());
        req = head + b;
        break;
      }
      default: {  // a Content-Length beyond the body, or beyond the limit
        const bool big = pick(2) == 0;
        req = "POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: " +
              std::to_string(big ? 1 << 20 : body.size() + 1 + pick(100)) + "\r\n\r\n" + body;
        break;
      }
    }
    const std::string reply = RawRequest(port, req, /*half_close=*/true);
    ASSERT_EQ(reply.rfind("HTTP/1.1 ", 0), 0u) << "request " << i << " got no answer: " << req;
    const int status = std::stoi(reply.substr(9, 3));
    ASSERT_TRUE(status == 200 || (status >= 400 && status < 500))
        << "request " << i << ": " << reply.substr(0, 200) << "\nfor " << req;
    (status == 200 ? answered200 : answered4xx)++;
    if (i == 999) rss_at_1000 = RssKib(server.pid());
  }
  EXPECT_GT(answered4xx, 9000) << answered200 << " of them were still valid";
  const long rss_end = RssKib(server.pid());
  EXPECT_LT(rss_end - rss_at_1000, 16 * 1024) << rss_at_1000 << " KiB -> " << rss_end << " KiB";
  EXPECT_EQ(Request(port, http::verb::get, "/healthz").status, 200);
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

// POST /admin/reload and SIGHUP swap in the bundle now at --model while a
// client keeps sending: no request fails, each is scored by the old or the
// new model whole, and a damaged file is refused while the old one serves on.
TEST(ServeTest, ReloadSwapsTheModelUnderLoadWithoutFailingARequest) {
  const std::string dir = FreshDir();
  const std::string run_a = Train(dir, {});
  // (The later output.dir wins: this run is in run2.)
  const std::string run_b = Train(dir, {"embedding.method=int8", "output.dir=" + dir + "/run2"});
  ASSERT_FALSE(run_a.empty());
  ASSERT_FALSE(run_b.empty());
  for (const auto& [name, run] :
       {std::pair<std::string, std::string>{"a", dir + "/run"}, {"b", dir + "/run2"}}) {
    CliResult c = RunEcps(
        {"checkpoint", "convert", "--out", dir + "/" + name + ".bundle", run + "/best.ckpt"}, dir);
    ASSERT_EQ(c.exit_code, 0) << c.err;
    CliResult p = RunEcps({"predict", "--model", dir + "/" + name + ".bundle", "--max-rows", "16",
                           "--out", dir + "/" + name + ".txt", "--progress", "none"},
                          dir);
    ASSERT_EQ(p.exit_code, 0) << p.err;
  }
  const std::vector<std::string> want_a = PredictLines(dir + "/a.txt");
  const std::vector<std::string> want_b = PredictLines(dir + "/b.txt");
  ASSERT_NE(want_a, want_b);
  const std::string served = dir + "/served.bundle";
  auto place = [&](const std::string& from) {  // atomically, as a deploy would
    fs::copy_file(from, served + ".tmp", fs::copy_options::overwrite_existing);
    fs::rename(served + ".tmp", served);
  };
  place(dir + "/a.bundle");
  ServeProcess server(dir, {"--model", served, "--threads", "2"});
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.out() << server.err();
  auto data = Dataset::Open(CacheOf(dir));
  ASSERT_TRUE(data.ok()) << data.status();
  const std::string body = RowsJson(**data, 0, 16);

  std::atomic<bool> done{false};
  int sent = 0, failed = 0, mixed = 0;
  std::thread client([&] {
    while (!done.load()) {
      const Reply r = Request(port, http::verb::post, "/v1/predict", body);
      ++sent;
      if (r.status != 200) {
        ++failed;
        continue;
      }
      const std::vector<std::string> got = ScoreLines(r);
      if (got != want_a && got != want_b) ++mixed;
    }
  });
  auto health = [&] {
    return nlohmann::json::parse(Request(port, http::verb::get, "/healthz").body);
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  place(dir + "/b.bundle");
  Reply r = Request(port, http::verb::post, "/admin/reload");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["version"], 2);
  EXPECT_EQ(nlohmann::json::parse(r.body)["method"], "int8");
  EXPECT_EQ(ScoreLines(Request(port, http::verb::post, "/v1/predict", body)), want_b);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  // SIGHUP does the same.
  place(dir + "/a.bundle");
  ASSERT_EQ(kill(server.pid(), SIGHUP), 0);
  for (int i = 0; i < 100 && health()["version"] != 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(health()["version"], 3);
  EXPECT_EQ(health()["method"], "full");
  EXPECT_EQ(ScoreLines(Request(port, http::verb::post, "/v1/predict", body)), want_a);
  // A damaged file is refused: 409, the old model serves on.
  { std::ofstream(served, std::ios::trunc) << "ECPSBNDL damaged"; }
  r = Request(port, http::verb::post, "/admin/reload");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("reload_failed"), std::string::npos) << r.body;
  EXPECT_EQ(health()["version"], 3);
  EXPECT_EQ(ScoreLines(Request(port, http::verb::post, "/v1/predict", body)), want_a);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  done.store(true);
  client.join();
  EXPECT_GT(sent, 10);
  EXPECT_EQ(failed, 0) << "of " << sent;
  EXPECT_EQ(mixed, 0) << "of " << sent;
  EXPECT_EQ(Request(port, http::verb::get, "/admin/reload").status, 405);
  const std::string metrics = Request(port, http::verb::get, "/metrics").body;
  EXPECT_EQ(Metric(metrics, "ecps_serve_reloads_total{result=\"ok\"}"), 2);
  EXPECT_EQ(Metric(metrics, "ecps_serve_reloads_total{result=\"failed\"}"), 1);
  EXPECT_EQ(Metric(metrics, "ecps_serve_model_version"), 3);
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

// --max-connections: a connection beyond the limit gets 503 naming it; once
// the others close, requests are served again. /healthz and /metrics report
// the process's resident memory next to the model's.
TEST(ServeTest, ConnectionsBeyondTheLimitGet503) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, {});
  ASSERT_FALSE(run.empty());
  ServeProcess server(dir, {"--model", run + "/best.ckpt", "--max-connections", "2"});
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.out() << server.err();
  {
    net::io_context ioc;
    std::vector<tcp::socket> idle;
    for (int i = 0; i < 2; ++i) {
      idle.emplace_back(ioc);
      idle.back().connect(
          tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // both accepted
    const Reply r = Request(port, http::verb::get, "/healthz");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_NE(r.body.find("--max-connections 2"), std::string::npos) << r.body;
  }  // the idle connections close
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    status = Request(port, http::verb::get, "/healthz").status;
  }
  EXPECT_EQ(status, 200);
  const nlohmann::json h = nlohmann::json::parse(Request(port, http::verb::get, "/healthz").body);
  EXPECT_GT(h["resident_bytes"].get<uint64_t>(), h["inference_memory_bytes"].get<uint64_t>());
  const std::string m = Request(port, http::verb::get, "/metrics").body;
  EXPECT_GT(Metric(m, "ecps_serve_resident_bytes"), 0);
  EXPECT_EQ(Metric(m, "ecps_serve_errors_total{kind=\"overloaded\"}"), 1);
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

// --batch-wait-us: single-row requests of concurrent connections share
// forward passes (fewer passes than requests), each answer still its own
// row's score (equal to predict's to float rounding).
TEST(ServeTest, ConcurrentRequestsAreBatchedIntoFewerPasses) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, {});
  ASSERT_FALSE(run.empty());
  CliResult p = RunEcps({"predict", "--model", run + "/best.ckpt", "--max-rows", "8", "--out",
                         dir + "/p.txt", "--progress", "none"},
                        dir);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const std::vector<std::string> want = PredictLines(dir + "/p.txt");
  ServeProcess server(dir, {"--model", run + "/best.ckpt", "--threads", "4", "--batch-wait-us",
                            "20000", "--max-batch-rows", "64"});
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.out() << server.err();
  auto data = Dataset::Open(CacheOf(dir));
  ASSERT_TRUE(data.ok()) << data.status();
  constexpr int kClients = 8, kEach = 5;
  std::vector<std::string> bodies;
  for (int c = 0; c < kClients; ++c) bodies.push_back(RowsJson(**data, c, 1));
  std::atomic<int> ok{0}, off{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      for (int k = 0; k < kEach; ++k) {
        const Reply r = Request(port, http::verb::post, "/v1/predict", bodies[c]);
        if (r.status != 200) continue;
        ++ok;
        const std::vector<std::string> got = ScoreLines(r);
        if (got.size() != 1 || std::abs(std::stod(got[0]) - std::stod(want[c])) > 1e-6) ++off;
      }
    });
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kEach);
  EXPECT_EQ(off.load(), 0);
  // A bad body is answered at once, as without batching.
  EXPECT_EQ(Request(port, http::verb::post, "/v1/predict", "[").status, 400);
  const std::string m = Request(port, http::verb::get, "/metrics").body;
  EXPECT_EQ(Metric(m, "ecps_serve_rows_total"), kClients * kEach);
  const double passes = Metric(m, "ecps_serve_forward_passes_total");
  EXPECT_GE(passes, 1);
  EXPECT_LT(passes, kClients * kEach);
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

// The generated text file the run's cache was built from.
std::string TextOf(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir + "/data"))
    if (e.path().extension() == ".txt") return e.path().string();
  return "";
}

// Lines [first, first + n) of a text file, each with its newline.
std::vector<std::string> FileLines(const std::string& path, uint64_t first, uint64_t n) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  for (uint64_t i = 0; std::getline(in, line) && out.size() < n; ++i)
    if (i >= first) out.push_back(line);
  return out;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  return text;
}

// Issue 19: raw Criteo lines, posted as text or as {"lines"} and given to
// predict as a file, score as the cache rows they became (to the bit, in the
// same batches) and as the training job's test evaluation; a value the
// training data did not have scores as its field's OOV id; the bundle's
// vocabulary is refused when damaged or of other data.
TEST(ServeTest, RawLinesScoreAsTheirCacheRows) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, {});
  ASSERT_FALSE(run.empty());
  const std::string cache = CacheOf(dir), text = TextOf(dir);
  ASSERT_FALSE(cache.empty());
  ASSERT_FALSE(text.empty());
  ASSERT_TRUE(fs::exists(cache + ".vocab"));
  CliResult c = RunEcps(
      {"checkpoint", "convert", "--json", "--out", dir + "/m.bundle", run + "/best.ckpt"}, dir);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(nlohmann::json::parse(c.out)["vocabulary"], true);
  CliResult h = RunEcps({"checkpoint", "inspect", "--json", dir + "/m.bundle"}, dir);
  ASSERT_EQ(h.exit_code, 0) << h.err;
  const nlohmann::json header = nlohmann::json::parse(h.out);
  EXPECT_EQ(header["vocabulary"]["format"], "criteo");
  EXPECT_EQ(header["vocabulary"]["fields"], 26);

  // The test split is the first half of day 7 (split days): the lines after
  // the train rows, in file order (gen-data writes no header).
  auto data = Dataset::Open(cache);
  ASSERT_TRUE(data.ok()) << data.status();
  const uint64_t train = (*data)->NumRows(Split::kTrain), test = (*data)->NumRows(Split::kTest);
  ASSERT_GT(test, 64u);
  const std::vector<std::string> lines = FileLines(text, train, test);
  ASSERT_EQ(lines.size(), test);
  ASSERT_TRUE(AtomicWriteFile(dir + "/test.txt", Joined(lines)).ok());
  std::vector<std::string> first64(lines.begin(), lines.begin() + 64);
  ASSERT_TRUE(AtomicWriteFile(dir + "/test64.txt", Joined(first64)).ok());

  // predict: the raw file of the whole split equals the cache's split and
  // the training job's test evaluation.
  auto results = ReadFile(run + "/results.json");
  ASSERT_TRUE(results.ok());
  const nlohmann::json res = nlohmann::json::parse(*results);
  CliResult raw = RunEcps({"predict", "--model", dir + "/m.bundle", "--input", dir + "/test.txt",
                           "--out", dir + "/raw.txt", "--json", "--progress", "none"},
                          dir);
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  CliResult cached = RunEcps({"predict", "--model", dir + "/m.bundle", "--out", dir + "/cached.txt",
                              "--json", "--progress", "none"},
                             dir);
  ASSERT_EQ(cached.exit_code, 0) << cached.err;
  const nlohmann::json rj = nlohmann::json::parse(raw.out);
  EXPECT_EQ(rj["raw_lines"], true);
  EXPECT_EQ(rj["rows"].get<uint64_t>(), test);
  EXPECT_EQ(ReadFile(dir + "/raw.txt").value_or("r"), ReadFile(dir + "/cached.txt").value_or("c"));
  EXPECT_NEAR(rj["auc"].get<double>(), res["test_auc"].get<double>(), 1e-12);
  EXPECT_NEAR(rj["logloss"].get<double>(), res["test_logloss"].get<double>(), 1e-9);
  // The checkpoint scores raw lines too (its cache's vocabulary).
  CliResult ck = RunEcps({"predict", "--model", run + "/best.ckpt", "--input", dir + "/test.txt",
                          "--out", dir + "/ck.txt", "--progress", "none"},
                         dir);
  ASSERT_EQ(ck.exit_code, 0) << ck.err;
  EXPECT_EQ(ReadFile(dir + "/ck.txt").value_or("k"), ReadFile(dir + "/cached.txt").value_or("c"));
  CliResult p64 = RunEcps({"predict", "--model", dir + "/m.bundle", "--input", dir + "/test64.txt",
                           "--out", dir + "/p64.txt", "--progress", "none"},
                          dir);
  ASSERT_EQ(p64.exit_code, 0) << p64.err;
  const std::vector<std::string> want = PredictLines(dir + "/p64.txt");
  ASSERT_EQ(want.size(), 64u);
  // The cache's first 64 test rows in one batch too (another batch shape
  // rounds differently): the same lines.
  CliResult c64 = RunEcps({"predict", "--model", dir + "/m.bundle", "--max-rows", "64", "--out",
                           dir + "/c64.txt", "--progress", "none"},
                          dir);
  ASSERT_EQ(c64.exit_code, 0) << c64.err;
  EXPECT_EQ(want, PredictLines(dir + "/c64.txt"));

  ServeProcess server(dir, {"--model", dir + "/m.bundle", "--max-rows", "64"});
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.out() << server.err();
  Reply r = Request(port, http::verb::post, "/v1/predict", Joined(first64), "text/plain");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ScoreLines(r), want);  // the 64 cache rows in one batch, to the bit
  r = Request(port, http::verb::post, "/v1/predict", nlohmann::json{{"lines", first64}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ScoreLines(r), want);
  EXPECT_EQ(nlohmann::json::parse(Request(port, http::verb::get, "/healthz").body)["raw_lines"],
            true);

  // An unseen value: C1 (column 14) of the first line replaced by a hex
  // value no generated row has, which scores as the row with C1's OOV id 0.
  std::vector<std::string> cols = absl::StrSplit(first64[0], '\t');
  ASSERT_EQ(cols.size(), 40u);
  cols[14] = "fffffffffffffff1";
  const std::string unseen = absl::StrJoin(cols, "\t");
  nlohmann::json oov_row = nlohmann::json::parse(RowsJson(**data, 0, 1));
  oov_row["rows"][0]["sparse"][0] = 0;
  Reply a = Request(port, http::verb::post, "/v1/predict", unseen + "\n", "text/plain");
  Reply b = Request(port, http::verb::post, "/v1/predict", oov_row.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(ScoreLines(a), ScoreLines(b));
  if (nlohmann::json::parse(RowsJson(**data, 0, 1))["rows"][0]["sparse"][0] != 0) {
    EXPECT_NE(ScoreLines(a)[0], want[0]);  // it did change the row
  }
  // Bad lines: 400 naming the line and the reason.
  r = Request(port, http::verb::post, "/v1/predict", first64[0] + "\n1\t2\n", "text/plain");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("line 2"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("wrong_column_count"), std::string::npos) << r.body;
  r = Request(port, http::verb::post, "/v1/predict", nlohmann::json{{"lines", {1}}}.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("lines[0]"), std::string::npos) << r.body;
  std::vector<std::string> many(65, first64[0]);
  r = Request(port, http::verb::post, "/v1/predict", Joined(many), "text/plain");
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(server.Stop(), 0) << server.err();

  // The vocabulary beside the cache damaged, then of other data: convert
  // refuses either, naming the file.
  const std::string vocab = cache + ".vocab";
  const std::string good = ReadFile(vocab).value_or("");
  ASSERT_FALSE(good.empty());
  std::string damaged = good;
  damaged[damaged.size() / 2] ^= 0x40;
  ASSERT_TRUE(AtomicWriteFile(vocab, damaged).ok());
  c = RunEcps({"checkpoint", "convert", "--out", dir + "/d.bundle", run + "/best.ckpt"}, dir);
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.err.find(vocab), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("checksum"), std::string::npos) << c.err;
  auto other = VocabularyTable::Decode(good, "test");
  ASSERT_TRUE(other.ok()) << other.status();
  other->identity_digest = "0123456789abcdef";
  ASSERT_TRUE(WriteVocabularyFile(vocab, *other).ok());
  c = RunEcps({"checkpoint", "convert", "--out", dir + "/d.bundle", run + "/best.ckpt"}, dir);
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.err.find("0123456789abcdef"), std::string::npos) << c.err;
  EXPECT_FALSE(fs::exists(dir + "/d.bundle"));
  // Without one the bundle converts and says raw lines cannot be scored.
  fs::remove(vocab);
  c = RunEcps({"checkpoint", "convert", "--out", dir + "/n.bundle", run + "/best.ckpt"}, dir);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.err.find("no vocabulary"), std::string::npos) << c.err;
  raw = RunEcps({"predict", "--model", dir + "/n.bundle", "--input", dir + "/test64.txt", "--out",
                 dir + "/n.txt", "--progress", "none"},
                dir);
  EXPECT_EQ(raw.exit_code, 1);
  EXPECT_NE(raw.err.find("no vocabulary"), std::string::npos) << raw.err;
}

// --bind HOST:PORT, the form of --host and --port.
TEST(ServeTest, BindTakesHostAndPort) {
  const std::string dir = FreshDir();
  const std::string run = Train(dir, {});
  ASSERT_FALSE(run.empty());
  ServeProcess server(dir, {"--model", run + "/best.ckpt", "--bind", "127.0.0.1:0"});
  const int port = server.WaitForPort();
  ASSERT_GT(port, 0) << server.out() << server.err();
  EXPECT_EQ(Request(port, http::verb::get, "/healthz").status, 200);
  EXPECT_EQ(server.Stop(), 0) << server.err();
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--bind", "127.0.0.1"},
                                              {"--bind", "127.0.0.1:99999"},
                                              {"--bind", "127.0.0.1:0", "--port", "0"}}) {
    std::vector<std::string> args = {"serve", "--model", run + "/best.ckpt"};
    args.insert(args.end(), bad.begin(), bad.end());
    CliResult r = RunEcps(args, dir);
    EXPECT_EQ(r.exit_code, 2) << bad[1];
    EXPECT_NE(r.err.find("--bind"), std::string::npos) << r.err;
  }
}

TEST(ServeTest, BadUsageAndAMissingModelExitTwo) {
  const std::string dir = FreshDir();
  EXPECT_EQ(RunEcps({"serve"}, dir).exit_code, 2);
  EXPECT_EQ(RunEcps({"serve", "--model", dir + "/none.bundle"}, dir).exit_code, 2);
  CliResult r = RunEcps({"serve", "--model", dir + "/x", "--port", "70000"}, dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--port"), std::string::npos) << r.err;
  r = RunEcps({"serve", "--help"}, dir);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("/v1/predict"), std::string::npos);
}

}  // namespace
}  // namespace ecps::bench::testing
