//! Offline verification of a module's appended signature against X.509 certificates.
//!
//! This answers the question the kernel asks when it loads a signed module, without a kernel:
//! does the signature appended to this file (see [`super::signature`] for the layout) verify
//! against one of these certificates?
//!
//! # What is checked
//!
//! 1. The trailer: a file without the magic string is [`Verdict::Unsigned`]; a file with the
//!    magic but a `module_signature` that fails its checks, or one that is not PKCS#7 with its
//!    other fields zero (what every kernel since 4.3 writes and accepts), is
//!    [`Verdict::Malformed`].
//! 2. The message: the last `sig_len` bytes before the trailer must be a DER `ContentInfo`
//!    holding a `SignedData` with detached content of type `id-data`. The signed content is
//!    every byte of the file before the signature data.
//! 3. Each `SignerInfo` is matched to a certificate, by issuer name and serial number or by
//!    subject key identifier. Certificates carried inside the message are not trusted and not
//!    used.
//! 4. The digest (SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512) is taken over the content. When
//!    the `SignerInfo` has signed attributes, their `messageDigest` must equal that digest,
//!    and the signature covers the DER encoding of the attributes (as a SET OF, RFC 5652
//!    section 5.4) instead of the content.
//! 5. The signature is checked with the certificate's key: RSA PKCS#1 v1.5, or ECDSA over
//!    P-256 or P-384 (a DER `ECDSA-Sig-Value`).
//!
//! With several `SignerInfo`s, as with the kernel's trust check, one that matches a
//! certificate and verifies makes the module valid, unless another that matches a certificate
//! fails to verify (then the signature is bad); signers with no certificate are skipped.
//!
//! Nothing about the certificates themselves is checked: not their validity dates, not their
//! key usage, not who signed them. They are trusted because the caller gave them, as the
//! kernel trusts the keys in its built-in keyring.

use std::path::Path;

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::db::{rfc4519, rfc5911, rfc5912};
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Encode, Reader, SliceReader, Tag, TagNumber, Tagged};
use rsa::Pkcs1v15Sign;
use x509_cert::name::Name;
use x509_cert::Certificate;

use super::signature::{split_appended, Appended};
use crate::error::{Error, Result};

/// The most bytes of PKCS#7 handed to the DER reader (its length limit is 256 MiB).
const MAX_DER_LEN: usize = 0x0fff_ffff;

/// The most certificates one file may hold: far more than any keyring, and a bound on the work
/// a hostile file can cause.
pub const MAX_CERTIFICATES: usize = 4096;

/// The largest certificate file read: 16 MiB, thousands of certificates.
pub const MAX_CERTIFICATE_FILE: u64 = 16 * 1024 * 1024;

/// The largest RSA modulus accepted, in bits (the kernel's own limit is 16384 too).
const MAX_RSA_BITS: usize = 16384;

/// The `id_type` of a PKCS#7 signature.
const ID_PKCS7: u8 = 2;

/// The outcome of verifying one module.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The signature verifies against a given certificate.
    Valid {
        /// The certificate's subject commonName (the whole subject when it has none).
        signer: Vec<u8>,
        /// The signer's identifier from the message: the serial number, or the subject key
        /// identifier, as big-endian bytes.
        key_id: Vec<u8>,
    },
    /// The module carries no signature.
    Unsigned,
    /// A given certificate matches the signer, but the signature or the digest does not
    /// match the module (the module or its signature was changed).
    BadSignature {
        /// The certificate's subject commonName.
        signer: Vec<u8>,
        /// The signer's identifier from the message.
        key_id: Vec<u8>,
        /// What did not match.
        reason: &'static str,
    },
    /// No given certificate matches any signer of the module.
    UnknownKey {
        /// The issuer's commonName from the message (empty for a subject key identifier).
        signer: Vec<u8>,
        /// The signer's identifier from the message.
        key_id: Vec<u8>,
    },
    /// The signature uses an algorithm, digest or key that is not supported (named).
    UnsupportedAlgorithm(String),
    /// The signature block or the PKCS#7 message cannot be read (what broke).
    Malformed(String),
}

impl Verdict {
    /// Whether the module verified.
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid { .. })
    }

    /// A short name of the verdict: `valid`, `unsigned`, `bad signature`, `unknown key`,
    /// `unsupported algorithm` or `malformed`.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Valid { .. } => "valid",
            Verdict::Unsigned => "unsigned",
            Verdict::BadSignature { .. } => "bad signature",
            Verdict::UnknownKey { .. } => "unknown key",
            Verdict::UnsupportedAlgorithm(_) => "unsupported algorithm",
            Verdict::Malformed(_) => "malformed",
        }
    }
}

