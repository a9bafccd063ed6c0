#include "tools/checkpoint_verify.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/blob.h"
#include "common/file_util.h"
#include "common/params.h"
#include "compressors/registry.h"
#include "embedding/embedding_layer.h"
#include "embedding/row_codec.h"
#include "embedding/row_store.h"
#include "scheduler/checkpoint_manifest.h"
#include "worker/checkpoint.h"
#include "worker/data/cache_identity.h"
#include "worker/train_config.h"

namespace ecps::tools {
namespace {

namespace fs = std::filesystem;

constexpr char kManifestMagic[] = "ECPSMANI";

bool StartsWith(const std::string& bytes, const char* magic, size_t n) {
  return bytes.size() >= n && bytes.compare(0, n, magic, n) == 0;
}

// The sparse optimizer a run used, from its effective config (YAML): a row
// store blob loads only into a store of the same optimizer kind. The config
// is checked as `ecps train` checks a config file (FlattenYaml's limits, every
// known key's type and bounds: a crafted section with `? [a, b]`, an alias
// bomb or optimizer.eps=nan is a problem named here, not a crash). Keys this
// build does not know (a removed one) are left alone, as --resume does.
StatusOr<SparseOptimizerKind> OptimizerOf(const std::string& yaml, const std::string& origin) {
  ASSIGN_OR_RETURN(auto flat, FlattenYaml(yaml, origin));
  for (const auto& [key, value] : flat)
    if (const ParamSpec* spec = TrainConfigSchema().Find(key))
      RETURN_IF_ERROR(Annotate(CheckParamValue(*spec, value), origin));
  auto it = flat.find("optimizer.sparse");
  if (it == flat.end()) return DataLoss(origin, " names no optimizer.sparse");
  return ParseSparseOptimizer(it->second);
}

// Decodes the row-store blobs of one checkpoint (every virtual shard, or the
// single store) and adds up their tables.
class TableTotals {
 public:
  explicit TableTotals(CheckpointSummary* s) : s_(s) {}

  // `file` names the blob's file in problems; `vshard` is its virtual shard
  // of `num_vshards` (0 of 1 for a single-process store). The blob is read
  // from `blob` a chunk at a time and only described (DescribeRowStore: its
  // rows are checked and checksummed, not kept), so a table larger than
  // memory verifies.
  void Add(const std::string& file, ByteSource* blob, SparseOptimizerKind kind, int vshard,
           int num_vshards) {
    auto contents = DescribeRowStore(blob, kind);
    if (!contents.ok()) {
      s_->problems.push_back(absl::StrCat("checkpoint part '", file,
                                          "' does not decode: ", contents.status().message()));
      return;
    }
    const std::vector<RowTableSpec>& specs = contents->tables;
    if (first_file_.empty()) {
      first_file_ = file;
      for (const RowTableSpec& t : specs) {
        VerifiedTable v{t.name, DTypeName(t.dtype), t.width, 0, 0, {}, {}};
        v.shard_rows.assign(std::max(1, num_vshards), 0);
        v.shard_bytes.assign(std::max(1, num_vshards), 0);
        s_->tables.push_back(std::move(v));
      }
    }
    bool same = specs.size() == s_->tables.size();
    for (size_t t = 0; same && t < specs.size(); ++t)
      same = specs[t].name == s_->tables[t].name && specs[t].width == s_->tables[t].width &&
             DTypeName(specs[t].dtype) == s_->tables[t].dtype;
    if (!same) {
      s_->problems.push_back(
          absl::StrCat("checkpoint part '", file, "' holds other tables than '", first_file_, "'"));
      return;
    }
    for (size_t t = 0; t < specs.size(); ++t) {
      const uint64_t bytes = specs[t].rows * StoredRowBytes(specs[t]);
      s_->tables[t].rows += specs[t].rows;
      s_->tables[t].bytes += bytes;
      if (vshard >= 0 && static_cast<size_t>(vshard) < s_->tables[t].shard_rows.size()) {
        s_->tables[t].shard_rows[vshard] += specs[t].rows;
        s_->tables[t].shard_bytes[vshard] += bytes;
      }
      s_->parameter_bytes += bytes;
    }
    s_->optimizer_bytes += contents->optimizer_bytes;
  }

