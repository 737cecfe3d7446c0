#!/usr/bin/env bash
# Make a cluster CA and node certificates with the openssl command, for real hosts.
# (`rill dev` makes its own through OpenSSL's API; this script is for operators who want files
# they can inspect, keep the CA key offline, and rotate by hand.)
#
#   ops/certs.sh ca   DIR                          # DIR/ca.pem, DIR/ca.key (keep ca.key offline)
#   ops/certs.sh node DIR ID HOST [HOST...]       # DIR/node-ID.pem, DIR/node-ID.key, signed by DIR/ca.*
#
# Node certificates name the node in their common name (rill-node-ID): peers check it against
# the node id they dial and the hello they receive. HOSTs (DNS names or IPs) go into the subject
# alternative names for clients that verify hostnames.
set -euo pipefail
days_ca=3650
days_node=825

usage() { sed -n '2,12p' "$0"; exit 64; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
mkdir -p "$dir"

case "$cmd" in
  ca)
    [ -e "$dir/ca.key" ] && { echo "refusing to overwrite $dir/ca.key"; exit 1; }
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key"
    chmod 600 "$dir/ca.key"
    openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days_ca" -subj "/O=Rill/CN=rill-cluster-ca" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -out "$dir/ca.pem"
    echo "CA: $dir/ca.pem (key $dir/ca.key: keep it offline)"
    ;;
  node)
    [ $# -ge 4 ] || usage
    id=$3; shift 3
    san=""
    for h in "$@"; do
      if [[ $h =~ ^[0-9.]+$ || $h == *:* ]]; then san+="IP:$h,"; else san+="DNS:$h,"; fi
    done
    san=${san%,}
    openssl ecparam -name prime256v1 -genkey -noout -out "$dir/node-$id.key"
    chmod 600 "$dir/node-$id.key"
    openssl req -new -key "$dir/node-$id.key" -subj "/O=Rill/CN=rill-node-$id" -out "$dir/node-$id.csr"
    openssl x509 -req -in "$dir/node-$id.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
      -sha256 -days "$days_node" -out "$dir/node-$id.pem" \
      -extfile <(printf "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=%s\n" "$san")
    rm -f "$dir/node-$id.csr"
    openssl verify -CAfile "$dir/ca.pem" "$dir/node-$id.pem"
    echo "node $id: $dir/node-$id.pem, $dir/node-$id.key"
    ;;
  *) usage ;;
esac
