#include "core/status.h"

#include <gtest/gtest.h>

#include "core/bytes.h"

namespace casulo {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Error(Code::kInvalidArgument, "{} is odd", x);
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x).With("first half"));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x));
  return OkStatus();
}

TEST(Status, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Code::kOk);
  EXPECT_EQ(s.ToString(), "ok");
}

TEST(Status, ContextIsPrintedOutermostFirst) {
  Status s = Error(Code::kCorruption, "bad MAC");
  s.With("blob 12ab").With("pack 34cd");
  EXPECT_EQ(s.ToString(), "pack 34cd: blob 12ab: bad MAC");
  EXPECT_EQ(s.code(), Code::kCorruption);
}

TEST(Status, WithOnOkDoesNothing) {
  Status s;
  s.With("ignored");
  EXPECT_TRUE(s.context().empty());
}

TEST(Result, PropagatesValueAndError) {
  auto q = Quarter(8);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 2);
  auto bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(bad.status().ToString(), "3 is odd");
  auto bad2 = Quarter(5);
  EXPECT_EQ(bad2.status().ToString(), "first half: 5 is odd");
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(3).code(), Code::kInvalidArgument);
}

TEST(Bytes, HexRoundTripAndErrors) {
  Bytes b = {0x00, 0x7f, 0xff, 0x10};
  EXPECT_EQ(ToHex(b), "007fff10");
  auto back = FromHex("007FFF10");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, b);
  EXPECT_EQ(FromHex("abc").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(FromHex("zz").status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(Hash256::FromHexString("00").ok());
}

TEST(Bytes, ReaderRejectsTruncation) {
  Bytes b;
  PutU32(b, 0xdeadbeef);
  PutU16(b, 7);
  ByteReader r(b);
  EXPECT_EQ(*r.U32("magic"), 0xdeadbeefu);
  EXPECT_EQ(*r.U16("count"), 7u);
  auto over = r.U64("size");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), Code::kCorruption);
  EXPECT_NE(over.status().message().find("size"), std::string::npos);
}

TEST(Bytes, AllZero) {
  Bytes z(65536 + 3, 0);
  EXPECT_TRUE(IsAllZero(z));
  z[65536 + 2] = 1;
  EXPECT_FALSE(IsAllZero(z));
  z[65536 + 2] = 0;
  z[100] = 1;
  EXPECT_FALSE(IsAllZero(z));
  EXPECT_TRUE(IsAllZero({}));
}

TEST(StatusTest, RemoteErrorTravelsWithContext) {
  Status s = Error(Code::kRemote, "XAPI: VDI_IN_USE").WithRemote({"VDI_IN_USE", "OpaqueRef:1"});
  s.With("snapshot vm1");
  EXPECT_EQ(s.remote_code(), "VDI_IN_USE");
  ASSERT_EQ(s.remote().size(), 2u);
  EXPECT_EQ(s.remote()[1], "OpaqueRef:1");
  EXPECT_EQ(OkStatus().remote_code(), "");
}

}  // namespace
}  // namespace casulo
