// A scripted RpcTransport for tests: answers from a queue of canned
// XML-RPC responses and records every request (shared state, so the test
// keeps a handle after the Session owns the transport).
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "formats/xmlrpc.h"
#include "xapi/rpc.h"
#include "xapi/transport.h"

namespace casulo::xapi::testing {

struct Script {
  std::deque<Result<std::string>> answers;
  std::vector<formats::XmlRpcMethodCall> calls;  // decoded requests, in order
  std::vector<std::string> urls;                 // transport url per request

  void Ok(const XmlRpcValue& value) {
    answers.push_back(formats::PrintMethodResponse(
        XmlRpcValue(XmlRpcStruct{{"Status", "Success"}, {"Value", value}}), formats::XmlRpcStyle::kBare));
  }
  void Fail(std::vector<std::string> desc) {
    XmlRpcArray a(desc.begin(), desc.end());
    answers.push_back(formats::PrintMethodResponse(
        XmlRpcValue(XmlRpcStruct{{"Status", "Failure"}, {"ErrorDescription", XmlRpcValue(a)}})));
  }
  std::vector<std::string> Methods() const {
    std::vector<std::string> m;
    for (const auto& c : calls) m.push_back(c.method);
    return m;
  }
};

class FakeTransport final : public RpcTransport {
 public:
  FakeTransport(std::shared_ptr<Script> script, std::string url)
      : script_(std::move(script)), url_(std::move(url)) {}
  Result<std::string> Post(std::string_view, std::string_view, std::string_view body) override {
    auto call = formats::ParseMethodCall(body);
    if (!call.ok()) return call.status();
    script_->calls.push_back(*call);
    script_->urls.push_back(url_);
    if (script_->answers.empty()) return Status(Code::kInternal, "script exhausted at " + call->method);
    auto a = std::move(script_->answers.front());
    script_->answers.pop_front();
    return a;
  }
  std::string url() const override { return url_; }

 private:
  std::shared_ptr<Script> script_;
  std::string url_;
};

}  // namespace casulo::xapi::testing
