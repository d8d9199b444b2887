#include "xapi/rpc.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace casulo::xapi {
namespace {

using ::testing::HasSubstr;

TEST(RpcTest, EncodesXmlRpcWithTypedValues) {
  EncodedCall c = EncodeCall(Protocol::kXmlRpc, "VM.set_memory",
                             {XmlRpcValue("OpaqueRef:s"), XmlRpcValue(int64_t(1) << 33), XmlRpcValue(true)});
  EXPECT_EQ(c.path, "/");
  EXPECT_EQ(c.content_type, "text/xml");
  EXPECT_THAT(c.body, HasSubstr("<methodName>VM.set_memory</methodName>"));
  EXPECT_THAT(c.body, HasSubstr("<string>OpaqueRef:s</string>"));
  EXPECT_THAT(c.body, HasSubstr("<i8>8589934592</i8>"));
  EXPECT_THAT(c.body, HasSubstr("<boolean>1</boolean>"));
  auto back = formats::ParseMethodCall(c.body);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->params.size(), 3u);
}

TEST(RpcTest, EncodesJsonRpcV1AndV2) {
  XmlRpcValue rec(XmlRpcStruct{{"a", XmlRpcValue(1)}, {"d", XmlRpcValue(XmlRpcValue::DateTime{"20250319T04:16:24Z"})}});
  EncodedCall v2 = EncodeCall(Protocol::kJsonRpcV2, "VM.get_all", {XmlRpcValue("s"), rec}, 7);
  EXPECT_EQ(v2.path, "/jsonrpc");
  EXPECT_EQ(v2.content_type, "application/json");
  EXPECT_EQ(v2.body,
            R"({"id":7,"jsonrpc":"2.0","method":"VM.get_all","params":["s",{"a":1,"d":"20250319T04:16:24Z"}]})");
  EncodedCall v1 = EncodeCall(Protocol::kJsonRpcV1, "session.logout", {XmlRpcValue("s")}, 1);
  EXPECT_EQ(v1.body, R"({"id":1,"method":"session.logout","params":["s"]})");
}

// A real-looking XAPI success: bare strings, bare ints, a nested record.
TEST(RpcTest, DecodesXmlRpcSuccess) {
  const char* body =
      "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>"
      "<member><name>Status</name><value>Success</value></member>"
      "<member><name>Value</name><value><struct>"
      "<member><name>uuid</name><value>5c5e</value></member>"
      "<member><name>memory_static_max</name><value>4294967296</value></member>"
      "<member><name>is_a_template</name><value><boolean>0</boolean></value></member>"
      "</struct></value></member></struct></value></param></params></methodResponse>";
  auto v = DecodeXmlRpcResponse(body);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->Find("uuid")->str(), "5c5e");
  EXPECT_EQ(*v->Find("memory_static_max")->AsInt("m"), 4294967296);
  EXPECT_FALSE(v->Find("is_a_template")->b());
}

TEST(RpcTest, DecodesXmlRpcVoidAndFailure) {
  auto ok = DecodeXmlRpcResponse(formats::PrintMethodResponse(
      XmlRpcValue(XmlRpcStruct{{"Status", "Success"}, {"Value", ""}}), formats::XmlRpcStyle::kBare));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->str(), "");

  auto fail = DecodeXmlRpcResponse(formats::PrintMethodResponse(XmlRpcValue(XmlRpcStruct{
      {"Status", "Failure"},
      {"ErrorDescription", XmlRpcArray{"VDI_IN_USE", "OpaqueRef:v", "destroy"}}})));
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.status().code(), Code::kRemote);
  EXPECT_EQ(fail.status().message(), "XAPI error VDI_IN_USE [OpaqueRef:v, destroy]");
  EXPECT_EQ(fail.status().remote(), (std::vector<std::string>{"VDI_IN_USE", "OpaqueRef:v", "destroy"}));
  EXPECT_TRUE(IsXapiError(fail.status(), "VDI_IN_USE"));
}

TEST(RpcTest, AuthenticationFailureIsKAuth) {
  auto fail = DecodeXmlRpcResponse(formats::PrintMethodResponse(XmlRpcValue(XmlRpcStruct{
      {"Status", "Failure"},
      {"ErrorDescription", XmlRpcArray{"SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"}}})));
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.status().code(), Code::kAuth);
  EXPECT_EQ(XapiCode(fail.status()), "SESSION_AUTHENTICATION_FAILED");
}

