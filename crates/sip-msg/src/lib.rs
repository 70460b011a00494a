//! SIP message parsing and printing over [`bytes::Bytes`], keeping the original bytes.
//!
//! # Contract
//!
//! **In:** one whole message as `Bytes`: a UDP datagram, or a TCP/TLS message cut from the
//! stream by [`frame_stream`]. **Out:** a [`Message`] whose header values are zero-copy
//! slices of that buffer (a folded value is the one exception: it is unfolded into a new
//! buffer), with typed views parsed on demand ([`Headers::vias`], [`Headers::from`],
//! [`Headers::cseq`], [`Headers::contacts`], [`Uri`], ...). What the caller does not
//! interpret is forwarded as received; [`Message::to_bytes`] prints canonical header names,
//! one header per line and a recomputed Content-Length.
//!
//! [`parse`] accepts what RFC 3261 allows (compact and case-insensitive names, whitespace
//! around the colon, folded lines, comma-joined values, leading CRLFs, IPv6 references per
//! RFC 5118) and checks what every transaction needs: a SIP/2.0 start line, Via, From,
//! To, Call-ID and CSeq present once and well formed, the CSeq method equal to the request
//! method, and a body as long as Content-Length. A rejected request still yields what could
//! be read ([`ParseError::partial_request`]), so a server can answer 400 or 505.
//! [`ParseError`]'s text reads as a reason phrase ("Missing Call-ID", "Bad Via").
//!
//! ```
//! use sip_msg::{parse, Bytes, Message, Response};
//!
//! let datagram = Bytes::from_static(
//!     b"OPTIONS sip:alice@example.com SIP/2.0\r\n\
//!       v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK74bf9;rport\r\n\
//!       f: Bob <sip:bob@example.com>;tag=9fxced76sl\r\n\
//!       t: <sip:alice@example.com>\r\n\
//!       i: 3848276298220188511@192.0.2.1\r\n\
//!       CSeq: 1 OPTIONS\r\n\
//!       l: 0\r\n\r\n",
//! );
//! let Ok(Message::Request(req)) = parse(datagram) else { panic!("valid") };
//! assert_eq!(req.headers.from()?.tag().map(|t| &t[..]), Some(&b"9fxced76sl"[..]));
//! assert_eq!(req.headers.top_via()?.port, Some(5060));
//!
//! let mut ok = Response::for_request(&req, 200, "OK");
//! ok.set_to_tag("a6c85cf");
//! assert!(ok.to_bytes().starts_with(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.1:5060"));
//!
//! // A broken request still yields what is needed to answer it.
//! let err = parse(Bytes::from_static(b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n"))
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "Missing From");
//! let bad_request = err.partial_request().and_then(|p| p.response(400, &err.to_string()));
//! assert!(bad_request.is_some());
//! # Ok::<(), sip_msg::ParseError>(())
//! ```
//!
//! **Never:** no sockets, no clocks, no logging, no global state; no panic on any input
//! (no unchecked indexing, no `unwrap` on input; fuzzed in `fuzz/`); no copy of a header
//! value at parse time beyond unfolding.

mod error;
mod escape;
mod framing;
mod header;
mod message;
mod method;
mod name_addr;
mod params;
mod parser;
mod scan;
mod typed;
mod uri;
mod via;

pub use error::{ErrorKind, ParseError, PartialRequest};
pub use framing::{frame_stream, Framed, DEFAULT_MAX_MESSAGE_SIZE};
pub use header::{Header, HeaderName, Headers};
pub use message::{Message, Request, Response};
pub use method::Method;
pub use name_addr::{Contacts, NameAddr, QValue};
pub use params::{Param, Params};
pub use parser::parse;
pub use scan::split_list;
pub use typed::{CSeq, MediaType};
pub use uri::{percent_decode, Host, Scheme, Uri};
pub use via::{RportParam, Transport, Via, BRANCH_MAGIC};

pub use bytes::Bytes;
