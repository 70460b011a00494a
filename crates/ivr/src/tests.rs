//! The menu machine on a virtual clock: `now` is read once and only advanced, prompts end when
//! the test says so (a fake media side), timers fire by jumping to `poll_timeout`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use config::{Config, Dtmf, IvrId, Route};
use proptest::prelude::*;

use crate::{BranchInfo, Error, IvrEvent, IvrOutput, IvrSession, MAX_MENU_ENTRIES};

/// Two levels as in DESIGN.md (main → support), a third (billing) to go back from, input menus
/// (account: sensitive, `#`-terminated; order: fixed length, `*`-terminated, 2 s per digit),
/// and menus that loop.
const CONFIG: &str = r##"
[sip]
listen = ["udp:127.0.0.1:5060"]
domain = "127.0.0.1"
auth = "none"

[[users]]
id = "alice"
[[teams]]
id = "sales"
members = ["alice"]
[[teams]]
id = "support"
members = ["alice"]

[[numbers]]
number = "+33100000001"
steps = ["ivr:main"]
fallback = "voicemail"
[[numbers]]
number = "+33100000002"
steps = ["team:sales"]
[[numbers]]
number = "+33100000003"
steps = ["ivr:loopa", "ivr:top"]

[ivr.main]
prompt = "prompts/main.wav"
timeout = "3s"
retries = 2
no_input = "team:support"
[ivr.main.options]
"1" = { label = "Sales", route = "team:sales" }
"2" = { label = "Support", route = "ivr:support" }
"3" = { label = "Alice", route = "user:alice" }
"4" = { label = "Other line", route = "number:+33100000002" }
"5" = { label = "Account", route = "ivr:account" }
"6" = { label = "Order", route = "ivr:order" }
"8" = { label = "Leave a message", route = "voicemail" }
"9" = { label = "Goodbye", route = "hangup" }

[ivr.support]
prompt = "prompts/support.wav"
invalid = "prompts/invalid.wav"
timeout = "4s"
retries = 1
no_input = "voicemail"
[ivr.support.options]
"1" = { label = "Tech", route = "team:support" }
"3" = { label = "Billing", route = "ivr:billing" }
"*" = { label = "Back", route = "back" }

[ivr.billing]
prompt = "prompts/billing.wav"
no_input = "back"
[ivr.billing.options]
"1" = { label = "Invoices", route = "team:sales" }
"*" = { label = "Back", route = "back" }

[ivr.account]
prompt = "prompts/account.wav"
retries = 1
no_input = "team:support"
input = { digits = 8, sensitive = true, route = "team:sales" }

[ivr.order]
prompt = "prompts/order.wav"
retries = 0
no_input = "hangup"
input = { digits = 4, terminator = "*", per_digit_timeout = "2s", route = "user:alice" }

[ivr.loopa]
prompt = "prompts/loop.wav"
no_input = "team:support"
[ivr.loopa.options]
"1" = { label = "To B", route = "ivr:loopb" }

[ivr.loopb]
prompt = "prompts/loop.wav"
no_input = "ivr:loopa"
[ivr.loopb.options]
"1" = { label = "To A", route = "ivr:loopa" }

[ivr.top]
prompt = "prompts/loop.wav"
no_input = "team:support"
[ivr.top.options]
"*" = { label = "Again", route = "back" }
"#" = { label = "Bye", route = "hangup" }
"##;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

fn load() -> Config {
    match config::parse_str(CONFIG, &testdata().join("test.toml")) {
        Ok(loaded) => loaded.config,
        Err(e) => panic!("test configuration does not load:\n{e}"),
    }
}

fn menu(s: &str) -> IvrId {
    s.parse().expect("valid IVR id")
}

fn key(c: char) -> Dtmf {
    Dtmf::try_from(c).expect("a DTMF key")
}

fn route(s: &str) -> Route {
    s.parse().expect("a route")
}

fn play(name: &str) -> IvrOutput {
    IvrOutput::Play {
        file: testdata().join("prompts").join(format!("{name}.wav")),
        interruptible: name != "invalid",
    }
}

fn ev(e: IvrEvent) -> IvrOutput {
    IvrOutput::Event(e)
}

