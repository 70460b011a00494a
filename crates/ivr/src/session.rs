//! One caller walking the menus: [`IvrSession`].
//!
//! Shape: `frames` is the stack of menus walked (the last one is the current menu), each with
//! the way the caller left it; the IVR path and the last branch are derived from it, so `back`
//! (a pop) can never leave them out of step. `state` says what the session waits for — a prompt
//! to end, a key, the next digit — and holds the data that wait needs (its deadline, the digits
//! so far). There is one timer at a time, so the deadline lives in the state instead of a table.

use std::collections::VecDeque;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use config::{Config, Dtmf, InputSpec, Ivr, IvrId, Menu, Route};

use crate::digits::Digits;
use crate::Error;

/// Menu entries allowed per session (the first menu, every `ivr:X`, every `back`): past it the
/// caller is going round in circles (a loop the configuration check cannot rule out, since
/// `back` and nested menus are legal), and the session ends with the current menu's `no_input`
/// when that leaves the IVR, or hangs up.
pub const MAX_MENU_ENTRIES: u32 = 32;

/// The SIP header carrying [`BranchInfo::path`] (DESIGN.md contract).
pub const PATH_HEADER: &str = "X-Switchboard-IVR-Path";

/// The SIP header carrying [`BranchInfo::label`] (DESIGN.md contract); absent when `None`.
pub const BRANCH_HEADER: &str = "X-Switchboard-IVR-Branch";

/// What the caller did in the IVR, as the agents, events and the CDR see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BranchInfo {
    /// `main:2;support:1`: one `menu:key` per choice, in order; an input menu adds
    /// `menu:DIGITS` (masked when sensitive). Empty when no choice was made.
    pub path: String,
    /// The label of the last key choice (`Support`); `None` when there was none.
    pub label: Option<String>,
    /// The menu the decision was taken in.
    pub menu: IvrId,
}

/// What the session asks of the daemon. Drain with [`IvrSession::poll`] after every input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IvrOutput {
    /// Play this file to the caller, replacing anything playing. Report its end (or failure)
    /// with [`IvrSession::prompt_finished`]. `interruptible`: a key stops it (barge-in); the
    /// session sends [`IvrOutput::StopPrompt`] itself when that happens.
    Play { file: PathBuf, interruptible: bool },
    /// Stop the prompt now playing; it gets no `prompt_finished`.
    StopPrompt,
    /// Final: the call leaves the IVR for `route` (a team, user or number); hand it to
    /// routing (`CallRouting::on_ivr_result`).
    Route { route: Route, branch: BranchInfo },
    /// Final: the menu routed to `hangup`, or the caller went round in circles.
    HangUp { branch: BranchInfo },
    /// Final: the menu routed to `voicemail`.
    Voicemail { branch: BranchInfo },
    /// Something to record or publish; no action needed.
    Event(IvrEvent),
}

impl IvrOutput {
    /// The route to give routing for a final output (`hangup` and `voicemail` included), so
    /// the daemon can call `on_ivr_result` on every final output alike.
    pub fn final_route(&self) -> Option<Route> {
        match self {
            IvrOutput::Route { route, .. } => Some(route.clone()),
            IvrOutput::HangUp { .. } => Some(Route::Hangup),
            IvrOutput::Voicemail { .. } => Some(Route::Voicemail),
            IvrOutput::Play { .. } | IvrOutput::StopPrompt | IvrOutput::Event(_) => None,
        }
    }

    /// The branch data of a final output.
    pub fn branch(&self) -> Option<&BranchInfo> {
        match self {
            IvrOutput::Route { branch, .. }
            | IvrOutput::HangUp { branch }
            | IvrOutput::Voicemail { branch } => Some(branch),
            IvrOutput::Play { .. } | IvrOutput::StopPrompt | IvrOutput::Event(_) => None,
        }
    }

    pub fn is_final(&self) -> bool {
        self.branch().is_some()
    }
}

