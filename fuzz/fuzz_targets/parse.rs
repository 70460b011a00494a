//! Datagram parsing: `parse`, then every typed accessor and the printer on whatever comes
//! out (including the partial request of a rejected one). Accepted messages must print into
//! something `parse` accepts again, byte-stable on a second print.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip_msg::{parse, HeaderName, Headers, Uri};

fn accessors(h: &Headers) {
    let _ = h.vias();
    let _ = h
        .top_via()
        .map(|v| (v.response_target(), v.received(), v.rport(), v.to_bytes()));
    let _ = h.from().map(|f| f.to_bytes());
    let _ = h
        .to()
        .map(|t| (t.tag().cloned(), t.uri.address_of_record()));
    let _ = h.call_id();
    let _ = h.cseq();
    let _ = h.max_forwards();
    let _ = h.contacts();
    let _ = h.routes();
    let _ = h.record_routes();
    let _ = h.expires();
    let _ = h.content_length();
    let _ = h.content_type();
    let _ = h.tokens(&HeaderName::Supported);
    let mut h = h.clone();
    let _ = h.stamp_top_via("[2001:db8::1]:5060".parse().expect("literal address"));
    let _ = h.vias();
}

fuzz_target!(|data: &[u8]| {
    let _ = Uri::parse(Bytes::copy_from_slice(data));
    match parse(Bytes::copy_from_slice(data)) {
        Ok(msg) => {
            accessors(msg.headers());
            let printed = msg.to_bytes();
            let again = parse(printed.clone()).expect("printed form re-parses");
            assert_eq!(again.to_bytes(), printed, "printing is stable");
        }
        Err(e) => {
            let _ = e.to_string();
            if let Some(p) = e.partial_request() {
                accessors(&p.headers);
                if let Some(r) = p.response(e.status_code(), &e.to_string()) {
                    let _ = r.to_bytes();
                }
            }
        }
    }
});
