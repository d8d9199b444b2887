#include "sim/xmldb.h"

#include "sim/http.h"

namespace casulo::sim {

std::string DumpPoolDatabase(const Store&) { return {}; }

void AddXmlDbRoutes(httplib::Server&, Sim&) {}

}  // namespace casulo::sim