/// Things that happened, for the timeline and `ivr.choice` events. None carries sensitive
/// digits in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IvrEvent {
    /// A menu starts (first time, nested, back, or replayed by `back` at the top).
    MenuEntered { menu: IvrId },
    /// A configured key was pressed.
    Choice {
        menu: IvrId,
        digit: Dtmf,
        label: String,
    },
    /// An input menu collected its digits: `digits` is [`Digits::shown`] (masked when
    /// sensitive).
    Input { menu: IvrId, digits: String },
    /// A key with no option, or in an input menu a terminator with nothing before it or `*`/`#`
    /// that is not the terminator. Never a digit of an input menu.
    Invalid { menu: IvrId, digit: Dtmf },
    /// No key within the menu's `timeout` after the prompt ended.
    NoInput { menu: IvrId },
    /// The menu is replayed after an invalid or missing key; `attempt` counts from 1 to the
    /// menu's `retries`.
    Retry { menu: IvrId, attempt: u32 },
    /// `back`: from `from` to the previous menu `to` (`to == from` at the top: a replay).
    Back { from: IvrId, to: IvrId },
    /// [`MAX_MENU_ENTRIES`] reached while in `menu`.
    EntryLimit { menu: IvrId },
}

/// How the caller left a menu they walked through.
#[derive(Clone, Debug)]
enum Exit {
    Key {
        digit: Dtmf,
        label: String,
    },
    /// The shown form of collected digits.
    Input(String),
    /// `no_input` taken: not a choice, so not in the path.
    NoInput,
}

#[derive(Clone, Debug)]
struct Frame {
    menu: IvrId,
    exit: Option<Exit>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prompt {
    /// The menu's prompt: interruptible.
    Menu,
    /// The `invalid` prompt: not interruptible; the menu prompt follows it.
    Invalid,
}

#[derive(Debug)]
enum State {
    /// Built, [`IvrSession::start`] not called yet.
    Created,
    Prompt(Prompt),
    /// The prompt ended; waiting for a key (options) or the first digit (input).
    Waiting {
        deadline: Instant,
    },
    /// An input menu has some digits and waits for more.
    Collecting {
        digits: Digits,
        deadline: Instant,
    },
    /// A final output was emitted; every input is ignored from now on.
    Finished,
}

/// One caller's walk through the menus. See the crate documentation for the contract.
pub struct IvrSession {
    config: Arc<Config>,
    created: Instant,
    /// Never empty: the last frame is the current menu.
    frames: Vec<Frame>,
    state: State,
    /// Retries used in the current menu visit.
    retries_used: u32,
    /// Menu entries so far, against [`MAX_MENU_ENTRIES`].
    entries: u32,
    /// Every input menu's digits, in order.
    inputs: Vec<(IvrId, Digits)>,
    out: VecDeque<IvrOutput>,
}

impl IvrSession {
    /// A session that will start in `start_menu`. Nothing happens until [`IvrSession::start`].
    /// The configuration is kept for the session's life: a reload does not change a walk in
    /// progress.
    pub fn new(config: Arc<Config>, start_menu: IvrId, now: Instant) -> Result<IvrSession, Error> {
        if config.ivr(start_menu.as_str()).is_none() {
            return Err(Error::UnknownMenu(start_menu));
        }
        Ok(IvrSession {
            config,
            created: now,
            frames: vec![Frame {
                menu: start_menu,
                exit: None,
            }],
            state: State::Created,
            retries_used: 0,
            entries: 0,
            inputs: Vec::new(),
            out: VecDeque::new(),
        })
    }

    /// Enters the first menu: [`IvrEvent::MenuEntered`], then its prompt. Once only.
    pub fn start(&mut self, now: Instant) {
        // Nothing is timed while the prompt plays: the key timeout starts when it ends.
        let _ = now;
        if matches!(self.state, State::Created) {
            self.begin_menu();
        }
    }

