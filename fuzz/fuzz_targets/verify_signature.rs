//! Signature verification. The input is a certificate file and a module: two bytes giving the
//! certificate file's length (big-endian), that many bytes of certificates (DER or PEM), then
//! the module. The seeds pair the test certificates with modules they sign (testdata/verify),
//! so the fuzzer reaches the digest and signature checks.
#![no_main]

use kmodcore::module::verify::{verify, CertificateSet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(2));
    let cert_len = match head {
        [a, b] => usize::from(u16::from_be_bytes([*a, *b])),
        _ => 0,
    };
    let (cert_file, module) = rest.split_at(rest.len().min(cert_len));
    let mut certs = CertificateSet::new();
    let _ = certs.add_bytes(cert_file);
    let verdict = verify(module, &certs);
    if certs.is_empty() {
        assert!(!verdict.is_valid());
    }
});