fn entered(m: &str) -> IvrOutput {
    ev(IvrEvent::MenuEntered { menu: menu(m) })
}

fn choice(m: &str, k: char, label: &str) -> IvrOutput {
    ev(IvrEvent::Choice {
        menu: menu(m),
        digit: key(k),
        label: label.to_owned(),
    })
}

fn invalid(m: &str, k: char) -> IvrOutput {
    ev(IvrEvent::Invalid {
        menu: menu(m),
        digit: key(k),
    })
}

fn no_input(m: &str) -> IvrOutput {
    ev(IvrEvent::NoInput { menu: menu(m) })
}

fn retry(m: &str, attempt: u32) -> IvrOutput {
    ev(IvrEvent::Retry {
        menu: menu(m),
        attempt,
    })
}

fn back(from: &str, to: &str) -> IvrOutput {
    ev(IvrEvent::Back {
        from: menu(from),
        to: menu(to),
    })
}

fn branch(path: &str, label: Option<&str>, m: &str) -> BranchInfo {
    BranchInfo {
        path: path.to_owned(),
        label: label.map(str::to_owned),
        menu: menu(m),
    }
}

fn routed(r: &str, path: &str, label: Option<&str>, m: &str) -> IvrOutput {
    IvrOutput::Route {
        route: route(r),
        branch: branch(path, label, m),
    }
}

/// A session plus a fake media side: it tracks what plays, so the tests can check the media
/// contract (a `Play` only when nothing plays, `StopPrompt` only when an interruptible prompt
/// plays, `prompt_finished` only for a prompt that plays).
struct Caller {
    s: IvrSession,
    now: Instant,
    /// The prompt playing and whether it is interruptible.
    playing: Option<(PathBuf, bool)>,
    finals: usize,
}

impl Caller {
    fn new(start: &str) -> Caller {
        Caller::with_config(load(), start)
    }

    fn with_config(config: Config, start: &str) -> Caller {
        let now = Instant::now();
        let s = IvrSession::new(Arc::new(config), menu(start), now).expect("known start menu");
        Caller {
            s,
            now,
            playing: None,
            finals: 0,
        }
    }

    /// Starts the session and checks the first menu's entry.
    fn started(start: &str) -> Caller {
        let mut c = Caller::new(start);
        let out = c.start();
        let prompt = match start {
            "loopa" | "loopb" | "top" => "loop",
            m => m,
        };
        assert_eq!(out, vec![entered(start), play(prompt)]);
        c
    }

    fn drain(&mut self) -> Vec<IvrOutput> {
        let mut out = Vec::new();
        while let Some(o) = self.s.poll() {
            match &o {
                IvrOutput::Play {
                    file,
                    interruptible,
                } => {
                    assert!(self.playing.is_none(), "Play over {:?}", self.playing);
                    self.playing = Some((file.clone(), *interruptible));
                }
                IvrOutput::StopPrompt => {
                    assert!(
                        matches!(self.playing, Some((_, true))),
                        "StopPrompt while {:?}",
                        self.playing
                    );
                    self.playing = None;
                }
                other if other.is_final() => {
                    self.finals += 1;
                    // The caller leaves the IVR: whatever plays is cut by the next step.
                    self.playing = None;
                }
                _ => {}
            }
            out.push(o);
        }
        out
    }

    fn start(&mut self) -> Vec<IvrOutput> {
        self.s.start(self.now);
        self.drain()
    }

    /// The prompt playing ends now.
    fn prompt_ends(&mut self) -> Vec<IvrOutput> {
        assert!(self.playing.take().is_some(), "no prompt is playing");
        self.s.prompt_finished(self.now);
        self.drain()
    }

    fn press(&mut self, c: char) -> Vec<IvrOutput> {
        self.s.digit(key(c), self.now);
        self.drain()
    }

    fn press_all(&mut self, keys: &str) -> Vec<IvrOutput> {
        keys.chars().flat_map(|c| self.press(c)).collect()
    }

    fn advance(&mut self, d: Duration) -> Vec<IvrOutput> {
        self.now += d;
        self.s.handle_timeout(self.now);
        self.drain()
    }

