// `ecps vectors compress | eval | methods` (docs/cli.md): compression of
// fixed retrieval embeddings, docs/methods.md §6. Parsing and printing only;
// the codecs and the evaluation are in vectors/.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/commands.h"
#include "vectors/codec.h"
#include "vectors/eval.h"
#include "vectors/generate.h"
#include "vectors/vector_io.h"

namespace ecps::tools {
namespace {

constexpr char kUsage[] =
    "usage: ecps vectors compress --in X --method M --budget B --out FILE [options]\n"
    "       ecps vectors eval --original X --compressed FILE --queries Q [--k 10] [--json]\n"
    "       ecps vectors methods\n"
    "       ecps vectors gen --kind sift|lowrank --n N --dim D --out X.npy [options]\n"
    "\n"
    "Compresses a fixed float32 matrix (retrieval embeddings; docs/methods.md §6) into a\n"
    "self-describing file, and measures it against the original: recall@k of exact search\n"
    "over the decoded vectors against exact search over the originals, reconstruction MSE,\n"
    "compression time, batched decode latency (batches of 1024 random ids, 5 warm-up, mean\n"
    "of 95), memory and the real ratio. X and Q are .npy (float32, C order), .fvecs or TSV\n"
    "(.tsv/.txt: one vector per line, tab-separated, optionally followed by an integer id).\n"
    "\n"
    "compress options:\n"
    "  --in X          the matrix to compress\n"
    "  --method M      int8, int16, pq, svd, pruning, magpq, magsvd, tt, rabitq, dedup\n"
    "                  (ecps vectors methods)\n"
    "  --budget B      memory as a fraction of float32: 0.1 or 10%; a budget the method\n"
    "                  cannot reach is built at its nearest ratio and reported as such\n"
    "  --out FILE      the compressed file (docs/formats.md \"Compressed vectors\")\n"
    "  --param K=V     a method parameter (repeatable; docs/methods.md §6 lists them)\n"
    "  --dim D         the dimension of a TSV input (needed when its lines end in an id)\n"
    "  --seed S        seed of sampling and stochastic rounding (default 1)\n"
    "  --threads T     threads of k-means (default 1)\n"
    "eval options:\n"
    "  --original X    the matrix FILE was compressed from (checked by checksum)\n"
    "  --compressed F  the compressed file\n"
    "  --queries Q     the query vectors\n"
    "  --k K           neighbours per query (default 10)\n"
    "  --json          print one JSON object\n"
    "gen options (docs/methods.md §6, \"Generated sets\"; also writes X.queries.npy):\n"
    "  --kind K        sift (SIFT-like descriptors, 0..255) or lowrank (low rank plus noise,\n"
    "                  clustered)\n"
    "  --n N --dim D   the base set's shape\n"
    "  --queries Q     query vectors from the same distribution (default 1000)\n"
    "  --clusters C    mixture components (default 256)\n"
    "  --rank R        lowrank: the latent dimension (default 64)\n"
    "  --noise S       lowrank: noise norm over signal norm (default 0.2)\n"
    "  --seed S        (default 0)\n"
    "\n"
    "exit codes: 0 success, 1 runtime failure (a corrupt compressed file), 2 bad usage or\n"
    "input (the message names the flag or the file).\n";

int Fail(const std::string& verb, const Status& s) {
  std::cerr << "ecps vectors " << verb << ": " << s.message() << "\n";
  const auto code = s.code();
  return code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound
             ? kExitUsage
             : kExitFailure;
}

// --flag value / --flag=value pairs; repeatable flags keep every value.
struct Flags {
  std::map<std::string, std::vector<std::string>> values;
  std::string Get(const std::string& f) const {
    auto it = values.find(f);
    return it == values.end() ? "" : it->second.back();
  }
};

StatusOr<Flags> ParseFlags(const std::vector<std::string>& args,
                           const std::vector<std::string>& with_value,
                           const std::vector<std::string>& switches) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i], v;
    const size_t eq = a.find('=');
    const bool inline_value = a.rfind("--", 0) == 0 && eq != std::string::npos;
    if (inline_value) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    bool known = false;
    for (const std::string& s : switches)
      if (a == s && !inline_value) {
        flags.values[a].push_back("1");
        known = true;
      }
    for (const std::string& f : with_value)
      if (a == f) {
        if (!inline_value) {
          if (i + 1 >= args.size()) return InvalidArgument(a, " needs a value");
          v = args[++i];
        }
        flags.values[a].push_back(v);
        known = true;
      }
    if (!known) return InvalidArgument("unknown option '", args[i], "' (see --help)");
  }
  return flags;
}

