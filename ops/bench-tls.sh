#!/usr/bin/env bash
# TLS peer-link benchmark: the RillTLS handler (system OpenSSL, TLS 1.3, mutual) against the same
# link in plaintext over loopback, in the same run, plus OpenSSL's own AES-GCM speed on this CPU as
# the physical baseline for what encryption costs.
#   bash ops/bench-tls.sh [MiB per run]
set -euo pipefail
cd "$(dirname "$0")/.."
MIB=${1:-1024}
swift build -c release --product rill-bench >/dev/null
echo "== openssl speed (one core, 16 KiB blocks: the TLS record size)"
openssl speed -elapsed -seconds 2 -bytes 16384 -evp aes-256-gcm 2>/dev/null | tail -1
openssl speed -elapsed -seconds 2 -bytes 16384 -evp chacha20-poly1305 2>/dev/null | tail -1
echo "== rill-bench tls ($MIB MiB per run)"
.build/release/rill-bench tls --mebibytes "$MIB" --runs 3