    /// Jumps to the pending deadline and fires it.
    fn wait(&mut self) -> Vec<IvrOutput> {
        let deadline = self.s.poll_timeout().expect("a timer is pending");
        assert!(deadline >= self.now);
        self.now = deadline;
        self.s.handle_timeout(self.now);
        self.drain()
    }

    fn deadline_in(&self) -> Option<Duration> {
        self.s.poll_timeout().map(|d| d - self.now)
    }

    fn is_playing(&self, name: &str) -> bool {
        matches!(&self.playing, Some((f, _)) if f.ends_with(format!("{name}.wav")))
    }
}

// ---------------------------------------------------------------------------------------------
// Every path through the two-level menu

#[test]
fn each_final_option_of_main_routes_with_its_branch() {
    let cases: [(char, IvrOutput); 5] = [
        ('1', routed("team:sales", "main:1", Some("Sales"), "main")),
        ('3', routed("user:alice", "main:3", Some("Alice"), "main")),
        (
            '4',
            routed("number:+33100000002", "main:4", Some("Other line"), "main"),
        ),
        (
            '8',
            IvrOutput::Voicemail {
                branch: branch("main:8", Some("Leave a message"), "main"),
            },
        ),
        (
            '9',
            IvrOutput::HangUp {
                branch: branch("main:9", Some("Goodbye"), "main"),
            },
        ),
    ];
    for (k, want) in cases {
        let mut c = Caller::started("main");
        assert_eq!(c.prompt_ends(), vec![]);
        assert_eq!(c.deadline_in(), Some(Duration::from_secs(3)));
        let label = match want.branch().and_then(|b| b.label.clone()) {
            Some(l) => l,
            None => panic!("every case has a label"),
        };
        assert_eq!(c.press(k), vec![choice("main", k, &label), want.clone()]);
        assert!(c.s.is_finished());
        assert_eq!(c.s.poll_timeout(), None);
        assert_eq!(c.s.path(), format!("main:{k}"));
        assert_eq!(c.s.last_branch(), Some(label.as_str()));
        assert_eq!(c.finals, 1);
    }
}

#[test]
fn final_route_turns_every_final_output_into_a_route_for_routing() {
    let b = branch("", None, "main");
    assert_eq!(
        routed("team:sales", "main:1", Some("Sales"), "main").final_route(),
        Some(route("team:sales"))
    );
    assert_eq!(
        IvrOutput::HangUp { branch: b.clone() }.final_route(),
        Some(Route::Hangup)
    );
    assert_eq!(
        IvrOutput::Voicemail { branch: b }.final_route(),
        Some(Route::Voicemail)
    );
    assert_eq!(IvrOutput::StopPrompt.final_route(), None);
    assert_eq!(play("main").final_route(), None);
    assert!(!entered("main").is_final());
}

#[test]
fn nested_menu_choice_carries_the_whole_path_and_the_last_label() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    assert_eq!(
        c.press('2'),
        vec![
            choice("main", '2', "Support"),
            entered("support"),
            play("support")
        ]
    );
    assert_eq!(c.s.path(), "main:2");
    assert_eq!(c.s.last_branch(), Some("Support"));
    assert_eq!(c.s.current_menu(), &menu("support"));
    assert_eq!(c.s.poll_timeout(), None, "no timer while the prompt plays");
    c.prompt_ends();
    assert_eq!(c.deadline_in(), Some(Duration::from_secs(4)));
    assert_eq!(
        c.press('1'),
        vec![
            choice("support", '1', "Tech"),
            routed("team:support", "main:2;support:1", Some("Tech"), "support")
        ]
    );
}

#[test]
fn back_from_the_second_level_empties_the_path_then_a_new_choice_starts_it_again() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    c.press('2');
    c.prompt_ends();
    assert_eq!(
        c.press('*'),
        vec![
            choice("support", '*', "Back"),
            back("support", "main"),
            entered("main"),
            play("main")
        ]
    );
    assert_eq!(c.s.current_menu(), &menu("main"));
    assert_eq!(c.s.path(), "");
    assert_eq!(c.s.last_branch(), None);
    c.prompt_ends();
    assert_eq!(
        c.press('1'),
        vec![
            choice("main", '1', "Sales"),
            routed("team:sales", "main:1", Some("Sales"), "main")
        ]
    );
}

