//! Media anchoring from the signalling side: the offer/answer each leg sees, and the narrow
//! interface to the relay that moves the packets.
//!
//! # Why each leg gets our own SDP
//!
//! Switchboard anchors every call's media: the caller and the agents only ever see our
//! address, so that latching works behind NAT, the media timeout can end a dead call, and a
//! leg can be transcoded or played to (IVR, hold music). Each leg therefore gets a description
//! of our own ([`media::sdp::build_audio`]), never an edited copy of the other side's:
//!
//! * **to the agents** we offer the caller's codecs that we support (in the caller's order and
//!   with the caller's payload numbers, so no transcoding is needed when the agent picks one),
//!   then the configured codecs the caller did not offer (which we can transcode to), then
//!   the caller's `telephone-event`;
//! * **to the caller** we answer with the agent's codec when the caller offered it, else with
//!   the caller's first common codec (the relay transcodes), plus `telephone-event` when the
//!   caller offered it (DTMF is detected or relayed by the relay).
//!
//! A caller whose offer shares no codec with `[media] codecs` gets `488`.
//!
//! # The relay ([`MediaControl`])
//!
//! The engine stays sans-IO: it tells a [`MediaControl`] what each leg negotiated and when the
//! call ends, and the daemon's implementation binds ports and drives the relay task. Events
//! come back through [`crate::Engine::on_media_event`]. Without a `MediaControl` the engine
//! passes SDP through untouched (registrar-only nodes, signalling benchmarks).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use media::sdp::{self, AudioDescription, Codec, Direction, Sdp};

/// The prompt name [`MediaControl::play`] gets for hold music (the daemon synthesises it).
pub const HOLD_MUSIC: &str = "builtin:hold";

/// The prompt name for the tone before a voicemail recording (synthesised by the daemon).
pub const BEEP: &str = "builtin:beep";

/// The two sides of an anchored call, as the relay sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Toward the caller (carrier, trunk or internal caller).
    Caller,
    /// Toward whichever agent answers (every ringing branch is offered the same port).
    Agent,
}

/// Local ports of one anchored call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaPorts {
    /// The address written into our SDP.
    pub ip: IpAddr,
    /// RTP port toward the caller (RTCP on the next one).
    pub caller_port: u16,
    /// RTP port toward the agents.
    pub agent_port: u16,
}

impl MediaPorts {
    /// A call whose offer is checked before the relay gives it ports
    /// ([`CallMedia::anchor_at`] sets them).
    pub const UNBOUND: MediaPorts = MediaPorts {
        ip: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        caller_port: 0,
        agent_port: 0,
    };
}

/// What one side negotiated: where to send, and in which codec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteMedia {
    /// The peer's RTP address from its SDP (`None`: unknown, or `0.0.0.0` hold).
    pub addr: Option<SocketAddr>,
    /// RTCP multiplexed on the RTP port.
    pub rtcp_mux: bool,
    /// The codec this side sends and receives, with this side's payload type.
    pub codec: Option<Codec>,
    /// This side's `telephone-event` payload type.
    pub telephone_event: Option<u8>,
}

/// Why a call could not be anchored.
#[derive(Debug, thiserror::Error)]
#[error("media unavailable: {0}")]
pub struct MediaUnavailable(pub String);

/// Something the relay reports about a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaEvent {
    /// No RTP for `[media] media_timeout` on an answered call (not on hold).
    Timeout,
    /// A DTMF key from one side (RFC 4733 or in-band), at its start.
    Dtmf {
        /// Who pressed it.
        side: Side,
        /// `0`-`9`, `*`, `#`, `A`-`D`.
        digit: char,
    },
    /// A prompt started with [`MediaControl::play`] (not looped) finished.
    PlaybackDone {
        /// The side it played to.
        side: Side,
    },
    /// A recording started with [`MediaControl::record`] is complete on disk (its maximum
    /// length, a stop, or the call's end).
    RecordingDone { side: Side, duration_ms: u32 },
    /// A recording could not be written; nothing is at its path.
    RecordingFailed { side: Side },
}

