// casulo-sim's control endpoint (simulator only, no XAPI counterpart):
//   POST   /casulo-sim/faults  body = fault specs, one a line (faults.h)
//   GET    /casulo-sim/faults  {"faults": [spec, ...]} as armed, with counts left
//   DELETE /casulo-sim/faults  disarms everything
//   GET    /casulo-sim/stats   Stats::ToJson();  DELETE resets the counters
// Unauthenticated: the simulator is meant to listen on loopback only and
// holds nothing secret.
#include "sim/http.h"

namespace casulo::sim {
namespace {

void ReplyJson(httplib::Response& res, const Json& j) {
  res.status = 200;
  res.set_content(j.dump(1) + "\n", "application/json");
}

Json Armed(Sim& sim) {
  Json list = Json::array();
  for (const auto& f : sim.faults().List()) list.push_back(f);
  return {{"faults", list}};
}

}  // namespace

void AddControlRoutes(httplib::Server& svr, Sim& sim) {
  // A reader route: httplib tries those before plain ones, and the RPC
  // catch-all POST (server.cc) is one.
  svr.Post("/casulo-sim/faults", [&sim](const httplib::Request&, httplib::Response& res,
                                        const httplib::ContentReader& reader) {
    std::string body;
    reader([&](const char* data, size_t len) {
      body.append(data, len);
      return body.size() < (1 << 20);
    });
    if (Status s = sim.faults().AddLines(body); !s.ok()) {
      res.status = 400;
      res.set_content(s.ToString() + "\n", "text/plain");
      return;
    }
    ReplyJson(res, Armed(sim));
  });
  svr.Get("/casulo-sim/faults",
          [&sim](const httplib::Request&, httplib::Response& res) { ReplyJson(res, Armed(sim)); });
  svr.Delete("/casulo-sim/faults", [&sim](const httplib::Request&, httplib::Response& res) {
    sim.faults().Clear();
    ReplyJson(res, Armed(sim));
  });
  svr.Get("/casulo-sim/stats", [&sim](const httplib::Request&, httplib::Response& res) {
    ReplyJson(res, sim.stats().ToJson());
  });
  svr.Delete("/casulo-sim/stats", [&sim](const httplib::Request&, httplib::Response& res) {
    sim.stats().Clear();
    ReplyJson(res, sim.stats().ToJson());
  });
}

}  // namespace casulo::sim