#[test]
fn back_from_the_third_level_keeps_the_choices_above() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    c.press('2');
    c.prompt_ends();
    assert_eq!(
        c.press('3'),
        vec![
            choice("support", '3', "Billing"),
            entered("billing"),
            play("billing")
        ]
    );
    assert_eq!(c.s.path(), "main:2;support:3");
    assert_eq!(c.s.last_branch(), Some("Billing"));
    // Barge-in on billing's prompt with `*` (back).
    assert_eq!(
        c.press('*'),
        vec![
            IvrOutput::StopPrompt,
            choice("billing", '*', "Back"),
            back("billing", "support"),
            entered("support"),
            play("support")
        ]
    );
    assert_eq!(c.s.path(), "main:2");
    assert_eq!(c.s.last_branch(), Some("Support"));
    c.prompt_ends();
    assert_eq!(
        c.press('1')[1],
        routed("team:support", "main:2;support:1", Some("Tech"), "support")
    );
}

#[test]
fn back_at_the_top_replays_the_menu_with_fresh_retries() {
    let mut c = Caller::started("top");
    c.prompt_ends();
    // Use one of the retries (2 by default).
    assert_eq!(
        c.press('7'),
        vec![invalid("top", '7'), retry("top", 1), play("loop")]
    );
    c.prompt_ends();
    assert_eq!(
        c.press('*'),
        vec![
            choice("top", '*', "Again"),
            back("top", "top"),
            entered("top"),
            play("loop")
        ]
    );
    assert_eq!(c.s.path(), "");
    assert_eq!(c.s.last_branch(), None);
    // Retries start again from 1 after the replay.
    c.prompt_ends();
    assert_eq!(
        c.wait(),
        vec![no_input("top"), retry("top", 1), play("loop")]
    );
}

#[test]
fn no_input_route_that_goes_back_returns_to_the_parent_menu() {
    // billing: retries 2 (default), no_input = back.
    let mut c = Caller::started("main");
    c.prompt_ends();
    c.press('2');
    c.prompt_ends();
    c.press('3');
    for attempt in 1..=2 {
        c.prompt_ends();
        assert_eq!(
            c.wait(),
            vec![
                no_input("billing"),
                retry("billing", attempt),
                play("billing")
            ]
        );
    }
    c.prompt_ends();
    assert_eq!(
        c.wait(),
        vec![
            no_input("billing"),
            back("billing", "support"),
            entered("support"),
            play("support")
        ]
    );
    assert_eq!(c.s.path(), "main:2");
    assert_eq!(c.s.last_branch(), Some("Support"));
}

// ---------------------------------------------------------------------------------------------
// Timeouts and retries

#[test]
fn silence_replays_exactly_retries_times_then_takes_no_input() {
    let mut c = Caller::started("main");
    for attempt in 1..=2 {
        assert_eq!(c.prompt_ends(), vec![]);
        assert_eq!(c.deadline_in(), Some(Duration::from_secs(3)));
        assert_eq!(
            c.wait(),
            vec![no_input("main"), retry("main", attempt), play("main")]
        );
    }
    c.prompt_ends();
    assert_eq!(
        c.wait(),
        vec![no_input("main"), routed("team:support", "", None, "main")]
    );
    assert!(c.s.is_finished());
}

#[test]
fn the_key_timeout_starts_when_the_prompt_ends_and_fires_at_its_deadline_only() {
    let mut c = Caller::started("main");
    // A long prompt: no timer runs while it plays.
    assert_eq!(c.s.poll_timeout(), None);
    assert_eq!(c.advance(Duration::from_secs(30)), vec![]);
    c.prompt_ends();
    let deadline = c.s.poll_timeout();
    assert_eq!(deadline, Some(c.now + Duration::from_secs(3)));
    assert_eq!(c.advance(Duration::from_millis(2999)), vec![]);
    assert_eq!(
        c.s.poll_timeout(),
        deadline,
        "an early wake-up changes nothing"
    );
    assert_eq!(
        c.advance(Duration::from_millis(1)),
        vec![no_input("main"), retry("main", 1), play("main")]
    );
}

