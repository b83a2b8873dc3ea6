#!/usr/bin/env bash
# Makes the certificates tls_test and the TLS demo use, with the openssl tool, at test time
# (nothing secret or expiring is kept in the repository).
#   tests/tls/make-certs.sh DIR
# DIR gets (PEM, EC P-256 keys, *.key beside each *.pem):
#   ca.pem                 the test CA (trust it with --ca / load_verify_file)
#   server.pem             by ca: localhost, example.test, 127.0.0.1, ::1 (chain: leaf + ca)
#   client.pem             by ca: a client certificate for mutual TLS
#   expired.pem            by ca, same names, valid 2001..2002
#   future.pem             by ca, same names, valid from 2090 (not yet valid)
#   selfsigned.pem         self-signed, same names
#   wildcard.pem           by ca: *.example.test only (a trailing dot must not widen it)
#   linklocal.pem          by ca: IP fe80::1 only (a link-local address, written with a zone)
#   other-ca.pem, stranger.pem   a CA nobody trusts, and a certificate it signed (unknown CA)
set -euo pipefail
out=${1:?usage: make-certs.sh DIR}
command -v openssl >/dev/null || { echo "make-certs.sh: the openssl tool is missing (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"  # absolute: the script cds below
work=$(mktemp -d "$out.tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

names="DNS:localhost,DNS:example.test,IP:127.0.0.1,IP:::1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }

# A CA: its own openssl ca database, so leaf certificates can get any validity window.
make_ca() {
  local name=$1
  key "$name"
  openssl req -x509 -new -key "$name.key" -subj "/CN=sockets test $name" -days 3650 -sha256 \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$name.pem" 2>/dev/null
  mkdir -p "db-$name"
  : >"db-$name/index.txt"
  echo 1000 >"db-$name/serial"
  cat >"$name.cnf" <<CNF
[ca]
default_ca = this
[this]
dir = db-$name
database = \$dir/index.txt
serial = \$dir/serial
new_certs_dir = \$dir
certificate = $name.pem
private_key = $name.key
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
[leaf]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = \$ENV::SAN
CNF
}

# sign CA NAME CN [openssl ca validity options...]; the names are $san if set, else $names.
sign() {
  local ca=$1 name=$2 cn=$3
  shift 3
  key "$name"
  openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
  SAN=${san:-$names} openssl ca -batch -notext -config "$ca.cnf" -extensions leaf -in "$name.csr" -out "$name.pem" "$@" 2>/dev/null
}

make_ca ca
make_ca other-ca
sign ca server localhost -days 30
cat ca.pem >>server.pem  # a chain, as servers send it
sign ca client "sockets test client" -days 30
sign ca expired localhost -startdate 20010101000000Z -enddate 20020101000000Z
sign ca future localhost -startdate 20900101000000Z -enddate 20910101000000Z
sign other-ca stranger localhost -days 30
san="DNS:*.example.test" sign ca wildcard "*.example.test" -days 30
san="IP:fe80::1" sign ca linklocal "fe80::1" -days 30
key selfsigned
openssl req -x509 -new -key selfsigned.key -subj /CN=localhost -days 30 -sha256 -addext "subjectAltName=$names" \
  -out selfsigned.pem 2>/dev/null

rm -rf db-* ./*.csr ./*.cnf
chmod 600 ./*.key
# Replace the old set in one step, so a reader never sees half of one.
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
echo "certificates in $out"
