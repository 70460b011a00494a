//! Parsing and printing SIP: the first thing every message costs.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use switchboard_benches::INVITE_900;

fn parse(c: &mut Criterion) {
    let datagram = Bytes::from_static(INVITE_900);
    let mut group = c.benchmark_group("sip");
    group.throughput(Throughput::Bytes(INVITE_900.len() as u64));
    group.bench_function("parse_invite_900", |b| {
        b.iter(|| black_box(sip_msg::parse(black_box(datagram.clone()))))
    });
    group.bench_function("parse_invite_900_typed_core", |b| {
        b.iter(|| {
            let Ok(sip_msg::Message::Request(req)) = sip_msg::parse(black_box(datagram.clone()))
            else {
                unreachable!("the fixture parses")
            };
            let h = &req.headers;
            black_box((
                h.top_via().ok(),
                h.from().ok(),
                h.to().ok(),
                h.cseq().ok(),
                h.call_id().ok().cloned(),
            ))
        })
    });
    let Ok(msg) = sip_msg::parse(datagram.clone()) else {
        unreachable!("the fixture parses")
    };
    group.bench_function("print_invite_900", |b| b.iter(|| black_box(msg.to_bytes())));
    group.finish();
}

criterion_group!(benches, parse);
criterion_main!(benches);
