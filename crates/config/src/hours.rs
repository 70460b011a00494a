//! Business hours: weekly opening slots in a named time zone, plus closed dates.
//!
//! The schedule is written in local wall-clock time (`"mon-fri 09:00-18:00"` in
//! `Europe/Paris`), so an instant is converted to that zone before it is compared: the line
//! opens at 09:00 local time in winter and in summer alike. Time zones come from the IANA
//! database compiled into the binary (jiff's bundled copy), never from the host, so every
//! machine answers the same.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::SystemTime;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::values::Route;

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

impl Weekday {
    fn index(self) -> usize {
        self as usize
    }

    fn from_jiff(w: jiff::civil::Weekday) -> Weekday {
        // jiff numbers Monday 1 .. Sunday 7.
        WEEK[(w.to_monday_one_offset() as usize).saturating_sub(1) % 7]
    }
}

/// A set of weekdays.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Days(u8);

impl Days {
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.index()) != 0
    }

    fn insert(&mut self, day: Weekday) {
        self.0 |= 1 << day.index();
    }
}

impl fmt::Debug for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(WEEK.iter().filter(|d| self.contains(**d)))
            .finish()
    }
}

/// A wall-clock time, in minutes since midnight; `24:00` (1440) ends a slot at midnight.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay(u16);

impl TimeOfDay {
    pub fn minutes_since_midnight(self) -> u16 {
        self.0
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl fmt::Debug for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Open on `days`, from `start` (included) to `end` (excluded), local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpenSlot {
    pub days: Days,
    pub start: TimeOfDay,
    pub end: TimeOfDay,
}

/// One `open` string: `"mon-fri 09:00-12:00,14:00-18:00"`, `"sat,sun 10:00-12:00"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SlotSpec(pub Vec<OpenSlot>);

impl FromStr for SlotSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (days_part, times_part) = t.split_once(char::is_whitespace).ok_or_else(|| {
            format!("{s:?} is not DAYS HH:MM-HH:MM (e.g. \"mon-fri 09:00-18:00\")")
        })?;
        let days = parse_days(days_part).map_err(|e| format!("{s:?}: {e}"))?;
        let times: String = times_part.chars().filter(|c| !c.is_whitespace()).collect();
        let mut slots = Vec::new();
        for range in times.split(',') {
            let (start, end) = parse_range(range).map_err(|e| format!("{s:?}: {e}"))?;
            slots.push(OpenSlot { days, start, end });
        }
        Ok(SlotSpec(slots))
    }
}

fn parse_day(name: &str) -> Result<Weekday, String> {
    let lower = name.to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|d| *d == lower)
        .map(|i| WEEK[i])
        .ok_or_else(|| format!("unknown day {name:?} (use mon, tue, wed, thu, fri, sat, sun)"))
}

/// `mon-fri`, `sat,sun`, `fri-mon` (wraps over the week-end), `mon,wed-fri`.
fn parse_days(s: &str) -> Result<Days, String> {
    let mut days = Days::default();
    for part in s.split(',') {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (parse_day(from)?.index(), parse_day(to)?.index());
                let len = (to + 7 - from) % 7 + 1;
                for k in 0..len {
                    days.insert(WEEK[(from + k) % 7]);
                }
            }
            None => days.insert(parse_day(part)?),
        }
    }
    Ok(days)
}

fn parse_time(s: &str) -> Option<TimeOfDay> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(TimeOfDay(1440)),
        (0..=23, 0..=59) => Some(TimeOfDay(h * 60 + m)),
        _ => None,
    }
}

fn parse_range(s: &str) -> Result<(TimeOfDay, TimeOfDay), String> {
    let bad = || format!("{s:?} is not HH:MM-HH:MM");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (start, end) = (
        parse_time(a).ok_or_else(bad)?,
        parse_time(b).ok_or_else(bad)?,
    );
    if start >= end {
        return Err(format!(
            "{s} ends before it starts; split a slot that crosses midnight in two \
             (\"mon 22:00-24:00\", \"tue 00:00-06:00\")"
        ));
    }
    Ok((start, end))
}

impl<'de> Deserialize<'de> for SlotSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SlotSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an opening slot such as \"mon-fri 09:00-18:00\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<SlotSpec, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

