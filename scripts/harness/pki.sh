# Test PKI for the TLS modes of the harness services (sourced by svc scripts).
# make_test_pki DIR writes, with openssl:
#   ca.pem / ca.key          a test CA (CA:TRUE)
#   server.pem / server.key  leaf for 127.0.0.1 and localhost, signed by the CA
#   client.pem / client.key  client-auth leaf, signed by the CA
# The files are made once per DIR; keys are 2048-bit RSA, valid 10 years.
make_test_pki() {
  local dir="$1"
  [ -f "$dir/client.pem" ] && return 0
  mkdir -p "$dir"
  cat >"$dir/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = almanac test
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -config "$dir/openssl.cnf" -extensions ca \
    -subj "/CN=almanac test CA" -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1 \
    || die "openssl: test CA failed"
  local leaf
  for leaf in server client; do
    openssl req -newkey rsa:2048 -nodes -config "$dir/openssl.cnf" -subj "/CN=almanac test $leaf" \
      -keyout "$dir/$leaf.key" -out "$dir/$leaf.csr" >/dev/null 2>&1 || die "openssl: $leaf key failed"
    openssl x509 -req -in "$dir/$leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 3650 -extfile "$dir/openssl.cnf" -extensions "$leaf" -out "$dir/$leaf.pem" >/dev/null 2>&1 \
      || die "openssl: $leaf certificate failed"
  done
}

# tls_web_config FILE PKI_DIR MODE: a Prometheus/Pushgateway --web.config.file serving
# PKI_DIR's server certificate; MODE "mutual" also requires a client certificate from the CA.
tls_web_config() {
  local file="$1" dir="$2" mode="$3"
  {
    echo "tls_server_config:"
    echo "  cert_file: $dir/server.pem"
    echo "  key_file: $dir/server.key"
    if [ "$mode" = mutual ]; then
      echo "  client_auth_type: RequireAndVerifyClientCert"
      echo "  client_ca_file: $dir/ca.pem"
    fi
  } >"$file"
}

# tls_env PKI_DIR: the KEY=VALUE lines a TLS service exports for tests.
tls_env() {
  echo "ALMANAC_TEST_TLS_CA=$1/ca.pem"
  echo "ALMANAC_TEST_TLS_CLIENT_CERT=$1/client.pem"
  echo "ALMANAC_TEST_TLS_CLIENT_KEY=$1/client.key"
}

# https_ok URL PKI_DIR: the URL answers 2xx over TLS (client certificate presented).
https_ok() {
  curl -sf -o /dev/null --max-time 2 --cacert "$2/ca.pem" --cert "$2/client.pem" --key "$2/client.key" "$1"
}