/// The engine's narrow interface to the media relay. Implementations must not block: the
/// daemon's one queues commands to its relay task.
pub trait MediaControl: Send {
    /// Reserves the ports of a new call; its media timeout is paused until
    /// [`MediaControl::set_paused`]`(false)`.
    fn open(&mut self, call: &str) -> Result<MediaPorts, MediaUnavailable>;
    /// One side's negotiated media, new or changed (answer, re-INVITE).
    fn update(&mut self, call: &str, side: Side, remote: RemoteMedia);
    /// Pauses (ringing, IVR, hold) or resumes the media timeout.
    fn set_paused(&mut self, call: &str, paused: bool);
    /// Plays the prompt file `prompt` (a path from the configuration) to `side`.
    fn play(&mut self, call: &str, side: Side, prompt: &str, looped: bool);
    /// Stops what plays to `side`.
    fn stop_playback(&mut self, call: &str, side: Side);
    /// Sends DTMF keys to `side` as RFC 4733 events.
    fn send_dtmf(&mut self, call: &str, side: Side, digits: &str);
    /// Records what `side` says into a WAV file at `path`, for at most `max`.
    fn record(&mut self, call: &str, side: Side, path: &std::path::Path, max: std::time::Duration);
    /// The call ended: stop relaying and free its ports (a recording is finished first).
    fn close(&mut self, call: &str);
}

/// The codecs `[media] codecs` names, with the payload types we use for them in offers.
pub fn supported_codecs(cfg: &config::Config) -> Vec<Codec> {
    cfg.media
        .codecs
        .iter()
        .map(|c| match c {
            config::Codec::Opus => Codec {
                fmtp: Some(Bytes::from_static(b"useinbandfec=1")),
                ..Codec::new(111, "opus", 48000, 2)
            },
            config::Codec::Pcma => Codec::new(8, "PCMA", 8000, 1),
            config::Codec::Pcmu => Codec::new(0, "PCMU", 8000, 1),
        })
        .collect()
}

fn telephone_event(pt: u8) -> Codec {
    Codec {
        fmtp: Some(Bytes::from_static(b"0-16")),
        ..Codec::new(pt, "telephone-event", 8000, 1)
    }
}

/// Why an offer cannot be anchored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferError {
    /// Not SDP, or no audio stream with a port.
    Unusable,
    /// No codec in common with `[media] codecs`.
    NoCommonCodec,
}

/// Hold as RFC 3264 §8.4 and RFC 2543 express it: a direction that stops sending to us, or
/// a `0.0.0.0` connection address.
pub fn is_hold(sdp: &Sdp) -> bool {
    matches!(sdp.direction(), Direction::SendOnly | Direction::Inactive)
        || sdp
            .audio()
            .and_then(|a| a.connection().or_else(|| sdp.connection()))
            .is_some_and(|ip| ip.is_unspecified())
}

/// The peer's RTP address, `None` for a `0.0.0.0` hold or port 0.
fn peer_addr(sdp: &Sdp) -> Option<SocketAddr> {
    sdp.audio_addr().filter(|a| !a.ip().is_unspecified())
}

fn first_te(codecs: &[Codec]) -> Option<Codec> {
    codecs
        .iter()
        .find(|c| c.is_telephone_event() && c.clock_rate == 8000)
        .cloned()
}

/// A description as last sent on one side.
#[derive(Clone, Debug)]
struct Sent {
    codecs: Vec<Codec>,
    direction: Direction,
    rtcp_mux: bool,
    body: Bytes,
}

