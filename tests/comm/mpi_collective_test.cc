// The MPI collective in a singleton MPI process (size 1); the multi-process
// behaviour is covered by the `integration` mpirun test (tests/cluster).
#include "comm/mpi_collective.h"

#include <gtest/gtest.h>
#include <mpi.h>

namespace ecps::comm {
namespace {

TEST(MpiCollectiveTest, SingletonOps) {
  int argc = 0;
  char** argv = nullptr;
  ASSERT_EQ(MPI_Init(&argc, &argv), MPI_SUCCESS);
  {
    auto c = NewMpiCollective(0);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ((*c)->size(), 1);
    std::vector<float> v = {1, 2, 3};
    ASSERT_TRUE((*c)->AllreduceSum(std::span<float>(v)).ok());
    EXPECT_EQ(v[2], 3.0f);
    std::vector<std::string> all;
    ASSERT_TRUE((*c)->Allgather("abc", &all).ok());
    EXPECT_EQ(all, std::vector<std::string>{"abc"});
    std::string b = "x";
    ASSERT_TRUE((*c)->Broadcast(&b, 0).ok());
    EXPECT_EQ(b, "x");
    ASSERT_TRUE((*c)->Barrier().ok());
  }
  MPI_Finalize();
}

}  // namespace
}  // namespace ecps::comm
