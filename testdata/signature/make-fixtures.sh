#!/usr/bin/env bash
# Regenerates the module signature fixtures and what kmod prints for them.
#
#   testdata/signature/make-fixtures.sh [MODINFO_HEAD]
#
# Needs gcc, strip, openssl (3.x) and kmod 30's modinfo on PATH (Debian 12's). MODINFO_HEAD is
# an optional second modinfo, built from kmod's current source with OpenSSL (see README): when
# given, its output is captured too (NAME.kmod-head); otherwise the .kmod-head files are left as
# they are. Keys and certificates are throwaway: they live in a temporary directory and are
# deleted, so every run makes new signatures (and new expected files).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
HEAD_MODINFO=${1:-}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

modinfo --version | grep -q 'kmod version 30' || { echo "make-fixtures: modinfo is not kmod 30" >&2; exit 1; }

# The module the signatures are appended to: a relocatable ELF whose only content is .modinfo.
gcc -c -Os -fno-asynchronous-unwind-tables -o base.ko "$HERE/tiny.c"
strip --strip-unneeded -R .comment -R .note.GNU-stack base.ko

# The 12-byte struct module_signature: algo, hash, id_type, signer_len, key_id_len, 3 pad bytes,
# then sig_len as a big-endian u32. Arguments: algo hash id_type signer_len key_id_len sig_len.
trailer() {
  local n=$6
  printf "\\x$(printf %02x "$1")\\x$(printf %02x "$2")\\x$(printf %02x "$3")"
  printf "\\x$(printf %02x "$4")\\x$(printf %02x "$5")\\x00\\x00\\x00"
  printf "\\x$(printf %02x $((n >> 24 & 255)))\\x$(printf %02x $((n >> 16 & 255)))"
  printf "\\x$(printf %02x $((n >> 8 & 255)))\\x$(printf %02x $((n & 255)))"
}
MAGIC='~Module signature appended~\n'

# pkcs7 NAME SIGFILE [SIGNER_LEN KEY_ID_LEN]: base.ko + SIGFILE + a PKCS#7 trailer (as sign-file).
pkcs7() {
  local len
  len=$(stat -c %s "$2")
  { cat base.ko "$2"; trailer 0 0 2 "${3:-0}" "${4:-0}" "$len"; printf "$MAGIC"; } > "$1.ko"
}

# cert NAME SUBJECT SERIAL KEY [EXTRA...]: a self-signed certificate.
cert() {
  local name=$1 subj=$2 serial=$3 key=$4
  shift 4
  openssl req -x509 -new -key "$key" -out "$name.pem" -days 36500 -subj "$subj" \
    -set_serial "$serial" "$@" 2>/dev/null
}

# sign CERT KEY OUT [OPTIONS...]: a detached DER signature of base.ko, as sign-file makes it.
sign() {
  local cert=$1 key=$2 out=$3
  shift 3
  openssl cms -sign -binary -in base.ko -signer "$cert.pem" -inkey "$key" -outform DER \
    -out "$out" "$@"
}

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.key

cert rsa '/CN=rkmod test RSA key' 0x1f2e3d4c5b6a79880102030405060708090a0b0c rsa.key
cert ec '/CN=rkmod test EC key/O=rkmod' 0x6a4b ec.key
cert highbit '/CN=rkmod high bit serial' 0x80112233445566778899aabbccddeeff00112233 rsa.key
cert zero '/CN=rkmod zero serial' 0 rsa.key
cert negative '/CN=rkmod negative serial' -0x1234 rsa.key
cert nocn '/O=rkmod/OU=signature tests' 0x42 rsa.key
cert empty '/' 0x43 rsa.key
printf '[req]\ndistinguished_name = dn\nstring_mask = pkix\nprompt = no\n[dn]\nCN = x\n' > bmp.cnf
cert bmp '/CN=rkmod tést' 0x44 rsa.key -utf8 -config bmp.cnf
cert second '/CN=rkmod second signer' 0x45 ec.key