TEST(RpcTest, MalformedXmlRpcBodies) {
  auto html = DecodeXmlRpcResponse("<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred</body></html>");
  ASSERT_FALSE(html.ok());
  EXPECT_EQ(html.status().code(), Code::kRemote);
  EXPECT_THAT(html.status().message(), HasSubstr("HTTP 500 internal server error An unexpected error"));
  EXPECT_EQ(DecodeXmlRpcResponse("<value>x").status().code(), Code::kRemote);
  EXPECT_THAT(DecodeXmlRpcResponse(formats::PrintMethodResponse(XmlRpcValue("x"))).status().message(),
              HasSubstr("Status envelope"));
  auto fault = DecodeXmlRpcResponse(formats::PrintFaultResponse(3, "boom"));
  EXPECT_EQ(fault.status().message(), "XML-RPC fault 3: boom");
  auto empty = DecodeXmlRpcResponse(formats::PrintMethodResponse(
      XmlRpcValue(XmlRpcStruct{{"Status", "Failure"}, {"ErrorDescription", XmlRpcArray{}}})));
  EXPECT_EQ(empty.status().message(), "XAPI error (empty)");
}

TEST(RpcTest, DecodesJsonRpcResults) {
  auto v = DecodeJsonRpcResponse(
      R"({"jsonrpc":"2.0","result":{"OpaqueRef:a":{"memory":9007199254740993,"name":"vm","up":true,"p":0.5,"tags":[],"x":null}},"id":1})");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  const XmlRpcValue* rec = v->Find("OpaqueRef:a");
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->Find("memory")->type(), XmlRpcValue::Type::kInt);
  EXPECT_EQ(rec->Find("memory")->i(), 9007199254740993);  // not rounded through a double
  EXPECT_EQ(rec->Find("name")->str(), "vm");
  EXPECT_TRUE(rec->Find("up")->b());
  EXPECT_EQ(rec->Find("p")->d(), 0.5);
  EXPECT_TRUE(rec->Find("tags")->is_array());
  EXPECT_TRUE(rec->Find("x")->is_nil());
  auto v1 = DecodeJsonRpcResponse(R"({"result":"OpaqueRef:s","error":null,"id":1})");
  ASSERT_TRUE(v1.ok());
  EXPECT_EQ(v1->str(), "OpaqueRef:s");
}

TEST(RpcTest, DecodesJsonRpcErrorsOfBothVersions) {
  auto v1 = DecodeJsonRpcResponse(R"({"result":null,"error":["HOST_IS_SLAVE","10.0.0.1"],"id":1})");
  ASSERT_FALSE(v1.ok());
  EXPECT_EQ(v1.status().remote(), (std::vector<std::string>{"HOST_IS_SLAVE", "10.0.0.1"}));
  EXPECT_EQ(v1.status().message(), "XAPI error HOST_IS_SLAVE [10.0.0.1]");
  auto v2 = DecodeJsonRpcResponse(
      R"({"jsonrpc":"2.0","error":{"code":1,"message":"SESSION_INVALID","data":["OpaqueRef:x"]},"id":2})");
  ASSERT_FALSE(v2.ok());
  EXPECT_EQ(v2.status().code(), Code::kRemote);
  EXPECT_EQ(v2.status().remote(), (std::vector<std::string>{"SESSION_INVALID", "OpaqueRef:x"}));
  auto nodata = DecodeJsonRpcResponse(R"({"jsonrpc":"2.0","error":{"code":1,"message":"TOO_MANY_PENDING_TASKS"},"id":2})");
  EXPECT_EQ(nodata.status().remote(), (std::vector<std::string>{"TOO_MANY_PENDING_TASKS"}));
}

TEST(RpcTest, MalformedJsonBodies) {
  EXPECT_THAT(DecodeJsonRpcResponse("{\"result\":").status().message(), HasSubstr("malformed JSON-RPC"));
  EXPECT_THAT(DecodeJsonRpcResponse("[1]").status().message(), HasSubstr("malformed JSON-RPC"));
  EXPECT_THAT(DecodeJsonRpcResponse("{\"id\":1}").status().message(), HasSubstr("neither result nor error"));
  EXPECT_THAT(DecodeJsonRpcResponse("<!DOCTYPE html><html>oops</html>").status().message(),
              HasSubstr("HTML"));
}

TEST(RpcTest, HttpErrorStripsMarkup) {
  Status s = HttpError(500, "<html><head><title>500</title></head><body>Internal error\n\n  x</body></html>");
  EXPECT_EQ(s.code(), Code::kRemote);
  EXPECT_EQ(s.message(), "server answered HTTP 500: 500 Internal error x");
  EXPECT_EQ(HttpError(401, "").code(), Code::kAuth);
  EXPECT_EQ(HttpError(404, "").message(), "server answered HTTP 404");
  EXPECT_LE(HttpError(500, std::string(1000, 'a')).message().size(), 240u);
}

}  // namespace
}  // namespace casulo::xapi