/// The media state of one anchored call.
#[derive(Clone, Debug)]
pub struct CallMedia {
    pub ports: MediaPorts,
    /// The caller's audio codecs we support, in its order and numbering.
    caller_common: Vec<Codec>,
    caller_te: Option<Codec>,
    caller_mux: bool,
    caller_addr: Option<SocketAddr>,
    /// What we offered the agents (common codecs, then transcodable extras, then DTMF).
    agent_offer: Vec<Codec>,
    /// The codec each side settled on, once answered.
    pub caller_codec: Option<Codec>,
    pub agent_codec: Option<Codec>,
    agent_te: Option<Codec>,
    agent_mux: bool,
    session_id: u64,
    caller_version: u64,
    agent_version: u64,
    /// What was last described on each side (codecs, direction, rtcp-mux) and its body: a
    /// change bumps the `o=` version, the same description is the same body.
    caller_sent: Option<Sent>,
    agent_sent: Option<Sent>,
    pub closed: bool,
    /// The caller's INVITE had no offer: our 2xx to it offers, its ACK answers.
    late: bool,
    /// The caller was answered (by the IVR): its codec no longer follows the agent's.
    caller_fixed: bool,
}

impl CallMedia {
    /// Takes the caller's offer. `supported` is [`supported_codecs`].
    pub fn from_offer(
        offer: &Sdp,
        supported: &[Codec],
        ports: MediaPorts,
        session_id: u64,
    ) -> Result<CallMedia, OfferError> {
        let audio = offer.audio().ok_or(OfferError::Unusable)?;
        if audio.media.port == 0 {
            return Err(OfferError::Unusable);
        }
        let offered = audio.codecs();
        let caller_common: Vec<Codec> = offered
            .iter()
            .filter(|c| !c.is_telephone_event() && supported.iter().any(|s| s.same_format(c)))
            .cloned()
            .collect();
        if caller_common.is_empty() {
            return Err(OfferError::NoCommonCodec);
        }
        let caller_te = first_te(&offered);
        let mut used: Vec<u8> = offered.iter().map(|c| c.pt).collect();
        let mut agent_offer = caller_common.clone();
        for s in supported {
            if agent_offer.iter().any(|c| c.same_format(s)) {
                continue;
            }
            let mut extra = s.clone();
            if used.contains(&extra.pt) {
                match (96..=127u8).find(|pt| !used.contains(pt)) {
                    Some(pt) => extra.pt = pt,
                    None => continue,
                }
            }
            used.push(extra.pt);
            agent_offer.push(extra);
        }
        let te_pt = match &caller_te {
            Some(te) => Some(te.pt),
            None => (96..=127u8).rev().find(|pt| !used.contains(pt)),
        };
        if let Some(pt) = te_pt {
            agent_offer.push(telephone_event(pt));
        }
        Ok(CallMedia {
            ports,
            caller_common,
            caller_te,
            caller_mux: audio.rtcp_mux(),
            caller_addr: peer_addr(offer),
            agent_offer,
            caller_codec: None,
            agent_codec: None,
            agent_te: None,
            agent_mux: false,
            session_id,
            caller_version: 0,
            agent_version: 0,
            caller_sent: None,
            agent_sent: None,
            closed: false,
            late: false,
            caller_fixed: false,
        })
    }

    /// The ports the relay gave the call, and its `o=` session id (offers are checked with
    /// [`MediaPorts::UNBOUND`] before ports are taken).
    pub fn anchor_at(&mut self, ports: MediaPorts, session_id: u64) {
        self.ports = ports;
        self.session_id = session_id;
    }

    /// A caller whose INVITE had no offer (RFC 3261 §13.2.1): the agents are offered what we
    /// support, our 2xx offers the caller the agent's codec first, and its ACK answers.
    pub fn without_offer(supported: &[Codec], ports: MediaPorts, session_id: u64) -> CallMedia {
        let te = telephone_event(101);
        let mut agent_offer = supported.to_vec();
        agent_offer.push(te.clone());
        CallMedia {
            ports,
            caller_common: supported.to_vec(),
            caller_te: Some(te),
            caller_mux: false,
            caller_addr: None,
            agent_offer,
            caller_codec: None,
            agent_codec: None,
            agent_te: None,
            agent_mux: false,
            session_id,
            caller_version: 0,
            agent_version: 0,
            caller_sent: None,
            agent_sent: None,
            closed: false,
            late: true,
            caller_fixed: false,
        }
    }