#[test]
fn a_late_wake_up_fires_the_timer_once() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    assert_eq!(
        c.advance(Duration::from_secs(60)),
        vec![no_input("main"), retry("main", 1), play("main")]
    );
    assert_eq!(c.advance(Duration::from_secs(60)), vec![]);
}

#[test]
fn invalid_keys_without_an_invalid_prompt_replay_the_menu() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    assert_eq!(
        c.press('7'),
        vec![invalid("main", '7'), retry("main", 1), play("main")]
    );
    c.prompt_ends();
    assert_eq!(
        c.press('#'),
        vec![invalid("main", '#'), retry("main", 2), play("main")]
    );
    c.prompt_ends();
    assert_eq!(
        c.press('0'),
        vec![
            invalid("main", '0'),
            routed("team:support", "", None, "main")
        ]
    );
}

#[test]
fn invalid_and_missing_keys_share_the_retry_count() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    assert_eq!(
        c.press('7'),
        vec![invalid("main", '7'), retry("main", 1), play("main")]
    );
    c.prompt_ends();
    assert_eq!(
        c.wait(),
        vec![no_input("main"), retry("main", 2), play("main")]
    );
    c.prompt_ends();
    assert_eq!(
        c.wait(),
        vec![no_input("main"), routed("team:support", "", None, "main")]
    );
}

#[test]
fn an_invalid_key_with_an_invalid_prompt_plays_it_uninterruptibly_then_the_menu() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    c.press('2');
    c.prompt_ends();
    assert_eq!(
        c.press('9'),
        vec![
            invalid("support", '9'),
            retry("support", 1),
            play("invalid")
        ]
    );
    assert!(c.is_playing("invalid"));
    assert_eq!(c.s.poll_timeout(), None);
    // Keys during the invalid prompt are dropped: no barge-in, no choice.
    assert_eq!(c.press('1'), vec![]);
    assert!(!c.s.is_finished());
    assert_eq!(c.prompt_ends(), vec![play("support")]);
    c.prompt_ends();
    // retries = 1 is used up: the next invalid key takes no_input (voicemail), no prompt.
    assert_eq!(
        c.press('9'),
        vec![
            invalid("support", '9'),
            IvrOutput::Voicemail {
                branch: branch("main:2", Some("Support"), "support")
            }
        ]
    );
}

