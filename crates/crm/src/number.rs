//! Phone numbers as keys: one spelling per number, and a masked form for logs.

use std::fmt;

/// The key a number is stored and looked up under: spaces, dashes, dots and parentheses
/// removed, a leading `+` kept. `None` when anything else is left (letters, a `+` inside, an
/// empty string), or more than 15 digits (E.164's limit).
///
/// `+33 (0)1 00-00.00.01` would keep the `0` of the national trunk prefix: numbers are not
/// rewritten between national and international forms, only cleaned.
pub fn normalise(number: &str) -> Option<String> {
    let number = number.trim();
    let (plus, rest) = match number.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", number),
    };
    let mut key = String::with_capacity(number.len());
    key.push_str(plus);
    for c in rest.chars() {
        match c {
            '0'..='9' => key.push(c),
            '-' | '.' | '(' | ')' => {}
            c if c.is_whitespace() => {}
            _ => return None,
        }
    }
    let digits = key.len() - plus.len();
    (1..=15).contains(&digits).then_some(key)
}

/// Shows a number in logs without giving it away: the first three and last two characters
/// (`+33•••••••01`); short numbers are hidden entirely. Full numbers go to `trace` only.
pub struct Masked<'a>(pub &'a str);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEAD: usize = 3;
        const TAIL: usize = 2;
        let n = self.0.chars().count();
        for (i, c) in self.0.chars().enumerate() {
            let shown = n > HEAD + TAIL + 2 && (i < HEAD || i >= n - TAIL);
            if shown {
                f.write_fmt(format_args!("{c}"))?;
            } else {
                f.write_str("•")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_go_and_the_leading_plus_stays() {
        assert_eq!(
            normalise(" +33 (1) 00-00.00.01 ").as_deref(),
            Some("+33100000001")
        );
        assert_eq!(normalise("06 12 34 56 78").as_deref(), Some("0612345678"));
        assert_eq!(normalise("+1\t555\u{a0}0100").as_deref(), Some("+15550100"));
    }

    #[test]
    fn anything_else_is_not_a_number() {
        for bad in [
            "",
            "+",
            "( )",
            "anonymous",
            "12a4",
            "+33+1",
            "33+1",
            "1234567890123456",
        ] {
            assert_eq!(normalise(bad), None, "{bad:?}");
        }
        assert_eq!(
            normalise("123456789012345").as_deref(),
            Some("123456789012345")
        );
    }

    #[test]
    fn masked_numbers_keep_their_ends_only() {
        assert_eq!(Masked("+33100000001").to_string(), "+33•••••••01");
        assert_eq!(Masked("1234567").to_string(), "•••••••");
        assert_eq!(Masked("12345678").to_string(), "123•••78");
    }
}
