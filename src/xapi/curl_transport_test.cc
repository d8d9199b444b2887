// The libcurl transport against a loopback Python server
// (testdata/http_server.py), plain and TLS with a throwaway self-signed
// certificate. The server is started per fixture and killed by pid.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "xapi/rpc.h"
#include "xapi/transport.h"

namespace casulo::xapi {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class LoopbackServer {
 public:
  explicit LoopbackServer(std::vector<std::string> extra = {}) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      std::string script = std::string(CASULO_SOURCE_DIR) + "/src/xapi/testdata/http_server.py";
      std::vector<char*> argv{const_cast<char*>("python3"), script.data()};
      for (auto& e : extra) argv.push_back(e.data());
      argv.push_back(nullptr);
      execvp("python3", argv.data());
      _exit(127);
    }
    close(fds[1]);
    FILE* f = fdopen(fds[0], "r");
    char line[32] = {};
    if (f && fgets(line, sizeof line, f)) port_ = std::atoi(line);
    if (f) fclose(f);
  }
  ~LoopbackServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

class CurlTransportTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GT(server_.port(), 0) << "loopback server did not start"; }
  Endpoint Ep() const { return Endpoint{"http://127.0.0.1:" + std::to_string(server_.port()), {}}; }
  LoopbackServer server_;
};

TEST_F(CurlTransportTest, PostReturnsTheBody) {
  auto t = NewCurlRpcTransport(Ep());
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  for (int i = 0; i < 3; ++i) {  // the handle is reused across calls
    auto r = (*t)->Post("/rpc", "text/xml", "<methodCall/>" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, "<methodCall/>" + std::to_string(i));
  }
}

TEST_F(CurlTransportTest, PostHtml500IsAClearRemoteError) {
  auto t = NewCurlRpcTransport(Ep());
  ASSERT_TRUE(t.ok());
  auto r = (*t)->Post("/html500", "text/xml", "junk");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kRemote);
  EXPECT_THAT(r.status().message(), HasSubstr("server answered HTTP 500: HTTP 500 internal server error"));
}

TEST_F(CurlTransportTest, ConnectionRefusedIsIoError) {
  auto t = NewCurlRpcTransport(Endpoint{"http://127.0.0.1:1", {}});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ((*t)->Post("/", "text/xml", "x").status().code(), Code::kIoError);
  EXPECT_EQ(NewCurlRpcTransport(Endpoint{"ftp://x", {}}).status().code(), Code::kInvalidArgument);
}

TEST_F(CurlTransportTest, GetStreamsUntilEofWithTaskIdAndFollowsRedirects) {
  Bytes out;
  BytesSink sink(&out);
  auto r = HttpGet(Ep(), "/data?n=1000000&session_id=OpaqueRef:s", sink);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->http_status, 200);
  EXPECT_EQ(r->task_id, "OpaqueRef:task-1");
  EXPECT_EQ(r->bytes, 1000000u);
  ASSERT_EQ(out.size(), 1000000u);
  for (size_t i = 0; i < out.size(); i += 9973) ASSERT_EQ(out[i], (i % (251 * 64)) % 251);

  Bytes out2;
  BytesSink sink2(&out2);
  auto red = HttpGet(Ep(), "/redirect?n=10&session_id=OpaqueRef:s&task_id=OpaqueRef:t", sink2);
  ASSERT_TRUE(red.ok()) << red.status().ToString();
  EXPECT_EQ(out2.size(), 10u);
  EXPECT_THAT(red->final_url, HasSubstr("/data?n=10&session_id=OpaqueRef:s&task_id=OpaqueRef:t"));
}

TEST_F(CurlTransportTest, GetErrors) {
  Bytes out;
  BytesSink sink(&out);
  auto unauth = HttpGet(Ep(), "/private", sink);
  EXPECT_EQ(unauth.status().code(), Code::kAuth);
  auto embedded = HttpGet(Ep(), "/embedded", sink);
  EXPECT_EQ(embedded.status().code(), Code::kRemote);
  EXPECT_THAT(embedded.status().message(), HasSubstr("HTTP response inside the body"));
  EXPECT_TRUE(out.empty());

  std::atomic<bool> cancel{true};
  TransferOptions o;
  o.cancel = &cancel;
  EXPECT_EQ(HttpGet(Ep(), "/data?n=100000000", sink, o).status().code(), Code::kCancelled);
}

