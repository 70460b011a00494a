//! Whole-document tests: valid configurations, and each error with its exact line and key.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

/// A directory with the prompt files the documents below refer to.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("prompts")).expect("mkdir");
        for name in ["main.wav", "support.wav", "sorry.wav"] {
            std::fs::write(dir.path().join("prompts").join(name), b"RIFF").expect("write");
        }
        Fixture { dir }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("switchboard.toml")
    }

    fn parse(&self, text: &str) -> Result<Loaded, ConfigErrors> {
        parse_str(text, &self.file())
    }

    /// The errors as `LINE: KEY: MESSAGE` (the file part is the temp dir's).
    fn errors(&self, text: &str) -> Vec<String> {
        match self.parse(text) {
            Ok(_) => panic!("expected errors, the document loaded"),
            Err(e) => e.iter().map(short).collect(),
        }
    }

    fn warnings(&self, text: &str) -> Vec<String> {
        match self.parse(text) {
            Ok(loaded) => loaded.warnings.iter().map(short).collect(),
            Err(e) => panic!("expected a valid document:\n{e}"),
        }
    }

    fn config(&self, text: &str) -> Config {
        match self.parse(text) {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("expected a valid document:\n{e}"),
        }
    }
}

fn short(d: &Diagnostic) -> String {
    let line = d.line.map_or_else(|| "-".to_owned(), |l| l.to_string());
    if d.key.is_empty() {
        format!("{line}: {}", d.message)
    } else {
        format!("{line}: {}: {}", d.key, d.message)
    }
}

/// Lines 1-3.
const SIP: &str = "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\ndomain = \"127.0.0.1\"\n";

fn doc(rest: &str) -> String {
    format!("{SIP}{rest}")
}

// ---------------------------------------------------------------------------------------------
// Valid configurations

#[test]
fn the_example_configuration_loads_without_warnings() {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/switchboard.toml"
    ));
    let loaded = match load(path) {
        Ok(l) => l,
        Err(e) => panic!("config/switchboard.toml is invalid:\n{e}"),
    };
    assert!(
        loaded.warnings.is_empty(),
        "warnings: {:?}",
        loaded.warnings
    );
    let c = loaded.config;
    assert_eq!(c.sip.listen.len(), 4);
    assert_eq!(c.sip.listen[2].to_string(), "udp:[::1]:5060");
    assert_eq!(c.sip.auth, Auth::Digest);
    assert_eq!(c.users.len(), 3);
    assert_eq!(c.team("support").unwrap().members.len(), 2);
    let support = &c.line("+33100000001").unwrap();
    assert_eq!(
        support.steps,
        vec![
            Step::Ivr("main".parse().unwrap()),
            Step::Team("support".parse().unwrap())
        ]
    );
    assert_eq!(support.fallback, Route::Voicemail);
    assert_eq!(
        support.hours.as_ref().map(|h| h.tz.name()),
        Some("Europe/Paris")
    );
    let Menu::Options(options) = &c.ivr["main"].menu else {
        panic!("main is an options menu")
    };
    assert_eq!(
        options[&"2".parse::<Dtmf>().unwrap()].route,
        Route::Ivr("support".parse().unwrap())
    );
    assert!(c.ivr["main"].prompt.is_absolute());
    assert!(c.ivr["main"].prompt.ends_with("config/prompts/main.wav"));
    assert!(c.store.path.ends_with("config/var/switchboard.db"));
    assert_eq!(c.trunks[0].from.len(), 2);
    assert_eq!(c.contacts.len(), 1);
}