    /// The caller's answer (in its ACK) to the offer of our 2xx.
    pub fn on_caller_late_answer(&mut self, answer: &Sdp) -> Option<RemoteMedia> {
        if !self.late {
            return None;
        }
        self.late = false;
        let audio = answer.audio()?;
        let codecs = audio.codecs();
        let chosen = codecs
            .iter()
            .find(|c| {
                !c.is_telephone_event() && self.caller_common.iter().any(|o| o.same_format(c))
            })?
            .clone();
        self.caller_te = first_te(&codecs);
        self.caller_common = vec![chosen.clone()];
        self.caller_codec = Some(chosen);
        self.caller_mux = audio.rtcp_mux();
        self.caller_addr = peer_addr(answer);
        Some(self.caller_remote())
    }

    /// What the caller's side is before any answer: its address, and its first common codec
    /// (what an IVR plays in).
    pub fn caller_remote(&self) -> RemoteMedia {
        RemoteMedia {
            addr: self.caller_addr,
            rtcp_mux: self.caller_mux,
            codec: self
                .caller_codec
                .clone()
                .or_else(|| self.caller_common.first().cloned()),
            telephone_event: self.caller_te.as_ref().map(|c| c.pt),
        }
    }

    /// The offer every agent branch gets.
    pub fn agent_offer_body(&mut self) -> Bytes {
        let codecs = self.agent_offer.clone();
        self.body_for(Side::Agent, &codecs, Direction::SendRecv, self.caller_mux)
    }

    /// The codec the agent's answer settled on, and what the relay must be told. `None` when
    /// the answer is unusable (no codec we offered).
    pub fn on_agent_answer(&mut self, answer: &Sdp) -> Option<(RemoteMedia, RemoteMedia)> {
        let audio = answer.audio()?;
        let codecs = audio.codecs();
        let chosen = codecs
            .iter()
            .find(|c| !c.is_telephone_event() && self.agent_offer.iter().any(|o| o.same_format(c)))?
            .clone();
        self.agent_te = first_te(&codecs);
        self.agent_mux = audio.rtcp_mux();
        if !self.caller_fixed {
            let caller_codec = self
                .caller_common
                .iter()
                .find(|c| c.same_format(&chosen))
                .or_else(|| self.caller_common.first())?
                .clone();
            self.caller_codec = Some(caller_codec);
        }
        self.agent_codec = Some(chosen.clone());
        let agent = RemoteMedia {
            addr: peer_addr(answer),
            rtcp_mux: self.agent_mux,
            codec: Some(chosen),
            telephone_event: self.agent_te.as_ref().map(|c| c.pt),
        };
        Some((self.caller_remote(), agent))
    }

    /// The caller is answered by us before any agent (IVR): its codec is its first common one
    /// from now on; an agent with another codec is transcoded.
    pub fn fix_caller_codec(&mut self) {
        if self.caller_codec.is_none() {
            self.caller_codec = self.caller_common.first().cloned();
        }
        self.caller_fixed = true;
    }

    /// Our answer to the caller, once [`CallMedia::on_agent_answer`] (or an IVR) settled its
    /// codec. `direction` is the agent's (ours for an IVR: sendrecv).
    pub fn caller_answer_body(&mut self, direction: Direction) -> Bytes {
        let mut codecs: Vec<Codec> = self
            .caller_codec
            .clone()
            .or_else(|| self.caller_common.first().cloned())
            .into_iter()
            .collect();
        if self.late {
            // An offer: everything we support, the agent's codec first.
            for c in &self.caller_common {
                if !codecs.iter().any(|k| k.same_format(c)) {
                    codecs.push(c.clone());
                }
            }
        }
        codecs.extend(self.caller_te.clone());
        self.body_for(Side::Caller, &codecs, direction, self.caller_mux)
    }

    /// A re-INVITE offer from `from` (hold, resume, new address): the offer to relay to the
    /// other side, and the relay update for `from`.
    pub fn on_reoffer(&mut self, from: Side, offer: &Sdp) -> (Bytes, RemoteMedia) {
        let remote = self.remote_from(from, offer);
        let to = other(from);
        let direction = offer.direction();
        let codecs = self.settled(to);
        let mux = self.mux(to);
        (self.body_for(to, &codecs, direction, mux), remote)
    }

