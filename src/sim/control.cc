#include "sim/http.h"

namespace casulo::sim {

void AddControlRoutes(httplib::Server&, Sim&) {}

}  // namespace casulo::sim
