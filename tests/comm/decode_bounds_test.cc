// Bounded decoding (issue 14 item 5): a small frame whose header announces a
// huge string or vector is rejected before anything of that size is
// allocated. This binary replaces the global operator new to record the
// largest allocation, so it is a test of its own (not under ThreadSanitizer,
// whose runtime owns operator new).
#include <gtest/gtest.h>

#include <atomic>
#include <cereal/archives/portable_binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <cstdlib>
#include <new>
#include <sstream>

#include "comm/message.h"
#include "comm/wire_codec.h"

namespace {
std::atomic<size_t> g_largest{0};
}  // namespace

void* operator new(size_t n) {
  size_t cur = g_largest.load();
  while (n > cur && !g_largest.compare_exchange_weak(cur, n)) {
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// The replacement pairs malloc with free; GCC cannot see that operator new
// is replaced as a pair and would flag the free.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace ecps::comm {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

// The fixed fields of a header as every ecps build writes them (the layout
// of wire_codec.h), followed by `tail`.
std::string HeaderPrefix() {
  WireWriter w;
  w.Int(kWireMagic);
  w.Int(kWireVersion);
  w.Int(MsgType::kResetOptState);
  w.Int<int32_t>(5);   // sender
  w.Int<int32_t>(1);   // recipient
  w.Int<uint64_t>(9);  // request id
  w.Int<int64_t>(0);
  w.Int<int64_t>(0);
  w.Int<int64_t>(0);
  return w.Finish();
}

void Append64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

TEST(DecodeBoundsTest, SixtyFiveByteFrameAnnouncingOneGibStringIsRejectedWithoutAllocating) {
  std::string frame = HeaderPrefix();
  Append64(&frame, kGiB);  // the text's length
  frame.append(65 - frame.size(), 'x');
  ASSERT_EQ(frame.size(), 65u);
  g_largest = 0;
  auto d = DecodeMessage(WireMessage{frame, {}});
  const size_t largest = g_largest.load();
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(d.status().message().find("text"), std::string::npos) << d.status();
  EXPECT_LT(largest, size_t{1} << 20) << "decoding allocated " << largest << " bytes";
}

TEST(DecodeBoundsTest, HeaderAnnouncingTwoToTheFortyPayloadsIsRejectedWithoutAllocating) {
  std::string frame = HeaderPrefix();
  Append64(&frame, 0);  // empty text
  Append64(&frame, uint64_t{1} << 40);
  frame.append(16, '\0');
  g_largest = 0;
  auto d = DecodeMessage(WireMessage{frame, {}});
  const size_t largest = g_largest.load();
  ASSERT_FALSE(d.ok());
  EXPECT_LT(largest, size_t{1} << 20) << "decoding allocated " << largest << " bytes";
}

TEST(DecodeBoundsTest, TextAboveTheConfiguredMaximumIsRejectedEvenWhenItIsAllThere) {
  Message m;
  m.header.type = MsgType::kDone;
  m.header.text = std::string(4096, 'r');
  DecodeLimits limits;
  limits.max_text_bytes = 1000;
  auto d = DecodeMessage(EncodeMessage(m), limits);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("limit of 1000"), std::string::npos) << d.status();
  limits.max_text_bytes = 4096;
  m.header.text = std::string(4096, 'r');
  auto ok = DecodeMessage(EncodeMessage(m), limits);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->header.text.size(), 4096u);
}

TEST(DecodeBoundsTest, PayloadBytesAboveTheConfiguredMaximumAreRejected) {
  Message m;
  m.header.type = MsgType::kPush;
  m.payloads.push_back(Buffer::FromString(std::string(3000, 'p')));
  DecodeLimits limits;
  limits.max_message_bytes = 2000;
  auto d = DecodeMessage(EncodeMessage(m), limits);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("2000"), std::string::npos) << d.status();
}

TEST(DecodeBoundsTest, ReaderRefusesCountsBeyondTheBytesLeft) {
  std::string bytes(1, '\x01');
  Append64(&bytes, 5);  // 5 uint64 announced, 8 bytes follow
  Append64(&bytes, 7);
  WireReader r(bytes, "test bytes");
  ASSERT_TRUE(r.Start().ok());
  std::vector<uint64_t> v;
  Status s = r.U64s(&v, 1000, "values");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("'values'"), std::string::npos) << s;
  EXPECT_TRUE(v.empty());
}

// The header layout is cereal's portable binary, as written before the
// bounded decoder (the bytes on the wire did not change with it; wire
// version 2 appended the job token).
TEST(DecodeBoundsTest, HeaderBytesAreCerealsPortableBinaryLayout) {
  Message m;
  m.header.type = MsgType::kPull;
  m.header.sender = 3;
  m.header.recipient = -1;
  m.header.request_id = 42;
  m.header.step = -7;
  m.header.arg = 1;
  m.header.arg2 = 1ll << 40;
  m.header.text = "hello";
  m.payloads.push_back(Buffer::FromString("abc"));
  m.payloads.push_back(Buffer::FromString(""));
  m.header.token = "0123456789abcdef";
  std::ostringstream os;
  {
    cereal::PortableBinaryOutputArchive ar(os);
    const Header& h = m.header;
    const std::vector<uint64_t> sizes = {3, 0};
    ar(kWireMagic, kWireVersion, h.type, h.sender, h.recipient, h.request_id, h.step, h.arg, h.arg2,
       h.text, sizes, h.token);
  }
  EXPECT_EQ(EncodeMessage(m).header, os.str());
}

}  // namespace
}  // namespace ecps::comm
