#!/usr/bin/env bash
# The TLS test certificates beside this script, made once with the openssl CLI
# (OpenSSL 3.0) and committed, valid for 100 years. Run it again only to replace
# them all (the tests read them by these names):
#
#   bash shared/micro/tests/tls/make-certificates.sh
#
#   ca.pem                     the CA the tests trust ("Shippy test CA")
#   server.pem, server-key.pem  for localhost and 127.0.0.1, signed by ca.pem
#   client.pem, client-key.pem  for shippy.consignment (a client), signed by ca.pem
#   other-ca.pem               a second CA that the tests never trust
#   other-client.pem, other-client-key.pem  a client certificate other-ca.pem signed
#
# Keys are ECDSA P-256 in PKCS #8. The CAs' own keys are thrown away: nothing
# more is ever signed with them.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
days=36500

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

new_ca() {  # name, common name
  new_key "$work/$1-key.pem"
  openssl req -x509 -new -key "$work/$1-key.pem" -days "$days" -subj "/O=Shippy tests/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$1.pem"
}

new_cert() {  # name, CA name, common name, subjectAltName, extendedKeyUsage
  new_key "$1-key.pem"
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=$5" "subjectAltName=$4" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$work/$1.ext"
  openssl req -new -key "$1-key.pem" -subj "/O=Shippy tests/CN=$3" -out "$work/$1.csr"
  openssl x509 -req -in "$work/$1.csr" -CA "$2.pem" -CAkey "$work/$2-key.pem" \
    -CAserial "$work/$2.srl" -CAcreateserial -days "$days" -extfile "$work/$1.ext" -out "$1.pem"
}

new_ca ca "Shippy test CA"
new_ca other-ca "Shippy test CA that no test trusts"
new_cert server ca localhost "DNS:localhost,IP:127.0.0.1" serverAuth
new_cert client ca shippy.consignment "DNS:shippy.consignment" clientAuth
new_cert other-client other-ca shippy.consignment "DNS:shippy.consignment" clientAuth
chmod 0644 ./*.pem