sign rsa rsa.key rsa-sha256.p7s -noattr -nocerts -md sha256
pkcs7 pkcs7-rsa-sha256 rsa-sha256.p7s
sign ec ec.key ec-sha512.p7s -noattr -nocerts -md sha512
pkcs7 pkcs7-ec-sha512 ec-sha512.p7s
sign rsa rsa.key sha1.p7s -noattr -nocerts -md sha1
pkcs7 pkcs7-sha1 sha1.p7s
sign rsa rsa.key sha3.p7s -noattr -nocerts -md sha3-256
pkcs7 pkcs7-sha3-256 sha3.p7s
sign highbit rsa.key highbit.p7s -noattr -nocerts -md sha256
pkcs7 pkcs7-serial-high-bit highbit.p7s
sign zero rsa.key zero.p7s -noattr -nocerts -md sha256
pkcs7 pkcs7-serial-zero zero.p7s
sign negative rsa.key negative.p7s -noattr -nocerts -md sha256
pkcs7 pkcs7-serial-negative negative.p7s
sign nocn rsa.key nocn.p7s -noattr -nocerts -md sha256
pkcs7 pkcs7-issuer-no-cn nocn.p7s
sign empty rsa.key empty.p7s -noattr -nocerts -md sha256
pkcs7 pkcs7-issuer-empty empty.p7s
sign bmp rsa.key bmp.p7s -noattr -nocerts -md sha256
pkcs7 pkcs7-cn-bmpstring bmp.p7s
# Certificates and signed attributes included: kmod reads the SignerInfo all the same.
sign rsa rsa.key full.p7s -md sha256
pkcs7 pkcs7-with-cert-and-attrs full.p7s
# Two signers: kmod reports the first SignerInfo in the encoding.
openssl cms -sign -binary -in base.ko -signer rsa.pem -inkey rsa.key -signer second.pem \
  -inkey ec.key -noattr -nocerts -md sha256 -outform DER -out two.p7s
pkcs7 pkcs7-two-signers two.p7s
# The signer named by subjectKeyIdentifier (CMS): OpenSSL's PKCS#7 reader rejects it.
sign rsa rsa.key skid.p7s -noattr -nocerts -md sha256 -keyid
pkcs7 pkcs7-subject-key-id skid.p7s
# signer_len and key_id_len are not used for PKCS#7, but they count in the length check.
pkcs7 pkcs7-signer-len-set rsa-sha256.p7s 5 3
# Bytes after the DER object, inside sig_len: OpenSSL reads one object and ignores them.
{ cat rsa-sha256.p7s; printf 'trailing'; } > trailing.p7s
pkcs7 pkcs7-trailing-bytes trailing.p7s
# The DER cut short: OpenSSL cannot parse it.
head -c $(($(stat -c %s rsa-sha256.p7s) - 10)) rsa-sha256.p7s > truncated.p7s
pkcs7 pkcs7-truncated-der truncated.p7s
# Not DER at all.
printf 'this is not a PKCS#7 message, only some bytes\n' > garbage.p7s
pkcs7 pkcs7-garbage garbage.p7s
# BER with indefinite lengths (openssl -stream): OpenSSL reads it.
sign rsa rsa.key ber.p7s -noattr -nocerts -md sha256 -stream
pkcs7 pkcs7-ber-indefinite ber.p7s

