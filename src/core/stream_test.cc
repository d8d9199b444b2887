#include "core/stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace casulo {
namespace {

TEST(StreamTest, ReadExactNamesWhatWasTruncated) {
  Bytes data = {1, 2, 3};
  MemorySource src(data);
  Bytes out(2);
  ASSERT_TRUE(ReadExact(src, out, "header").ok());
  EXPECT_EQ(out, (Bytes{1, 2}));
  Status s = ReadExact(src, out, "footer");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_NE(s.message().find("truncated footer at offset 2"), std::string::npos) << s.message();
}

TEST(StreamTest, PeekedBytesAreReadAgain) {
  Bytes data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i);
  MemorySource inner(data);
  PeekableSource src(inner);
  auto p = src.Peek(8);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)[7], 7);
  auto p2 = src.Peek(16);  // a longer peek extends the first
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->size(), 16u);
  Bytes out(10);
  ASSERT_TRUE(ReadExact(src, out, "x").ok());
  EXPECT_EQ(out[9], 9);
  ASSERT_TRUE(src.Skip(100, "x").ok());  // 6 buffered + 94 from the inner source
  EXPECT_EQ(src.position(), 110u);
  ASSERT_TRUE(ReadExact(src, out, "x").ok());
  EXPECT_EQ(out[0], 110);
  auto tail = src.Peek(5000);
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(tail->size(), 880u);  // short only at the end
}

TEST(StreamTest, SkipPastEndFails) {
  Bytes data(10);
  MemorySource src(data);
  ASSERT_TRUE(src.Skip(4, "gap").ok());
  EXPECT_EQ(src.position(), 4u);
  EXPECT_FALSE(src.Skip(7, "gap").ok());
}

TEST(StreamTest, FileSourceSkipsBySeekingAndByReadingOnPipes) {
  char tmpl[] = "/tmp/casulo-stream-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  File f = File::FromFd(fd, tmpl);
  Bytes data(200000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = uint8_t(i * 7);
  ASSERT_TRUE(f.WriteAll(data).ok());
  ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
  FileSource src(&f);
  ASSERT_TRUE(src.Skip(100001, "x").ok());
  uint8_t b;
  ASSERT_TRUE(ReadExact(src, MutableByteSpan(&b, 1), "x").ok());
  EXPECT_EQ(b, data[100001]);
  EXPECT_FALSE(src.Skip(200000, "tail").ok());
  unlink(tmpl);

  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], data.data(), 5000), 5000);
  close(p[1]);
  File r = File::FromFd(p[0], "pipe");
  FileSource ps(&r);
  ASSERT_TRUE(ps.Skip(4999, "x").ok());
  ASSERT_TRUE(ReadExact(ps, MutableByteSpan(&b, 1), "x").ok());
  EXPECT_EQ(b, data[4999]);
  EXPECT_FALSE(ps.Skip(1, "end").ok());
}

TEST(StreamTest, FileSinkBuffersAndFinishFlushes) {
  char tmpl[] = "/tmp/casulo-stream-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  File f = File::FromFd(fd, tmpl);
  {
    FileSink sink(&f);
    Bytes small(10, 0xAB), big(3 << 20, 0xCD);
    ASSERT_TRUE(sink.Write(small).ok());
    ASSERT_TRUE(sink.Write(big).ok());
    ASSERT_TRUE(WriteZeros(sink, 100000).ok());
    ASSERT_TRUE(sink.Finish().ok());
    EXPECT_EQ(sink.position(), 10u + (3u << 20) + 100000u);
  }
  auto size = f.Size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 10u + (3u << 20) + 100000u);
  auto rs = FileRandomSource::Open(&f);
  ASSERT_TRUE(rs.ok());
  uint8_t b[2];
  ASSERT_TRUE(ReadAtExact(*rs, 9, b, "x").ok());
  EXPECT_EQ(b[0], 0xAB);
  EXPECT_EQ(b[1], 0xCD);
  unlink(tmpl);
}

}  // namespace
}  // namespace casulo
