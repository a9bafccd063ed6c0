#include "worker/model/dense_net.h"

#include <string>

#include "worker/model/dcn.h"
#include "worker/model/dlrm.h"
#include "worker/model/wdl.h"

namespace ecps::model {
namespace {

Status CheckSizes(const char* what, const std::vector<int>& sizes) {
  for (int s : sizes)
    if (s <= 0) return InvalidArgument("dense model: ", what, " sizes must be positive, got ", s);
  return OkStatus();
}

}  // namespace

template <typename T>
StatusOr<std::unique_ptr<DenseNet<T>>> MakeDenseNet(const DenseModelConfig& c) {
  if (c.dim <= 0) return InvalidArgument("dense model: dim must be positive, got ", c.dim);
  if (c.bias_init != "zero" && c.bias_init != "normal")
    return InvalidArgument("dense model: bias_init must be zero or normal, got '", c.bias_init,
                           "'");
  if (c.num_fields <= 0)
    return InvalidArgument("dense model: num_fields must be positive, got ", c.num_fields);
  if (c.num_dense < 0)
    return InvalidArgument("dense model: num_dense must be >= 0, got ", c.num_dense);
  if (c.threads < 0) return InvalidArgument("dense model: threads must be >= 0, got ", c.threads);
  if (c.cpu_parallel != "auto" && c.cpu_parallel != "shards" && c.cpu_parallel != "blas")
    return InvalidArgument("dense model: cpu_parallel must be auto|shards|blas, got '",
                           c.cpu_parallel, "'");
  if (c.name == "dlrm") {
    RETURN_IF_ERROR(CheckSizes("bottom", c.bottom));
    RETURN_IF_ERROR(CheckSizes("top", c.top));
    if (c.num_fields + (c.num_dense > 0 ? 1 : 0) < 2)
      return InvalidArgument("dense model: dlrm needs at least two interacting vectors");
    return std::unique_ptr<DenseNet<T>>(new DlrmNet<T>(c));
  }
  if (c.name == "wdl") {
    RETURN_IF_ERROR(CheckSizes("deep", c.deep));
    return std::unique_ptr<DenseNet<T>>(new WdlNet<T>(c));
  }
  if (c.name == "dcn") {
    if (c.dcn_deep.empty()) return InvalidArgument("dense model: dcn_deep must not be empty");
    RETURN_IF_ERROR(CheckSizes("dcn_deep", c.dcn_deep));
    if (c.cross_layers < 0)
      return InvalidArgument("dense model: cross_layers must be >= 0, got ", c.cross_layers);
    return std::unique_ptr<DenseNet<T>>(new DcnNet<T>(c));
  }
  return InvalidArgument("dense model: unknown name '", c.name, "' (known: dlrm, wdl, dcn)");
}

template StatusOr<std::unique_ptr<DenseNet<float>>> MakeDenseNet(const DenseModelConfig&);
template StatusOr<std::unique_ptr<DenseNet<double>>> MakeDenseNet(const DenseModelConfig&);

}  // namespace ecps::model
