#include "sim/http.h"

namespace casulo::sim {

void AddGuestRoutes(httplib::Server&, Sim&) {}

}  // namespace casulo::sim
