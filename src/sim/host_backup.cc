#include "sim/http.h"

namespace casulo::sim {

void AddHostBackupRoutes(httplib::Server&, Sim&) {}

}  // namespace casulo::sim