 private:
  CheckpointSummary* s_;
  std::string first_file_;
};

// The trainer's sections of a checkpoint file (the single-process checkpoint,
// or a cluster's dense part): position, method and, when the rows are in it,
// the store blob, streamed to `rows` (returns whether there were rows).
bool ReadTrainerSections(const std::string& file, const CheckpointReader& r, CheckpointSummary* s,
                         const std::function<void(ByteSource* rows)>& rows) {
  auto problem = [&](const Status& st) { s->problems.push_back(std::string(st.message())); };
  auto stat = r.Get("STAT");
  if (!stat.ok()) {
    problem(stat.status());
  } else {
    try {
      const nlohmann::json j = nlohmann::json::parse(*stat);
      s->stage = j.at("stage").get<int>();
      s->epoch = j.at("epoch").get<int64_t>();
      s->step_in_epoch = j.at("step_in_epoch").get<int64_t>();
      s->step = j.at("total_steps").get<int64_t>();
      if (j.contains("git_commit")) s->git_commit = j.at("git_commit").get<std::string>();
      if (j.contains("key_stats") && j.at("key_stats").is_object())
        s->key_stats = j.at("key_stats").dump();
    } catch (const std::exception& e) {
      problem(DataLoss("checkpoint '", file, "': trainer state (STAT) is unreadable: ", e.what()));
    }
  }
  if (r.Has("DATA")) {
    try {
      const nlohmann::json j = nlohmann::json::parse(*r.Get("DATA"));
      s->train_rows = j.at("train_rows").get<uint64_t>();
      s->val_rows = j.at("val_rows").get<uint64_t>();
      s->test_rows = j.at("test_rows").get<uint64_t>();
      s->features = j.at("features").get<uint64_t>();
      s->data_digest = j.at("identity_digest").get<std::string>();
      s->has_data = true;
    } catch (const std::exception& e) {
      problem(
          DataLoss("checkpoint '", file, "': its training data (DATA) is unreadable: ", e.what()));
    }
  }
  auto embd = r.OpenSection("EMBD");
  if (!embd.ok()) {
    problem(embd.status());
    return false;
  }
  bool had_rows = false;
  auto saved = ReadEmbeddingBlob(embd->get(), [&](ByteSource* src) {
    had_rows = true;
    rows(src);
    // Whatever the rows' reader left (it stopped at a problem of its own).
    std::string rest(std::min<uint64_t>(src->remaining(), kStreamChunkBytes), '\0');
    while (src->remaining() > 0) {
      const size_t n = std::min<uint64_t>(src->remaining(), rest.size());
      RETURN_IF_ERROR(src->Read(rest.data(), n));
    }
    return OkStatus();
  });
  if (!saved.ok()) {
    problem(Annotate(saved.status(), "checkpoint '" + file + "' EMBD"));
    return had_rows;
  }
  s->method = saved->method;
  return had_rows;
}

void VerifyCluster(const std::string& path, const scheduler::CheckpointManifest& m,
                   CheckpointSummary* s) {
  s->format = "cluster";
  s->name = m.name;
  s->generation = m.generation;
  s->servers = m.servers;
  s->workers = m.workers;
  s->virtual_shards = m.virtual_shards;
  const std::string dir = fs::path(path).parent_path().string();
  s->config = m.config;
  auto kind = OptimizerOf(m.config, "checkpoint manifest '" + path + "' config");
  if (!kind.ok()) s->problems.push_back(std::string(kind.status().message()));
  // The manifest's own shape: every virtual shard once, one dense part.
  std::vector<int> seen(std::max(0, m.virtual_shards), 0);
  int dense_parts = 0;
  for (const scheduler::CheckpointPart& p : m.parts) {
    if (p.kind == "dense") ++dense_parts;
    if (p.kind == "shard" && p.vshard >= 0 && p.vshard < m.virtual_shards) ++seen[p.vshard];
  }
  for (int v = 0; v < m.virtual_shards; ++v)
    if (seen[v] != 1)
      s->problems.push_back(absl::StrCat("checkpoint manifest '", path, "' names virtual shard ", v,
                                         " ", seen[v], " times (expected once)"));
  if (dense_parts != 1)
    s->problems.push_back(absl::StrCat("checkpoint manifest '", path, "' names ", dense_parts,
                                       " dense parts (expected one)"));
  TableTotals totals(s);
  for (const scheduler::CheckpointPart& p : m.parts) {
    s->parts.push_back({p.file, p.kind, p.vshard, p.bytes});
    s->total_bytes += p.bytes;
    const std::string file = (fs::path(dir) / p.file).string();
    if (p.kind == "shard") {
      // A shard is as large as its rows: checked against the manifest and
      // described a chunk at a time, never held whole.
      auto digest = DigestFile(file);
      if (!digest.ok()) {
        s->problems.push_back(
            absl::StrCat("checkpoint part '", file,
                         "' named by the manifest is unreadable: ", digest.status().message()));
      } else if (digest->bytes != p.bytes) {
        s->problems.push_back(absl::StrCat("checkpoint part '", file, "' has ", digest->bytes,
                                           " bytes; the manifest says ", p.bytes));
      } else if (digest->checksum != p.checksum) {
        s->problems.push_back(
            absl::StrCat("checkpoint part '", file, "' is corrupted: checksum mismatch"));
      } else if (kind.ok()) {
        auto src = FileSource::Open(file);
        if (!src.ok()) {
          s->problems.push_back(std::string(src.status().message()));
        } else {
          totals.Add(file, src->get(), *kind, p.vshard, m.virtual_shards);
        }
      }
      continue;
    }
    // Missing, truncated (size) or damaged (checksum): DataLoss naming the file.
    auto bytes = scheduler::ReadPart(dir, p);
    if (!bytes.ok()) {
      s->problems.push_back(std::string(bytes.status().message()));
      continue;
    }
    if (p.kind == "dense") {
      auto r = CheckpointReader::Parse(file, *bytes);
      if (!r.ok()) {
        s->problems.push_back(std::string(r.status().message()));
        continue;
      }
      // A cluster's rows are in the shards.
      ReadTrainerSections(file, *r, s, [](ByteSource*) {});
    }
  }
}

// Read the way a resume reads it (CheckpointReader::Open: every chunk
// verified, the large sections left in the file) and its rows described
// straight from the file, so verifying holds no table-sized buffer.
void VerifySingle(const std::string& path, uint64_t size, CheckpointSummary* s) {
  s->format = "single-process";
  s->parts.push_back({fs::path(path).filename().string(), "checkpoint", -1, size});
  s->total_bytes = size;
  auto r = CheckpointReader::Open(path);
  if (!r.ok()) {
    s->problems.push_back(std::string(r.status().message()));
    return;
  }
  auto conf = r->Get("CONF");
  if (!conf.ok()) {
    s->problems.push_back(std::string(conf.status().message()));
    ReadTrainerSections(path, *r, s, [](ByteSource*) {});
    return;
  }
  s->config = std::string(*conf);
  auto kind = OptimizerOf(std::string(*conf), "checkpoint '" + path + "' (CONF)");
  if (!kind.ok()) s->problems.push_back(std::string(kind.status().message()));
  TableTotals totals(s);
  const bool had_rows = ReadTrainerSections(path, *r, s, [&](ByteSource* rows) {
    if (kind.ok()) totals.Add(path, rows, *kind, 0, 1);
  });
  if (kind.ok() && !had_rows && r->Has("EMBD"))
    s->problems.push_back(absl::StrCat("checkpoint '", path, "' holds no embedding rows"));
}

// What inspect shows of the config: budget, model, dim and the method's stage
// names. The config was checked by OptimizerOf (its problems are named there),
// so a key that does not read here is simply left out.
void ReadConfigFacts(CheckpointSummary* s) {
  if (s->config.empty()) return;
  auto flat = FlattenYaml(s->config, "config");
  if (!flat.ok()) return;
  auto get = [&](const char* key) {
    auto it = flat->find(key);
    return it == flat->end() ? std::string() : it->second;
  };
  double budget = 0;
  if (absl::SimpleAtod(get("embedding.budget"), &budget)) s->budget = budget;
  int dim = 0;
  if (absl::SimpleAtoi(get("embedding.dim"), &dim)) s->dim = dim;
  s->model = get("model.name");
  const std::string method = s->method.empty() ? get("embedding.method") : s->method;
  if (FindCompressor(method) == nullptr) return;
  auto c = CreateCompressor(method);
  if (!c.ok()) return;
  for (const StageSpec& st : (*c)->Stages()) s->stage_names.push_back(st.name);
}

}  // namespace

StatusOr<CheckpointSummary> VerifyCheckpoint(const std::string& path) {
  if (!FileExists(path)) return NotFound("checkpoint '", path, "' does not exist");
  // The first bytes say which kind it is; a single-process checkpoint is
  // then read in chunks, a manifest (small) whole.
  ASSIGN_OR_RETURN(std::unique_ptr<FileSource> file, FileSource::Open(path));
  std::string bytes(std::min<uint64_t>(file->file_size(), 8), '\0');
  RETURN_IF_ERROR(file->Read(bytes.data(), bytes.size()));
  CheckpointSummary s;
  s.path = path;
  if (StartsWith(bytes, kManifestMagic, 8)) {
    ASSIGN_OR_RETURN(bytes, ReadFile(path));
    ASSIGN_OR_RETURN(scheduler::CheckpointManifest m, scheduler::DecodeManifest(path, bytes));
    s.parts.push_back({fs::path(path).filename().string(), "manifest", -1, bytes.size()});
    s.total_bytes = bytes.size();
    VerifyCluster(path, m, &s);
  } else if (StartsWith(bytes, kCheckpointMagic, sizeof(kCheckpointMagic))) {
    VerifySingle(path, file->file_size(), &s);
  } else {
    return InvalidArgument("'", path,
                           "' is not an ecps checkpoint (neither a cluster manifest, ECPSMANI, nor "
                           "a single-process checkpoint, ECPSCKPT)");
  }
  ReadConfigFacts(&s);
  return s;
}

std::string SummaryJson(const CheckpointSummary& s) {
  nlohmann::json tables = nlohmann::json::array();
  for (const VerifiedTable& t : s.tables)
    tables.push_back({{"name", t.name},
                      {"dtype", t.dtype},
                      {"width", t.width},
                      {"rows", t.rows},
                      {"bytes", t.bytes}});
  nlohmann::json parts = nlohmann::json::array();
  for (const VerifiedPart& p : s.parts) {
    nlohmann::json j = {{"file", p.file}, {"kind", p.kind}, {"bytes", p.bytes}};
    if (p.kind == "shard") j["vshard"] = p.vshard;
    parts.push_back(std::move(j));
  }
  nlohmann::json j = {{"ok", s.problems.empty()},
                      {"path", s.path},
                      {"format", s.format},
                      {"method", s.method},
                      {"stage", s.stage},
                      {"epoch", s.epoch},
                      {"step_in_epoch", s.step_in_epoch},
                      {"step", s.step},
                      {"data", s.has_data ? nlohmann::json{{"train_rows", s.train_rows},
                                                           {"val_rows", s.val_rows},
                                                           {"test_rows", s.test_rows},
                                                           {"features", s.features},
                                                           {"identity_digest", s.data_digest}}
                                          : nlohmann::json()},
                      {"tables", tables},
                      {"parameter_bytes", s.parameter_bytes},
                      {"optimizer_bytes", s.optimizer_bytes},
                      {"parts", parts},
                      {"total_bytes", s.total_bytes},
                      {"problems", s.problems}};
  if (s.format == "cluster") {
    j["name"] = s.name;
    j["generation"] = s.generation;
    j["servers"] = s.servers;
    j["workers"] = s.workers;
    j["virtual_shards"] = s.virtual_shards;
  }
  return j.dump(2);
}

std::string SummaryText(const CheckpointSummary& s) {
  std::ostringstream o;
  o << "checkpoint " << s.path << ": "
    << (s.problems.empty() ? "intact" : absl::StrCat(s.problems.size(), " problem(s)")) << "\n";
  if (s.format == "cluster") {
    int shards = 0;
    for (const VerifiedPart& p : s.parts) shards += p.kind == "shard";
    o << "  format          cluster manifest '" << s.name << "', generation " << s.generation
      << "\n"
      << "  written by      " << s.servers << " server(s), " << s.workers << " worker(s)\n"
      << "  virtual shards  " << s.virtual_shards << " (" << s.parts.size() - 1
      << " parts: " << shards << " shard files + dense part)\n";
  } else {
    o << "  format          single-process checkpoint\n";
  }
  o << "  method          " << (s.method.empty() ? "?" : s.method) << "\n"
    << "  position        step " << s.step << " (epoch " << s.epoch << ", step " << s.step_in_epoch
    << " of it), stage " << s.stage << "\n";
  if (s.has_data) {
    o << "  data            " << s.train_rows << " / " << s.val_rows << " / " << s.test_rows
      << " rows (train/val/test), " << s.features << " features, identity "
      << (s.data_digest.empty() ? "?" : s.data_digest) << "\n";
  } else {
    o << "  data            not recorded (written before checkpoints recorded their data)\n";
  }
  for (const VerifiedTable& t : s.tables)
    o << "  table           " << t.name << ": " << t.rows << " rows x " << t.width << " " << t.dtype
      << ", " << t.bytes << " B\n";
  o << "  parameters      " << s.parameter_bytes << " B (optimizer state " << s.optimizer_bytes
    << " B)\n"
    << "  total           " << s.total_bytes << " B in " << s.parts.size() << " file(s)\n";
  return o.str();
}

namespace {

// Bytes of every table per server: virtual shard v lives on server v mod S
// (ps/sharding.h) when the checkpoint is loaded onto the S servers that wrote
// it; one entry for a single-process checkpoint.
std::vector<uint64_t> ServerBytes(const CheckpointSummary& s) {
  const int servers = s.format == "cluster" ? std::max(1, s.servers) : 1;
  std::vector<uint64_t> bytes(servers, 0);
  for (const VerifiedTable& t : s.tables)
    for (size_t v = 0; v < t.shard_bytes.size(); ++v) bytes[v % servers] += t.shard_bytes[v];
  return bytes;
}

std::string StageName(const CheckpointSummary& s) {
  return s.stage >= 0 && static_cast<size_t>(s.stage) < s.stage_names.size()
             ? s.stage_names[s.stage]
             : std::string();
}

// The keyed tables' counters (KeyStats::Json per table) as lines: per table
// and per field the keys seen, those with a row of their own, the nonzero
// bins of the log2 histogram of the decayed counts and the hottest keys.
std::string KeyStatsText(const std::string& key_stats) {
  if (key_stats.empty()) return "  counters        not recorded in the checkpoint\n";
  const nlohmann::json all = nlohmann::json::parse(key_stats);
  if (all.empty()) return "  counters        none (the method keeps no key statistics)\n";
  std::ostringstream o;
  auto group = [&](const nlohmann::json& g) {
    o << g.value("keys_seen", uint64_t{0}) << " keys seen, "
      << g.value("keys_with_own_row", uint64_t{0}) << " with a row of their own; log2 histogram";
    const nlohmann::json hist = g.value("log2_histogram", nlohmann::json::array());
    for (size_t b = 0; b < hist.size(); ++b) {
      if (hist[b].get<uint64_t>() == 0) continue;
      // Bin 0 holds counts below 1, bin b counts in [2^(b-1), 2^b).
      o << " " << (b == 0 ? std::string("<1") : absl::StrCat(">=", uint64_t{1} << (b - 1))) << ":"
        << hist[b].get<uint64_t>();
    }
    o << "; top";
    for (const nlohmann::json& kc : g.value("top", nlohmann::json::array()))
      o << " " << kc[0].get<uint64_t>() << "(" << absl::StrFormat("%.4g", kc[1].get<double>())
        << ")";
    o << "\n";
  };
  for (const auto& [table, stats] : all.items()) {
    o << "  counters        table " << table << " (" << stats.value("kind", "?") << "): ";
    group(stats);
    for (const nlohmann::json& f : stats.value("fields", nlohmann::json::array())) {
      o << "    field " << f.value("field", uint64_t{0}) << ": ";
      group(f);
    }
  }
  return o.str();
}

}  // namespace

std::string InspectJson(const CheckpointSummary& s) {
  nlohmann::json j = nlohmann::json::parse(SummaryJson(s));
  for (size_t i = 0; i < s.tables.size() && i < j["tables"].size(); ++i) {
    nlohmann::json shards = nlohmann::json::array();
    for (size_t v = 0; v < s.tables[i].shard_bytes.size(); ++v)
      shards.push_back({{"vshard", v},
                        {"rows", s.tables[i].shard_rows[v]},
                        {"bytes", s.tables[i].shard_bytes[v]}});
    j["tables"][i]["shards"] = std::move(shards);
  }
  j["server_bytes"] = ServerBytes(s);
  j["stage_name"] = StageName(s);
  j["stages"] = s.stage_names;
  j["budget"] = s.budget;
  j["model"] = s.model;
  j["dim"] = s.dim;
  j["git_commit"] = s.git_commit.empty() ? nlohmann::json() : nlohmann::json(s.git_commit);
  j["key_stats"] = s.key_stats.empty() ? nlohmann::json() : nlohmann::json::parse(s.key_stats);
  j["config"] = s.config;
  return j.dump(2);
}

std::string InspectText(const CheckpointSummary& s) {
  std::ostringstream o;
  o << SummaryText(s);
  o << "  model           " << (s.model.empty() ? "?" : s.model) << ", embedding dim " << s.dim
    << ", budget " << s.budget << "\n";
  o << "  stage           " << s.stage;
  if (!StageName(s).empty()) o << " '" << StageName(s) << "'";
  if (!s.stage_names.empty()) o << " of " << s.stage_names.size();
  o << "\n";
  for (const VerifiedTable& t : s.tables) {
    if (t.shard_bytes.size() <= 1) continue;
    o << "  table " << t.name << " by virtual shard:";
    for (size_t v = 0; v < t.shard_bytes.size(); ++v)
      o << " vs" << v << " " << t.shard_rows[v] << " rows " << t.shard_bytes[v] << " B;";
    o << "\n";
  }
  const std::vector<uint64_t> servers = ServerBytes(s);
  if (s.format == "cluster") {
    o << "  by server       ";
    for (size_t k = 0; k < servers.size(); ++k)
      o << (k ? ", " : "") << "server " << k << " " << servers[k] << " B";
    o << " (virtual shard v on server v mod " << servers.size() << ")\n";
  }
  o << "  git commit      "
    << (s.git_commit.empty() ? "not recorded in the checkpoint" : s.git_commit) << "\n";
  o << KeyStatsText(s.key_stats);
  o << "  config:\n";
  std::istringstream lines(s.config);
  for (std::string line; std::getline(lines, line);) o << "    " << line << "\n";
  return o.str();
}

StatusOr<CheckpointContents> ReadCheckpointContents(const std::string& path) {
  CheckpointContents c;
  ASSIGN_OR_RETURN(c.summary, VerifyCheckpoint(path));
  if (!c.summary.problems.empty())
    return DataLoss("checkpoint '", path, "' is damaged (", absl::StrJoin(c.summary.problems, "; "),
                    "); see ecps checkpoint verify");
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  if (c.summary.format == "cluster") {
    ASSIGN_OR_RETURN(scheduler::CheckpointManifest m, scheduler::DecodeManifest(path, bytes));
    const std::string dir = fs::path(path).parent_path().string();
    c.virtual_shards = m.virtual_shards;
    c.store_blobs.resize(m.virtual_shards);
    for (const scheduler::CheckpointPart& p : m.parts) {
      ASSIGN_OR_RETURN(std::string part, scheduler::ReadPart(dir, p));
      if (p.kind == "dense") {
        c.trainer_file = (fs::path(dir) / p.file).string();
        c.trainer_bytes = std::move(part);
      } else if (p.kind == "shard") {
        c.store_blobs[p.vshard] = std::move(part);  // vshard range-checked by the verify
      }
    }
    ASSIGN_OR_RETURN(c.optimizer, OptimizerOf(m.config, "checkpoint manifest '" + path + "'"));
  } else {
    c.trainer_file = path;
    c.trainer_bytes = std::move(bytes);
    ASSIGN_OR_RETURN(CheckpointReader r, CheckpointReader::Parse(path, c.trainer_bytes));
    ASSIGN_OR_RETURN(std::string_view embd, r.Get("EMBD"));
    ASSIGN_OR_RETURN(SavedEmbedding saved, ParseEmbeddingBlob(std::string(embd)));
    c.store_blobs.push_back(std::move(saved.store_state));
    ASSIGN_OR_RETURN(c.optimizer, OptimizerOf(c.summary.config, "checkpoint '" + path + "'"));
  }
  return c;
}

StatusOr<DecodedTable> DecodeTable(const CheckpointContents& c, const std::string& name) {
  SparseOptimizerConfig cfg;
  cfg.kind = c.optimizer;
  DecodedTable out;
  int index = -1;
  std::vector<std::unique_ptr<RowStore>> shards;
  for (const std::string& blob : c.store_blobs) {
    shards.push_back(NewLocalRowStore(cfg));
    RETURN_IF_ERROR(shards.back()->Load(blob));
    const std::vector<RowTableSpec> specs = shards.back()->StoredTables();
    if (index < 0) {
      std::vector<std::string> names;
      for (size_t t = 0; t < specs.size(); ++t) {
        names.push_back(specs[t].name);
        if (specs[t].name == name) index = static_cast<int>(t);
      }
      if (index < 0)
        return NotFound("checkpoint '", c.summary.path, "' has no table '", name,
                        "' (its tables: ", absl::StrJoin(names, ", "), ")");
      out.spec = specs[index];
      out.spec.rows = 0;
    }
    out.spec.rows += specs.at(index).rows;
  }
  const uint64_t v_count = static_cast<uint64_t>(shards.size());
  const size_t w = static_cast<size_t>(out.spec.width);
  const bool per_row = out.spec.quant == QuantScheme::kPerRow;
  out.values.resize(out.spec.rows * w);
  if (per_row) out.scale_zero.resize(2 * out.spec.rows);
  std::vector<float> local, local_sz;
  std::vector<uint8_t> codes;
  std::vector<uint64_t> ids;
  for (uint64_t v = 0; v < v_count; ++v) {
    const uint64_t rows = shards[v]->StoredTables()[index].rows;
    local.resize(rows * w);
    if (rows > 0) RETURN_IF_ERROR(shards[v]->ReadRows(index, 0, rows, local.data()));
    if (per_row && rows > 0) {
      ids.resize(rows);
      std::iota(ids.begin(), ids.end(), 0);
      codes.resize(rows * row_codec::RowBytes(out.spec.dtype, out.spec.width));
      local_sz.resize(2 * rows);
      RETURN_IF_ERROR(shards[v]->ReadCodes(index, ids, codes.data(), local_sz.data()));
    }
    for (uint64_t l = 0; l < rows; ++l) {
      const uint64_t global = l * v_count + v;
      if (global >= out.spec.rows)
        return DataLoss("checkpoint '", c.summary.path, "': virtual shard ", v, " holds ", rows,
                        " rows of table '", name, "', more than its share of ", out.spec.rows);
      std::copy_n(local.data() + l * w, w, out.values.data() + global * w);
      if (per_row) std::copy_n(local_sz.data() + 2 * l, 2, out.scale_zero.data() + 2 * global);
    }
  }
  return out;
}

Status FillStore(const CheckpointContents& c, RowStore& store,
                 const std::vector<RowTableSpec>& want) {
  if (c.store_blobs.size() == 1) return store.Load(c.store_blobs[0]);
  std::vector<DecodedTable> tables;
  for (const RowTableSpec& spec : want) {
    ASSIGN_OR_RETURN(DecodedTable t, DecodeTable(c, spec.name));
    if (t.spec.rows != spec.rows || t.spec.width != spec.width || t.spec.dtype != spec.dtype)
      return FailedPrecondition("checkpoint '", c.summary.path, "': table '", spec.name, "' holds ",
                                t.spec.rows, " rows x ", t.spec.width, " ", DTypeName(t.spec.dtype),
                                "; the method expects ", spec.rows, " x ", spec.width, " ",
                                DTypeName(spec.dtype));
    tables.push_back(std::move(t));
  }
  RETURN_IF_ERROR(store.Reset(want, /*seed=*/0));
  for (size_t t = 0; t < want.size(); ++t)
    if (want[t].rows > 0)
      RETURN_IF_ERROR(
          store.WriteRows(static_cast<int>(t), 0, want[t].rows, tables[t].values.data(),
                          tables[t].scale_zero.empty() ? nullptr : tables[t].scale_zero.data()));
  return OkStatus();
}

StatusOr<std::unique_ptr<Predictor>> PredictorFromCheckpoint(const std::string& path,
                                                             const CheckpointContents& c,
                                                             const TrainConfig& config,
                                                             const Dataset& data, bool same_data) {
  const DatasetSchema& schema = data.schema();
  if (c.summary.has_data && schema.total_features() != c.summary.features)
    return FailedPrecondition("the data has ", schema.total_features(), " features; the model '",
                              path, "' was trained on ", c.summary.features,
                              " (a cache of another vocabulary: its ids would name other rows)");
  if (same_data && c.summary.has_data) {
    const std::string digest = absl::StrFormat("%016x", CacheIdentityDigest(schema.identity));
    if (digest != c.summary.data_digest)
      return FailedPrecondition("the data (identity ", digest, ") is not the data '", path,
                                "' was trained on (identity ", c.summary.data_digest,
                                "): its feature space and counts would not be the model's");
  }
  ASSIGN_OR_RETURN(CheckpointReader trainer,
                   CheckpointReader::Parse(c.trainer_file, c.trainer_bytes));
  return Predictor::Create(c.trainer_file, trainer, config, schema, data.train_counts(),
                           [&](RowStore& store, const std::vector<RowTableSpec>& want) {
                             return FillStore(c, store, want);
                           });
}

namespace {

// Copies a part a chunk at a time (a shard is as large as its rows) and
// commits the copy only when it has the manifest's size and checksum; the
// errors are scheduler::ReadPart's (DataLoss naming the part).
Status CopyPartVerified(const std::string& dir, const scheduler::CheckpointPart& part,
                        const std::string& to) {
  const std::string path = (fs::path(dir) / part.file).string();
  auto src = FileSource::Open(path);
  if (!src.ok())
    return DataLoss("checkpoint part '", path,
                    "' named by the manifest is unreadable: ", src.status().message());
  if ((*src)->file_size() != part.bytes)
    return DataLoss("checkpoint part '", path, "' has ", (*src)->file_size(),
                    " bytes; the manifest says ", part.bytes);
  ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileSink> sink, AtomicFileSink::Open(to));
  std::string chunk;
  while ((*src)->remaining() > 0) {
    chunk.resize(std::min<uint64_t>(kStreamChunkBytes, (*src)->remaining()));
    RETURN_IF_ERROR((*src)->Read(chunk.data(), chunk.size()));
    RETURN_IF_ERROR(sink->Write(chunk.data(), chunk.size()));
  }
  // Not committed on a mismatch: the sink removes its temporary file.
  if (sink->checksum() != part.checksum)
    return DataLoss("checkpoint part '", path, "' is corrupted: checksum mismatch");
  return sink->Commit();
}

}  // namespace