#[test]
fn a_registrar_only_configuration_gets_every_default() {
    let fx = Fixture::new();
    let c = fx.config(&doc("[[users]]\nid = \"alice\"\npassword = \"pw\"\n"));
    assert_eq!(c.sip.max_contacts, 5);
    assert_eq!(c.sip.min_expires, Duration::from_secs(60));
    assert_eq!(c.sip.max_expires, Duration::from_secs(3600));
    assert_eq!(c.sip.default_expires, Duration::from_secs(3600));
    assert_eq!(
        c.sip.digest_algorithms,
        vec![DigestAlgorithm::Sha256, DigestAlgorithm::Md5]
    );
    assert_eq!(c.sip.nonce_lifetime, Duration::from_secs(300));
    assert_eq!(c.sip.tcp_idle_timeout, Duration::from_secs(180));
    assert_eq!(c.sip.t1, Duration::from_millis(500));
    assert_eq!(c.sip.t2, Duration::from_secs(4));
    assert_eq!(c.sip.t4, Duration::from_secs(5));
    assert_eq!(c.sip.user_agent, "Switchboard");
    assert_eq!(c.sip.session_expires, Duration::from_secs(1800));
    assert_eq!(
        c.media.ip,
        IpAddr::from([127, 0, 0, 1]),
        "taken from sip.listen[0]"
    );
    assert_eq!(c.media.rtp_ports, 20000..=29999);
    assert_eq!(c.media.codecs, vec![Codec::Opus, Codec::Pcma, Codec::Pcmu]);
    assert_eq!(c.api.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
    assert_eq!(c.store.path, fx.dir.path().join("var/switchboard.db"));
    assert_eq!(c.log.format, LogFormat::Human);
    assert_eq!(c.log.level.as_str(), "info");
    assert_eq!(c.crm.timeout, Duration::from_millis(300));
    assert_eq!(
        c.user("alice").unwrap().name,
        "alice",
        "the name defaults to the id"
    );
    assert_eq!(
        c.user("alice").unwrap().ring_timeout,
        Duration::from_secs(20)
    );
    // Without numbers there is nothing to reach users from: no warning.
    assert!(fx
        .warnings(&doc("[[users]]\nid = \"alice\"\npassword = \"pw\"\n"))
        .is_empty());
}

#[test]
fn durations_accept_strings_and_integer_seconds() {
    let fx = Fixture::new();
    let c = fx.config(&doc(
        "min_expires = 30\nmax_expires = \"2h\"\nt1 = \"250ms\"\nnonce_lifetime = \"1h 30m\"\n",
    ));
    assert_eq!(c.sip.min_expires, Duration::from_secs(30));
    assert_eq!(c.sip.max_expires, Duration::from_secs(7200));
    assert_eq!(c.sip.t1, Duration::from_millis(250));
    assert_eq!(c.sip.nonce_lifetime, Duration::from_secs(5400));
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let fx = Fixture::new();
    let c = fx.config(&doc(
        "[api]\ntokens = [{ token = \"tok-s3cr3t\", role = \"admin\" }]\n\
         [[users]]\nid = \"alice\"\npassword = \"pa55w0rd\"\n",
    ));
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("pa55w0rd") && !shown.contains("tok-s3cr3t"),
        "{shown}"
    );
    assert!(shown.contains("***"));
    assert_eq!(
        c.user("alice")
            .unwrap()
            .password
            .as_ref()
            .map(Secret::expose),
        Some("pa55w0rd")
    );
    assert_eq!(c.api.tokens[0].access, Access::Admin);
}

#[test]
fn trunks_take_bare_addresses_and_networks() {
    let fx = Fixture::new();
    let text = doc(
        "[[trunks]]\nname = \"carrier\"\nfrom = [\"192.0.2.7\", \"::1\", \"198.51.100.9/24\"]\n",
    );
    let c = fx.config(&text);
    let from: Vec<String> = c.trunks[0].from.iter().map(|n| n.to_string()).collect();
    assert_eq!(from, ["192.0.2.7/32", "::1/128", "198.51.100.0/24"]);
    assert_eq!(
        fx.warnings(&text),
        ["6: trunks[0].from[2]: 198.51.100.9/24 has host bits set; it means 198.51.100.0/24"]
    );
}

#[test]
fn teams_build_their_strategy() {
    let fx = Fixture::new();
    let c = fx.config(&doc(
        "[[users]]\nid = \"a\"\npassword = \"p\"\n[[users]]\nid = \"b\"\npassword = \"p\"\n\
         [[users]]\nid = \"c\"\npassword = \"p\"\n\
         [[teams]]\nid = \"t\"\nmembers = [\"a\", \"b\", \"c\"]\nstrategy = \"waves\"\n\
         wave_size = 2\nwave_interval = \"5s\"\n\
         [[numbers]]\nnumber = \"100\"\nsteps = [\"team:t\"]\n",
    ));
    assert_eq!(
        c.team("t").unwrap().strategy,
        Strategy::Waves {
            size: std::num::NonZeroUsize::new(2).unwrap(),
            interval: Duration::from_secs(5)
        }
    );
    assert_eq!(c.team("t").unwrap().ring_timeout, Duration::from_secs(20));
    assert_eq!(
        c.line("100").unwrap().name,
        "100",
        "the name defaults to the number"
    );
    assert_eq!(c.line("100").unwrap().fallback, Route::Hangup);
}

