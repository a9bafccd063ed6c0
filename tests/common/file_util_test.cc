#include "common/file_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

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

std::filesystem::path FreshDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove_all(dir);
  return dir;
}

// The pid of a process that has exited (and been reaped).
pid_t DeadPid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

TEST(FileUtilTest, ReadFileRefusesADirectory) {
  auto dir = FreshDir("ecps_file_util_readdir");
  ASSERT_TRUE(MakeDirs(dir.string()).ok());
  auto r = ReadFile(dir.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is a directory"), std::string_view::npos) << r.status();
}

TEST(FileUtilTest, SameFileSeesThroughLinksAndSpellings) {
  auto dir = FreshDir("ecps_file_util_same");
  ASSERT_TRUE(MakeDirs(dir.string()).ok());
  std::ofstream(dir / "a") << "a";
  std::ofstream(dir / "b") << "a";
  std::filesystem::create_symlink(dir / "a", dir / "sym");
  std::filesystem::create_hard_link(dir / "a", dir / "hard");
  EXPECT_TRUE(SameFile((dir / "a").string(), (dir / "." / "a").string()));
  EXPECT_TRUE(SameFile((dir / "a").string(), (dir / "sym").string()));
  EXPECT_TRUE(SameFile((dir / "hard").string(), (dir / "sym").string()));
  EXPECT_FALSE(SameFile((dir / "a").string(), (dir / "b").string()));
  EXPECT_FALSE(SameFile((dir / "a").string(), (dir / "missing").string()));
}

// Issue 14 item 1: two jobs on one output.dir swapped results silently.
TEST(OutputDirLockTest, SecondJobIsRefusedNamingTheHolder) {
  auto dir = FreshDir("ecps_output_lock_held");
  auto first = OutputDirLock::Acquire(dir.string());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE((*first)->taken_over().empty());
  auto second = OutputDirLock::Acquire(dir.string());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string msg(second.status().message());
  EXPECT_NE(msg.find("in use by another ecps job"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pid " + std::to_string(::getpid()) + " on host "), std::string::npos) << msg;
  EXPECT_NE(msg.find(".ecps-lock"), std::string::npos) << msg;
  // The refused attempt left the holder's record alone.
  second = OutputDirLock::Acquire(dir.string());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(std::string(second.status().message()), msg);
  // Released on destruction, with an empty record: the next job takes it
  // without a takeover.
  first->reset();
  auto third = OutputDirLock::Acquire(dir.string());
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE((*third)->taken_over().empty()) << (*third)->taken_over();
}

TEST(OutputDirLockTest, LockOfADeadJobIsTakenOverWithItsRecord) {
  auto dir = FreshDir("ecps_output_lock_stale");
  ASSERT_TRUE(MakeDirs(dir.string()).ok());
  const pid_t dead = DeadPid();
  // What a killed holder leaves: its record, and no flock (the kernel
  // dropped it with the process).
  {
    std::ofstream(dir / ".ecps-lock")
        << "host=elsewhere pid=" << dead << " started=2026-01-02T03:04:05Z\n";
  }
  auto lock = OutputDirLock::Acquire(dir.string());
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_EQ((*lock)->taken_over(),
            "pid " + std::to_string(dead) + " on host elsewhere, started 2026-01-02T03:04:05Z");
  // The file now names this process.
  auto record = ReadFile((dir / ".ecps-lock").string());
  ASSERT_TRUE(record.ok());
  EXPECT_NE(record->find("pid=" + std::to_string(::getpid())), std::string::npos) << *record;
}

// Issue 14 item 8: orphaned temporaries of killed writers were never removed.
TEST(OutputDirLockTest, OrphanedTemporariesOfDeadProcessesAreRemoved) {
  auto dir = FreshDir("ecps_output_lock_orphans");
  ASSERT_TRUE(MakeDirs(dir.string()).ok());
  const pid_t dead = DeadPid();
  const std::string orphan = "ckpt.g3.vs1.shard.tmp." + std::to_string(dead) + ".12345";
  const std::string orphan2 = "x.rows.tmp." + std::to_string(dead);
  const std::string live = "last.ckpt.tmp." + std::to_string(::getpid()) + ".7";
  const std::string users = "notes.tmp." + std::to_string(dead);
  for (const std::string& name :
       {orphan, orphan2, live, users, std::string("notes.tmp.txt"), std::string("last.ckpt")})
    std::ofstream(dir / name) << "x";
  auto lock = OutputDirLock::Acquire(dir.string());
  ASSERT_TRUE(lock.ok()) << lock.status();
  std::vector<std::string> removed = (*lock)->removed_temporaries();
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{orphan, orphan2}));
  EXPECT_FALSE(std::filesystem::exists(dir / orphan));
  EXPECT_TRUE(std::filesystem::exists(dir / live));  // its writer still runs
  EXPECT_TRUE(std::filesystem::exists(dir / "notes.tmp.txt"));
  EXPECT_TRUE(std::filesystem::exists(dir / users));  // not a writer's name
  EXPECT_TRUE(std::filesystem::exists(dir / "last.ckpt"));
}

// Issue 14 item 8: an unwritable output.dir was found at the first checkpoint.
TEST(OutputDirLockTest, UnusableDirectoryIsRefusedUpFront) {
  auto dir = FreshDir("ecps_output_lock_unusable");
  ASSERT_TRUE(MakeDirs(dir.string()).ok());
  std::ofstream(dir / "file") << "x";
  auto r = OutputDirLock::Acquire((dir / "file").string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is not a directory"), std::string_view::npos) << r.status();
  r = OutputDirLock::Acquire((dir / "file" / "below").string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("file"), std::string_view::npos) << r.status();
  if (::geteuid() == 0) GTEST_SKIP() << "root writes into a read-only directory";
  const auto ro = dir / "ro";
  ASSERT_TRUE(MakeDirs(ro.string()).ok());
  ::chmod(ro.c_str(), 0555);
  r = OutputDirLock::Acquire(ro.string());
  ::chmod(ro.c_str(), 0755);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("is not writable"), std::string_view::npos) << r.status();
}

}  // namespace
}  // namespace ecps
