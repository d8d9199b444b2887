// GET /export_raw_vdi and PUT /import_raw_vdi (next slice).
#include "sim/http.h"

namespace casulo::sim {

void AddRawVdiRoutes(httplib::Server&, Sim&) {}

}  // namespace casulo::sim
