#include "tools/train_plan.h"

#include <algorithm>
#include <sstream>

#include "absl/strings/str_format.h"
#include "compressors/registry.h"
#include "embedding/row_store.h"
#include "embedding/sparse_optimizer.h"
#include "ps/sharding.h"
#include "worker/trainer.h"

namespace ecps::tools {

StatusOr<nlohmann::json> PlanTraining(const TrainConfig& config, const Dataset& data) {
  const ParamSet& p = config.params;
  const DatasetSchema& schema = data.schema();
  const int dim = static_cast<int>(p.GetInt("embedding.dim"));
  const uint64_t seed = static_cast<uint64_t>(p.GetInt("train.seed"));
  // Sized as Trainer::Init sizes them.
  ASSIGN_OR_RETURN(DenseModelConfig mc, config.ModelConfig(schema.num_dense, schema.num_fields));
  ASSIGN_OR_RETURN(auto model, CreateDenseModel(mc, Device::kCpu, seed));
  OptimizerConfig oc;
  oc.name = p.GetString("optimizer.name");
  oc.lr = p.GetFloat("optimizer.lr");
  oc.beta1 = p.GetFloat("optimizer.beta1");
  oc.beta2 = p.GetFloat("optimizer.beta2");
  oc.eps = p.GetFloat("optimizer.eps");
  ASSIGN_OR_RETURN(auto dense_opt, CreateDenseOptimizer(oc, model->params().size()));
  ASSIGN_OR_RETURN(SparseOptimizerKind kind, ParseSparseOptimizer(p.GetString("optimizer.sparse")));
  const double slr = p.GetFloat("optimizer.sparse_lr");
  ASSIGN_OR_RETURN(auto method, CreateCompressor(config.method()));
  CompressorContext ctx;
  ctx.space.cardinalities = schema.cardinalities;
  ctx.space.offsets = schema.offsets;
  ctx.space.dim = dim;
  ctx.budget = p.GetFloat("embedding.budget");
  ctx.seed = seed;
  ctx.train_counts = data.train_counts();
  ctx.sparse_lr = slr > 0 ? slr : oc.lr;
  ctx.partitions = static_cast<int>(p.GetInt("cluster.virtual_shards"));
  RETURN_IF_ERROR(Annotate(method->Init(ctx, config.method_params),
                           absl::StrCat("method '", config.method(), "'")));
  MemoryReport mem = method->Memory();
  const int servers = std::max<int>(1, static_cast<int>(p.GetInt("cluster.servers")));
  const ps::ShardMap sm{servers,
                        std::max<int>(1, static_cast<int>(p.GetInt("cluster.virtual_shards")))};
  nlohmann::json tables = nlohmann::json::array();
  std::vector<uint64_t> server_params(servers, 0), server_opt(servers, 0);
  uint64_t optimizer_bytes = 0;
  for (const RowTableSpec& t : method->Tables()) {
    const uint64_t row = StoredRowBytes(t), opt_row = OptimizerRowBytes(t, kind);
    tables.push_back({{"name", t.name},
                      {"dtype", DTypeName(t.dtype)},
                      {"rows", t.rows},
                      {"width", t.width},
                      {"parameter_bytes", t.rows * row},
                      {"optimizer_bytes", t.rows * opt_row}});
    optimizer_bytes += t.rows * opt_row;
    for (int v = 0; v < sm.virtual_shards; ++v) {
      const uint64_t rows = sm.RowsInVShard(t.rows, v);
      server_params[sm.ServerOfVShard(v)] += rows * row;
      server_opt[sm.ServerOfVShard(v)] += rows * opt_row;
    }
  }
  mem.optimizer_bytes = optimizer_bytes;  // the store's, as EmbeddingLayer::Memory fills it
  const size_t method_params = method->DenseParams().size();
  uint64_t method_opt_bytes = 0;
  if (method_params > 0) {
    ASSIGN_OR_RETURN(auto mo, CreateDenseOptimizer(oc, method_params));
    method_opt_bytes = mo->state().size() * sizeof(float);
  }
  nlohmann::json per_server = nlohmann::json::array();
  for (int s = 0; s < servers; ++s)
    per_server.push_back(
        {{"server", s}, {"parameter_bytes", server_params[s]}, {"optimizer_bytes", server_opt[s]}});
  const double full_bytes = 4.0 * static_cast<double>(schema.total_features()) * dim;
  const uint64_t dense_bytes = model->params().size() * sizeof(float);
  const uint64_t dense_opt_bytes = dense_opt->state().size() * sizeof(float);
  nlohmann::json stages = nlohmann::json::array();
  for (const StageSpec& s : method->Stages()) stages.push_back(s.name);
  return nlohmann::json{
      {"method", config.method()},
      {"budget", ctx.budget},
      {"features", schema.total_features()},
      {"embedding_dim", dim},
      {"stages", stages},
      {"stage", 0},
      {"inference_memory_bytes", mem.inference_bytes},
      {"inference_memory_ratio", full_bytes > 0 ? mem.inference_bytes / full_bytes : 0.0},
      {"inference_memory_mapping_bytes", mem.mapping_bytes},
      {"training_memory", TrainingMemoryJson(mem, mem.training_bytes(), method_opt_bytes,
                                             dense_bytes, dense_opt_bytes, full_bytes)},
      {"tables", tables},
      {"virtual_shards", sm.virtual_shards},
      {"servers", per_server}};
}

std::string PlanText(const nlohmann::json& plan) {
  std::ostringstream o;
  const nlohmann::json& tm = plan["training_memory"];
  o << "plan for method '" << plan["method"].get<std::string>() << "' at budget "
    << plan["budget"].get<double>() << " on " << plan["features"].get<uint64_t>()
    << " features x dim " << plan["embedding_dim"].get<int>() << " (stage 0 '"
    << plan["stages"][0].get<std::string>() << "' of " << plan["stages"].size() << ")\n";
  o << absl::StrFormat("  %-28s %d B (%.4g of the fp32 table)\n", "inference memory",
                       plan["inference_memory_bytes"].get<uint64_t>(),
                       plan["inference_memory_ratio"].get<double>());
  o << absl::StrFormat(
      "  %-28s %d B (parameters %d, optimizer %d, auxiliary %d, dense decoder "
      "optimizer %d)\n",
      "embedding training memory", tm["embedding_total_bytes"].get<uint64_t>(),
      tm["embedding_parameter_bytes"].get<uint64_t>(),
      tm["embedding_optimizer_bytes"].get<uint64_t>(),
      tm["embedding_auxiliary_bytes"].get<uint64_t>(),
      tm["embedding_dense_optimizer_bytes"].get<uint64_t>());
  o << absl::StrFormat("  %-28s %d B (+ optimizer %d B)\n", "dense model",
                       tm["dense_parameter_bytes"].get<uint64_t>(),
                       tm["dense_optimizer_bytes"].get<uint64_t>());
  o << absl::StrFormat("  %-28s %d B\n", "total training memory",
                       tm["total_bytes"].get<uint64_t>());
  for (const auto& t : plan["tables"])
    o << absl::StrFormat(
        "  table %-22s %d rows x %d %s: %d B (+ optimizer %d B)\n", t["name"].get<std::string>(),
        t["rows"].get<uint64_t>(), t["width"].get<int>(), t["dtype"].get<std::string>(),
        t["parameter_bytes"].get<uint64_t>(), t["optimizer_bytes"].get<uint64_t>());
  if (plan["servers"].size() > 1)
    for (const auto& s : plan["servers"])
      o << absl::StrFormat("  server %-21d %d B (+ optimizer %d B) over %d virtual shards\n",
                           s["server"].get<int>(), s["parameter_bytes"].get<uint64_t>(),
                           s["optimizer_bytes"].get<uint64_t>(), plan["virtual_shards"].get<int>());
  if (plan["stages"].size() > 1)
    o << "  (the sizes of later stages are decided while training: the trained run reports the "
         "last stage's inference memory and the peak over the stages)\n";
  return o.str();
}

}  // namespace ecps::tools