#[test]
fn hours_default_to_the_fallback_and_answer_is_open() {
    let fx = Fixture::new();
    let c = fx.config(&doc("[[users]]\nid = \"a\"\npassword = \"p\"\n\
         [[numbers]]\nnumber = \"+33100000001\"\nsteps = [\"user:a\"]\nfallback = \"voicemail\"\n\
         hours = { tz = \"Europe/Paris\", open = [\"mon-fri 09:00-18:00\"] }\n"));
    let hours = c
        .line("+33100000001")
        .unwrap()
        .hours
        .as_ref()
        .expect("hours");
    assert_eq!(hours.closed, Route::Voicemail);
    // Monday 30 June 2025 10:00 UTC = 12:00 in Paris (summer time); 17:00 UTC = 19:00.
    let monday_noon = std::time::UNIX_EPOCH + Duration::from_secs(1_751_277_600);
    assert!(hours.is_open(monday_noon));
    assert!(!hours.is_open(monday_noon + Duration::from_secs(7 * 3600)));
}

#[test]
fn input_menus_and_dialled_lookup() {
    let fx = Fixture::new();
    let c = fx.config(&doc(
        "[[users]]\nid = \"alice\"\npassword = \"p\"\nextension = \"101\"\n\
         [[numbers]]\nnumber = \"+33100000001\"\nsteps = [\"ivr:account\"]\n\
         [ivr.account]\nprompt = \"prompts/main.wav\"\nno_input = \"user:alice\"\n\
         input = { digits = 8, sensitive = true, route = \"user:alice\" }\n",
    ));
    let Menu::Input(input) = &c.ivr["account"].menu else {
        panic!("an input menu")
    };
    assert_eq!(input.digits, 8);
    assert_eq!(input.terminator, Dtmf::HASH);
    assert!(input.sensitive);
    assert_eq!(input.per_digit_timeout, Duration::from_secs(5));
    assert_eq!(c.ivr["account"].timeout, Duration::from_secs(3));
    assert_eq!(c.ivr["account"].retries, 2);
    assert!(matches!(c.dialled("+33100000001"), Some(Dialled::Line(l)) if l.steps.len() == 1));
    assert!(matches!(c.dialled("alice"), Some(Dialled::User(u)) if u.id.as_str() == "alice"));
    assert!(matches!(c.dialled("101"), Some(Dialled::User(u)) if u.id.as_str() == "alice"));
    assert_eq!(c.dialled("999"), None);
}

// ---------------------------------------------------------------------------------------------
// Errors found while deserializing: the first one stops the parse.

#[test]
fn unknown_key_names_its_table() {
    let fx = Fixture::new();
    assert_eq!(
        fx.errors("[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\nlissten = []\ndomain = \"x\"\n"),
        ["3: sip: unknown key \"lissten\" (did you mean \"listen\"?)"]
    );
    assert_eq!(
        fx.errors(&doc("[[users]]\nid = \"a\"\npassword = \"p\"\ncolour = \"red\"\n")),
        ["7: users[0]: unknown key \"colour\", expected one of id, name, password, extension, ring_timeout"]
    );
    assert_eq!(
        fx.errors(&doc("\n[lgo]\n")),
        ["5: unknown section [lgo] (did you mean [log]?)"]
    );
}

#[test]
fn missing_sip_section_has_no_line() {
    let fx = Fixture::new();
    let e = fx.parse("[log]\nlevel = \"debug\"\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("{}: missing section [sip]", fx.file().display())
    );
}

#[test]
fn bad_listen_address_points_at_the_element() {
    let fx = Fixture::new();
    let text = "# comment\n[sip]\nlisten = [\n    \"udp:127.0.0.1:5060\",\n    \"udp:127.0.0.1\",\n]\ndomain = \"x\"\n";
    assert_eq!(
        fx.errors(text),
        ["5: sip.listen[1]: \"udp:127.0.0.1\" is not TRANSPORT:ADDR:PORT (e.g. \"udp:127.0.0.1:5060\", \"tcp:[::1]:5060\")"]
    );
    let e = fx.parse(text).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}:5: sip.listen[1]: \"udp:127.0.0.1\" is not TRANSPORT:ADDR:PORT (e.g. \"udp:127.0.0.1:5060\", \"tcp:[::1]:5060\")",
            fx.file().display()
        )
    );
}

#[test]
fn unknown_strategy_lists_the_variants() {
    let fx = Fixture::new();
    let text = doc("[[users]]\nid = \"a\"\npassword = \"p\"\n\
         [[teams]]\nid = \"one\"\nmembers = [\"a\"]\n\
         [[teams]]\nid = \"two\"\nmembers = [\"a\"]\nstrategy = \"roundrobin\"\n");
    assert_eq!(
        fx.errors(&text),
        ["13: teams[1].strategy: unknown variant \"roundrobin\", expected one of simultaneous, random, longest_idle, waves"]
    );
}

#[test]
fn missing_required_key_points_at_its_table() {
    let fx = Fixture::new();
    assert_eq!(
        fx.errors(&doc("\n[[users]]\nname = \"A\"\n")),
        ["5: users[0]: missing key \"id\""]
    );
    assert_eq!(
        fx.errors("[sip]\ndomain = \"x\"\n"),
        ["1: sip: missing key \"listen\""]
    );
}

