// `ecps train --plan` (docs/cli.md): the memory a configured run will take,
// per table and per server, computed by sizing the method on the configured
// data (Compressor::Init, no rows allocated, no step taken) with the same
// formulas the trained run reports (results.json's inference_memory_bytes
// and training_memory).
//
// Thread-safety: a free function.
#pragma once

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "worker/data/dataset.h"
#include "worker/train_config.h"

namespace ecps::tools {

// The plan as JSON: method, budget, stage (the first one: the sizes of later
// stages are decided while training), inference_memory_bytes,
// inference_memory_ratio, training_memory (the fields of results.json),
// tables [{name, dtype, rows, width, parameter_bytes, optimizer_bytes}] and
// servers [{server, parameter_bytes, optimizer_bytes}] for cluster.servers
// and cluster.virtual_shards.
StatusOr<nlohmann::json> PlanTraining(const TrainConfig& config, const Dataset& data);

// The plan for a person (a few aligned lines).
std::string PlanText(const nlohmann::json& plan);

}  // namespace ecps::tools
