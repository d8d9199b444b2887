#include "formats/xmlrpc.h"

#include <gtest/gtest.h>

namespace casulo::formats {
namespace {

TEST(XmlRpcTest, BareValuesAreStrings) {
  auto v = ParseXmlRpcValue("<value>42</value>");
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  ASSERT_TRUE(v->is_string());
  EXPECT_EQ(v->str(), "42");
  EXPECT_EQ(*v->AsInt("x"), 42);
  auto empty = ParseXmlRpcValue("<value/>");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->str(), "");
  auto spaces = ParseXmlRpcValue("<value>  a b </value>");
  ASSERT_TRUE(spaces.ok());
  EXPECT_EQ(spaces->str(), "  a b ");  // bare strings keep their whitespace
}

TEST(XmlRpcTest, TypedValuesAndPrettyPrinting) {
  const char* xml = R"(<?xml version="1.0"?>
<value>
  <struct>
    <member><name>s</name><value><string>a &amp; b</string></value></member>
    <member><name>i</name><value><i4>-7</i4></value></member>
    <member><name>big</name><value><i8>9007199254740993</i8></value></member>
    <member><name>t</name><value><boolean>1</boolean></value></member>
    <member><name>d</name><value><double>1.5</double></value></member>
    <member><name>when</name><value><dateTime.iso8601>20260101T10:00:00Z</dateTime.iso8601></value></member>
    <member><name>none</name><value><nil/></value></member>
    <member><name>list</name><value><array><data>
      <value>x</value><value><int>2</int></value>
    </data></array></value></member>
  </struct>
</value>)";
  auto v = ParseXmlRpcValue(xml);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->Find("s")->str(), "a & b");
  EXPECT_EQ(v->Find("i")->i(), -7);
  EXPECT_EQ(v->Find("big")->i(), 9007199254740993);
  EXPECT_TRUE(v->Find("t")->b());
  EXPECT_EQ(v->Find("d")->d(), 1.5);
  EXPECT_EQ(v->Find("when")->date().text, "20260101T10:00:00Z");
  EXPECT_TRUE(v->Find("none")->is_nil());
  ASSERT_EQ(v->Find("list")->array().size(), 2u);
  EXPECT_EQ(v->Find("list")->array()[1].i(), 2);
  EXPECT_EQ(v->Find("missing"), nullptr);
}

TEST(XmlRpcTest, TypedPrintRoundTrips) {
  XmlRpcValue v(XmlRpcStruct{
      {"name", "<tricky> \"quoted\" & \r\n\ttext"},
      {"n", int64_t(1) << 40},
      {"small", -3},
      {"flag", false},
      {"list", XmlRpcArray{"a", XmlRpcValue(), 2.25}},
      {"empty", XmlRpcStruct{}},
  });
  std::string xml = PrintXmlRpcValue(v, XmlRpcStyle::kTyped);
  auto back = ParseXmlRpcValue(xml);
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << xml;
  EXPECT_EQ(*back, v);
}

TEST(XmlRpcTest, BarePrintIsRpcLightStyle) {
  XmlRpcValue v(XmlRpcStruct{{"a", "x"}, {"n", 5}, {"b", true}});
  EXPECT_EQ(PrintXmlRpcValue(v),
            "<value><struct><member><name>a</name><value>x</value></member>"
            "<member><name>n</name><value>5</value></member>"
            "<member><name>b</name><value><boolean>1</boolean></value></member>"
            "</struct></value>");
}

TEST(XmlRpcTest, ControlCharactersAreDroppedWhenPrinting) {
  EXPECT_EQ(PrintXmlRpcValue(XmlRpcValue(std::string("a\x01" "b\x1f" "c"))),
            "<value>abc</value>");
}