#[test]
fn zero_and_malformed_durations() {
    let fx = Fixture::new();
    assert_eq!(
        fx.errors(&doc("t1 = \"0s\"\n")),
        ["4: sip.t1: \"0s\": must be longer than zero"]
    );
    assert_eq!(
        fx.errors(&doc("t1 = 0\n")),
        ["4: sip.t1: 0: must be longer than zero"]
    );
    assert_eq!(
        fx.errors(&doc("t2 = \"4 sec\"\nt4 = \"five\"\n")),
        ["5: sip.t4: \"five\" is not a duration (write e.g. \"500ms\", \"20s\", \"5m\", \"1h\")"]
    );
    assert_eq!(
        fx.errors(&doc("min_expires = \"1500ms\"\n")),
        ["4: sip.min_expires: 1s 500ms is not a whole number of seconds (Expires counts seconds)"]
    );
}

#[test]
fn bad_values_in_nested_tables() {
    let fx = Fixture::new();
    assert_eq!(
        fx.errors(&doc("[media]\ncodecs = [\"opus\",\n  \"g729\"]\n")),
        ["6: media.codecs[1]: unknown variant \"g729\", expected one of opus, pcma, pcmu"]
    );
    assert_eq!(
        fx.errors(&doc("[media]\nrtp_ports = \"20001-29999\"\n")),
        ["5: media.rtp_ports: \"20001-29999\": the range must start on an even port (RTP even, RTCP the odd one above)"]
    );
    assert_eq!(
        fx.errors(&doc("[[numbers]]\nnumber = \"+33 1\"\n")),
        ["5: numbers[0].number: \"+33 1\" is not a phone number: write + and up to 15 digits (E.164, e.g. \"+33100000001\"), or digits only, without spaces"]
    );
    assert_eq!(
        fx.errors(&doc("[[numbers]]\nnumber = \"1\"\nsteps = [\"user:a\",\n  \"voicemail\"]\n")),
        ["7: numbers[0].steps[1]: \"voicemail\" is not a step: use team:ID, user:ID or ivr:ID; voicemail belongs in fallback"]
    );
    assert_eq!(
        fx.errors(&doc("[[numbers]]\nnumber = \"1\"\nhours = { tz = \"Europe/Pariss\", open = [] }\n")),
        ["6: numbers[0].hours.tz: unknown time zone \"Europe/Pariss\" (did you mean \"Europe/Paris\"?)"]
    );
    assert_eq!(
        fx.errors(&doc("[ivr.m]\nprompt = \"prompts/main.wav\"\nno_input = \"hangup\"\n[ivr.m.options]\n\"12\" = { label = \"x\", route = \"hangup\" }\n")),
        ["8: ivr.m.options.12: \"12\" is not a DTMF key: use one of 0-9, * or #"]
    );
    assert_eq!(
        fx.errors(&doc("[[users]]\nid = \"a\"\npassword = 1234\n")),
        ["6: users[0].password: must be a string (value not shown)"]
    );
    assert_eq!(
        fx.errors(&doc("max_contacts = -1\n")),
        ["4: sip.max_contacts: invalid value: integer -1, expected usize"]
    );
}

#[test]
fn syntax_errors_have_a_line_and_no_key() {
    let fx = Fixture::new();
    let errors = fx.errors("[sip]\nlisten = [\"udp:127.0.0.1:5060\"\ndomain = \"x\"\n");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("3: "), "{errors:?}");
    assert_eq!(fx.errors("[sip]\nlisten = []\nlisten = []\n").len(), 1);
}