TEST_F(CurlTransportTest, PutSendsContentLengthNeverChunked) {
  Bytes data(3 << 20);
  uint32_t sum = 0;
  for (size_t i = 0; i < data.size(); ++i) sum += data[i] = static_cast<uint8_t>(i * 7);
  MemorySource src(data);
  auto r = HttpPut(Ep(), "/upload?session_id=OpaqueRef:s", src, data.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->task_id, "OpaqueRef:task-2");
  std::string received, got_sum;
  for (const auto& [k, v] : r->headers) {
    if (k == "x-received") received = v;
    if (k == "x-sum") got_sum = v;
  }
  EXPECT_EQ(received, std::to_string(data.size()));
  EXPECT_EQ(got_sum, std::to_string(sum));

  MemorySource shorter(ByteSpan(data).first(100));
  auto early = HttpPut(Ep(), "/upload", shorter, 1000);
  EXPECT_EQ(early.status().code(), Code::kCorruption);
}

TEST(EndpointTest, ForHostKeepsSchemePortAndBracketsIpv6) {
  Endpoint base{"https://pool.example:8443", {"sha256//abc", ""}};
  EXPECT_EQ(EndpointForHost(base, "10.0.0.2").url, "https://10.0.0.2:8443");
  EXPECT_EQ(EndpointForHost(base, "fd00::2").url, "https://[fd00::2]:8443");
  EXPECT_EQ(EndpointForHost(base, "10.0.0.2").tls.pinned_public_key, "sha256//abc");
  EXPECT_EQ(EndpointForHost(Endpoint{"http://[::1]:80", {}}, "h").url, "http://h:80");
  EXPECT_EQ(EndpointForHost(Endpoint{"https://h1", {}}, "h2").url, "https://h2");
}

std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// A self-signed certificate, like a XenServer host's: the pin is verified,
// a wrong pin and no pin (system store) are refused.
TEST(CurlTlsTest, PinnedKeyIsVerifiedAndNeverSilentlySkipped) {
  fs::path dir = fs::temp_directory_path() / ("casulo-xapi-tls-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  Shell("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=xenserver -keyout " + key +
        " -out " + cert + " 2>/dev/null");
  std::string expected =
      "sha256//" + Shell("openssl x509 -in " + cert + " -pubkey -noout | openssl pkey -pubin -outform der"
                         " | openssl dgst -sha256 -binary | openssl base64");
  {
    LoopbackServer server({"--tls", cert, key});
    ASSERT_GT(server.port(), 0);
    std::string url = "https://127.0.0.1:" + std::to_string(server.port());
    auto pin = FetchServerPin(url);
    ASSERT_TRUE(pin.ok()) << pin.status().ToString();
    EXPECT_EQ(*pin, expected);

    auto good = NewCurlRpcTransport(Endpoint{url, {*pin, ""}});
    ASSERT_TRUE(good.ok());
    auto r = (*good)->Post("/rpc", "text/xml", "hello");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, "hello");

    auto wrong = NewCurlRpcTransport(Endpoint{url, {"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", ""}});
    EXPECT_EQ((*wrong)->Post("/rpc", "text/xml", "x").status().code(), Code::kAuth);
    auto unpinned = NewCurlRpcTransport(Endpoint{url, {}});
    EXPECT_EQ((*unpinned)->Post("/rpc", "text/xml", "x").status().code(), Code::kAuth);
    auto with_ca = NewCurlRpcTransport(Endpoint{"https://localhost:" + std::to_string(server.port()), {"", cert}});
    // Trusted by CA file, but the name (CN=xenserver) does not match: refused.
    EXPECT_FALSE((*with_ca)->Post("/rpc", "text/xml", "x").ok());

    Bytes out;
    BytesSink sink(&out);
    auto get = HttpGet(Endpoint{url, {*pin, ""}}, "/redirect?n=5", sink);
    ASSERT_TRUE(get.ok()) << get.status().ToString();
    EXPECT_EQ(out.size(), 5u);
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace casulo::xapi