# Hand-edited messages, all from rsa-sha256.p7s (same lengths, so only bytes change).
# offset FILE PATTERN: the byte offset of the last match of a grep -P byte pattern.
offset() { LC_ALL=C grep -obUaP "$2" "$1" | tail -1 | cut -d: -f1; }
# edit OUT OFFSET BYTES: a copy of rsa-sha256.p7s with BYTES (printf escapes) at OFFSET.
edit() {
  cp rsa-sha256.p7s "$1"
  printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
cn=$(offset rsa-sha256.p7s 'rkmod test RSA key')
edit cn-nul.p7s $((cn + 5)) '\x00'
pkcs7 pkcs7-cn-nul cn-nul.p7s
edit cn-integer.p7s $((cn - 2)) '\x02'
pkcs7 pkcs7-cn-integer cn-integer.p7s
edit cn-bad-utf8.p7s $((cn + 1)) '\xff'
pkcs7 pkcs7-cn-bad-utf8 cn-bad-utf8.p7s
edit cn-sequence.p7s $((cn - 2)) '\x30'
pkcs7 pkcs7-cn-sequence cn-sequence.p7s
edit cn-teletex.p7s $((cn - 2)) '\x14'
pkcs7 pkcs7-cn-teletex cn-teletex.p7s
# The SignerInfo's digest algorithm (the last sha256 OID) changed to 2.16.840.1.101.3.4.2.99.
sha256=$(offset rsa-sha256.p7s '\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01')
edit digest-unknown.p7s $((sha256 + 10)) '\x63'
pkcs7 pkcs7-digest-unknown-oid digest-unknown.p7s
# The ContentInfo's type changed from signedData to data.
ct=$(LC_ALL=C grep -obUaP '\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x02' rsa-sha256.p7s | head -1 | cut -d: -f1)
edit not-signed-data.p7s $((ct + 10)) '\x01'
pkcs7 pkcs7-not-signed-data not-signed-data.p7s
# A 25-byte serial number (RFC 5280 allows 20).
cert long '/CN=rkmod long serial' 0x7102030405060708090a0b0c0d0e0f101112131415161718 rsa.key
sign long rsa.key long.p7s -noattr -nocerts -md sha256
pkcs7 pkcs7-serial-long long.p7s

# The fixed layout of the old id types: signer, key id and signature straight from the file.
{ cat base.ko; printf 'rkmod signer'; printf '\x01\x02\xfe\xff'; head -c 45 rsa-sha256.p7s
  trailer 1 4 1 12 4 45; printf "$MAGIC"; } > x509-sha256.ko
{ cat base.ko; printf 'pgp'; printf '\xab'; printf 'sig'; trailer 0 3 0 3 1 3; printf "$MAGIC"; } > pgp-rmd160.ko
# sig_len covering everything before the trailer: exactly as long as kmod allows.
n=$(stat -c %s base.ko)
{ cat base.ko; trailer 1 8 1 0 0 "$n"; printf "$MAGIC"; } > x509-sig-whole-file.ko
# Invalid trailers: kmod reports no signature.
{ cat base.ko; trailer 1 8 1 0 0 $((n + 1)); printf "$MAGIC"; } > bad-sig-len-past-start.ko
{ cat base.ko; trailer 1 8 1 200 100 $((n - 299)); printf "$MAGIC"; } > bad-lengths-sum-past-start.ko
{ cat base.ko; trailer 1 4 2 0 0 4294967295; printf "$MAGIC"; } > bad-sig-len-max.ko
{ cat base.ko; trailer 1 4 2 0 0 0; printf "$MAGIC"; } > bad-sig-len-zero.ko
{ cat base.ko; printf 'sig'; trailer 1 4 3 0 0 3; printf "$MAGIC"; } > bad-id-type.ko
{ cat base.ko; printf 'sig'; trailer 2 4 2 0 0 3; printf "$MAGIC"; } > bad-algo.ko
{ cat base.ko; printf 'sig'; trailer 1 9 2 0 0 3; printf "$MAGIC"; } > bad-hash.ko
{ cat base.ko; printf "$MAGIC"; } > bad-magic-only.ko
{ cat base.ko; printf 'sig'; trailer 1 4 1 0 0 3; printf '~Module signature appended~'; } > bad-magic-no-newline.ko
cp base.ko unsigned.ko

# What kmod prints: each signature field with modinfo -F, under a "== FIELD" line.
capture() {
  local k
  for k in sig_id signer sig_key sig_hashalgo signature; do
    printf '== %s\n' "$k"
    "$1" -F "$k" "$2"
  done
}

rm -f "$HERE"/*.ko "$HERE"/*.kmod30
for f in *.ko; do
  [ "$f" = base.ko ] && continue
  cp "$f" "$HERE/$f"
  capture modinfo "$f" > "$HERE/${f%.ko}.kmod30"
  if [ -n "$HEAD_MODINFO" ]; then
    capture "$HEAD_MODINFO" "$f" > "$HERE/${f%.ko}.kmod-head"
  fi
done
echo "make-fixtures: $(ls "$HERE"/*.ko | wc -l) fixtures written to $HERE"