#[test]
fn unreadable_file() {
    let e = load(Path::new("/nonexistent/switchboard.toml")).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/switchboard.toml: cannot read: "),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Cross-checks: every problem is reported, each on its own line.

#[test]
fn every_cross_check_error_is_reported_with_its_line() {
    let fx = Fixture::new();
    let text = doc(concat!(
        "[api]\n",                                                               // 4
        "tokens = [ { token = \"t1\", role = \"admin\" },\n",                    // 5
        "           { token = \"t2\", user = \"dave\" } ]\n",                    // 6
        "[[users]]\n",                                                           // 7
        "id = \"alice\"\n",                                                      // 8
        "password = \"p\"\n",                                                    // 9
        "[[users]]\n",                                                           // 10
        "id = \"alice\"\n",                                                      // 11
        "password = \"p\"\n",                                                    // 12
        "[[teams]]\n",                                                           // 13
        "id = \"support\"\n",                                                    // 14
        "members = [\"alice\", \"bobb\"]\n",                                     // 15
        "[[numbers]]\n",                                                         // 16
        "number = \"+33100000001\"\n",                                           // 17
        "steps = [\"ivr:main\", \"team:suport\"]\n",                             // 18
        "fallback = \"back\"\n",                                                 // 19
        "[[numbers]]\n",                                                         // 20
        "number = \"+33100000002\"\n",                                           // 21
        "[[numbers]]\n",                                                         // 22
        "number = \"+33100000001\"\n",                                           // 23
        "steps = [\"user:alice\"]\n",                                            // 24
        "[ivr.main]\n",                                                          // 25
        "prompt = \"prompts/missing.wav\"\n",                                    // 26
        "no_input = \"team:support\"\n",                                         // 27
        "[ivr.main.options]\n",                                                  // 28
        "\"1\" = { label = \"Sales\", route = \"team:sales\" }\n",               // 29
        "\"2\" = { label = \"Other line\", route = \"number:+33199999999\" }\n", // 30
    ));
    let errors = fx.errors(&text);
    let missing = fx.dir.path().join("prompts/missing.wav");
    assert_eq!(
        errors,
        [
            "6: api.tokens[1].user: unknown user \"dave\"".to_owned(),
            "11: users[1].id: user \"alice\" is already defined (users[0])".to_owned(),
            "15: teams[0].members[1]: unknown user \"bobb\"".to_owned(),
            "18: numbers[0].steps[1]: unknown team \"suport\" (did you mean \"support\"?)".to_owned(),
            "19: numbers[0].fallback: \"back\" is not allowed here: use voicemail, hangup, team:ID, user:ID or ivr:ID".to_owned(),
            "20: numbers[1].steps: number +33100000002 routes nowhere: give at least one step (team:ID, user:ID or ivr:ID)".to_owned(),
            "23: numbers[2].number: +33100000001 is already defined (numbers[0])".to_owned(),
            format!("26: ivr.main.prompt: prompt file \"prompts/missing.wav\" not found (looked for {})", missing.display()),
            "29: ivr.main.options.1.route: unknown team \"sales\"".to_owned(),
            "30: ivr.main.options.2.route: unknown number \"+33199999999\"".to_owned(),
        ]
    );
}

#[test]
fn ivr_loops_without_exit_are_errors() {
    let fx = Fixture::new();
    let text = doc(concat!(
        "[[users]]\nid = \"alice\"\npassword = \"p\"\n", // 4-6
        "[[numbers]]\nnumber = \"100\"\nsteps = [\"ivr:a\"]\n", // 7-9
        "[ivr.a]\n",                                     // 10
        "prompt = \"prompts/main.wav\"\n",               // 11
        "no_input = \"ivr:b\"\n",                        // 12
        "options = { \"1\" = { label = \"B\", route = \"ivr:b\" } }\n", // 13
        "[ivr.b]\n",                                     // 14
        "prompt = \"prompts/main.wav\"\n",               // 15
        "no_input = \"back\"\n",                         // 16
        "options = { \"1\" = { label = \"A\", route = \"ivr:a\" } }\n", // 17
        "[ivr.c]\n",                                     // 18
        "prompt = \"prompts/main.wav\"\n",               // 19
        "no_input = \"user:alice\"\n",                   // 20
        "options = { \"*\" = { label = \"Back\", route = \"back\" } }\n", // 21
    ));
    assert_eq!(
        fx.errors(&text),
        [
            "10: ivr.a: no way out: every route leads only to menus (ivr:a, ivr:b); route a key or no_input to a team, user, number, voicemail or hangup",
            "14: ivr.b: no way out: every route leads only to menus (ivr:a, ivr:b); route a key or no_input to a team, user, number, voicemail or hangup",
        ]
    );
    // One exit anywhere in the loop frees both menus: b goes back to a, a reaches alice.
    let fixed = text.replace("no_input = \"ivr:b\"", "no_input = \"user:alice\"");
    let warnings = fx.warnings(&fixed);
    assert_eq!(warnings, ["18: ivr.c: IVR \"c\" is reached by no number"]);
}

#[test]
fn unreachable_users_teams_and_menus_are_warnings() {
    let fx = Fixture::new();
    let text = doc(concat!(
        "[[users]]\nid = \"alice\"\npassword = \"p\"\n", // 4-6
        "[[users]]\nid = \"bob\"\npassword = \"p\"\n",   // 7-9
        "[[users]]\nid = \"carol\"\npassword = \"p\"\n", // 10-12
        "[[users]]\nid = \"dave\"\npassword = \"p\"\n",  // 13-15
        "[[teams]]\nid = \"support\"\nmembers = [\"bob\"]\n", // 16-18
        "[[teams]]\nid = \"idle\"\nmembers = [\"carol\"]\n", // 19-21
        "[[numbers]]\nnumber = \"100\"\nsteps = [\"ivr:main\"]\n", // 22-24
        "[ivr.main]\nprompt = \"prompts/main.wav\"\nno_input = \"hangup\"\n", // 25-27
        "options = { \"1\" = { label = \"S\", route = \"ivr:sub\" } }\n", // 28
        "[ivr.sub]\nprompt = \"prompts/support.wav\"\nno_input = \"back\"\n", // 29-31
        "[ivr.sub.options]\n",                           // 32
        "\"1\" = { label = \"T\", route = \"team:support\" }\n", // 33
        "\"2\" = { label = \"A\", route = \"user:alice\" }\n", // 34
        "[ivr.orphan]\nprompt = \"prompts/main.wav\"\nno_input = \"user:dave\"\n", // 35-37
        "options = { \"1\" = { label = \"X\", route = \"hangup\" } }\n", // 38
    ));
    assert_eq!(
        fx.warnings(&text),
        [
            "11: users[2].id: user \"carol\" is reachable from no number, team or IVR",
            "14: users[3].id: user \"dave\" is reachable from no number, team or IVR",
            "20: teams[1].id: team \"idle\" is reached by no number or IVR",
            "35: ivr.orphan: IVR \"orphan\" is reached by no number",
        ]
    );
}

#[test]
fn sip_section_cross_checks() {
    let fx = Fixture::new();
    let text = concat!(
        "[sip]\n",                                                          // 1
        "listen = [\"udp:127.0.0.1:5060\", \"tcp:127.0.0.1:5060\",\n",      // 2
        "          \"udp:127.0.0.1:5060\"]\n",                              // 3
        "domain = \"127.0.0.1\"\n",                                         // 4
        "min_expires = \"2h\"\n",                                           // 5
        "t1 = \"5s\"\n",                                                    // 6
        "tcp_idle_timeout = \"30s\"\n",                                     // 7
        "digest_algorithms = [\"MD5\", \"MD5\"]\n",                         // 8
        "user_agent = \"\"\n",                                              // 9
        "[media]\n",                                                        // 10
        "rtp_ports = \"5000-5100\"\n",                                      // 11
        "codecs = []\n",                                                    // 12
        "[api]\n",                                                          // 13
        "listen = \"127.0.0.1:5060\"\n",                                    // 14
        "tokens = [{ token = \"a b\", role = \"admin\", user = \"x\" }]\n", // 15
    );
    assert_eq!(
        fx.errors(text),
        [
            "3: sip.listen[2]: udp:127.0.0.1:5060 is already listed (sip.listen[0])",
            "5: sip.min_expires: 2h is longer than max_expires (1h)",
            "6: sip.t1: 5s is longer than t2 (4s); T2 caps T1's doubling",
            "8: sip.digest_algorithms[1]: MD5 is listed twice",
            "9: sip.user_agent: must be non-empty text without control characters (it is sent in User-Agent)",
            "11: media.rtp_ports: 5000-5100 holds port 5060 of sip.listen[0] (udp:127.0.0.1:5060)",
            "11: media.rtp_ports: 5000-5100 holds port 5060 of sip.listen[2] (udp:127.0.0.1:5060)",
            "12: media.codecs: give at least one codec: \"opus\", \"pcma\", \"pcmu\"",
            "14: api.listen: 127.0.0.1:5060 is also sip.listen[1]",
            "15: api.tokens[0].token: must be printable ASCII without spaces",
            "15: api.tokens[0]: give role or user, not both",
        ]
    );
    assert_eq!(
        fx.errors(&doc("t2 = \"400ms\"\n")),
        ["4: sip.t2: 400ms is shorter than t1 (500ms); T2 caps T1's doubling"]
    );
    // A short TCP idle timeout is only a warning.
    assert_eq!(
        fx.warnings("[sip]\nlisten = [\"tcp:127.0.0.1:5060\"]\ndomain = \"x\"\ntcp_idle_timeout = 30\n"),
        ["4: sip.tcp_idle_timeout: 30s is shorter than the 120 s keep-alive interval of RFC 5626 clients; their connections will be closed between keep-alives"]
    );
}

#[test]
fn media_ip_is_required_when_listening_on_every_address() {
    let fx = Fixture::new();
    assert_eq!(
        fx.errors("[sip]\nlisten = [\"udp:0.0.0.0:5060\"]\ndomain = \"x\"\n"),
        ["-: media.ip: required when sip.listen[0] (udp:0.0.0.0:5060) binds every address: give the address callers send media to"]
    );
    assert_eq!(
        fx.errors("[sip]\nlisten = [\"udp:0.0.0.0:5060\"]\ndomain = \"x\"\n[media]\nip = \"::\"\n"),
        ["5: media.ip: :: cannot be written into SDP: give the address callers send media to"]
    );
    let c = fx.config(
        "[sip]\nlisten = [\"udp:0.0.0.0:5060\"]\ndomain = \"x\"\n[media]\nip = \"192.0.2.1\"\n",
    );
    assert_eq!(c.media.ip, IpAddr::from([192, 0, 2, 1]));
}

#[test]
fn users_passwords_and_extensions() {
    let fx = Fixture::new();
    let text = doc(concat!(
        "[[users]]\nid = \"alice\"\nextension = \"100\"\n", // 4-6
        "[[users]]\nid = \"bob\"\npassword = \"p\"\nextension = \"100\"\n", // 7-10
        "[[users]]\nid = \"200\"\npassword = \"p\"\n",      // 11-13
        "[[numbers]]\nnumber = \"200\"\nsteps = [\"user:bob\"]\n", // 14-16
    ));
    assert_eq!(
        fx.errors(&text),
        [
            "4: users[0].password: missing key \"password\" (required with sip.auth = \"digest\")",
            "10: users[1].extension: extension 100 is already users[0]'s",
            "12: users[2].id: \"200\" is also a configured number; a dialled string must mean one thing",
        ]
    );
    // With auth = "none" passwords are optional.
    let open = "[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\ndomain = \"x\"\nauth = \"none\"\n[[users]]\nid = \"alice\"\n";
    assert_eq!(fx.config(open).user("alice").unwrap().password, None);
}

#[test]
fn team_cross_checks() {
    let fx = Fixture::new();
    let text = doc(concat!(
        "[[users]]\nid = \"a\"\npassword = \"p\"\n", // 4-6
        "[[teams]]\nid = \"empty\"\nmembers = []\n", // 7-9
        "[[teams]]\nid = \"t\"\nmembers = [\"a\", \"a\"]\nwave_size = 2\n", // 10-13
        "[[teams]]\nid = \"t\"\nmembers = [\"a\"]\n", // 14-16
        "[[teams]]\nid = \"w\"\nmembers = [\"a\"]\nstrategy = \"waves\"\nwave_size = 0\n", // 17-21
    ));
    assert_eq!(
        fx.errors(&text),
        [
            "9: teams[0].members: a team needs at least one member",
            "12: teams[1].members[1]: \"a\" is listed twice",
            "13: teams[1].wave_size: only used with strategy = \"waves\"",
            "15: teams[2].id: team \"t\" is already defined (teams[1])",
            "21: teams[3].wave_size: must be at least 1",
        ]
    );
}

#[test]
fn ivr_cross_checks() {
    let fx = Fixture::new();
    let text = doc(concat!(
        "[[numbers]]\nnumber = \"1\"\nsteps = [\"ivr:a\", \"ivr:b\", \"ivr:c\"]\n", // 4-6
        "[ivr.a]\nprompt = \"prompts\"\nno_input = \"hangup\"\n",                   // 7-9
        "options = {}\n",                                                           // 10
        "[ivr.b]\nprompt = \"prompts/main.wav\"\nno_input = \"hangup\"\n",          // 11-13
        "input = { digits = 40, terminator = \"5\", route = \"hangup\" }\n",        // 14
        "options = { \"1\" = { label = \"\", route = \"hangup\" } }\n",             // 15
        "[ivr.c]\nprompt = \"prompts/main.wav\"\nno_input = \"hangup\"\nretries = 11\n", // 16-19
        "invalid = \"prompts/sorry.wav\"\n",                                        // 20
    ));
    assert_eq!(
        fx.errors(&text),
        [
            "8: ivr.a.prompt: prompt file \"prompts\" is a directory, not a file",
            "10: ivr.a.options: a menu needs at least one option",
            "14: ivr.b.input: give options or input, not both",
            "16: ivr.c: missing key \"options\" (or \"input\" for a menu that collects digits)",
            "19: ivr.c.retries: at most 10",
        ]
    );
    let input = doc(concat!(
        "[[numbers]]\nnumber = \"1\"\nsteps = [\"ivr:b\"]\n",
        "[ivr.b]\nprompt = \"prompts/main.wav\"\nno_input = \"hangup\"\n", // 7-9
        "input = { digits = 40, terminator = \"5\", route = \"hangup\" }\n", // 10
    ));
    assert_eq!(
        fx.errors(&input),
        [
            "10: ivr.b.input.digits: must be between 1 and 32",
            "10: ivr.b.input.terminator: must be \"#\" or \"*\""
        ]
    );
}

#[test]
fn crm_csv_must_exist_and_contacts_are_unique() {
    let fx = Fixture::new();
    let text = doc(concat!(
        "[[contacts]]\nnumber = \"+33612345678\"\nname = \"J\"\n", // 4-6
        "[[contacts]]\nnumber = \"+33612345678\"\nname = \"K\"\n", // 7-9
        "[crm]\nurl = \"ftp://crm\"\n",                            // 10-11
    ));
    assert_eq!(
        fx.errors(&text),
        ["11: crm.url: \"ftp://crm\" is not an http:// or https:// URL"]
    );
    let text = text.replace("ftp://crm", "https://crm.example.com") + "csv = \"contacts.csv\"\n";
    let missing = fx.dir.path().join("contacts.csv");
    assert_eq!(
        fx.errors(&text),
        [
            "8: contacts[1].number: contact +33612345678 is listed twice".to_owned(),
            format!(
                "12: crm.csv: CSV file \"contacts.csv\" not found (looked for {})",
                missing.display()
            ),
        ]
    );
    std::fs::write(&missing, "number,name\n").expect("write csv");
    let text = text.replace(
        "[[contacts]]\nnumber = \"+33612345678\"\nname = \"K\"\n",
        "[[contacts]]\nnumber = \"+33687654321\"\nname = \"K\"\nfields = { tier = \"gold\" }\n",
    );
    let c = fx.config(&text);
    assert_eq!(c.crm.csv.as_deref(), Some(missing.as_path()));
    assert_eq!(c.contact("+33687654321").unwrap().fields["tier"], "gold");
}

#[test]
fn log_levels() {
    let fx = Fixture::new();
    let c = fx.config(&doc(
        "[log]\nformat = \"json\"\nlevel = \"info,sip_core=debug\"\n",
    ));
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.log.level.as_str(), "info,sip_core=debug");
    assert_eq!(
        fx.errors(&doc("[log]\nlevel = \"loud\"\n")),
        ["5: log.level: \"loud\" is not a log level: use off, error, warn, info, debug or trace, optionally per target (\"info,sip_core=debug\")"]
    );
}

