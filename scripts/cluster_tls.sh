#!/usr/bin/env bash
# Ray's TLS certificates for several hosts, made on the head with openssl; never committed, never
# in an image (docs/multi-host.md).
#
#   bash scripts/cluster_tls.sh tls head 10.231.0.10        # the CA (once) and the head's certificate
#   bash scripts/cluster_tls.sh tls worker-1 10.231.0.11    # a worker host's: copy tls/worker-1/ there
#
# DIR/ca.key stays on the head. DIR/NAME/ holds ca.crt, node.crt (the host's address and
# 127.0.0.1 as names) and node.key, readable by the containers' group (gid 0), nobody else.
set -euo pipefail
dir=${1:?usage: cluster_tls.sh DIR NAME ADDRESS}
name=${2:?usage: cluster_tls.sh DIR NAME ADDRESS}
address=${3:?usage: cluster_tls.sh DIR NAME ADDRESS}
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9_-]*$ ]] || { echo "cluster_tls.sh: bad host name '$name'" >&2; exit 2; }
umask 077
mkdir -p "$dir/$name"
if [ ! -s "$dir/ca.key" ]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=salary-pipeline cluster CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
fi
out="$dir/$name"
openssl req -newkey rsa:3072 -nodes -subj "/CN=$name" -keyout "$out/node.key" -out "$out/node.csr" 2>/dev/null
printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:localhost\n' "$address" > "$out/ext.cnf"
openssl x509 -req -in "$out/node.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 825 \
    -extfile "$out/ext.cnf" -out "$out/node.crt" 2>/dev/null
rm -f "$out/node.csr" "$out/ext.cnf"
cp "$dir/ca.crt" "$out/ca.crt"
chmod 750 "$out"
chmod 640 "$out"/*
echo "$out"