StatusOr<double> ParseBudget(const std::string& s) {
  if (s.empty()) return InvalidArgument("--budget is required (e.g. 0.1 or 10%)");
  std::string t = s;
  double scale = 1;
  if (t.back() == '%') {
    t.pop_back();
    scale = 0.01;
  }
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || *end != '\0' || !(v * scale > 0 && v * scale <= 1))
    return InvalidArgument("--budget ", s, ": a fraction in (0, 1] or a percentage in (0%, 100%]");
  return v * scale;
}

StatusOr<int64_t> ParseInt(const std::string& flag, const std::string& s, int64_t def, int64_t lo,
                           int64_t hi) {
  if (s.empty()) return def;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (*end != '\0' || v < lo || v > hi)
    return InvalidArgument(flag, " ", s, ": an integer in [", lo, ", ", hi, "] expected");
  return v;
}

Status Require(const Flags& f, const std::vector<std::string>& names) {
  for (const std::string& n : names)
    if (f.Get(n).empty()) return InvalidArgument(n, " is required (see --help)");
  return OkStatus();
}

// A bar on a terminal, nothing otherwise (logs stay clean).
void Progress(double fraction) {
  static int last = -1;
  const int pct = static_cast<int>(fraction * 100);
  if (pct == last) return;
  last = pct;
  const int filled = pct * 30 / 100;
  std::fprintf(stderr, "\rcompressing [%.*s%*s] %3d%%", filled, "##############################",
               30 - filled, "", pct);
  if (pct >= 100) std::fputc('\n', stderr);
  std::fflush(stderr);
}

Status Compress(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(const Flags f, ParseFlags(args,
                                             {"--in", "--method", "--budget", "--out", "--param",
                                              "--dim", "--seed", "--threads"},
                                             {}));
  RETURN_IF_ERROR(Require(f, {"--in", "--method", "--out"}));
  vectors::CompressOptions o;
  ASSIGN_OR_RETURN(o.budget, ParseBudget(f.Get("--budget")));
  ASSIGN_OR_RETURN(const int64_t seed, ParseInt("--seed", f.Get("--seed"), 1, 0, INT64_MAX));
  ASSIGN_OR_RETURN(const int64_t threads, ParseInt("--threads", f.Get("--threads"), 1, 1, 256));
  ASSIGN_OR_RETURN(const int64_t dim, ParseInt("--dim", f.Get("--dim"), 0, 1, 1 << 20));
  o.seed = static_cast<uint64_t>(seed);
  o.threads = static_cast<int>(threads);
  if (auto it = f.values.find("--param"); it != f.values.end())
    for (const std::string& kv : it->second) RETURN_IF_ERROR(o.params.Add(kv));
  if (vectors::FindCodec(f.Get("--method")) == nullptr)
    return vectors::Compress({}, f.Get("--method"), o).status();  // names the methods
  vectors::ReadOptions ro;
  ro.dim = static_cast<int>(dim);
  ASSIGN_OR_RETURN(const vectors::VectorSet x, vectors::ReadVectors(f.Get("--in"), ro));
  if (::isatty(STDERR_FILENO)) o.progress = &Progress;
  const auto t0 = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(std::unique_ptr<vectors::VectorCodec> codec,
                   vectors::Compress(x, f.Get("--method"), o));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  vectors::CompressedHeader h;
  h.method = f.Get("--method");
  h.n = x.n;
  h.dim = x.dim;
  h.budget = o.budget;
  h.compress_seconds = seconds;
  h.source_checksum = vectors::SourceChecksum(x);
  RETURN_IF_ERROR(vectors::WriteCompressed(f.Get("--out"), h, *codec));
  std::printf("%s: %s %s, %llu x %d -> %llu B (ratio %.4f%% of float32, budget %.4f%%%s), %.3f s\n",
              f.Get("--out").c_str(), h.method.c_str(), codec->Params().c_str(),
              static_cast<unsigned long long>(x.n), x.dim,
              static_cast<unsigned long long>(codec->MemoryBytes()), 100 * codec->Ratio(),
              100 * o.budget, codec->Ratio() > o.budget * (1 + 1e-9) ? ": unreachable" : "",
              seconds);
  return OkStatus();
}

