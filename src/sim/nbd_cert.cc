// The NBD servers' certificate (nbd_service.cc). Not the RPC server's:
// libnbd checks the server's name against the address it dialled, so the
// certificate must name every NBD listen address (IP subjectAltNames), one
// per simulated host, which the RPC certificate (CN = listen host) does not.
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <memory>

#include "core/file.h"
#include "sim/nbd_cert.h"

namespace casulo::sim {

Result<std::string> WriteNbdCertificate(const std::string& dir, const std::string& common_name,
                                        const std::vector<std::string>& ips,
                                        const std::vector<std::string>& dns_names) {
  auto fail = [](std::string_view what) { return Error(Code::kInternal, "OpenSSL: {} failed", what); };
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return fail("EVP_EC_gen");
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  if (!x) return fail("X509_new");
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(x.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  std::string san;
  for (const auto& d : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : ips) san += (san.empty() ? "IP:" : ",IP:") + ip;
  if (!san.empty()) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, san.c_str());
    if (ext == nullptr) return fail("subjectAltName");
    X509_add_ext(x.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x.get(), key.get(), EVP_sha256()) == 0) return fail("X509_sign");
  auto pem = [](auto write) -> Result<std::string> {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!bio || write(bio.get()) != 1) return Error(Code::kInternal, "OpenSSL: PEM write failed");
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, size_t(n));
  };
  ASSIGN_OR_RETURN(std::string key_pem, pem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  }));
  ASSIGN_OR_RETURN(std::string cert_pem, pem([&](BIO* b) { return PEM_write_bio_X509(b, x.get()); }));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/server-key.pem", AsBytes(key_pem), 0600));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/server-cert.pem", AsBytes(cert_pem)));
  RETURN_IF_ERROR(WriteFileAtomic(dir + "/ca-cert.pem", AsBytes(cert_pem)));
  return cert_pem;
}

}  // namespace casulo::sim