TEST(XmlRpcTest, InvalidUtf8IsReplacedSoTheDocumentStaysXml) {
  std::string latin1 = "caf\xe9 \xc3\xa9t\xc3\xa9 \xed\xa0\x80 \xf0\x9f\x92\xbe";
  std::string xml = PrintXmlRpcValue(XmlRpcValue(latin1));
  EXPECT_EQ(xml, "<value>caf\xef\xbf\xbd \xc3\xa9t\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                 "\xf0\x9f\x92\xbe</value>");
  EXPECT_TRUE(ParseXmlRpcValue(xml).ok());
}

TEST(XmlRpcTest, MethodCallAndResponse) {
  std::string call = PrintMethodCall("session.login_with_password",
                                     {"root", "secret", "1.0", "casulo/0.1"});
  auto parsed = ParseMethodCall(call);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->method, "session.login_with_password");
  ASSERT_EQ(parsed->params.size(), 4u);
  EXPECT_EQ(parsed->params[3].str(), "casulo/0.1");

  XmlRpcValue ok(XmlRpcStruct{{"Status", "Success"}, {"Value", "OpaqueRef:abc"}});
  auto r = ParseMethodResponse(PrintMethodResponse(ok));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->fault);
  EXPECT_EQ(r->value, ok);

  auto f = ParseMethodResponse(PrintFaultResponse(-1, "method unknown"));
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->fault);
  EXPECT_EQ(f->value.Find("faultCode")->i(), -1);
  EXPECT_EQ(f->value.Find("faultString")->str(), "method unknown");
}

TEST(XmlRpcTest, MalformedInputsNameTheProblem) {
  struct Case {
    const char* xml;
    const char* expect;
  } cases[] = {
      {"", "malformed XML"},
      {"<value><struct>", "malformed XML"},
      {"<value><i4>12x</i4></value>", "not a 64-bit integer"},
      {"<value><i4>99999999999999999999</i4></value>", "not a 64-bit integer"},
      {"<value><boolean>2</boolean></value>", "not a boolean"},
      {"<value><double>x</double></value>", "not a number"},
      {"<value><blob>1</blob></value>", "unknown XML-RPC type"},
      {"<value><string>a</string><string>b</string></value>", "one typed element"},
      {"<value><struct><member><name>a</name></member></struct></value>", "needs a <name>"},
      {"<value><struct><foo/></struct></value>", "expected <member>"},
      {"<value><array><value>1</value></array></value>", "<data>"},
      {"<string>a</string>", "expected <value>"},
      {"<value><string>a<b/>c</string></value>", "unexpected element inside <string>"},
      {"<!DOCTYPE v [<!ENTITY a \"aaaa\">]><value>&a;</value>", "not accepted"},
      {"<value>&undefined;</value>", "malformed XML"},
  };
  for (const auto& c : cases) {
    auto v = ParseXmlRpcValue(c.xml);
    ASSERT_FALSE(v.ok()) << c.xml;
    EXPECT_EQ(v.status().code(), Code::kCorruption) << c.xml;
    EXPECT_NE(v.status().message().find(c.expect), std::string::npos)
        << c.xml << " -> " << v.status().message();
  }
}

TEST(XmlRpcTest, DeepNestingIsRefusedNotRecursedInto) {
  std::string xml;
  for (int i = 0; i < 10000; ++i) xml += "<value><array><data>";
  auto v = ParseXmlRpcValue(xml);
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("nested deeper"), std::string::npos);
}

TEST(XmlRpcTest, ABareValueAtTheDepthLimitStillParsesPrintedTyped) {
  // value/array/data repeated: the innermost bare <value> sits at the limit.
  std::string open, close;
  int depth = 1;
  while (depth + 3 <= 256) {
    open += "<value><array><data>";
    close = "</data></array></value>" + close;
    depth += 3;
  }
  std::string xml = open + "<value>x</value>" + close;
  auto v = ParseXmlRpcValue(xml);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  auto typed = ParseXmlRpcValue(PrintXmlRpcValue(*v, XmlRpcStyle::kTyped));
  ASSERT_TRUE(typed.ok()) << typed.status().ToString();
  EXPECT_EQ(*typed, *v);
}

TEST(XmlRpcTest, CopyOnWriteKeepsCopiesIndependent) {
  XmlRpcValue a(XmlRpcStruct{{"k", "1"}});
  XmlRpcValue b = a;
  b.Set("k", "2");
  b.Set("new", 3);
  EXPECT_EQ(a.Find("k")->str(), "1");
  EXPECT_EQ(a.Find("new"), nullptr);
  EXPECT_EQ(b.Find("k")->str(), "2");
}

}  // namespace
}  // namespace casulo::formats