Status Eval(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(
      const Flags f,
      ParseFlags(args, {"--original", "--compressed", "--queries", "--k", "--seed"}, {"--json"}));
  RETURN_IF_ERROR(Require(f, {"--original", "--compressed", "--queries"}));
  ASSIGN_OR_RETURN(const int64_t k, ParseInt("--k", f.Get("--k"), 10, 1, 100000));
  ASSIGN_OR_RETURN(const int64_t seed, ParseInt("--seed", f.Get("--seed"), 0, 0, INT64_MAX));
  const std::string cpath = f.Get("--compressed"), opath = f.Get("--original");
  ASSIGN_OR_RETURN(const vectors::CompressedFile c, vectors::ReadCompressed(cpath));
  vectors::ReadOptions ro;
  ro.dim = c.header.dim;
  ASSIGN_OR_RETURN(const vectors::VectorSet x, vectors::ReadVectors(opath, ro));
  if (x.n != c.header.n)
    return InvalidArgument(opath, ": ", x.n, " vectors, but ", cpath, " holds ", c.header.n);
  if (vectors::SourceChecksum(x) != c.header.source_checksum)
    return InvalidArgument(cpath, " was compressed from other vectors than ", opath,
                           " (checksums differ)");
  ASSIGN_OR_RETURN(const vectors::VectorSet q, vectors::ReadVectors(f.Get("--queries"), ro));
  if (k > static_cast<int64_t>(x.n))
    return InvalidArgument("--k ", k, ": more than the ", x.n, " vectors");
  vectors::EvalOptions eo;
  eo.k = static_cast<int>(k);
  eo.seed = static_cast<uint64_t>(seed);
  const vectors::EvalReport r = vectors::Evaluate(x, *c.codec, q, eo);
  const bool reached = r.ratio <= c.header.budget * (1 + 1e-9);
  if (!f.Get("--json").empty()) {
    nlohmann::json j = {{"method", c.header.method},
                        {"params", c.codec->Params()},
                        {"n", x.n},
                        {"dim", x.dim},
                        {"queries", q.n},
                        {"k", k},
                        {"budget", c.header.budget},
                        {"budget_reached", reached},
                        {"ratio", r.ratio},
                        {"memory_bytes", r.memory_bytes},
                        {"recall_at_k", r.recall},
                        {"mse", r.mse},
                        {"rel_mse", r.rel_mse},
                        {"compress_s", c.header.compress_seconds},
                        {"decode_us_per_batch", r.decode_us_per_batch},
                        {"decode_ns_per_vector", r.decode_ns_per_vector}};
    std::cout << j.dump() << "\n";
    return OkStatus();
  }
  std::printf(
      "method           %s (%s)\n"
      "vectors          %llu x %d, %llu queries\n"
      "memory           %llu B = %.4f%% of float32 (budget %.4f%%%s)\n"
      "recall@%-9lld %.4f\n"
      "mse              %.6g (relative %.4g)\n"
      "compression      %.3f s\n"
      "decode           %.1f us per batch of %d, %.1f ns per vector\n",
      c.header.method.c_str(), c.codec->Params().c_str(), static_cast<unsigned long long>(x.n),
      x.dim, static_cast<unsigned long long>(q.n), static_cast<unsigned long long>(r.memory_bytes),
      100 * r.ratio, 100 * c.header.budget, reached ? "" : ", unreachable: the real ratio",
      static_cast<long long>(k), r.recall, r.mse, r.rel_mse, c.header.compress_seconds,
      r.decode_us_per_batch, eo.batch, r.decode_ns_per_vector);
  return OkStatus();
}