    /// The media side reports that the last [`IvrOutput::Play`] ended (or could not be
    /// played). After the menu prompt the key timeout starts; after the `invalid` prompt the
    /// menu prompt plays again. Ignored at any other time.
    pub fn prompt_finished(&mut self, now: Instant) {
        match self.state {
            State::Prompt(Prompt::Menu) => {
                let Some(ivr) = self.config.ivr(self.current().as_str()) else {
                    return self.hang_up();
                };
                self.state = State::Waiting {
                    deadline: now + ivr.timeout,
                };
            }
            State::Prompt(Prompt::Invalid) => self.play_menu_prompt(),
            State::Created | State::Waiting { .. } | State::Collecting { .. } | State::Finished => {
            }
        }
    }

    /// A key from the caller (RFC 4733, SIP INFO or in-band: the daemon does not care). During
    /// the menu prompt it stops the prompt ([`IvrOutput::StopPrompt`]) and counts; during the
    /// `invalid` prompt, before `start` and after a final output it is ignored.
    pub fn digit(&mut self, digit: Dtmf, now: Instant) {
        match self.state {
            State::Created | State::Finished | State::Prompt(Prompt::Invalid) => {}
            State::Prompt(Prompt::Menu) => {
                self.out.push_back(IvrOutput::StopPrompt);
                self.key(digit, now);
            }
            State::Waiting { .. } | State::Collecting { .. } => self.key(digit, now),
        }
    }

