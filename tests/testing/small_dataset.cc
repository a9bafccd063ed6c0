#include "tests/testing/small_dataset.h"

#include <unistd.h>

#include <filesystem>

#include "common/check.h"
#include "worker/data/gen_data.h"
#include "worker/data/preprocess.h"

namespace ecps::testing {

namespace fs = std::filesystem;

std::unique_ptr<SmallDataset> SmallDataset::Create(const std::string& name, uint64_t rows,
                                                   uint64_t features) {
  std::unique_ptr<SmallDataset> d(new SmallDataset());
  d->dir_ = (fs::temp_directory_path() / (name + "." + std::to_string(::getpid()))).string();
  fs::remove_all(d->dir_);
  fs::create_directories(d->dir_);
  GenDataOptions g;
  g.rows = rows;
  g.features = features;
  g.seed = 7;
  const std::string text = d->dir_ + "/gen.txt";
  ECPS_CHECK_OK(GenerateData(g, text).status());
  PreprocessOptions p;
  p.inputs = {text};
  p.output = d->cache_ = d->dir_ + "/gen.ecache";
  p.split = "ratio";
  p.val_ratio = 0.1;
  p.test_ratio = 0.1;
  ECPS_CHECK_OK(Preprocess(p).status());
  auto ds = Dataset::Open(p.output);
  ECPS_CHECK_OK(ds.status());
  d->data_ = std::move(*ds);
  return d;
}

SmallDataset::~SmallDataset() {
  data_.reset();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::vector<std::string> SmallDataset::FastConfig(const std::string& out) const {
  return {"data.source=cache",       "data.cache=" + cache_,
          "model.bottom=32,16",      "model.top=32,16",
          "model.threads=1",         "train.batch_size=64",
          "train.latency_batches=5", "optimizer.lr=0.003",
          "output.progress=none",    "output.dir=" + dir_ + "/" + out};
}

}  // namespace ecps::testing
