//! Digits collected by an input menu, and how they are shown.
//!
//! Card numbers and PINs must never reach a log line, an event or the SIP header sent to agents
//! in full, so the collected value lives in [`Digits`], whose `Debug` and `Display` print the
//! shown form ([`Digits::shown`]); the caller who needs the value asks for it by name
//! ([`Digits::expose`]), which is easy to grep for.

use std::fmt;

/// The mask character of a hidden digit.
pub const MASK: char = '•';

/// Trailing digits left visible by the mask (`••••42`).
const VISIBLE_TAIL: usize = 2;

/// Values this short are masked entirely: the last two digits of a four-digit PIN are half of it.
const FULLY_MASKED_UP_TO: usize = 4;

/// A string of DTMF digits (`0`-`9` only: the terminator is never part of it).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Digits {
    value: String,
    sensitive: bool,
}

impl Digits {
    pub(crate) fn new(sensitive: bool) -> Digits {
        Digits {
            value: String::new(),
            sensitive,
        }
    }

    pub(crate) fn push(&mut self, digit: char) {
        self.value.push(digit);
    }

    /// The digits as pressed. The only way to read a sensitive value in full.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Whether the menu marked these digits `sensitive`.
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }

    pub fn len(&self) -> usize {
        self.value.len()
    }

    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }

    /// What events, logs and the IVR path show: the digits, or for a sensitive value
    /// [`mask`]ed ones.
    pub fn shown(&self) -> String {
        if self.sensitive {
            mask(&self.value)
        } else {
            self.value.clone()
        }
    }
}

/// Hides all but the last two digits (`12345642` → `••••••42`); a value of four digits or fewer
/// is hidden entirely (`1234` → `••••`). The length stays visible.
pub fn mask(digits: &str) -> String {
    let n = digits.chars().count();
    let visible = if n <= FULLY_MASKED_UP_TO {
        0
    } else {
        VISIBLE_TAIL
    };
    digits
        .chars()
        .enumerate()
        .map(|(i, c)| if i + visible < n { MASK } else { c })
        .collect()
}

impl fmt::Debug for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digits({:?})", self.shown())
    }
}

impl fmt::Display for Digits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_the_last_two_of_long_values_only() {
        assert_eq!(mask("12345642"), "••••••42");
        assert_eq!(mask("123442"), "••••42");
        assert_eq!(mask("12342"), "•••42");
        assert_eq!(mask("1234"), "••••");
        assert_eq!(mask("12"), "••");
        assert_eq!(mask(""), "");
    }

    #[test]
    fn sensitive_digits_never_print_in_full() {
        let mut d = Digits::new(true);
        for c in "98765432".chars() {
            d.push(c);
        }
        assert_eq!(d.expose(), "98765432");
        assert_eq!(format!("{d:?}"), "Digits(\"••••••32\")");
        assert_eq!(d.to_string(), "••••••32");
        assert!(!format!("{d:?}").contains("987654"));

        let mut plain = Digits::new(false);
        plain.push('7');
        plain.push('1');
        assert_eq!(plain.to_string(), "71");
        assert_eq!(format!("{plain:?}"), "Digits(\"71\")");
    }
}
