#include "sim/http.h"

namespace casulo::sim {

void AddMetadataRoutes(httplib::Server&, Sim&) {}

}  // namespace casulo::sim
