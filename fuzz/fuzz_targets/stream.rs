//! Stream framing: cut the input the way a TCP reader would, with a small and the default
//! size cap. Every framed length must lie within the buffer, and a framed message must be
//! parseable without panicking.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip_msg::{frame_stream, parse, Framed, DEFAULT_MAX_MESSAGE_SIZE};

fuzz_target!(|data: &[u8]| {
    for max in [256, DEFAULT_MAX_MESSAGE_SIZE] {
        let mut rest = data;
        loop {
            match frame_stream(rest, max) {
                Framed::Incomplete | Framed::Error(_) => break,
                Framed::KeepAlive(n) => {
                    assert!(n > 0 && n <= rest.len());
                    rest = &rest[n..];
                }
                Framed::Message(n) => {
                    assert!(n > 0 && n <= rest.len() && n <= max);
                    let _ = parse(Bytes::copy_from_slice(&rest[..n]));
                    rest = &rest[n..];
                }
            }
        }
    }
});
