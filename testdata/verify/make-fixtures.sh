#!/usr/bin/env bash
# Regenerates the signature verification fixtures (see README.md).
#
#   testdata/verify/make-fixtures.sh
#
# Needs openssl (3.x) and the kernel's scripts/sign-file: SIGN_FILE, or Debian's build of it
# from linux-kbuild-6.1 (installed with linux-headers-6.1.0-*-amd64). The private keys are
# throwaway: they live in a temporary directory and are deleted, so every run makes new keys,
# certificates and signatures, and all the files must be committed together.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
SIGN_FILE=${SIGN_FILE:-/usr/lib/linux-kbuild-6.1/scripts/sign-file}
[ -x "$SIGN_FILE" ] || { echo "make-fixtures: no sign-file at $SIGN_FILE (set SIGN_FILE)" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# The module: the 512-byte tiny module of the signature fixtures (testdata/signature/tiny.c).
cp "$HERE/../signature/unsigned.ko" base.ko

# key NAME ALGORITHM OPTIONS...: a private key and a self-signed certificate for it.
key() {
  local name=$1
  shift
  openssl genpkey "$@" -out "$name.key" 2>/dev/null
  openssl req -x509 -new -key "$name.key" -out "$name.pem" -days 36500 \
    -subj "/CN=rkmod verify $name/O=rkmod tests" 2>/dev/null
}
key rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
key p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
key p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
# The same subject as rsa, another key and serial: what "unknown key" is tested with.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.key 2>/dev/null
openssl req -x509 -new -key other.key -out other.pem -days 36500 \
  -subj "/CN=rkmod verify rsa/O=rkmod tests" 2>/dev/null

# sign-file HASH KEY OUT: base.ko signed by the kernel's own tool.
sf() {
  cp base.ko "$3.ko"
  "$SIGN_FILE" "$1" "$2.key" "$2.pem" "$3.ko"
}
sf sha256 rsa rsa-sha256
sf sha1 rsa rsa-sha1
sf sha512 rsa rsa-sha512
sf sha256 p256 p256-sha256
sf sha384 p256 p256-sha384
sf sha512 p384 p384-sha512
sf sha224 p384 p384-sha224

# cms NAME KEY OPTIONS...: a detached signature made by openssl cms, appended the way
# sign-file appends one (PKCS#7 trailer: id_type 2, sig_len big-endian, then the magic).
cms() {
  local name=$1 key=$2
  shift 2
  openssl cms -sign -binary -in base.ko -signer "$key.pem" -inkey "$key.key" -outform DER \
    -out "$name.p7s" "$@"
  local n
  n=$(stat -c %s "$name.p7s")
  {
    cat base.ko "$name.p7s"
    printf '\x00\x00\x02\x00\x00\x00\x00\x00'
    printf "\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))"
    printf "\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))"
    printf '~Module signature appended~\n'
  } > "$name.ko"
}
# With signed attributes (contentType, signingTime, messageDigest, SMIMECapabilities).
cms rsa-attrs rsa -md sha256 -nocerts
cms p384-attrs p384 -md sha384 -nocerts
# Signer identified by subject key identifier instead of issuer and serial number.
cms p256-keyid p256 -md sha256 -nocerts -noattr -keyid
# A digest verification does not support.
cms rsa-sha3 rsa -md sha3-256 -nocerts -noattr

rm base.ko
mv ./*.ko "$HERE/"
cp rsa.pem p256.pem p384.pem other.pem "$HERE/"
openssl x509 -in p256.pem -outform DER -out "$HERE/p256.der"
# Several certificates in one PEM file, with a block that is not a certificate in between.
{ cat rsa.pem; openssl x509 -in p256.pem -noout -pubkey; cat p384.pem; } > "$HERE/bundle.pem"
# Several DER certificates one after another, as the kernel's built-in list holds them.
cat "$HERE/p256.der" <(openssl x509 -in rsa.pem -outform DER) > "$HERE/bundle.der"
echo "make-fixtures: done"