    /// The answer to a relayed re-INVITE, from `from`: the answer to send back to the other
    /// side, and the relay update for `from`.
    pub fn on_reanswer(&mut self, from: Side, answer: &Sdp) -> (Bytes, RemoteMedia) {
        let remote = self.remote_from(from, answer);
        let to = other(from);
        let codecs = self.settled(to);
        let mux = self.mux(to);
        (self.body_for(to, &codecs, answer.direction(), mux), remote)
    }

    fn remote_from(&mut self, side: Side, sdp: &Sdp) -> RemoteMedia {
        let mux = sdp.audio().is_some_and(|a| a.rtcp_mux());
        match side {
            Side::Caller => {
                self.caller_mux = mux;
                self.caller_addr = peer_addr(sdp);
                self.caller_remote()
            }
            Side::Agent => {
                self.agent_mux = mux;
                RemoteMedia {
                    addr: peer_addr(sdp),
                    rtcp_mux: mux,
                    codec: self.agent_codec.clone(),
                    telephone_event: self.agent_te.as_ref().map(|c| c.pt),
                }
            }
        }
    }

    /// The codecs a side settled on (codec, then DTMF); renegotiation keeps them.
    fn settled(&self, side: Side) -> Vec<Codec> {
        let (codec, te) = match side {
            Side::Caller => (&self.caller_codec, &self.caller_te),
            Side::Agent => (&self.agent_codec, &self.agent_te),
        };
        codec.iter().chain(te.iter()).cloned().collect()
    }

    fn mux(&self, side: Side) -> bool {
        match side {
            Side::Caller => self.caller_mux,
            Side::Agent => self.agent_mux,
        }
    }

    fn body_for(
        &mut self,
        side: Side,
        codecs: &[Codec],
        direction: Direction,
        rtcp_mux: bool,
    ) -> Bytes {
        let port = match side {
            Side::Caller => self.ports.caller_port,
            Side::Agent => self.ports.agent_port,
        };
        let (version, sent) = match side {
            Side::Caller => (&mut self.caller_version, &mut self.caller_sent),
            Side::Agent => (&mut self.agent_version, &mut self.agent_sent),
        };
        if let Some(last) = sent.as_ref() {
            if last.codecs == codecs && last.direction == direction && last.rtcp_mux == rtcp_mux {
                return last.body.clone();
            }
        }
        // RFC 3264 §8: a changed description carries a higher version.
        *version += 1;
        let body = sdp::build_audio(&AudioDescription {
            ip: self.ports.ip,
            port,
            codecs,
            direction,
            rtcp_mux,
            session_id: self.session_id,
            version: *version,
        });
        *sent = Some(Sent {
            codecs: codecs.to_vec(),
            direction,
            rtcp_mux,
            body: body.clone(),
        });
        body
    }
}

