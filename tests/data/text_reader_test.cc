#include "worker/data/text_reader.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/data/data_test_util.h"

namespace ecps {
namespace {

using testing_data::TempDir;
using testing_data::WriteGzip;
using testing_data::WriteText;

std::vector<std::string> ReadLines(const std::string& path, size_t buffer = 4 << 20,
                                   Status* status = nullptr) {
  auto r = TextReader::Open(path, buffer);
  EXPECT_TRUE(r.ok()) << r.status();
  std::vector<std::string> lines;
  if (!r.ok()) return lines;
  std::string_view line;
  while ((*r)->NextLine(&line)) lines.emplace_back(line);
  if (status != nullptr) *status = (*r)->status();
  return lines;
}

TEST(TextReaderTest, PlainLinesCrlfAndMissingFinalNewline) {
  TempDir dir;
  WriteText(dir.File("a.txt"), "one\r\ntwo\n\nthree");
  EXPECT_EQ(ReadLines(dir.File("a.txt")), (std::vector<std::string>{"one", "two", "", "three"}));
}

// Issue 14 item 8: a UTF-8 BOM is not data (only at the start of the file;
// the same bytes later on are left alone). Plain, gzip and a BOM-only line.
TEST(TextReaderTest, ByteOrderMarkAtTheStartIsStripped) {
  TempDir dir;
  WriteText(dir.File("b.txt"), "\xEF\xBB\xBFone\r\n\xEF\xBB\xBFtwo\n");
  EXPECT_EQ(ReadLines(dir.File("b.txt")), (std::vector<std::string>{"one", "\xEF\xBB\xBFtwo"}));
  WriteGzip(dir.File("b.gz"),
            "\xEF\xBB\xBF"
            "1\t2\n");
  EXPECT_EQ(ReadLines(dir.File("b.gz")), (std::vector<std::string>{"1\t2"}));
  WriteText(dir.File("only.txt"), "\xEF\xBB\xBF");
  EXPECT_EQ(ReadLines(dir.File("only.txt")), (std::vector<std::string>{""}));
}

TEST(TextReaderTest, EmptyFileHasNoLines) {
  TempDir dir;
  WriteText(dir.File("e.txt"), "");
  EXPECT_TRUE(ReadLines(dir.File("e.txt")).empty());
}

TEST(TextReaderTest, LinesLongerThanTheBufferGrowIt) {
  TempDir dir;
  std::string long_line(1000, 'x');
  WriteText(dir.File("l.txt"), "a\n" + long_line + "\nb\n");
  EXPECT_EQ(ReadLines(dir.File("l.txt"), 64), (std::vector<std::string>{"a", long_line, "b"}));
}

TEST(TextReaderTest, GzipDetectedByMagicNotExtension) {
  TempDir dir;
  WriteGzip(dir.File("really_gz.txt"), "x\ny\n");
  WriteText(dir.File("really_plain.gz"), "p\nq\n");
  auto r = TextReader::Open(dir.File("really_gz.txt"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE((*r)->gzipped());
  EXPECT_EQ(ReadLines(dir.File("really_gz.txt")), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(ReadLines(dir.File("really_plain.gz")), (std::vector<std::string>{"p", "q"}));
  EXPECT_TRUE(*IsGzipFile(dir.File("really_gz.txt")));
  EXPECT_FALSE(*IsGzipFile(dir.File("really_plain.gz")));
}

TEST(TextReaderTest, ConcatenatedGzipMembersReadAsOneStream) {
  TempDir dir;
  WriteGzip(dir.File("a.gz"), "1\n2\n");
  WriteGzip(dir.File("b.gz"), "3\r\n4");
  WriteText(dir.File("ab.gz"),
            testing_data::ReadAll(dir.File("a.gz")) + testing_data::ReadAll(dir.File("b.gz")));
  EXPECT_EQ(ReadLines(dir.File("ab.gz"), 64), (std::vector<std::string>{"1", "2", "3", "4"}));
}

TEST(TextReaderTest, TruncatedGzipIsDataLossNamingTheFile) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "line number " + std::to_string(i * 7919) + "\n";
  WriteGzip(dir.File("t.gz"), text);
  std::string gz = testing_data::ReadAll(dir.File("t.gz"));
  WriteText(dir.File("cut.gz"), gz.substr(0, gz.size() / 2));
  Status st;
  ReadLines(dir.File("cut.gz"), 4 << 20, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("cut.gz"), std::string::npos) << st;
}

// Issue 14: a concatenated .gz whose second member's header is damaged lost
// the rest of the file silently (zlib's gzread takes such bytes for trailing
// garbage); now it is DataLoss naming the file and the member's byte offset.
TEST(TextReaderTest, DamagedGzipMemberInTheMiddleIsDataLossWithItsOffset) {
  TempDir dir;
  WriteGzip(dir.File("a.gz"), "1\n2\n");
  WriteGzip(dir.File("b.gz"), "3\n4\n");
  WriteGzip(dir.File("c.gz"), "5\n6\n");
  const std::string a = testing_data::ReadAll(dir.File("a.gz"));
  const std::string b = testing_data::ReadAll(dir.File("b.gz"));
  const std::string c = testing_data::ReadAll(dir.File("c.gz"));
  EXPECT_EQ(ReadLines(dir.File("a.gz"), 64), (std::vector<std::string>{"1", "2"}));
  std::string damaged_magic = b;
  damaged_magic[1] = 'X';
  WriteText(dir.File("magic.gz"), a + damaged_magic + c);
  Status st;
  std::vector<std::string> lines = ReadLines(dir.File("magic.gz"), 64, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("magic.gz"), std::string::npos) << st;
  EXPECT_NE(st.message().find("byte offset " + std::to_string(a.size())), std::string::npos) << st;
  EXPECT_EQ(lines, (std::vector<std::string>{"1", "2"}));  // the first member, then the error
  // A header whose magic survived but whose method byte is damaged, and a
  // damaged body (CRC), are errors too, naming the member.
  std::string damaged_method = b;
  damaged_method[2] = 7;
  WriteText(dir.File("method.gz"), a + damaged_method + c);
  ReadLines(dir.File("method.gz"), 64, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("starting at byte " + std::to_string(a.size())), std::string::npos)
      << st;
  std::string damaged_crc = b;
  damaged_crc[damaged_crc.size() - 6] ^= 0x55;
  WriteText(dir.File("crc.gz"), a + damaged_crc + c);
  ReadLines(dir.File("crc.gz"), 64, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("crc.gz"), std::string::npos) << st;
  // Zero padding after the last member (tape blocks) is not data.
  WriteText(dir.File("padded.gz"), a + b + std::string(1000, '\0'));
  EXPECT_EQ(ReadLines(dir.File("padded.gz"), 64, &st),
            (std::vector<std::string>{"1", "2", "3", "4"}));
  EXPECT_TRUE(st.ok()) << st;
  WriteText(dir.File("garbage.gz"), a + b + std::string(10, '\0') + "junk");
  ReadLines(dir.File("garbage.gz"), 64, &st);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("byte offset " + std::to_string(a.size() + b.size() + 10)),
            std::string::npos)
      << st;
}

// A member boundary that falls anywhere in the reader's input buffer reads
// the same (many members, each a few lines).
TEST(TextReaderTest, ManyGzipMembersAcrossInputBuffers) {
  TempDir dir;
  std::string all;
  std::vector<std::string> want;
  for (int m = 0; m < 300; ++m) {
    std::string text;
    for (int i = 0; i < 50; ++i) {
      want.push_back(std::to_string(m * 1000 + i * 37));
      text += want.back() + "\n";
    }
    WriteGzip(dir.File("m.gz"), text);
    all += testing_data::ReadAll(dir.File("m.gz"));
  }
  WriteText(dir.File("many.gz"), all);
  Status st;
  EXPECT_EQ(ReadLines(dir.File("many.gz"), 64, &st), want);
  EXPECT_TRUE(st.ok()) << st;
}

TEST(TextReaderTest, MissingFileIsNotFound) {
  auto r = TextReader::Open("/nonexistent/ecps/file.txt");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/ecps/file.txt"), std::string::npos);
}

TEST(TextReaderTest, CountsLinesAndBytes) {
  TempDir dir;
  WriteText(dir.File("c.txt"), "ab\r\ncd\n");
  auto r = TextReader::Open(dir.File("c.txt"));
  ASSERT_TRUE(r.ok());
  std::string_view line;
  ASSERT_TRUE((*r)->NextLine(&line));
  EXPECT_EQ((*r)->line_number(), 1u);
  ASSERT_TRUE((*r)->NextLine(&line));
  EXPECT_EQ((*r)->line_number(), 2u);
  EXPECT_FALSE((*r)->NextLine(&line));
  EXPECT_EQ((*r)->text_bytes(), 7u);
}

}  // namespace
}  // namespace ecps
