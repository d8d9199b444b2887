// A self-signed certificate for the simulator's NBD servers (nbd_cert.cc).
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace casulo::sim {

// Writes DIR/server-key.pem (0600), DIR/server-cert.pem and DIR/ca-cert.pem
// (the same certificate: the layout nbdkit's --tls-certificates wants) for a
// new P-256 key, CN `common_name`, subjectAltNames `dns_names` and `ips`.
// Returns the certificate's PEM.
Result<std::string> WriteNbdCertificate(const std::string& dir, const std::string& common_name,
                                        const std::vector<std::string>& ips,
                                        const std::vector<std::string>& dns_names);

}  // namespace casulo::sim