/// A certificate's public key, ready to verify with.
#[derive(Debug, Clone)]
enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    /// A key this module cannot use, and why.
    Unsupported(String),
}

/// One trusted certificate, reduced to what matching and verifying need.
#[derive(Debug, Clone)]
struct Trusted {
    /// The DER encoding of the issuer name.
    issuer: Vec<u8>,
    /// The serial number's DER contents.
    serial: Vec<u8>,
    /// The subject key identifier extension's value, when there is one.
    subject_key_id: Option<Vec<u8>>,
    /// The subject's commonName.
    subject_cn: Vec<u8>,
    key: PublicKey,
}

/// The certificates modules are verified against.
#[derive(Debug, Clone, Default)]
pub struct CertificateSet {
    certs: Vec<Trusted>,
}

impl CertificateSet {
    /// An empty set.
    pub fn new() -> CertificateSet {
        CertificateSet::default()
    }

    /// How many certificates the set holds.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Adds every certificate in the file at `path` (see [`CertificateSet::add_bytes`]).
    /// Returns how many it held.
    pub fn load_file(&mut self, path: &Path) -> Result<usize> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_CERTIFICATE_FILE + 1).read_to_end(&mut bytes))
            .map_err(|e| Error::io(path, e))?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_CERTIFICATE_FILE {
            return Err(Error::Certificate {
                path: path.to_path_buf(),
                reason: format!("larger than {MAX_CERTIFICATE_FILE} bytes"),
            });
        }
        self.add_bytes(&bytes).map_err(|reason| Error::Certificate {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// Adds the certificates in `bytes`: one or more PEM `CERTIFICATE` blocks (other blocks,
    /// such as a private key, are skipped), or one or more DER certificates one after another
    /// (as the kernel's `certs/signing_key.x509` or its built-in certificate list holds them).
    /// Returns how many were added; a file with none is an error.
    pub fn add_bytes(&mut self, bytes: &[u8]) -> std::result::Result<usize, String> {
        let ders = if bytes.starts_with(&[0x30]) {
            split_der(bytes)?
        } else {
            pem_certificates(bytes)?
        };
        if ders.is_empty() {
            return Err("no certificate found (expected DER or PEM)".to_string());
        }
        if self.certs.len().saturating_add(ders.len()) > MAX_CERTIFICATES {
            return Err(format!("more than {MAX_CERTIFICATES} certificates"));
        }
        let mut added = Vec::with_capacity(ders.len());
        for (index, der) in ders.iter().enumerate() {
            let cert = Certificate::from_der(der)
                .map_err(|e| format!("certificate {}: {e}", index + 1))?;
            added.push(trusted(&cert).map_err(|e| format!("certificate {}: {e}", index + 1))?);
        }
        let count = added.len();
        self.certs.extend(added);
        Ok(count)
    }
}

/// Splits concatenated DER objects, each of which must be a SEQUENCE.
fn split_der(bytes: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    let mut reader = SliceReader::new(bytes).map_err(|e| e.to_string())?;
    while !reader.is_finished() {
        if out.len() >= MAX_CERTIFICATES {
            return Err(format!("more than {MAX_CERTIFICATES} certificates"));
        }
        let any = AnyRef::decode(&mut reader).map_err(|e| format!("DER: {e}"))?;
        if any.tag() != Tag::Sequence {
            return Err(format!("DER: expected a certificate, found {}", any.tag()));
        }
        out.push(any.to_der().map_err(|e| e.to_string())?);
    }
    Ok(out)
}

/// The DER bytes of every PEM `CERTIFICATE` block in `text`.
fn pem_certificates(text: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    const END: &[u8] = b"-----END ";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = memchr::memmem::find(rest, BEGIN) {
        let block = rest.get(start..).unwrap_or_default();
        // The block runs to the end of the line after its END marker.
        let Some(end_marker) = memchr::memmem::find(block, END) else {
            return Err("PEM: a BEGIN line without an END line".to_string());
        };
        let after_end = block.get(end_marker..).unwrap_or_default();
        let end_len = end_marker
            + after_end
                .iter()
                .position(|&b| b == b'\n')
                .map_or(after_end.len(), |nl| nl + 1);
        let this = block.get(..end_len).unwrap_or_default();
        rest = block.get(end_len..).unwrap_or_default();
        if !this.starts_with(b"-----BEGIN CERTIFICATE-----") {
            continue;
        }
        if out.len() >= MAX_CERTIFICATES {
            return Err(format!("more than {MAX_CERTIFICATES} certificates"));
        }
        let (label, der) = pem_rfc7468::decode_vec(this).map_err(|e| format!("PEM: {e}"))?;
        if label != "CERTIFICATE" {
            continue;
        }
        out.push(der);
    }
    Ok(out)
}

/// What [`CertificateSet`] keeps of a certificate.
fn trusted(cert: &Certificate) -> std::result::Result<Trusted, String> {
    let tbs = &cert.tbs_certificate;
    let subject_key_id = tbs
        .extensions
        .iter()
        .flatten()
        .find(|ext| ext.extn_id == rfc5912::ID_CE_SUBJECT_KEY_IDENTIFIER)
        .and_then(|ext| OctetStringRef::from_der(ext.extn_value.as_bytes()).ok())
        .map(|id| id.as_bytes().to_vec());
    Ok(Trusted {
        issuer: tbs.issuer.to_der().map_err(|e| e.to_string())?,
        serial: tbs.serial_number.as_bytes().to_vec(),
        subject_key_id,
        subject_cn: common_name(&tbs.subject),
        key: public_key(&tbs.subject_public_key_info),
    })
}

/// The first commonName of `name`, or the whole name as text when it has none.
fn common_name(name: &Name) -> Vec<u8> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == rfc4519::CN)
        .map(|atv| atv.value.value().to_vec())
        .unwrap_or_else(|| name.to_string().into_bytes())
}

