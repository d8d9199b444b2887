#include "sim/http.h"

namespace casulo::sim {

void AddXmlDbRoutes(httplib::Server&, Sim&) {}

}  // namespace casulo::sim
