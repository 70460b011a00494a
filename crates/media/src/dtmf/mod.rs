//! DTMF: the three ways a key press reaches Switchboard, each turned into digits.
//!
//! * [`rfc4733`]: telephone-events in RTP (the usual way). [`rfc4733::EventReceiver`] turns
//!   the packets of one RTP source into exactly one `Start` and one `End` per press, through
//!   loss, reordering, retransmitted ends, timestamp wrap and long-event segments;
//!   [`rfc4733::EventSender`] produces the packets for a key sent toward a phone (the agent's
//!   keypad, or an INFO digit relayed as RFC 4733).
//! * [`info`]: SIP INFO bodies (`application/dtmf-relay`, `application/dtmf`), as pure
//!   functions of the content type and body.
//! * [`goertzel`]: in-band tones in 8 kHz PCM, for callers that send neither.
//!
//! All three are sans-IO and never read the clock: packets, bodies and samples go in, digits
//! come out. Nothing allocates after construction. Keys are `char`s: `0`–`9`, `*`, `#`,
//! `A`–`D`.

pub mod goertzel;
pub mod info;
pub mod rfc4733;

pub use goertzel::InbandDetector;
pub use info::{parse_info, InfoDigit};
pub use rfc4733::{
    digit_of, event_of, DtmfEvent, EventReceiver, EventSender, SendParams, TelephoneEvent,
};
