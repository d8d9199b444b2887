// BufferedServer (buffered_server.h) in-process on loopback: a large PUT
// body reaches the content reader intact and byte-exact, with the request's
// addresses filled in; two pipelined requests on one connection both get
// answered (the bytes read ahead belong to the second); a chunked upload a
// handler refuses is answered and closed, as /import refuses it (the real
// /import's refusal through the binary is in handlers_test.cc); a client
// that drops mid-body fails the reader and leaves the server serving.
// No timings: throughput is measured in bench/xapi_bench only.
#include "sim/buffered_server.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <string>
#include <thread>

namespace casulo::sim {
namespace {

// Byte i of a test body: varies with i, so a lost, repeated or moved
// fragment shows.
char Pattern(uint64_t i) { return static_cast<char>((i * 2654435761u) >> 13); }

std::string Body(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = Pattern(i);
  return s;
}

struct Received {
  uint64_t bytes = 0;
  uint64_t first_mismatch = UINT64_MAX;
  bool complete = false;
  bool chunked = false;
};

class BufferedServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Reads the body and checks it against Pattern as it arrives.
    svr_.Put("/put", [this](const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader& reader) {
      Received r;
      r.complete = reader([&](const char* data, size_t len) {
        for (size_t i = 0; i < len; ++i)
          if (data[i] != Pattern(r.bytes + i) && r.first_mismatch == UINT64_MAX)
            r.first_mismatch = r.bytes + i;
        r.bytes += len;
        return true;
      });
      res.set_content(std::to_string(r.bytes) + " " + req.remote_addr + " " +
                          std::to_string(req.local_port),
                      "text/plain");
      last_.set_value(r);
    });
    // Refuses a chunked body without reading it, as /import does (import.ml).
    svr_.Put("/import", [this](const httplib::Request& req, httplib::Response& res,
                               const httplib::ContentReader&) {
      Received r;
      r.chunked = req.get_header_value("Transfer-Encoding") == "chunked";
      res.status = r.chunked ? 403 : 200;
      last_.set_value(r);
    });
    svr_.Get("/hello", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("hello", "text/plain");
    });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    svr_.stop();
    thread_.join();
  }

  // The handler's report of the next request it finishes.
  Received Next() {
    auto f = last_.get_future();
    EXPECT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    Received r = f.get();
    last_ = std::promise<Received>();
    return r;
  }

  int Connect() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    return fd;
  }
  static void SendAll(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      off += size_t(n);
    }
  }
  // Everything the server sends until it closes the connection.
  static std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, size_t(n));
    return out;
  }

  BufferedServer svr_;
  int port_ = 0;
  std::thread thread_;
  std::promise<Received> last_;
};

TEST_F(BufferedServerTest, LargePutArrivesByteExact) {
  // Several read buffers' worth plus an odd tail.
  const size_t size = 24 * BufferedServer::kReadBuffer + 12345;
  httplib::Client cli("127.0.0.1", port_);
  auto res = cli.Put("/put", Body(size), "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, std::to_string(size) + " 127.0.0.1 " + std::to_string(port_));
  Received r = Next();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, size);
  EXPECT_EQ(r.first_mismatch, UINT64_MAX);
}

TEST_F(BufferedServerTest, PipelinedRequestsOnOneConnection) {
  // Both requests in one send: the first read takes the second request's
  // bytes into the buffer, and they must serve it.
  const std::string body = Body(100000);
  int fd = Connect();
  SendAll(fd, "PUT /put HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                  "\r\n\r\n" + body + "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::string reply = ReadAll(fd);
  close(fd);
  Received r = Next();
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.bytes, body.size());
  EXPECT_EQ(r.first_mismatch, UINT64_MAX);
  EXPECT_NE(reply.find("\r\n\r\n100000 127.0.0.1"), std::string::npos) << reply;
  EXPECT_NE(reply.rfind("hello"), std::string::npos) << reply;
}

TEST_F(BufferedServerTest, ChunkedUploadRefused) {
  int fd = Connect();
  SendAll(fd,
          "PUT /import HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
          "5\r\nhello\r\n0\r\n\r\n");
  std::string reply = ReadAll(fd);
  close(fd);
  EXPECT_TRUE(Next().chunked);
  EXPECT_EQ(reply.rfind("HTTP/1.1 403", 0), 0u) << reply;
}

TEST_F(BufferedServerTest, ClientDroppingMidBodyFailsTheReader) {
  const std::string part = Body(3 * BufferedServer::kReadBuffer);
  int fd = Connect();
  SendAll(fd, "PUT /put HTTP/1.1\r\nHost: x\r\nContent-Length: 67108864\r\n\r\n" + part);
  // Reset rather than FIN: the harder case, the server's recv fails.
  linger off{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof off);
  close(fd);
  Received r = Next();
  EXPECT_FALSE(r.complete);
  EXPECT_LE(r.bytes, part.size());
  EXPECT_EQ(r.first_mismatch, UINT64_MAX);
  // The server still serves.
  httplib::Client cli("127.0.0.1", port_);
  auto res = cli.Get("/hello");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body, "hello");
}

TEST_F(BufferedServerTest, ClientClosingMidBodyFailsTheReader) {
  const std::string part = Body(BufferedServer::kReadBuffer / 2);
  int fd = Connect();
  SendAll(fd, "PUT /put HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + part);
  shutdown(fd, SHUT_WR);  // FIN: the server sees EOF before Content-Length
  Received r = Next();
  close(fd);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.bytes, part.size());
  EXPECT_EQ(r.first_mismatch, UINT64_MAX);
}

}  // namespace
}  // namespace casulo::sim
