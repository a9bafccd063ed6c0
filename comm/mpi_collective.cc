#include "comm/mpi_collective.h"

#include <mpi.h>

// Turns an MPI error code into a Status naming the call (style.md rule 8).
#define MPI_RETURN_IF_ERROR(expr)                                                  \
  do {                                                                             \
    int mpi_rc_ = (expr);                                                          \
    if (mpi_rc_ != MPI_SUCCESS) {                                                  \
      char mpi_msg_[MPI_MAX_ERROR_STRING];                                         \
      int mpi_len_ = 0;                                                            \
      MPI_Error_string(mpi_rc_, mpi_msg_, &mpi_len_);                              \
      return ::ecps::IoError(#expr, " failed: ", std::string(mpi_msg_, mpi_len_)); \
    }                                                                              \
  } while (0)

namespace ecps::comm {
namespace {

class MpiCollective final : public Collective {
 public:
  MpiCollective(MPI_Comm comm, int rank, int size) : comm_(comm), rank_(rank), size_(size) {}
  ~MpiCollective() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  Status AllreduceSum(std::span<float> data) override {
    MPI_RETURN_IF_ERROR(MPI_Allreduce(MPI_IN_PLACE, data.data(), static_cast<int>(data.size()),
                                      MPI_FLOAT, MPI_SUM, comm_));
    return OkStatus();
  }
  Status AllreduceSum(std::span<double> data) override {
    MPI_RETURN_IF_ERROR(MPI_Allreduce(MPI_IN_PLACE, data.data(), static_cast<int>(data.size()),
                                      MPI_DOUBLE, MPI_SUM, comm_));
    return OkStatus();
  }
  Status Broadcast(std::string* data, int root) override {
    uint64_t n = data->size();
    MPI_RETURN_IF_ERROR(MPI_Bcast(&n, 1, MPI_UINT64_T, root, comm_));
    data->resize(n);
    MPI_RETURN_IF_ERROR(MPI_Bcast(data->data(), static_cast<int>(n), MPI_BYTE, root, comm_));
    return OkStatus();
  }
  Status Allgather(const std::string& mine, std::vector<std::string>* all) override {
    int n = static_cast<int>(mine.size());
    std::vector<int> sizes(size_), displs(size_);
    MPI_RETURN_IF_ERROR(MPI_Allgather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, comm_));
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[r] = total;
      total += sizes[r];
    }
    std::string buf(total, '\0');
    MPI_RETURN_IF_ERROR(MPI_Allgatherv(mine.data(), n, MPI_BYTE, buf.data(), sizes.data(),
                                       displs.data(), MPI_BYTE, comm_));
    all->assign(size_, {});
    for (int r = 0; r < size_; ++r) (*all)[r] = buf.substr(displs[r], sizes[r]);
    return OkStatus();
  }
  Status Barrier() override {
    MPI_RETURN_IF_ERROR(MPI_Barrier(comm_));
    return OkStatus();
  }

 private:
  MPI_Comm comm_;
  int rank_, size_;
};

}  // namespace

StatusOr<std::unique_ptr<Collective>> NewMpiCollective(int color) {
  int world_rank = 0;
  MPI_RETURN_IF_ERROR(MPI_Comm_rank(MPI_COMM_WORLD, &world_rank));
  MPI_Comm comm;
  MPI_RETURN_IF_ERROR(MPI_Comm_split(MPI_COMM_WORLD, color, world_rank, &comm));
  int rank = 0, size = 0;
  MPI_RETURN_IF_ERROR(MPI_Comm_rank(comm, &rank));
  MPI_RETURN_IF_ERROR(MPI_Comm_size(comm, &size));
  return std::unique_ptr<Collective>(std::make_unique<MpiCollective>(comm, rank, size));
}

}  // namespace ecps::comm