/// The usable key in a certificate's SubjectPublicKeyInfo.
fn public_key(spki: &spki::SubjectPublicKeyInfoOwned) -> PublicKey {
    let Some(bits) = spki.subject_public_key.as_bytes() else {
        return PublicKey::Unsupported("a public key that is not whole bytes".to_string());
    };
    let oid = spki.algorithm.oid;
    if oid == rfc5912::RSA_ENCRYPTION {
        return match rsa::pkcs1::RsaPublicKey::from_der(bits) {
            Ok(raw) => {
                let n = rsa::BigUint::from_bytes_be(raw.modulus.as_bytes());
                let e = rsa::BigUint::from_bytes_be(raw.public_exponent.as_bytes());
                match rsa::RsaPublicKey::new_with_max_size(n, e, MAX_RSA_BITS) {
                    Ok(key) => PublicKey::Rsa(key),
                    Err(e) => PublicKey::Unsupported(format!("RSA key: {e}")),
                }
            }
            Err(e) => PublicKey::Unsupported(format!("RSA key: {e}")),
        };
    }
    if oid == rfc5912::ID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        return match curve {
            Some(c) if c == rfc5912::SECP_256_R_1 => {
                match p256::ecdsa::VerifyingKey::from_sec1_bytes(bits) {
                    Ok(key) => PublicKey::P256(key),
                    Err(_) => PublicKey::Unsupported("an invalid P-256 point".to_string()),
                }
            }
            Some(c) if c == rfc5912::SECP_384_R_1 => {
                match p384::ecdsa::VerifyingKey::from_sec1_bytes(bits) {
                    Ok(key) => PublicKey::P384(key),
                    Err(_) => PublicKey::Unsupported("an invalid P-384 point".to_string()),
                }
            }
            Some(c) => PublicKey::Unsupported(format!("EC curve {}", oid_name(&c))),
            None => PublicKey::Unsupported("an EC key without a named curve".to_string()),
        };
    }
    PublicKey::Unsupported(format!("{} key", oid_name(&oid)))
}

/// A digest algorithm a signature may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Hash> {
        [
            (rfc5912::ID_SHA_1, Hash::Sha1),
            (rfc5912::ID_SHA_224, Hash::Sha224),
            (rfc5912::ID_SHA_256, Hash::Sha256),
            (rfc5912::ID_SHA_384, Hash::Sha384),
            (rfc5912::ID_SHA_512, Hash::Sha512),
        ]
        .into_iter()
        .find(|(known, _)| known == oid)
        .map(|(_, hash)| hash)
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Hash::Sha1 => sha1::Sha1::digest(data).to_vec(),
            Hash::Sha224 => sha2::Sha224::digest(data).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }

    fn pkcs1v15(self) -> Pkcs1v15Sign {
        match self {
            Hash::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
            Hash::Sha224 => Pkcs1v15Sign::new::<sha2::Sha224>(),
            Hash::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
            Hash::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
            Hash::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
        }
    }
}

/// The family a `SignerInfo`'s signature algorithm names, and the digest it fixes, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ecdsa,
}

/// `ecdsa-with-SHA1` (RFC 3279), which the OID database does not name.
const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");

