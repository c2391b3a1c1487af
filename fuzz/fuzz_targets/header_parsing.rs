//! Standard Webhooks header parsing (signature list with `v1` and `v1a`
//! entries, timestamp, id), the hex signature parser and the tolerance
//! check, on arbitrary bytes.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use hookwire::signature::hex::parse_hex_signature;
use hookwire::signature::standard::{
    check_timestamp, parse_signature_header, parse_timestamp, parse_webhook_id, MAX_SIGNATURES,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(sigs) = parse_signature_header(data) {
        assert!(sigs.as_slice().len() + sigs.v1a().len() <= MAX_SIGNATURES);
        assert!(data.len() <= 4096);
    }
    // The same bytes as the first `v1a` entry, so the fuzzer reaches the
    // Ed25519 branch without having to find its prefix first.
    let mut v1a = b"v1a,".to_vec();
    v1a.extend_from_slice(data);
    if let Ok(sigs) = parse_signature_header(&v1a) {
        assert!(sigs.as_slice().len() + sigs.v1a().len() <= MAX_SIGNATURES);
    }
    if let Ok(ts) = parse_timestamp(data) {
        // Whatever parses re-parses from its canonical form.
        assert_eq!(parse_timestamp(ts.to_string().as_bytes()), Ok(ts));
        for now in [0u64, 1_700_000_000, u64::from(u32::MAX)] {
            for tol in [0u64, 300, u64::MAX] {
                let _ = check_timestamp(
                    ts,
                    UNIX_EPOCH + Duration::from_secs(now),
                    Duration::from_secs(tol),
                );
            }
        }
    }
    if let Ok(id) = parse_webhook_id(data) {
        assert!(!id.contains('.'));
        assert_eq!(id.as_bytes(), data);
    }
    if let Ok(sig) = parse_hex_signature(data) {
        assert_eq!(data.len(), 64);
        let _ = sig;
    }
});