fn tzdb() -> &'static jiff::tz::TimeZoneDatabase {
    static DB: OnceLock<jiff::tz::TimeZoneDatabase> = OnceLock::new();
    DB.get_or_init(jiff::tz::TimeZoneDatabase::bundled)
}

/// An IANA time zone, e.g. `Europe/Paris`, from the bundled database.
#[derive(Clone, PartialEq, Eq)]
pub struct Zone {
    name: String,
    tz: jiff::tz::TimeZone,
}

impl Zone {
    /// The canonical IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({:?})", self.name)
    }
}

impl FromStr for Zone {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match tzdb().get(s) {
            Ok(tz) => {
                let name = tz.iana_name().unwrap_or(s).to_owned();
                Ok(Zone { name, tz })
            }
            Err(_) => {
                let names: Vec<String> = tzdb().available().map(|n| n.to_string()).collect();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                Err(match crate::diag::suggestion(s, &refs) {
                    Some(near) => format!("unknown time zone {s:?} (did you mean {near:?}?)"),
                    None => {
                        format!("unknown time zone {s:?} (use an IANA name like \"Europe/Paris\")")
                    }
                })
            }
        }
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Zone;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an IANA time zone such as \"Europe/Paris\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Zone, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A date on which the line stays closed all day (local time): `"2025-12-25"`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClosedDate(jiff::civil::Date);

impl fmt::Display for ClosedDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for ClosedDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClosedDate({})", self.0)
    }
}

impl FromStr for ClosedDate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // jiff also accepts datetimes here; a closed date is a day, so insist on YYYY-MM-DD.
        if s.len() != 10 {
            return Err(format!("{s:?} is not a date YYYY-MM-DD"));
        }
        s.parse::<jiff::civil::Date>()
            .map(ClosedDate)
            .map_err(|_| format!("{s:?} is not a date YYYY-MM-DD"))
    }
}

impl<'de> Deserialize<'de> for ClosedDate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClosedDate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a date such as \"2025-12-25\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ClosedDate, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A number's business hours: outside them, calls take the `closed` route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hours {
    pub tz: Zone,
    /// Weekly slots; open when any slot holds the local time.
    pub open: Vec<OpenSlot>,
    /// Whole local days closed, whatever the slots say.
    pub closed_dates: Vec<ClosedDate>,
    /// Where calls go while closed (default: the number's fallback).
    pub closed: Route,
}