#[test]
fn closed_and_no_input_routes_are_checked_too() {
    let fx = Fixture::new();
    let text = doc(concat!(
        "[[users]]\nid = \"alice\"\npassword = \"p\"\n", // 4-6
        "[[numbers]]\n",                                 // 7
        "number = \"100\"\n",                            // 8
        "steps = [\"user:alicia\"]\n",                   // 9
        "fallback = \"ivr:mian\"\n",                     // 10
        "hours = { tz = \"UTC\", open = [\"mon 09:00-10:00\"], closed = \"number:100\" }\n", // 11
        "[ivr.main]\n",                                  // 12
        "prompt = \"prompts/main.wav\"\n",               // 13
        "invalid = \"prompts/nope.wav\"\n",              // 14
        "no_input = \"team:nobody\"\n",                  // 15
        "options = { \"#\" = { label = \"A\", route = \"user:alice\" } }\n", // 16
    ));
    let nope = fx.dir.path().join("prompts/nope.wav");
    assert_eq!(
        fx.errors(&text),
        [
            "9: numbers[0].steps[0]: unknown user \"alicia\" (did you mean \"alice\"?)".to_owned(),
            "10: numbers[0].fallback: unknown IVR \"mian\" (did you mean \"main\"?)".to_owned(),
            "11: numbers[0].hours.closed: \"number:100\" is not allowed here: use voicemail, hangup, team:ID, user:ID or ivr:ID".to_owned(),
            format!("14: ivr.main.invalid: prompt file \"prompts/nope.wav\" not found (looked for {})", nope.display()),
            "15: ivr.main.no_input: unknown team \"nobody\"".to_owned(),
        ]
    );
}

#[test]
fn session_expires_is_a_duration_of_at_least_min_se() {
    let fx = Fixture::new();
    let c = fx.config(&doc("session_expires = \"90s\"\n"));
    assert_eq!(c.sip.session_expires, Duration::from_secs(90));
    let c = fx.config(&doc("session_expires = \"1h\"\n"));
    assert_eq!(c.sip.session_expires, Duration::from_secs(3600));
    assert_eq!(
        fx.errors(&doc("session_expires = \"89s\"\n")),
        ["4: sip.session_expires: 1m 29s is below 90s, the smallest session interval of RFC 4028 (Min-SE)"]
    );
    assert_eq!(
        fx.errors(&doc("session_expires = \"90500ms\"\n")),
        ["4: sip.session_expires: 1m 30s 500ms is not a whole number of seconds (Session-Expires counts seconds)"]
    );
}
