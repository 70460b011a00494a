//! Sans-IO IVR menus: keys and timer expiries in; "play this, stop that, route there, hang up"
//! out. No RTP, no SIP, no clock (every input takes `now`), no tasks, no logging.
//!
//! # Contract
//!
//! One [`IvrSession`] per call in an `ivr:ID` step, built from the loaded configuration (an
//! `Arc`, kept for the session's life) and the menu to start in. The loop is str0m's:
//!
//! 1. one input: [`start`](IvrSession::start) (once),
//!    [`prompt_finished`](IvrSession::prompt_finished), [`digit`](IvrSession::digit),
//!    [`handle_timeout`](IvrSession::handle_timeout);
//! 2. drain [`poll`](IvrSession::poll) until `None`, acting on each [`IvrOutput`];
//! 3. sleep until [`poll_timeout`](IvrSession::poll_timeout) (or the next key, or the prompt's
//!    end), then `handle_timeout(now)`.
//!
//! Media contract: every [`IvrOutput::Play`] gets exactly one `prompt_finished` (at its end, or
//! at once if it cannot be played), except a prompt stopped by [`IvrOutput::StopPrompt`], which
//! gets none. While a prompt plays there is no timer.
//!
//! Exactly one final output ends every session — [`IvrOutput::Route`] (team, user, number: give
//! it to routing's `CallRouting::on_ivr_result`), [`IvrOutput::HangUp`] or
//! [`IvrOutput::Voicemail`]; [`IvrOutput::final_route`] turns any of them into the route for
//! `on_ivr_result`. After it every input is ignored and `poll_timeout` is `None`. `ivr:X` and
//! `back` never come out: the session resolves them between its own menus.
//!
//! # Menus
//!
//! - Entering a menu: [`IvrEvent::MenuEntered`], then its prompt (interruptible). When the
//!   prompt ends, the menu's `timeout` (default 3 s) starts.
//! - A key while the menu prompt plays is barge-in: [`IvrOutput::StopPrompt`], then the key
//!   counts as if pressed after the prompt.
//! - Options menu, configured key: [`IvrEvent::Choice`], then its route: `ivr:X` enters X
//!   (nested), `back` returns to the previous menu ([`IvrEvent::Back`]; at the top menu it
//!   replays it), `team:`/`user:`/`number:` → [`IvrOutput::Route`], `hangup` →
//!   [`IvrOutput::HangUp`], `voicemail` → [`IvrOutput::Voicemail`].
//! - Unconfigured key: [`IvrEvent::Invalid`]. With retries left: [`IvrEvent::Retry`], the
//!   `invalid` prompt when configured (not interruptible: keys during it are dropped), then the
//!   menu prompt again. Without: the menu's `no_input` route (no `invalid` prompt first).
//! - No key within `timeout`: [`IvrEvent::NoInput`], then as above minus the `invalid` prompt.
//! - `retries` counts replays per visit of a menu (invalid and missing keys together; reset on
//!   every entry): with `retries = 2` the caller hears the prompt three times, and the third
//!   failure takes `no_input`, which may itself be `ivr:X` or `back`.
//!
//! Input menus (`input = { digits, terminator, sensitive, per_digit_timeout, route }`): digits
//! are collected (the first may barge in) until `digits` of them, the terminator, or
//! `per_digit_timeout` (default 5 s) after the last digit — each of which ends collection with
//! what was typed: [`IvrEvent::Input`], then `route`. No first digit within `timeout`, a
//! terminator with nothing before it, or the other symbol key (`*` when the terminator is `#`)
//! fail like a missing or invalid key and drop the digits so far. The value is read with
//! [`IvrSession::input`] → [`Digits::expose`]; events, the path, every `Debug` and `Display`
//! only ever show [`Digits::shown`], which masks `sensitive` values ([`mask`]: `••••42`; four
//! digits or fewer are masked entirely).
//!
//! # Branch data
//!
//! [`IvrSession::path`] is the `X-Switchboard-IVR-Path` value: one `menu:key` per choice
//! still on the walk (`main:2;support:1`), `menu:DIGITS` for an input menu (shown form);
//! `no_input` routes add nothing. [`IvrSession::last_branch`] is the
//! `X-Switchboard-IVR-Branch` value: the label of the last key choice on the path. Both go out
//! in every final output's [`BranchInfo`].
//!
//! `back` undoes the choice that led into the menu being left: after `main:2` (Support →
//! `ivr:support`) then `*` (back) the caller is in `main` with path `""` and no branch; after
//! `main:2;support:3` (→ `ivr:billing`) then back, the caller is in `support` with path
//! `main:2` and branch `Support`. `back` at the top replays it and leaves the path empty.
//!
//! # Loops
//!
//! At most [`MAX_MENU_ENTRIES`] menu entries per session (the first menu, each `ivr:X`, each
//! `back`). The entry past it emits [`IvrEvent::EntryLimit`] and ends the session with the
//! current menu's `no_input` if that is a team, user, number or voicemail, else
//! [`IvrOutput::HangUp`]. The path keeps the key that hit the limit. With `retries` at most 10
//! (checked by `config`), and input menus at most 32 digits, a session that only gets
//! `prompt_finished` and timeouts ends within a bounded number of inputs.

mod digits;
mod session;

pub use digits::{mask, Digits, MASK};
pub use session::{
    BranchInfo, IvrEvent, IvrOutput, IvrSession, BRANCH_HEADER, MAX_MENU_ENTRIES, PATH_HEADER,
};

use config::IvrId;

/// Why a session cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The start menu is not in the configuration.
    #[error("unknown IVR menu {0}")]
    UnknownMenu(IvrId),
}

#[cfg(test)]
mod tests;