impl Hours {
    /// Whether the line is open at `at`. An instant outside the range the time zone database
    /// can place (year 9999 and beyond) counts as closed.
    pub fn is_open(&self, at: SystemTime) -> bool {
        let Ok(ts) = jiff::Timestamp::try_from(at) else {
            return false;
        };
        let local = ts.to_zoned(self.tz.tz.clone());
        let date = local.date();
        if self.closed_dates.iter().any(|d| d.0 == date) {
            return false;
        }
        let day = Weekday::from_jiff(local.weekday());
        // Minutes since midnight; hour() and minute() are small non-negative numbers.
        let minute =
            (local.hour().unsigned_abs() as u16) * 60 + local.minute().unsigned_abs() as u16;
        self.open
            .iter()
            .any(|s| s.days.contains(day) && s.start.0 <= minute && minute < s.end.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn utc(s: &str) -> SystemTime {
        let ts: jiff::Timestamp = s.parse().unwrap();
        UNIX_EPOCH + Duration::from_secs(ts.as_second() as u64)
    }

    fn paris_office() -> Hours {
        let mut open = "mon-fri 09:00-18:00".parse::<SlotSpec>().unwrap().0;
        open.extend("sat 10:00-12:00".parse::<SlotSpec>().unwrap().0);
        Hours {
            tz: "Europe/Paris".parse().unwrap(),
            open,
            closed_dates: vec!["2025-12-25".parse().unwrap()],
            closed: Route::Voicemail,
        }
    }

    #[test]
    fn opening_follows_local_time_across_dst() {
        let h = paris_office();
        // Friday 28 March 2025, winter time (UTC+1): 09:00 local is 08:00 UTC.
        assert!(!h.is_open(utc("2025-03-28T07:59:00Z")));
        assert!(h.is_open(utc("2025-03-28T08:00:00Z")));
        assert!(h.is_open(utc("2025-03-28T16:59:00Z")));
        assert!(!h.is_open(utc("2025-03-28T17:00:00Z")));
        // Monday 31 March 2025, summer time (UTC+2) since Sunday: 09:00 local is 07:00 UTC.
        assert!(!h.is_open(utc("2025-03-31T06:59:00Z")));
        assert!(h.is_open(utc("2025-03-31T07:00:00Z")));
        assert!(h.is_open(utc("2025-03-31T07:30:00Z")));
        assert!(!h.is_open(utc("2025-03-31T16:00:00Z")));
        // Back to winter time on Sunday 26 October 2025: Monday 27th opens at 08:00 UTC.
        assert!(!h.is_open(utc("2025-10-27T07:30:00Z")));
        assert!(h.is_open(utc("2025-10-27T08:30:00Z")));
    }

    #[test]
    fn weekend_slots_and_closed_dates() {
        let h = paris_office();
        // Saturday 29 March 2025, 10:30 local = 09:30 UTC.
        assert!(h.is_open(utc("2025-03-29T09:30:00Z")));
        assert!(
            !h.is_open(utc("2025-03-29T11:00:00Z")),
            "12:00 local: the slot has ended"
        );
        // Sunday: closed all day.
        assert!(!h.is_open(utc("2025-03-30T10:00:00Z")));
        // Thursday 25 December 2025 is a closed date; Friday 26th is a normal day.
        assert!(!h.is_open(utc("2025-12-25T10:00:00Z")));
        assert!(h.is_open(utc("2025-12-26T10:00:00Z")));
    }

    #[test]
    fn local_midnight_is_not_utc_midnight() {
        let h = Hours {
            tz: "America/New_York".parse().unwrap(),
            open: "fri 20:00-24:00".parse::<SlotSpec>().unwrap().0,
            closed_dates: Vec::new(),
            closed: Route::Hangup,
        };
        // Friday 4 July 2025 23:30 in New York (EDT, UTC-4) is Saturday 03:30 UTC.
        assert!(h.is_open(utc("2025-07-05T03:30:00Z")));
        assert!(
            !h.is_open(utc("2025-07-05T04:00:00Z")),
            "Saturday 00:00 local"
        );
    }

    #[test]
    fn slot_syntax() {
        let s = "mon,wed-fri 09:00-12:00, 14:00-18:00"
            .parse::<SlotSpec>()
            .unwrap()
            .0;
        assert_eq!(s.len(), 2);
        assert!(s[0].days.contains(Weekday::Mon));
        assert!(!s[0].days.contains(Weekday::Tue));
        assert!(s[0].days.contains(Weekday::Fri));
        assert_eq!(s[1].start.to_string(), "14:00");
        let wrap = "fri-mon 10:00-11:00".parse::<SlotSpec>().unwrap().0;
        assert!(wrap[0].days.contains(Weekday::Sun) && !wrap[0].days.contains(Weekday::Wed));
        assert!("mon-fry 09:00-18:00"
            .parse::<SlotSpec>()
            .unwrap_err()
            .contains("unknown day"));
        assert!("mon 9-18"
            .parse::<SlotSpec>()
            .unwrap_err()
            .contains("is not HH:MM-HH:MM"));
        assert!("mon 18:00-09:00"
            .parse::<SlotSpec>()
            .unwrap_err()
            .contains("crosses midnight"));
        assert!("mon 24:01-24:00".parse::<SlotSpec>().is_err());
        assert!("09:00-18:00".parse::<SlotSpec>().is_err());
    }

    #[test]
    fn zones_come_from_the_bundled_database() {
        assert_eq!(
            "europe/paris".parse::<Zone>().unwrap().name(),
            "Europe/Paris"
        );
        assert_eq!("UTC".parse::<Zone>().unwrap().name(), "UTC");
        let e = "Europe/Pariss".parse::<Zone>().unwrap_err();
        assert_eq!(
            e,
            "unknown time zone \"Europe/Pariss\" (did you mean \"Europe/Paris\"?)"
        );
        assert!("2025-13-01".parse::<ClosedDate>().is_err());
        assert!("2025-12-25T10:00".parse::<ClosedDate>().is_err());
    }
}