#[test]
fn silence_in_a_menu_with_an_invalid_prompt_does_not_play_it() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    c.press('2');
    c.prompt_ends();
    assert_eq!(c.deadline_in(), Some(Duration::from_secs(4)));
    assert_eq!(
        c.wait(),
        vec![no_input("support"), retry("support", 1), play("support")]
    );
    c.prompt_ends();
    assert_eq!(
        c.wait(),
        vec![
            no_input("support"),
            IvrOutput::Voicemail {
                branch: branch("main:2", Some("Support"), "support")
            }
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Barge-in

#[test]
fn a_key_during_the_prompt_stops_it_and_counts() {
    let mut c = Caller::started("main");
    assert_eq!(
        c.press('1'),
        vec![
            IvrOutput::StopPrompt,
            choice("main", '1', "Sales"),
            routed("team:sales", "main:1", Some("Sales"), "main")
        ]
    );
}

#[test]
fn an_invalid_key_during_the_prompt_stops_it_and_replays() {
    let mut c = Caller::started("main");
    assert_eq!(
        c.press('7'),
        vec![
            IvrOutput::StopPrompt,
            invalid("main", '7'),
            retry("main", 1),
            play("main")
        ]
    );
    // The replayed prompt is interruptible too.
    assert_eq!(
        c.press('2'),
        vec![
            IvrOutput::StopPrompt,
            choice("main", '2', "Support"),
            entered("support"),
            play("support")
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Input menus

#[test]
fn hash_terminated_sensitive_input_masks_the_digits_everywhere_but_the_accessor() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    assert_eq!(
        c.press('5'),
        vec![
            choice("main", '5', "Account"),
            entered("account"),
            play("account")
        ]
    );
    // The first digit barges in.
    let mut out = c.press('9');
    assert_eq!(out, vec![IvrOutput::StopPrompt]);
    out.extend(c.press_all("87642"));
    assert_eq!(out.len(), 1, "no per-digit output: {out:?}");
    assert_eq!(c.deadline_in(), Some(Duration::from_secs(5)));
    let partial = format!("{:?}", c.s);
    assert!(!partial.contains("987642"), "{partial}");
    assert!(!partial.contains("9876"), "{partial}");
    assert!(partial.contains("••••42"), "{partial}");

    let done = c.press('#');
    assert_eq!(
        done,
        vec![
            ev(IvrEvent::Input {
                menu: menu("account"),
                digits: "••••42".to_owned()
            }),
            routed(
                "team:sales",
                "main:5;account:••••42",
                Some("Account"),
                "account"
            )
        ]
    );
    assert_eq!(c.s.path(), "main:5;account:••••42");
    assert_eq!(
        c.s.last_branch(),
        Some("Account"),
        "input menus have no label"
    );
    let digits = c.s.input("account").expect("collected");
    assert_eq!(digits.expose(), "987642");
    assert!(digits.is_sensitive());
    for text in [
        format!("{:?}", c.s),
        format!("{done:?}"),
        format!("{digits:?}"),
        digits.to_string(),
        format!("{:?}", c.s.inputs().collect::<Vec<_>>()),
    ] {
        assert!(!text.contains("987642"), "{text}");
        assert!(!text.contains("9876"), "{text}");
    }
}

#[test]
fn fixed_length_input_ends_on_the_last_digit_without_a_terminator() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    c.press('6');
    c.prompt_ends();
    assert_eq!(
        c.deadline_in(),
        Some(Duration::from_secs(3)),
        "first digit: menu timeout"
    );
    assert_eq!(c.press_all("417"), vec![]);
    assert_eq!(
        c.deadline_in(),
        Some(Duration::from_secs(2)),
        "then per digit"
    );
    assert_eq!(
        c.press('3'),
        vec![
            ev(IvrEvent::Input {
                menu: menu("order"),
                digits: "4173".to_owned()
            }),
            routed("user:alice", "main:6;order:4173", Some("Order"), "order")
        ]
    );
    assert_eq!(c.s.input("order").map(|d| d.expose()), Some("4173"));
    assert!(c.s.input("order").is_some_and(|d| !d.is_sensitive()));
    assert_eq!(c.press('1'), vec![], "a key after the end is ignored");
}

#[test]
fn the_configured_terminator_ends_short_input() {
    let mut c = Caller::started("order");
    c.prompt_ends();
    assert_eq!(
        c.press_all("41*"),
        vec![
            ev(IvrEvent::Input {
                menu: menu("order"),
                digits: "41".to_owned()
            }),
            routed("user:alice", "order:41", None, "order")
        ]
    );
}

#[test]
fn the_per_digit_timeout_ends_collection_with_the_digits_so_far() {
    let mut c = Caller::started("order");
    c.prompt_ends();
    c.press('4');
    assert_eq!(c.advance(Duration::from_millis(1500)), vec![]);
    c.press('1');
    // The deadline moved with the second digit: 2 s after it, not after the first.
    assert_eq!(c.deadline_in(), Some(Duration::from_secs(2)));
    assert_eq!(c.advance(Duration::from_millis(1999)), vec![]);
    assert_eq!(
        c.advance(Duration::from_millis(1)),
        vec![
            ev(IvrEvent::Input {
                menu: menu("order"),
                digits: "41".to_owned()
            }),
            routed("user:alice", "order:41", None, "order")
        ]
    );
}

#[test]
fn a_bare_terminator_or_the_other_symbol_is_invalid_and_drops_the_digits() {
    let mut c = Caller::started("account");
    c.prompt_ends();
    assert_eq!(
        c.press('#'),
        vec![
            invalid("account", '#'),
            retry("account", 1),
            play("account")
        ]
    );
    c.prompt_ends();
    c.press_all("12");
    // `*` is not account's terminator: wrong input, and retries (1) are used up.
    assert_eq!(
        c.press('*'),
        vec![
            invalid("account", '*'),
            routed("team:support", "", None, "account")
        ]
    );
    assert!(
        c.s.input("account").is_none(),
        "dropped digits are not kept"
    );
}

#[test]
fn no_first_digit_retries_then_takes_no_input() {
    let mut c = Caller::started("main");
    c.prompt_ends();
    c.press('5');
    c.prompt_ends();
    assert_eq!(c.deadline_in(), Some(Duration::from_secs(3)));
    assert_eq!(
        c.wait(),
        vec![no_input("account"), retry("account", 1), play("account")]
    );
    c.prompt_ends();
    assert_eq!(
        c.wait(),
        vec![
            no_input("account"),
            routed("team:support", "main:5", Some("Account"), "account")
        ]
    );
}

#[test]
fn input_with_no_retries_takes_no_input_at_the_first_silence() {
    let mut c = Caller::started("order");
    c.prompt_ends();
    assert_eq!(
        c.wait(),
        vec![
            no_input("order"),
            IvrOutput::HangUp {
                branch: branch("", None, "order")
            }
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Session edges

#[test]
fn inputs_after_the_final_output_are_ignored() {
    let mut c = Caller::started("main");
    c.press('1');
    assert!(c.s.is_finished());
    let path = c.s.path();
    c.s.digit(key('2'), c.now);
    c.s.prompt_finished(c.now);
    c.s.handle_timeout(c.now + Duration::from_secs(100));
    c.s.start(c.now);
    assert_eq!(c.s.poll(), None);
    assert_eq!(c.s.poll_timeout(), None);
    assert_eq!(c.s.path(), path);
    assert_eq!(c.finals, 1);
}

#[test]
fn inputs_before_start_are_ignored_and_start_runs_once() {
    let mut c = Caller::new("main");
    c.s.digit(key('1'), c.now);
    c.s.prompt_finished(c.now);
    c.s.handle_timeout(c.now + Duration::from_secs(100));
    assert_eq!(c.s.poll(), None);
    assert_eq!(c.s.poll_timeout(), None);
    assert_eq!(c.start(), vec![entered("main"), play("main")]);
    assert_eq!(c.start(), vec![]);
}

#[test]
fn an_unknown_start_menu_is_an_error() {
    let err = IvrSession::new(Arc::new(load()), menu("nope"), Instant::now()).unwrap_err();
    assert_eq!(err, Error::UnknownMenu(menu("nope")));
    assert_eq!(err.to_string(), "unknown IVR menu nope");
}

#[test]
fn a_nested_menu_missing_from_the_configuration_takes_no_input() {
    let mut config = load();
    config.ivr.remove("support");
    let mut c = Caller::with_config(config, "main");
    c.start();
    assert_eq!(
        c.press('2'),
        vec![
            IvrOutput::StopPrompt,
            choice("main", '2', "Support"),
            routed("team:support", "main:2", Some("Support"), "main")
        ]
    );
}

#[test]
fn menus_sending_each_other_round_hang_up_at_the_entry_limit() {
    let mut c = Caller::started("loopa");
    let mut entries = 1;
    loop {
        let out = c.press('1');
        if c.s.is_finished() {
            let at = menu(if entries % 2 == 0 { "loopb" } else { "loopa" });
            assert_eq!(out[0], IvrOutput::StopPrompt);
            assert_eq!(out[2], ev(IvrEvent::EntryLimit { menu: at.clone() }));
            // loopb's no_input is another menu: hang up.
            assert!(matches!(&out[3], IvrOutput::HangUp { branch } if branch.menu == at));
            assert_eq!(out.len(), 4);
            break;
        }
        assert_eq!(
            out.iter()
                .filter(|o| matches!(o, IvrOutput::Event(IvrEvent::MenuEntered { .. })))
                .count(),
            1
        );
        entries += 1;
    }
    assert_eq!(entries, MAX_MENU_ENTRIES);
    assert_eq!(c.finals, 1);
}

#[test]
fn back_at_the_top_forever_takes_no_input_at_the_entry_limit() {
    let mut c = Caller::started("top");
    for _ in 1..MAX_MENU_ENTRIES {
        let out = c.press('*');
        assert_eq!(out[3], entered("top"));
    }
    assert_eq!(
        c.press('*'),
        vec![
            IvrOutput::StopPrompt,
            choice("top", '*', "Again"),
            ev(IvrEvent::EntryLimit { menu: menu("top") }),
            routed("team:support", "", None, "top")
        ]
    );
}

#[test]
fn session_debug_shows_the_walk_not_the_configuration() {
    let mut c = Caller::started("main");
    c.press('2');
    let text = format!("{:?}", c.s);
    assert!(text.contains("path: \"main:2\""), "{text}");
    assert!(text.contains("IvrId(\"support\")"), "{text}");
    assert!(!text.contains("+33100000001"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Any caller ends

#[derive(Clone, Debug)]
enum Act {
    Key(char),
    /// The playing prompt ends (ignored by the harness when none plays).
    PromptEnds,
    /// Jump to the deadline and fire it.
    Wait,
    Advance(u64),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        4 => prop::sample::select("0123456789*#".chars().collect::<Vec<_>>()).prop_map(Act::Key),
        2 => Just(Act::PromptEnds),
        2 => Just(Act::Wait),
        1 => (0u64..10_000).prop_map(Act::Advance),
    ]
}

/// `prompt_finished` and timeouts only (a silent caller) take at most this many inputs to end:
/// 32 entries × (1 + 10 retries) × (menu prompt + invalid prompt + wait) is far below it.
const IDLE_BOUND: usize = 2_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_caller_ends_with_exactly_one_final_output(
        start in prop::sample::select(vec!["main", "support", "billing", "account", "order", "loopa", "top"]),
        acts in prop::collection::vec(act(), 0..300),
    ) {
        let mut c = Caller::new(start);
        let mut outputs = c.start();
        for a in acts {
            let finished_before = c.s.is_finished();
            let out = match a {
                Act::Key(k) => c.press(k),
                Act::PromptEnds if c.playing.is_some() => c.prompt_ends(),
                Act::PromptEnds => vec![],
                Act::Wait if c.s.poll_timeout().is_some() => c.wait(),
                Act::Wait => vec![],
                Act::Advance(ms) => c.advance(Duration::from_millis(ms)),
            };
            if finished_before {
                prop_assert!(out.is_empty(), "output after the end: {:?}", out);
            }
            outputs.extend(out);
        }
        // Then the caller falls silent.
        let mut steps = 0;
        while !c.s.is_finished() {
            steps += 1;
            prop_assert!(steps <= IDLE_BOUND, "no end after {} idle steps", IDLE_BOUND);
            let out = if c.playing.is_some() { c.prompt_ends() } else { c.wait() };
            outputs.extend(out);
        }
        prop_assert_eq!(c.finals, 1);
        let last = outputs.last().cloned();
        prop_assert!(last.as_ref().is_some_and(IvrOutput::is_final), "last output {:?}", last);
        prop_assert_eq!(c.s.poll_timeout(), None);
        let menu_entries = outputs
            .iter()
            .filter(|o| matches!(o, IvrOutput::Event(IvrEvent::MenuEntered { .. })))
            .count();
        prop_assert!(menu_entries <= MAX_MENU_ENTRIES as usize);
        for o in &outputs {
            if let IvrOutput::Route { route, branch } = o {
                prop_assert!(
                    matches!(route, Route::Team(_) | Route::User(_) | Route::Number(_)),
                    "{:?} left the IVR", route
                );
                prop_assert_eq!(&branch.path, &c.s.path());
            }
            if let IvrOutput::Event(IvrEvent::Input { menu, digits }) = o {
                if menu.as_str() == "account" {
                    let full = c.s.inputs().find(|(m, _)| m.as_str() == "account").map(|(_, d)| d.expose().to_owned());
                    prop_assert!(full.is_some());
                    if digits.chars().count() > 4 {
                        prop_assert!(digits.starts_with('•'), "{}", digits);
                    } else {
                        prop_assert!(digits.chars().all(|ch| ch == '•'), "{}", digits);
                    }
                }
            }
        }
    }
}
