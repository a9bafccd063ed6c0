#include "common/file_util.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace ecps {
namespace {

TEST(FileUtilTest, AtomicWriteReplacesAndLeavesNoTemp) {
  auto dir = std::filesystem::temp_directory_path() / "ecps_file_util_test";
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(MakeDirs(dir.string()).ok());
  std::string path = (dir / "f.bin").string();
  ASSERT_TRUE(AtomicWriteFile(path, "first").ok());
  ASSERT_TRUE(AtomicWriteFile(path, "second").ok());
  EXPECT_EQ(*ReadFile(path), "second");
  int n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  EXPECT_EQ(n, 1);
  {
    // An uncommitted writer leaves the old file untouched and no temp file.
    auto w = AtomicFileWriter::Open(path);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append("partial", 7).ok());
  }
  EXPECT_EQ(*ReadFile(path), "second");
  n = 0;
  for (auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  EXPECT_EQ(n, 1);
  auto m = MappedFile::Open(path);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(m->data()), m->size()), "second");
  EXPECT_FALSE(ReadFile((dir / "missing").string()).ok());
  EXPECT_NE(Checksum64("a", 1), Checksum64("b", 1));
}

}  // namespace
}  // namespace ecps