fn other(side: Side) -> Side {
    match side {
        Side::Caller => Side::Agent,
        Side::Agent => Side::Caller,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdp(s: &str) -> Sdp {
        Sdp::parse(Bytes::copy_from_slice(s.as_bytes())).expect("test SDP")
    }

    fn ports() -> MediaPorts {
        MediaPorts {
            ip: "10.0.0.1".parse().unwrap(),
            caller_port: 20000,
            agent_port: 20002,
        }
    }

    fn supported() -> Vec<Codec> {
        vec![
            Codec::new(111, "opus", 48000, 2),
            Codec::new(8, "PCMA", 8000, 1),
            Codec::new(0, "PCMU", 8000, 1),
        ]
    }

    const PCMA_OFFER: &str = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 18 101\r\na=rtpmap:101 telephone-event/8000\r\n";

    #[test]
    fn agents_are_offered_common_then_transcodable_codecs() {
        let mut m = CallMedia::from_offer(&sdp(PCMA_OFFER), &supported(), ports(), 7).unwrap();
        let offer = sdp(std::str::from_utf8(&m.agent_offer_body()).unwrap());
        assert_eq!(offer.audio_addr(), Some("10.0.0.1:20002".parse().unwrap()));
        let names: Vec<(u8, String)> = media::sdp::codecs(&offer)
            .iter()
            .map(|c| (c.pt, String::from_utf8_lossy(&c.name).into_owned()))
            .collect();
        // G.729 is not ours; opus keeps 111, PCMU keeps 0; DTMF keeps the caller's 101.
        assert_eq!(
            names,
            [
                (8, "PCMA".to_string()),
                (111, "opus".into()),
                (0, "PCMU".into()),
                (101, "telephone-event".into())
            ]
        );
        assert_eq!(
            m.caller_remote().addr,
            Some("192.0.2.1:4000".parse().unwrap())
        );
    }

    #[test]
    fn no_common_codec_or_no_audio_is_refused() {
        let g729 = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 18\r\n";
        assert_eq!(
            CallMedia::from_offer(&sdp(g729), &supported(), ports(), 1).err(),
            Some(OfferError::NoCommonCodec)
        );
        let video = "v=0\r\nc=IN IP4 192.0.2.1\r\nm=video 4000 RTP/AVP 96\r\n";
        assert_eq!(
            CallMedia::from_offer(&sdp(video), &supported(), ports(), 1).err(),
            Some(OfferError::Unusable)
        );
    }

    #[test]
    fn an_opus_agent_for_a_pcma_caller_is_transcoded() {
        let mut m = CallMedia::from_offer(&sdp(PCMA_OFFER), &supported(), ports(), 7).unwrap();
        let answer = sdp("v=0\r\nc=IN IP4 192.0.2.9\r\nm=audio 5000 RTP/AVP 111 101\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n");
        let (caller, agent) = m.on_agent_answer(&answer).unwrap();
        assert_eq!(caller.codec.as_ref().map(|c| c.pt), Some(8));
        assert_eq!(agent.codec.as_ref().map(|c| c.pt), Some(111));
        assert_eq!(agent.addr, Some("192.0.2.9:5000".parse().unwrap()));
        assert_eq!(agent.telephone_event, Some(101));
        let to_caller =
            sdp(std::str::from_utf8(&m.caller_answer_body(Direction::SendRecv)).unwrap());
        assert_eq!(
            to_caller.audio_addr(),
            Some("10.0.0.1:20000".parse().unwrap())
        );
        let pts: Vec<u8> = media::sdp::codecs(&to_caller)
            .iter()
            .map(|c| c.pt)
            .collect();
        assert_eq!(pts, [8, 101]);
    }

    #[test]
    fn hold_reoffer_keeps_codecs_and_bumps_the_version() {
        let mut m = CallMedia::from_offer(&sdp(PCMA_OFFER), &supported(), ports(), 7).unwrap();
        let answer = sdp("v=0\r\nc=IN IP4 192.0.2.9\r\nm=audio 5000 RTP/AVP 8\r\n");
        m.on_agent_answer(&answer).unwrap();
        let first = m.caller_answer_body(Direction::SendRecv);
        assert_eq!(
            m.caller_answer_body(Direction::SendRecv),
            first,
            "same body, same version"
        );
        let hold = sdp("v=0\r\nc=IN IP4 192.0.2.9\r\nm=audio 5000 RTP/AVP 8\r\na=sendonly\r\n");
        assert!(is_hold(&hold));
        let (to_caller, agent) = m.on_reoffer(Side::Agent, &hold);
        let to_caller = sdp(std::str::from_utf8(&to_caller).unwrap());
        assert_eq!(to_caller.direction(), Direction::SendOnly);
        assert_eq!(agent.addr, Some("192.0.2.9:5000".parse().unwrap()));
        let version = |s: &Sdp| s.origin().map(|o| o.session_version.clone());
        assert_eq!(version(&to_caller), Some(Bytes::from_static(b"2")));
        let old_hold = sdp("v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 5000 RTP/AVP 8\r\n");
        assert!(is_hold(&old_hold));
        let (_, agent) = m.on_reoffer(Side::Agent, &old_hold);
        assert_eq!(agent.addr, None);
    }
}