    /// Fires the pending timer if it is due at `now`: no key (a retry, or `no_input`), or
    /// the end of digit collection.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.poll_timeout() {
            Some(deadline) if deadline <= now => {}
            _ => return,
        }
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Waiting { .. } => {
                let config = Arc::clone(&self.config);
                let Some(ivr) = config.ivr(self.current().as_str()) else {
                    return self.hang_up();
                };
                self.emit(IvrEvent::NoInput {
                    menu: ivr.id.clone(),
                });
                self.fail(ivr, false);
            }
            State::Collecting { digits, .. } => {
                let config = Arc::clone(&self.config);
                match config.ivr(self.current().as_str()) {
                    Some(Ivr {
                        menu: Menu::Input(spec),
                        ..
                    }) => self.collected(spec, digits),
                    _ => self.hang_up(),
                }
            }
            other => self.state = other,
        }
    }

    /// The next output, in order; `None` when there is nothing to do.
    pub fn poll(&mut self) -> Option<IvrOutput> {
        self.out.pop_front()
    }

    /// When to call [`IvrSession::handle_timeout`]; `None` while a prompt plays (the media
    /// side reports its end), before `start` and once finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Waiting { deadline } | State::Collecting { deadline, .. } => Some(*deadline),
            State::Created | State::Prompt(_) | State::Finished => None,
        }
    }

    /// The IVR path so far (`X-Switchboard-IVR-Path`): `menu:key` per choice, `;`-separated;
    /// `menu:DIGITS` for an input menu (masked when sensitive); `""` before any choice.
    /// `back` removes the choice that led to the menu left, so after `main:2` then `*` (back)
    /// in `support` the path is `""` again, and `main:1` next makes it `main:1`.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.frames {
            let step = match &frame.exit {
                Some(Exit::Key { digit, .. }) => digit.to_string(),
                Some(Exit::Input(shown)) => shown.clone(),
                Some(Exit::NoInput) | None => continue,
            };
            if !path.is_empty() {
                path.push(';');
            }
            path.push_str(frame.menu.as_str());
            path.push(':');
            path.push_str(&step);
        }
        path
    }

    /// The label of the last key choice still on the path (`X-Switchboard-IVR-Branch`). After
    /// `back` it is the label of the choice that led to the menu returned to (`None` at the
    /// top). Input menus have no label and leave it unchanged.
    pub fn last_branch(&self) -> Option<&str> {
        self.frames.iter().rev().find_map(|f| match &f.exit {
            Some(Exit::Key { label, .. }) => Some(label.as_str()),
            _ => None,
        })
    }

    /// Path, last branch and current menu together.
    pub fn branch(&self) -> BranchInfo {
        BranchInfo {
            path: self.path(),
            label: self.last_branch().map(str::to_owned),
            menu: self.current().clone(),
        }
    }

    /// The menu the caller is in (or ended in).
    pub fn current_menu(&self) -> &IvrId {
        self.current()
    }

    /// Whether a final output (route, hang-up, voicemail) was emitted.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// When the session was built.
    pub fn created_at(&self) -> Instant {
        self.created
    }

    /// The digits last collected by input menu `menu`. Read the value with
    /// [`Digits::expose`]; never log it when [`Digits::is_sensitive`].
    pub fn input(&self, menu: &str) -> Option<&Digits> {
        self.inputs
            .iter()
            .rev()
            .find(|(id, _)| id.as_str() == menu)
            .map(|(_, d)| d)
    }

    /// Every input menu's digits, in the order collected.
    pub fn inputs(&self) -> impl Iterator<Item = (&IvrId, &Digits)> {
        self.inputs.iter().map(|(id, d)| (id, d))
    }

    // -----------------------------------------------------------------------------------------

    fn current(&self) -> &IvrId {
        // `frames` starts with one frame and `back` never pops the last one.
        &self.frames[self.frames.len() - 1].menu
    }

    fn set_exit(&mut self, exit: Option<Exit>) {
        if let Some(frame) = self.frames.last_mut() {
            frame.exit = exit;
        }
    }

    fn emit(&mut self, event: IvrEvent) {
        self.out.push_back(IvrOutput::Event(event));
    }

    /// Acts on a key in the current menu. The state is `Waiting` or `Collecting`.
    fn key(&mut self, digit: Dtmf, now: Instant) {
        let config = Arc::clone(&self.config);
        let Some(ivr) = config.ivr(self.current().as_str()) else {
            return self.hang_up();
        };
        match &ivr.menu {
            Menu::Options(options) => match options.get(&digit) {
                Some(option) => {
                    self.emit(IvrEvent::Choice {
                        menu: ivr.id.clone(),
                        digit,
                        label: option.label.clone(),
                    });
                    self.set_exit(Some(Exit::Key {
                        digit,
                        label: option.label.clone(),
                    }));
                    self.take(&option.route);
                }
                None => self.invalid(ivr, digit),
            },
            Menu::Input(spec) => {
                let mut digits = match std::mem::replace(&mut self.state, State::Finished) {
                    State::Collecting { digits, .. } => digits,
                    _ => Digits::new(spec.sensitive),
                };
                if digit == spec.terminator && !digits.is_empty() {
                    self.collected(spec, digits);
                } else if digit.as_char().is_ascii_digit() {
                    digits.push(digit.as_char());
                    if digits.len() >= usize::from(spec.digits) {
                        self.collected(spec, digits);
                    } else {
                        self.state = State::Collecting {
                            digits,
                            deadline: now + spec.per_digit_timeout,
                        };
                    }
                } else {
                    // A bare terminator, or the other symbol: wrong input, digits so far dropped.
                    self.invalid(ivr, digit);
                }
            }
        }
    }

    fn invalid(&mut self, ivr: &Ivr, digit: Dtmf) {
        self.emit(IvrEvent::Invalid {
            menu: ivr.id.clone(),
            digit,
        });
        self.fail(ivr, true);
    }

    /// An invalid or missing key: replay (after the `invalid` prompt for an invalid key, when
    /// configured) while retries remain, else `no_input`.
    fn fail(&mut self, ivr: &Ivr, invalid_key: bool) {
        if self.retries_used < ivr.retries {
            self.retries_used += 1;
            self.emit(IvrEvent::Retry {
                menu: ivr.id.clone(),
                attempt: self.retries_used,
            });
            match (&ivr.invalid, invalid_key) {
                (Some(file), true) => {
                    self.state = State::Prompt(Prompt::Invalid);
                    self.out.push_back(IvrOutput::Play {
                        file: file.clone(),
                        interruptible: false,
                    });
                }
                _ => self.play_menu_prompt(),
            }
        } else {
            self.set_exit(Some(Exit::NoInput));
            self.take(&ivr.no_input);
        }
    }

    fn collected(&mut self, spec: &InputSpec, digits: Digits) {
        let shown = digits.shown();
        let menu = self.current().clone();
        self.emit(IvrEvent::Input {
            menu: menu.clone(),
            digits: shown.clone(),
        });
        self.set_exit(Some(Exit::Input(shown)));
        self.inputs.push((menu, digits));
        self.take(&spec.route);
    }

    /// Follows a route out of the current menu (whose exit is already set).
    fn take(&mut self, route: &Route) {
        match route {
            Route::Team(_) | Route::User(_) | Route::Number(_) => self.finish(IvrOutput::Route {
                route: route.clone(),
                branch: self.branch(),
            }),
            Route::Voicemail => self.finish(IvrOutput::Voicemail {
                branch: self.branch(),
            }),
            Route::Hangup => self.hang_up(),
            Route::Ivr(id) => self.enter(id),
            Route::Back => self.back(),
        }
    }

    /// `ivr:ID`: a nested menu.
    fn enter(&mut self, id: &IvrId) {
        if self.entries >= MAX_MENU_ENTRIES {
            self.emit(IvrEvent::EntryLimit {
                menu: self.current().clone(),
            });
            return self.bail();
        }
        if self.config.ivr(id.as_str()).is_none() {
            // Cannot happen with a loaded configuration (routes are checked).
            return self.bail();
        }
        self.frames.push(Frame {
            menu: id.clone(),
            exit: None,
        });
        self.begin_menu();
    }

    /// `back`: the previous menu, its choice undone; at the top, the same menu again.
    fn back(&mut self) {
        // The key that said "back" is not a branch.
        self.set_exit(None);
        if self.entries >= MAX_MENU_ENTRIES {
            self.emit(IvrEvent::EntryLimit {
                menu: self.current().clone(),
            });
            return self.bail();
        }
        let from = self.current().clone();
        if self.frames.len() > 1 {
            self.frames.pop();
        }
        self.set_exit(None);
        let to = self.current().clone();
        self.emit(IvrEvent::Back { from, to });
        self.begin_menu();
    }

    /// Leaves the IVR without going further in: the current menu's `no_input` when it leaves
    /// the IVR, else hang up.
    fn bail(&mut self) {
        let config = Arc::clone(&self.config);
        match config.ivr(self.current().as_str()).map(|ivr| &ivr.no_input) {
            Some(
                route @ (Route::Team(_) | Route::User(_) | Route::Number(_) | Route::Voicemail),
            ) => {
                if self.frames.last().is_some_and(|f| f.exit.is_none()) {
                    self.set_exit(Some(Exit::NoInput));
                }
                self.take(route);
            }
            _ => self.hang_up(),
        }
    }

    fn begin_menu(&mut self) {
        self.entries += 1;
        self.retries_used = 0;
        self.emit(IvrEvent::MenuEntered {
            menu: self.current().clone(),
        });
        self.play_menu_prompt();
    }

    fn play_menu_prompt(&mut self) {
        let Some(ivr) = self.config.ivr(self.current().as_str()) else {
            return self.hang_up();
        };
        let file = ivr.prompt.clone();
        self.state = State::Prompt(Prompt::Menu);
        self.out.push_back(IvrOutput::Play {
            file,
            interruptible: true,
        });
    }

    fn hang_up(&mut self) {
        self.finish(IvrOutput::HangUp {
            branch: self.branch(),
        });
    }

    fn finish(&mut self, output: IvrOutput) {
        self.state = State::Finished;
        self.out.push_back(output);
    }
}

/// Shows where the caller is, never the configuration, and digits only as [`Digits::shown`].
impl fmt::Debug for IvrSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IvrSession")
            .field("menu", self.current())
            .field("path", &self.path())
            .field("last_branch", &self.last_branch())
            .field("state", &self.state)
            .field("retries_used", &self.retries_used)
            .field("entries", &self.entries)
            .field("inputs", &self.inputs)
            .field("pending_outputs", &self.out)
            .finish()
    }
}