fn signature_family(oid: &ObjectIdentifier) -> Option<(Family, Option<Hash>)> {
    let table = [
        (rfc5912::RSA_ENCRYPTION, Family::Rsa, None),
        (
            rfc5912::SHA_1_WITH_RSA_ENCRYPTION,
            Family::Rsa,
            Some(Hash::Sha1),
        ),
        (
            rfc5912::SHA_224_WITH_RSA_ENCRYPTION,
            Family::Rsa,
            Some(Hash::Sha224),
        ),
        (
            rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
            Family::Rsa,
            Some(Hash::Sha256),
        ),
        (
            rfc5912::SHA_384_WITH_RSA_ENCRYPTION,
            Family::Rsa,
            Some(Hash::Sha384),
        ),
        (
            rfc5912::SHA_512_WITH_RSA_ENCRYPTION,
            Family::Rsa,
            Some(Hash::Sha512),
        ),
        (rfc5912::ID_EC_PUBLIC_KEY, Family::Ecdsa, None),
        (ECDSA_WITH_SHA_1, Family::Ecdsa, Some(Hash::Sha1)),
        (
            rfc5912::ECDSA_WITH_SHA_224,
            Family::Ecdsa,
            Some(Hash::Sha224),
        ),
        (
            rfc5912::ECDSA_WITH_SHA_256,
            Family::Ecdsa,
            Some(Hash::Sha256),
        ),
        (
            rfc5912::ECDSA_WITH_SHA_384,
            Family::Ecdsa,
            Some(Hash::Sha384),
        ),
        (
            rfc5912::ECDSA_WITH_SHA_512,
            Family::Ecdsa,
            Some(Hash::Sha512),
        ),
    ];
    table
        .into_iter()
        .find(|(known, _, _)| known == oid)
        .map(|(_, family, hash)| (family, hash))
}

/// An OID by its usual name when the database knows it, else dotted.
fn oid_name(oid: &ObjectIdentifier) -> String {
    const_oid::db::DB
        .by_oid(oid)
        .map_or_else(|| oid.to_string(), str::to_string)
}

/// Opens the module at `path` (decompressing it) and verifies it against `certs`.
pub fn verify_file(path: &Path, certs: &CertificateSet) -> Result<Verdict> {
    let module = super::ModuleFile::open(path)?;
    Ok(verify(module.contents(), certs))
}

/// Verifies the signature appended to `contents` (a decompressed module) against `certs`.
pub fn verify(contents: &[u8], certs: &CertificateSet) -> Verdict {
    let (signed, signature) = match split_appended(contents) {
        Appended::Unsigned => return Verdict::Unsigned,
        Appended::Invalid(reason) => return Verdict::Malformed(reason.to_string()),
        Appended::Found { id_type, .. } if id_type != ID_PKCS7 => {
            return Verdict::UnsupportedAlgorithm(format!(
                "a signature of id_type {id_type} (only PKCS#7 is supported)"
            ))
        }
        Appended::Found {
            other_fields_zero: false,
            ..
        } => {
            return Verdict::Malformed(
                "a PKCS#7 trailer with non-zero algo, hash, lengths or padding".to_string(),
            )
        }
        Appended::Found {
            signed, signature, ..
        } => (signed, signature),
    };
    match verify_pkcs7(signed, signature, certs) {
        Ok(verdict) | Err(verdict) => verdict,
    }
}

fn malformed(what: impl std::fmt::Display) -> Verdict {
    Verdict::Malformed(format!("PKCS#7: {what}"))
}

/// Verifies the PKCS#7 `der` over `content`. Both arms are verdicts; `Err` ends early.
fn verify_pkcs7(
    content: &[u8],
    der: &[u8],
    certs: &CertificateSet,
) -> std::result::Result<Verdict, Verdict> {
    let der = der.get(..der.len().min(MAX_DER_LEN)).unwrap_or_default();
    let mut reader = SliceReader::new(der).map_err(malformed)?;
    let content_info = ContentInfo::decode(&mut reader).map_err(malformed)?;
    if content_info.content_type != rfc5911::ID_SIGNED_DATA {
        return Err(malformed(format!(
            "content type {} is not signedData",
            oid_name(&content_info.content_type)
        )));
    }
    let signed_data: SignedData = content_info.content.decode_as().map_err(malformed)?;
    let encap = &signed_data.encap_content_info;
    if encap.econtent.is_some() {
        return Err(malformed("the message carries its own content"));
    }
    if encap.econtent_type != rfc5911::ID_DATA {
        return Err(malformed(format!(
            "encapsulated content type {} is not data",
            oid_name(&encap.econtent_type)
        )));
    }
    // The SignerInfos are walked in their encoding (the last field of SignedData), so that
    // the signed attributes can be hashed as they were encoded.
    let fields = super::signature::elements(content_info.content.value())
        .ok_or_else(|| malformed("unreadable SignedData"))?;
    let signer_infos = fields
        .last()
        .filter(|f| f.tag() == Tag::Set)
        .ok_or_else(|| malformed("no SignerInfos"))?;
    let raw_signers = super::signature::elements(signer_infos.value())
        .ok_or_else(|| malformed("unreadable SignerInfos"))?;
    let mut first_unknown: Option<Verdict> = None;
    let mut valid: Option<Verdict> = None;
    for raw in raw_signers {
        let info: SignerInfo = raw.decode_as().map_err(malformed)?;
        let (key_id, issuer_cn) = signer_id(&info);
        let Some(cert) = find_certificate(certs, &info.sid) else {
            first_unknown.get_or_insert(Verdict::UnknownKey {
                signer: issuer_cn,
                key_id,
            });
            continue;
        };
        match verify_signer(content, raw, &info, cert) {
            Ok(()) => {
                valid.get_or_insert(Verdict::Valid {
                    signer: cert.subject_cn.clone(),
                    key_id,
                });
            }
            Err(SignerFailure::Bad(reason)) => {
                return Err(Verdict::BadSignature {
                    signer: cert.subject_cn.clone(),
                    key_id,
                    reason,
                })
            }
            Err(SignerFailure::Unsupported(what)) => {
                return Err(Verdict::UnsupportedAlgorithm(what))
            }
            Err(SignerFailure::Malformed(what)) => return Err(malformed(what)),
        }
    }
    valid
        .or(first_unknown)
        .ok_or_else(|| malformed("no SignerInfo"))
}

