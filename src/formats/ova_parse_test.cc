// Tolerance and errors of ParseOvaXml: pretty-printed exports of older
// products (XenServer 5.5/6.x style: an XML declaration, indentation, typed
// <string>, <value/>, integers as strings) and malformed documents.
#include <gtest/gtest.h>

#include "formats/ova.h"

namespace casulo::formats {
namespace {

constexpr char kOldStyleOva[] = R"(<?xml version="1.0" encoding="UTF-8"?>
<value>
  <struct>
    <member>
      <name>version</name>
      <value>
        <struct>
          <member><name>hostname</name><value><string>xs62-host</string></value></member>
          <member><name>date</name><value>2013-06-17</value></member>
          <member><name>product_version</name><value>6.2.0</value></member>
          <member><name>product_brand</name><value>XenServer</value></member>
          <member><name>build_number</name><value/></member>
          <member><name>xapi_major</name><value><string>1</string></value></member>
          <member><name>xapi_minor</name><value><i4>3</i4></value></member>
        </struct>
      </value>
    </member>
    <member>
      <name>objects</name>
      <value>
        <array>
          <data>
            <value>
              <struct>
                <member><name>class</name><value><string>VM</string></value></member>
                <member><name>id</name><value>Ref:0</value></member>
                <member>
                  <name>snapshot</name>
                  <value>
                    <struct>
                      <member><name>name_label</name><value><string>old vm</string></value></member>
                      <member><name>name_description</name><value/></member>
                      <member><name>is_a_snapshot</name><value><boolean>0</boolean></value></member>
                    </struct>
                  </value>
                </member>
              </struct>
            </value>
            <value>
              <struct>
                <member><name>class</name><value>VBD</value></member>
                <member><name>id</name><value>Ref:1</value></member>
                <member>
                  <name>snapshot</name>
                  <value>
                    <struct>
                      <member><name>VM</name><value>Ref:0</value></member>
                      <member><name>VDI</name><value>Ref:2</value></member>
                      <member><name>type</name><value><string>disk</string></value></member>
                      <member><name>userdevice</name><value>0</value></member>
                      <member><name>mode</name><value>RW</value></member>
                      <member><name>bootable</name><value><boolean>1</boolean></value></member>
                      <member><name>empty</name><value><boolean>0</boolean></value></member>
                    </struct>
                  </value>
                </member>
              </struct>
            </value>
            <value>
              <struct>
                <member><name>class</name><value>VDI</value></member>
                <member><name>id</name><value>Ref:2</value></member>
                <member>
                  <name>snapshot</name>
                  <value>
                    <struct>
                      <member><name>uuid</name><value>4e0b0b4c-5a1f-4a4e-9a8e-0b2c3d4e5f60</value></member>
                      <member><name>name_label</name><value/></member>
                      <member><name>SR</name><value>Ref:3</value></member>
                      <member><name>virtual_size</name><value><string>8589934592</string></value></member>
                      <member><name>type</name><value>User</value></member>
                    </struct>
                  </value>
                </member>
              </struct>
            </value>
            <value>
              <struct>
                <member><name>class</name><value>SR</value></member>
                <member><name>id</name><value>Ref:3</value></member>
                <member>
                  <name>snapshot</name>
                  <value><struct><member><name>content_type</name><value/></member></struct></value>
                </member>
              </struct>
            </value>
          </data>
        </array>
      </value>
    </member>
  </struct>
</value>
)";

TEST(OvaParseTest, OldPrettyPrintedTypedExport) {
  auto ova = ParseOvaXml(kOldStyleOva);
  ASSERT_TRUE(ova.ok()) << ova.status().ToString();
  EXPECT_EQ(ova->version.hostname, "xs62-host");
  EXPECT_EQ(ova->version.build_number, "");
  EXPECT_EQ(ova->version.xapi_major, 1);  // a <string>
  EXPECT_EQ(ova->version.xapi_minor, 3);  // an <i4>
  EXPECT_EQ(ova->version.export_vsn, 0);  // absent: as XAPI reads it
  ASSERT_EQ(ova->objects.size(), 4u);
  EXPECT_EQ(ova->objects[0].snapshot.Find("name_description")->str(), "");

  auto vm = PrimaryVm(*ova);
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  auto vbds = VmVbds(*ova, **vm);
  ASSERT_TRUE(vbds.ok()) << vbds.status().ToString();
  ASSERT_EQ(vbds->size(), 1u);
  EXPECT_EQ((*vbds)[0].vdi_id, "Ref:2");

  // Lower-case "disk" is still not a CD; an SR with content_type "" is not
  // an ISO library; virtual_size as a <string>.
  auto vdis = StreamedVdis(*ova);
  ASSERT_TRUE(vdis.ok()) << vdis.status().ToString();
  ASSERT_EQ(vdis->size(), 1u);
  EXPECT_EQ((*vdis)[0].virtual_size, 8589934592);
  EXPECT_EQ((*vdis)[0].type, "User");
}

TEST(OvaParseTest, PrintedOldStyleReparsesToTheSameDocument) {
  auto ova = ParseOvaXml(kOldStyleOva);
  ASSERT_TRUE(ova.ok());
  std::string printed = PrintOvaXml(*ova);
  EXPECT_EQ(printed.rfind("<value><struct><member><name>version</name>", 0), 0u);
  auto again = ParseOvaXml(printed);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(PrintOvaXml(*again), printed);
  EXPECT_EQ(again->version.export_vsn, 0);
}

// Each malformed document fails with kCorruption and a message naming the
// problem.
struct Malformed {
  const char* name;
  std::string xml;
  const char* message;
};

std::string Doc(const std::string& version, const std::string& objects) {
  return "<value><struct>" + version + objects + "</struct></value>";
}
const std::string kVersion =
    "<member><name>version</name><value><struct>"
    "<member><name>xapi_major</name><value>1</value></member>"
    "<member><name>xapi_minor</name><value>3</value></member></struct></value></member>";
std::string Objects(const std::string& items) {
  return "<member><name>objects</name><value><array><data>" + items +
         "</data></array></value></member>";
}

TEST(OvaParseTest, MalformedDocumentsFailClearly) {
  const std::string snap = "<member><name>snapshot</name><value><struct></struct></value></member>";
  const std::vector<Malformed> cases = {
      {"not xml", "<value><struct>", "malformed XML"},
      {"not a struct", "<value>hello</value>", "top value is not a struct"},
      {"no version", Doc("", Objects("")), "no `version`"},
      {"no objects", Doc(kVersion, ""), "no `objects`"},
      {"objects not array", Doc(kVersion, "<member><name>objects</name><value>x</value></member>"),
       "not an array"},
      {"version not struct", Doc("<member><name>version</name><value>2</value></member>",
                                 Objects("")),
       "`version` is not a struct"},
      {"no xapi_minor",
       Doc("<member><name>version</name><value><struct><member><name>xapi_major</name>"
           "<value>1</value></member></struct></value></member>",
           Objects("")),
       "no xapi_minor"},
      {"bad xapi_major",
       Doc("<member><name>version</name><value><struct><member><name>xapi_major</name>"
           "<value>one</value></member><member><name>xapi_minor</name><value>3</value>"
           "</member></struct></value></member>",
           Objects("")),
       "not an integer"},
      {"object without class",
       Doc(kVersion, Objects("<value><struct><member><name>id</name><value>Ref:1</value>"
                             "</member>" + snap + "</struct></value>")),
       "object 0: no class"},
      {"object without id",
       Doc(kVersion, Objects("<value><struct><member><name>class</name><value>VM</value>"
                             "</member>" + snap + "</struct></value>")),
       "object 0 (VM): no id"},
      {"object with empty id",
       Doc(kVersion, Objects("<value><struct><member><name>class</name><value>VM</value>"
                             "</member><member><name>id</name><value/></member>" + snap +
                             "</struct></value>")),
       "empty id"},
      {"object without snapshot",
       Doc(kVersion, Objects("<value><struct><member><name>class</name><value>VM</value>"
                             "</member><member><name>id</name><value>Ref:1</value></member>"
                             "</struct></value>")),
       "no snapshot"},
      {"object not a struct", Doc(kVersion, Objects("<value>Ref:1</value>")),
       "object 0: not a struct"},
  };
  for (const Malformed& c : cases) {
    auto r = ParseOvaXml(c.xml);
    ASSERT_FALSE(r.ok()) << c.name;
    EXPECT_EQ(r.status().code(), Code::kCorruption) << c.name;
    EXPECT_NE(r.status().ToString().find(c.message), std::string::npos)
        << c.name << ": " << r.status().ToString();
  }
}

TEST(OvaParseTest, QueriesReportBrokenReferences) {
  // A disk VBD whose VDI is not in the document fails XAPI import; so does
  // StreamedVdis, naming the VBD.
  std::string xml = Doc(
      kVersion,
      Objects("<value><struct><member><name>class</name><value>VBD</value></member>"
              "<member><name>id</name><value>Ref:1</value></member><member><name>snapshot"
              "</name><value><struct><member><name>type</name><value>Disk</value></member>"
              "<member><name>VDI</name><value>Ref:7</value></member></struct></value>"
              "</member></struct></value>"));
  auto ova = ParseOvaXml(xml);
  ASSERT_TRUE(ova.ok()) << ova.status().ToString();
  auto vdis = StreamedVdis(*ova);
  ASSERT_FALSE(vdis.ok());
  EXPECT_EQ(vdis.status().code(), Code::kCorruption);
  EXPECT_NE(vdis.status().ToString().find("VBD Ref:1"), std::string::npos);
  EXPECT_FALSE(PrimaryVm(*ova).ok());  // no VM at all
  EXPECT_FALSE(ValidateOvaXml(*ova).ok());
}

}  // namespace
}  // namespace casulo::formats