StatusOr<std::vector<std::string>> ReshardCheckpoints(const std::string& path, int servers,
                                                      const std::string& out_dir) {
  if (!FileExists(path)) return NotFound("checkpoint '", path, "' does not exist");
  ASSIGN_OR_RETURN(std::string head, ReadFile(path));
  if (!StartsWith(head, kManifestMagic, 8))
    return InvalidArgument("'", path,
                           "' is not a cluster manifest (ECPSMANI): only a cluster checkpoint "
                           "has shards to reshard");
  const std::string dir = fs::path(path).parent_path().string();
  std::vector<scheduler::CheckpointManifest> manifests;
  for (const char* name : {"last", "best"}) {
    const std::string m_path = scheduler::ManifestPath(dir, name);
    if (!FileExists(m_path)) continue;
    ASSIGN_OR_RETURN(CheckpointSummary s, VerifyCheckpoint(m_path));
    if (!s.problems.empty())
      return DataLoss("checkpoint '", m_path, "' is damaged (", absl::StrJoin(s.problems, "; "),
                      "); see ecps checkpoint verify");
    ASSIGN_OR_RETURN(scheduler::CheckpointManifest m, scheduler::ReadManifest(m_path));
    if (servers > m.virtual_shards)
      return InvalidArgument("--servers ", servers, " exceeds the ", m.virtual_shards,
                             " virtual shards of '", m_path,
                             "' (every server serves at least one; cluster.virtual_shards is "
                             "fixed for the life of a model)");
    manifests.push_back(std::move(m));
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return InvalidArgument("--out '", out_dir, "': ", ec.message());
  for (const auto& e : fs::directory_iterator(out_dir, ec)) {
    const std::string f = e.path().filename().string();
    if (f.size() > 5 && (f.rfind("ckpt.g", 0) == 0 || f.compare(f.size() - 5, 5, ".ckpt") == 0))
      return FailedPrecondition("--out '", out_dir, "' already holds checkpoint file '", f,
                                "': reshard writes into an empty or new directory");
  }
  std::vector<std::string> written;
  std::set<std::string> copied;
  for (scheduler::CheckpointManifest& m : manifests) {
    for (const scheduler::CheckpointPart& p : m.parts) {
      if (!copied.insert(p.file).second) continue;  // best and last share a generation
      RETURN_IF_ERROR(CopyPartVerified(dir, p, (fs::path(out_dir) / p.file).string()));
    }
    ASSIGN_OR_RETURN(TrainConfig config, TrainConfigFromYaml(m.config, "checkpoint manifest"));
    RETURN_IF_ERROR(config.params.Set("cluster.servers", std::to_string(servers)));
    m.config = config.ToYaml();
    m.servers = servers;
    const std::string m_path = scheduler::ManifestPath(out_dir, m.name);
    // Written last, as the coordinator commits a manifest after its parts.
    RETURN_IF_ERROR(AtomicWriteFile(m_path, scheduler::EncodeManifest(m)));
    written.push_back(m_path);
  }
  return written;
}

}  // namespace ecps::tools
