//! `FrameHeader::decode` on arbitrary bytes.
//!
//! Checks: the answer for every prefix of the input is `Partial` or the
//! answer for the whole input, and stays put once given (so a decoder fed
//! more bytes never changes its mind); 14 bytes always suffice. For a
//! complete header: every proper prefix is `Partial`, the header's own rules
//! hold (control frames final and at most 125 bytes, lengths below 2^63),
//! and re-encoding it gives `encoded_len()` bytes that decode to the same
//! header, no longer than the input's encoding and equal to it when as long
//! (the shortest encoding is unique).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rusty_socket_proto::{Decoded, FrameHeader, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let answer = FrameHeader::decode(data);
    let mut answered = false;
    for end in 0..=data.len().min(MAX_HEADER_LEN + 1) {
        let prefix = FrameHeader::decode(&data[..end]);
        if prefix == Ok(Decoded::Partial) {
            assert!(!answered, "Partial after an answer at {end} bytes");
            assert!(end < MAX_HEADER_LEN, "{end} bytes are not enough");
        } else {
            assert_eq!(prefix, answer, "prefix of {end} bytes");
            answered = true;
        }
    }

    let Ok(Decoded::Complete(header, len)) = answer else {
        return;
    };
    assert!(len <= MAX_HEADER_LEN);
    for end in 0..len {
        assert_eq!(FrameHeader::decode(&data[..end]), Ok(Decoded::Partial));
    }
    if header.opcode.is_control() {
        assert!(header.fin && header.payload_len <= MAX_CONTROL_PAYLOAD as u64);
    }
    assert!(header.payload_len <= i64::MAX as u64);

    let mut encoded = [0; MAX_HEADER_LEN];
    let encoded_len = header.encode(&mut encoded);
    assert_eq!(encoded_len, header.encoded_len());
    assert!(
        encoded_len <= len,
        "the re-encoding is longer than the input's"
    );
    assert_eq!(
        FrameHeader::decode(&encoded[..encoded_len]),
        Ok(Decoded::Complete(header, encoded_len))
    );
    if encoded_len == len {
        assert_eq!(encoded[..len], data[..len]);
    }
});
