// The system OpenSSL (Debian: libssl-dev, found with pkg-config `openssl`), as Swift sees it.
// Swift cannot call C macros or variadic functions; the small inline functions below wrap the
// ones Rill needs. Nothing of OpenSSL is vendored.
#ifndef RILL_COPENSSL_SHIM_H
#define RILL_COPENSSL_SHIM_H

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static inline int rill_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}

static inline int rill_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}

static inline int rill_tls1_3_version(void) { return TLS1_3_VERSION; }
static inline int rill_tls1_2_version(void) { return TLS1_2_VERSION; }

static inline long rill_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }

static inline long rill_SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER(void) { return SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER; }

/// A new P-256 key (EVP_EC_gen is a variadic macro).
static inline EVP_PKEY *rill_generate_p256_key(void) { return EVP_EC_gen("P-256"); }

static inline void rill_OPENSSL_free(void *p) { OPENSSL_free(p); }

static inline int rill_SSL_VERIFY_PEER(void) { return SSL_VERIFY_PEER; }
static inline int rill_SSL_VERIFY_FAIL_IF_NO_PEER_CERT(void) { return SSL_VERIFY_FAIL_IF_NO_PEER_CERT; }

#endif
