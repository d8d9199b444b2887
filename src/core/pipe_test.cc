#include "core/pipe.h"

#include <gtest/gtest.h>

#include <thread>

namespace casulo {
namespace {

TEST(PipeTest, CarriesEveryByteInOrderWithinTheBound) {
  Pipe pipe(64 * 1024);
  Bytes sent(5 << 20);
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = uint8_t(i * 7 + i / 4096);
  std::thread writer([&] {
    for (size_t off = 0; off < sent.size(); off += 3001) {
      size_t n = std::min<size_t>(3001, sent.size() - off);
      ASSERT_TRUE(pipe.sink().Write(ByteSpan(sent).subspan(off, n)).ok());
    }
    pipe.CloseWrite();
  });
  Bytes got;
  Bytes buf(70000);
  for (;;) {
    auto n = pipe.source().Read(buf);
    ASSERT_TRUE(n.ok());
    if (*n == 0) break;
    got.insert(got.end(), buf.begin(), buf.begin() + *n);
  }
  writer.join();
  EXPECT_EQ(got, sent);
  EXPECT_EQ(pipe.source().position(), sent.size());
}

TEST(PipeTest, WriterErrorReachesTheReader) {
  Pipe pipe;
  ASSERT_TRUE(pipe.sink().Write(AsBytes(std::string_view("abc"))).ok());
  pipe.CloseWrite(Status(Code::kIoError, "connection dropped"));
  Bytes buf(10);
  auto n = pipe.source().Read(buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3u);
  auto e = pipe.source().Read(buf);
  EXPECT_EQ(e.status().code(), Code::kIoError);
}

TEST(PipeTest, ReaderStopUnblocksTheWriter) {
  Pipe pipe(1024);
  std::thread reader([&] { pipe.CloseRead(); });
  Bytes big(1 << 20);
  Status s = OkStatus();
  while (s.ok()) s = pipe.sink().Write(big);
  reader.join();
  EXPECT_EQ(s.code(), Code::kCancelled);
}

}  // namespace
}  // namespace casulo