Status Gen(const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(const Flags f, ParseFlags(args,
                                             {"--kind", "--n", "--dim", "--out", "--queries",
                                              "--clusters", "--rank", "--noise", "--seed"},
                                             {}));
  RETURN_IF_ERROR(Require(f, {"--kind", "--n", "--dim", "--out"}));
  vectors::GenerateOptions o;
  o.kind = f.Get("--kind");
  ASSIGN_OR_RETURN(const int64_t n, ParseInt("--n", f.Get("--n"), 0, 1, (int64_t{1} << 32) - 1));
  ASSIGN_OR_RETURN(const int64_t dim, ParseInt("--dim", f.Get("--dim"), 0, 1, 1 << 16));
  ASSIGN_OR_RETURN(const int64_t q, ParseInt("--queries", f.Get("--queries"), 1000, 1, 1 << 24));
  ASSIGN_OR_RETURN(const int64_t k, ParseInt("--clusters", f.Get("--clusters"), 256, 1, 1 << 24));
  ASSIGN_OR_RETURN(const int64_t rank, ParseInt("--rank", f.Get("--rank"), 64, 1, 1 << 16));
  ASSIGN_OR_RETURN(const int64_t seed, ParseInt("--seed", f.Get("--seed"), 0, 0, INT64_MAX));
  if (!f.Get("--noise").empty()) {
    char* end = nullptr;
    o.noise = std::strtod(f.Get("--noise").c_str(), &end);
    if (*end != '\0' || !(o.noise >= 0))
      return InvalidArgument("--noise ", f.Get("--noise"), ": a number >= 0 expected");
  }
  const std::string out = f.Get("--out");
  if (out.size() < 4 || out.compare(out.size() - 4, 4, ".npy") != 0)
    return InvalidArgument("--out ", out, ": must end in .npy (the queries go to X.queries.npy)");
  o.n = static_cast<uint64_t>(n);
  o.dim = static_cast<int>(dim);
  o.queries = static_cast<uint64_t>(q);
  o.clusters = static_cast<int>(k);
  o.rank = static_cast<int>(rank);
  o.seed = static_cast<uint64_t>(seed);
  ASSIGN_OR_RETURN(const vectors::GeneratedSet g, vectors::Generate(o));
  const std::string qpath = out.substr(0, out.size() - 4) + ".queries.npy";
  RETURN_IF_ERROR(vectors::WriteVectors(out, g.base));
  RETURN_IF_ERROR(vectors::WriteVectors(qpath, g.queries));
  std::printf("wrote %s (%llu x %d, %s) and %s (%llu queries)\n", out.c_str(),
              static_cast<unsigned long long>(o.n), o.dim, o.kind.c_str(), qpath.c_str(),
              static_cast<unsigned long long>(o.queries));
  return OkStatus();
}

}  // namespace

int RunVectors(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const std::string& a : rest)
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
  if (args[0] == "compress") {
    const Status s = Compress(rest);
    return s.ok() ? kExitOk : Fail("compress", s);
  }
  if (args[0] == "eval") {
    const Status s = Eval(rest);
    return s.ok() ? kExitOk : Fail("eval", s);
  }
  if (args[0] == "gen") {
    const Status s = Gen(rest);
    return s.ok() ? kExitOk : Fail("gen", s);
  }
  if (args[0] == "methods") {
    for (const vectors::CodecInfo& c : vectors::Codecs())
      std::printf("%-8.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                  static_cast<int>(c.description.size()), c.description.data());
    return kExitOk;
  }
  std::cerr << "ecps vectors: unknown subcommand '" << args[0]
            << "' (try: compress, eval, methods, gen)\n";
  return kExitUsage;
}

}  // namespace ecps::tools