/// The identifier of a signer (serial number or subject key id) and its issuer's CN.
fn signer_id(info: &SignerInfo) -> (Vec<u8>, Vec<u8>) {
    match &info.sid {
        SignerIdentifier::IssuerAndSerialNumber(sid) => {
            let serial = sid.serial_number.as_bytes();
            // Drop the sign byte DER puts in front of a high bit, as modinfo shows serials.
            let serial = match serial {
                [0, rest @ ..] if !rest.is_empty() => rest,
                _ => serial,
            };
            (serial.to_vec(), common_name(&sid.issuer))
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => (ski.0.as_bytes().to_vec(), Vec::new()),
    }
}

fn find_certificate<'a>(certs: &'a CertificateSet, sid: &SignerIdentifier) -> Option<&'a Trusted> {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(sid) => {
            let issuer = sid.issuer.to_der().ok()?;
            let serial = sid.serial_number.as_bytes();
            certs
                .certs
                .iter()
                .find(|c| c.issuer == issuer && c.serial == serial)
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            let id = ski.0.as_bytes();
            certs
                .certs
                .iter()
                .find(|c| c.subject_key_id.as_deref() == Some(id))
        }
    }
}

/// Why one `SignerInfo` did not verify.
enum SignerFailure {
    Bad(&'static str),
    Unsupported(String),
    Malformed(String),
}

/// The object identifier of the `messageDigest` attribute (RFC 5652 section 11.2).
const MESSAGE_DIGEST: ObjectIdentifier = rfc5911::ID_MESSAGE_DIGEST;
/// The object identifier of the `contentType` attribute (RFC 5652 section 11.1).
const CONTENT_TYPE: ObjectIdentifier = rfc5911::ID_CONTENT_TYPE;

/// Verifies one `SignerInfo` (`raw` is its encoding) over `content` with `cert`'s key.
fn verify_signer(
    content: &[u8],
    raw: AnyRef<'_>,
    info: &SignerInfo,
    cert: &Trusted,
) -> std::result::Result<(), SignerFailure> {
    let hash = Hash::from_oid(&info.digest_alg.oid).ok_or_else(|| {
        SignerFailure::Unsupported(format!(
            "digest {}",
            super::signature::openssl_object_name(&info.digest_alg.oid)
        ))
    })?;
    let sig_oid = info.signature_algorithm.oid;
    let (family, fixed_hash) = signature_family(&sig_oid).ok_or_else(|| {
        SignerFailure::Unsupported(format!("signature algorithm {}", oid_name(&sig_oid)))
    })?;
    if fixed_hash.is_some_and(|h| h != hash) {
        return Err(SignerFailure::Unsupported(format!(
            "signature algorithm {} with digest {}",
            oid_name(&sig_oid),
            oid_name(&info.digest_alg.oid)
        )));
    }
    let content_digest = hash.digest(content);
    let signed_digest = match &info.signed_attrs {
        None => content_digest,
        Some(attrs) => {
            let digest_attr = attrs
                .iter()
                .find(|a| a.oid == MESSAGE_DIGEST)
                .ok_or_else(|| {
                    SignerFailure::Malformed("signed attributes without messageDigest".into())
                })?;
            let [value] = digest_attr.values.as_slice() else {
                return Err(SignerFailure::Malformed(
                    "messageDigest does not have exactly one value".into(),
                ));
            };
            let value: OctetStringRef<'_> = value
                .decode_as()
                .map_err(|e| SignerFailure::Malformed(format!("messageDigest: {e}")))?;
            if value.as_bytes() != content_digest.as_slice() {
                return Err(SignerFailure::Bad(
                    "the module does not match the signed messageDigest",
                ));
            }
            if let Some(content_type) = attrs.iter().find(|a| a.oid == CONTENT_TYPE) {
                let matches = content_type
                    .values
                    .iter()
                    .all(|v| v.decode_as::<ObjectIdentifier>().ok() == Some(rfc5911::ID_DATA));
                if !matches {
                    return Err(SignerFailure::Malformed(
                        "the contentType attribute is not data".into(),
                    ));
                }
            }
            hash.digest(&signed_attrs_as_set(raw)?)
        }
    };
    let signature = info.signature.as_bytes();
    let ok = match (&cert.key, family) {
        (PublicKey::Rsa(key), Family::Rsa) => key
            .verify(hash.pkcs1v15(), &signed_digest, signature)
            .is_ok(),
        (PublicKey::P256(key), Family::Ecdsa) => {
            use ecdsa::signature::hazmat::PrehashVerifier;
            let Ok(sig) = p256::ecdsa::Signature::from_der(signature) else {
                return Err(SignerFailure::Bad(
                    "the ECDSA signature is not a valid DER value",
                ));
            };
            key.verify_prehash(&signed_digest, &sig).is_ok()
        }
        (PublicKey::P384(key), Family::Ecdsa) => {
            use ecdsa::signature::hazmat::PrehashVerifier;
            let Ok(sig) = p384::ecdsa::Signature::from_der(signature) else {
                return Err(SignerFailure::Bad(
                    "the ECDSA signature is not a valid DER value",
                ));
            };
            key.verify_prehash(&signed_digest, &sig).is_ok()
        }
        (PublicKey::Unsupported(what), _) => return Err(SignerFailure::Unsupported(what.clone())),
        (_, family) => {
            return Err(SignerFailure::Unsupported(format!(
                "a {} signature for the certificate's key",
                match family {
                    Family::Rsa => "RSA",
                    Family::Ecdsa => "ECDSA",
                }
            )))
        }
    };
    if ok {
        Ok(())
    } else {
        Err(SignerFailure::Bad("the signature does not verify"))
    }
}

/// The signed attributes of the `SignerInfo` encoded in `raw`, re-tagged from `[0] IMPLICIT`
/// to SET OF, which is what the signature covers. They are taken as encoded (the fourth
/// field), not re-encoded, so a signer's ordering is kept.
fn signed_attrs_as_set(raw: AnyRef<'_>) -> std::result::Result<Vec<u8>, SignerFailure> {
    let fields = super::signature::elements(raw.value())
        .ok_or_else(|| SignerFailure::Malformed("unreadable SignerInfo".into()))?;
    let attrs = fields
        .get(3)
        .filter(|f| {
            f.tag()
                == Tag::ContextSpecific {
                    constructed: true,
                    number: TagNumber::N0,
                }
        })
        .ok_or_else(|| SignerFailure::Malformed("signed attributes not found".into()))?;
    AnyRef::new(Tag::Set, attrs.value())
        .and_then(|set| set.to_der())
        .map_err(|e| SignerFailure::Malformed(format!("signed attributes: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::PathBuf;

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/verify")
    }

    fn read(name: &str) -> Vec<u8> {
        std::fs::read(dir().join(name)).unwrap()
    }

    fn certs(files: &[&str]) -> CertificateSet {
        let mut set = CertificateSet::new();
        for file in files {
            set.load_file(&dir().join(file)).unwrap();
        }
        set
    }

    fn all_certs() -> CertificateSet {
        certs(&["rsa.pem", "p256.der", "p384.pem"])
    }

    /// The signer name of a valid verdict, or a panic naming what came instead.
    fn valid_signer(verdict: &Verdict) -> String {
        match verdict {
            Verdict::Valid { signer, key_id } => {
                assert!(!key_id.is_empty());
                String::from_utf8(signer.clone()).unwrap()
            }
            other => panic!("not valid: {other:?}"),
        }
    }

    const SIGNED: &[(&str, &str)] = &[
        ("rsa-sha256.ko", "rkmod verify rsa"),
        ("rsa-sha1.ko", "rkmod verify rsa"),
        ("rsa-sha512.ko", "rkmod verify rsa"),
        ("p256-sha256.ko", "rkmod verify p256"),
        ("p256-sha384.ko", "rkmod verify p256"),
        ("p384-sha512.ko", "rkmod verify p384"),
        ("p384-sha224.ko", "rkmod verify p384"),
        ("rsa-attrs.ko", "rkmod verify rsa"),
        ("p384-attrs.ko", "rkmod verify p384"),
        ("p256-keyid.ko", "rkmod verify p256"),
    ];

    #[test]
    fn signed_fixtures_are_valid() {
        let set = all_certs();
        assert_eq!(set.len(), 3);
        for (file, signer) in SIGNED {
            assert_eq!(valid_signer(&verify(&read(file), &set)), *signer, "{file}");
        }
    }

    #[test]
    fn key_id_is_the_serial_or_the_subject_key_id() {
        let set = all_certs();
        let Verdict::Valid { key_id, .. } = verify(&read("p256-keyid.ko"), &set) else {
            panic!()
        };
        let cert = Certificate::from_der(&read("p256.der")).unwrap();
        let ski = trusted(&cert).unwrap().subject_key_id.unwrap();
        assert_eq!(key_id, ski);
        let Verdict::Valid { key_id, .. } = verify(&read("p256-sha256.ko"), &set) else {
            panic!()
        };
        let serial = cert.tbs_certificate.serial_number.as_bytes();
        assert!(serial.ends_with(&key_id) && serial.len() <= key_id.len() + 1);
    }

    #[test]
    fn tampered_module_is_a_bad_signature() {
        let set = all_certs();
        for (file, _) in SIGNED {
            let mut module = read(file);
            module[100] ^= 0x01;
            let verdict = verify(&module, &set);
            assert!(
                matches!(verdict, Verdict::BadSignature { .. }),
                "{file}: {verdict:?}"
            );
        }
        // With signed attributes it is the messageDigest that no longer matches.
        let mut module = read("rsa-attrs.ko");
        module[0x40] ^= 0x80;
        let Verdict::BadSignature { reason, .. } = verify(&module, &set) else {
            panic!()
        };
        assert!(reason.contains("messageDigest"), "{reason}");
    }

    #[test]
    fn tampered_signature_is_a_bad_signature() {
        let set = all_certs();
        for (file, _) in SIGNED {
            let mut module = read(file);
            // The last byte of the signature data is the last byte of the signature value
            // (for ECDSA, of its `s` integer).
            let at = module.len() - MAGIC_AND_TRAILER - 1;
            module[at] ^= 0x01;
            let verdict = verify(&module, &set);
            assert!(
                matches!(verdict, Verdict::BadSignature { .. }),
                "{file}: {verdict:?}"
            );
        }
    }

    const MAGIC_AND_TRAILER: usize =
        super::super::signature::MAGIC.len() + super::super::signature::TRAILER_LEN;

    #[test]
    fn wrong_certificate_is_an_unknown_key() {
        // Same subject, other key and serial.
        let set = certs(&["other.pem"]);
        let verdict = verify(&read("rsa-sha256.ko"), &set);
        let Verdict::UnknownKey { signer, key_id } = verdict else {
            panic!("{verdict:?}")
        };
        assert_eq!(signer, b"rkmod verify rsa");
        assert!(!key_id.is_empty());
        let set = certs(&["rsa.pem"]);
        for file in ["p256-sha256.ko", "p256-keyid.ko", "p384-attrs.ko"] {
            let verdict = verify(&read(file), &set);
            assert!(
                matches!(verdict, Verdict::UnknownKey { .. }),
                "{file}: {verdict:?}"
            );
        }
        assert!(matches!(
            verify(&read("rsa-sha256.ko"), &CertificateSet::new()),
            Verdict::UnknownKey { .. }
        ));
    }

    #[test]
    fn unsigned_module_is_unsigned() {
        let set = all_certs();
        let module = read("../signature/unsigned.ko");
        assert_eq!(verify(&module, &set), Verdict::Unsigned);
        assert_eq!(verify(b"", &set), Verdict::Unsigned);
    }

    #[test]
    fn truncated_trailer() {
        let set = all_certs();
        let module = read("rsa-sha256.ko");
        // The magic cut short: no signature as far as anyone can tell.
        assert_eq!(verify(&module[..module.len() - 1], &set), Verdict::Unsigned);
        // The magic kept, but part of module_signature lost before it.
        let magic_at = module.len() - super::super::signature::MAGIC.len();
        let mut cut = module[..magic_at - 5].to_vec();
        cut.extend_from_slice(&module[magic_at..]);
        assert!(matches!(verify(&cut, &set), Verdict::Malformed(_)));
        // Only the magic left.
        let verdict = verify(super::super::signature::MAGIC, &set);
        let Verdict::Malformed(reason) = verdict else {
            panic!("{verdict:?}")
        };
        assert!(reason.contains("truncated"), "{reason}");
    }

    #[test]
    fn sig_len_past_the_message_is_malformed() {
        let set = all_certs();
        let mut module = read("rsa-sha256.ko");
        let len_at = module.len() - super::super::signature::MAGIC.len() - 4;
        // One byte shorter: the DER message loses its first byte.
        let sig_len = u32::from_be_bytes(module[len_at..len_at + 4].try_into().unwrap());
        module[len_at..len_at + 4].copy_from_slice(&(sig_len - 1).to_be_bytes());
        assert!(matches!(verify(&module, &set), Verdict::Malformed(_)));
    }

    #[test]
    fn trailer_that_is_not_pkcs7() {
        let set = all_certs();
        let mut module = read("rsa-sha256.ko");
        let trailer_at = module.len() - MAGIC_AND_TRAILER;
        module[trailer_at + 2] = 1; // id_type X509
        assert!(matches!(
            verify(&module, &set),
            Verdict::UnsupportedAlgorithm(_)
        ));
        let mut module = read("rsa-sha256.ko");
        module[trailer_at + 1] = 4; // a hash byte, which PKCS#7 leaves 0
        assert!(matches!(verify(&module, &set), Verdict::Malformed(_)));
    }

    #[test]
    fn unsupported_digest() {
        let verdict = verify(&read("rsa-sha3.ko"), &all_certs());
        assert_eq!(
            verdict,
            Verdict::UnsupportedAlgorithm("digest sha3-256".to_string())
        );
    }

    #[test]
    fn compressed_modules_are_decompressed_first() {
        let set = all_certs();
        let module = read("p384-attrs.ko");
        let tmp = tempfile::tempdir().unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(&module).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&module).unwrap();
        let packed = [
            ("m.ko.xz", xz.finish().unwrap()),
            ("m.ko.gz", gz.finish().unwrap()),
            (
                "m.ko.zst",
                zstd::stream::encode_all(&module[..], 3).unwrap(),
            ),
        ];
        for (name, bytes) in packed {
            let path = tmp.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let verdict = verify_file(&path, &set).unwrap();
            assert_eq!(valid_signer(&verdict), "rkmod verify p384", "{name}");
        }
    }

    #[test]
    fn certificate_files() {
        // PEM with several blocks, one of them not a certificate.
        let set = certs(&["bundle.pem"]);
        assert_eq!(set.len(), 2);
        assert!(verify(&read("rsa-sha256.ko"), &set).is_valid());
        assert!(verify(&read("p384-sha512.ko"), &set).is_valid());
        // DER certificates one after another.
        let set = certs(&["bundle.der"]);
        assert_eq!(set.len(), 2);
        assert!(verify(&read("rsa-sha256.ko"), &set).is_valid());
        assert!(verify(&read("p256-sha256.ko"), &set).is_valid());

        let mut set = CertificateSet::new();
        assert!(set.add_bytes(b"").is_err());
        assert!(set.add_bytes(b"not a certificate").is_err());
        assert!(set
            .add_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
            .is_err());
        assert!(set
            .add_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n")
            .is_err());
        let der = read("p256.der");
        assert!(set.add_bytes(&der[..der.len() - 1]).is_err());
        assert!(set.add_bytes(&[0x30, 0x00]).is_err());
        assert!(set.is_empty());
        let err = CertificateSet::new()
            .load_file(&dir().join("rsa-sha256.ko"))
            .unwrap_err();
        assert!(err.to_string().contains("rsa-sha256.ko"), "{err}");
    }

    /// Every byte of each fixture's signature block, changed, and every cut of the file: no
    /// panic. Some bytes are not covered by the signature (SignedData's version, the
    /// unauthenticated algorithm lists), so a change there may still verify, as it does in
    /// the kernel; a change in the last 32 bytes, inside the signature value, never does.
    #[test]
    fn mutated_signatures_never_panic() {
        let set = all_certs();
        let base_len = read("../signature/unsigned.ko").len();
        // One of each kind (RSA with attributes, ECDSA by key id, P-384), to keep it quick.
        for file in ["rsa-attrs.ko", "p256-keyid.ko", "p384-sha512.ko"] {
            let module = read(file);
            let sig_end = module.len() - MAGIC_AND_TRAILER;
            for i in base_len..module.len() {
                for change in [0x00, module[i] ^ 0x01] {
                    let mut mutated = module.clone();
                    mutated[i] = change;
                    let verdict = verify(&mutated, &set);
                    if (sig_end - 32..sig_end).contains(&i) && change != module[i] {
                        assert!(!verdict.is_valid(), "{file}: byte {i} = {change:#x}");
                    }
                }
            }
            for cut in 0..module.len() {
                assert!(!verify(&module[..cut], &set).is_valid());
                let _ = verify(&module[cut..], &set);
            }
        }
    }
}
