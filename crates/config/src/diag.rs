//! Diagnostics: every problem names the file, the line and the key path.
//!
//! Two sources feed them. Serde errors (syntax, unknown keys, bad values) carry a byte span from
//! `toml` and a key path from `serde_path_to_error`. Cross-check errors (an unknown team, a
//! menu without exit) are found on typed values, long after the text is gone, so they carry only
//! a key path; [`Locator`] finds that path's line by walking the document a second time with
//! `toml_edit`, which keeps the span of every key, table and array element.
//!
//! Serde's own messages (``unknown field `lissten` ``) are rewritten into the words a TOML
//! author uses (`unknown key "lissten"`), with a suggestion when a known name is close.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a configuration file.
///
/// Displays as `FILE:LINE: KEY: MESSAGE`; the line is left out when the problem has no place in
/// the file (a missing section) and the key when it is not about one key (a syntax error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file, as it was named to [`crate::load`] or [`crate::parse_str`].
    pub file: PathBuf,
    /// 1-based line of the key or value concerned.
    pub line: Option<usize>,
    /// Key path in TOML notation: `teams[1].strategy`, `ivr.main.options."*".route`.
    pub key: String,
    /// What is wrong, and when it helps, how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Every error found in a configuration, in file order. Never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl ConfigErrors {
    /// The errors, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false for a value returned by this crate; here for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, d) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A key path inside the document: `numbers[0].steps[1]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Seg>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl KeyPath {
    pub(crate) fn root() -> Self {
        KeyPath(Vec::new())
    }

    /// This path followed by a table key.
    pub(crate) fn k(&self, key: impl fmt::Display) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_string()));
        KeyPath(segs)
    }

    /// This path followed by an array index.
    pub(crate) fn i(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        KeyPath(segs)
    }

    fn from_serde(path: &serde_path_to_error::Path) -> Self {
        let mut segs = Vec::new();
        for seg in path.iter() {
            match seg {
                serde_path_to_error::Segment::Seq { index } => segs.push(Seg::Index(*index)),
                serde_path_to_error::Segment::Map { key } => segs.push(Seg::Key(key.clone())),
                serde_path_to_error::Segment::Enum { variant } => {
                    segs.push(Seg::Key(variant.clone()))
                }
                serde_path_to_error::Segment::Unknown => break,
            }
        }
        KeyPath(segs)
    }

    fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if n > 0 {
                        f.write_str(".")?;
                    }
                    let bare = !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if bare {
                        f.write_str(k)?;
                    } else {
                        write!(f, "\"{}\"", k.replace('\\', "\\\\").replace('"', "\\\""))?;
                    }
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// Finds the line of a key path by parsing the text a second time, keeping spans.
pub(crate) struct Locator<'a> {
    text: &'a str,
    doc: Option<toml_edit::ImDocument<&'a str>>,
}

enum Node<'d> {
    Table(&'d toml_edit::Table),
    Item(&'d toml_edit::Item),
    Value(&'d toml_edit::Value),
}

impl<'a> Locator<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Locator {
            text,
            doc: toml_edit::ImDocument::parse(text).ok(),
        }
    }

    /// 1-based line holding byte `offset`.
    fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The span of the deepest part of `path` present in the document: the key itself when it
    /// exists, else its closest existing parent (a missing key is reported on its table).
    fn span_of(&self, path: &KeyPath) -> Option<Range<usize>> {
        self.walk(path).0
    }

    /// Follows `path` as far as the document goes: (span of the deepest part found that has
    /// one, number of segments found).
    fn walk(&self, path: &KeyPath) -> (Option<Range<usize>>, usize) {
        use toml_edit::{Item, Value};
        let Some(doc) = self.doc.as_ref() else {
            return (None, 0);
        };
        let mut node = Node::Table(doc.as_table());
        let mut best = None;
        let mut found = 0;
        for seg in &path.0 {
            // Look through the wrappers: a table may be a header table, an item or inline.
            let node_now = match node {
                Node::Item(Item::Table(t)) => Node::Table(t),
                Node::Item(Item::Value(v)) => Node::Value(v),
                other => other,
            };
            let (next, span) = match (seg, node_now) {
                (Seg::Key(k), Node::Table(t)) => {
                    let Some(item) = t.get(k) else { break };
                    let span = t.key(k).and_then(|key| key.span()).or_else(|| item.span());
                    (Node::Item(item), span)
                }
                (Seg::Key(k), Node::Value(Value::InlineTable(t))) => {
                    let Some(value) = t.get(k) else { break };
                    let span = t.key(k).and_then(|key| key.span()).or_else(|| value.span());
                    (Node::Value(value), span)
                }
                (Seg::Index(i), Node::Item(Item::ArrayOfTables(a))) => {
                    let Some(table) = a.get(*i) else { break };
                    (Node::Table(table), table.span())
                }
                (Seg::Index(i), Node::Value(Value::Array(a))) => {
                    let Some(value) = a.get(*i) else { break };
                    (Node::Value(value), value.span())
                }
                _ => break,
            };
            if span.is_some() {
                best = span;
            }
            found += 1;
            node = next;
        }
        (best, found)
    }

    /// Whether every segment of `path` is present in the document.
    pub(crate) fn exists(&self, path: &KeyPath) -> bool {
        self.walk(path).1 == path.0.len()
    }

    pub(crate) fn line_of(&self, path: &KeyPath) -> Option<usize> {
        self.span_of(path).map(|s| self.line_at(s.start))
    }
}

/// Turns a serde error into a diagnostic, picking the most precise line of the two sources.
pub(crate) fn from_serde(
    err: serde_path_to_error::Error<toml::de::Error>,
    locator: &Locator<'_>,
    file: &Path,
) -> Diagnostic {
    let mut path = KeyPath::from_serde(err.path());
    let inner = err.into_inner();
    let raw = inner.message().trim().replace('\n', "; ");
    // serde_path_to_error has already entered the unknown key; the problem belongs to the table
    // that has no such key.
    if let Some(rest) = raw.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        if path.0.last() == Some(&Seg::Key(name.to_owned())) {
            path.0.pop();
        }
    }
    let located = if path.is_root() {
        None
    } else {
        locator.span_of(&path)
    };
    // The narrowest of the two spans wins: toml puts a bad array element's error on the whole
    // array, while the path names the element; for an unknown key the path names only the table
    // and toml's span is the key itself.
    let span = match (inner.span(), located) {
        (Some(e), Some(l)) if l.start >= e.start && l.end <= e.end => Some(l),
        (Some(e), _) => Some(e),
        (None, l) => l,
    };
    let (message, line) = match rewrite(&raw, &path) {
        Rewritten::Keep(m) => (m, span.map(|s| locator.line_at(s.start))),
        Rewritten::MissingSection(m) => (m, None),
    };
    Diagnostic {
        file: file.to_path_buf(),
        line,
        key: path.to_string(),
        message,
    }
}

enum Rewritten {
    Keep(String),
    /// A required top-level section is absent: no line to point at.
    MissingSection(String),
}

/// Serde's messages in TOML words.
fn rewrite(msg: &str, path: &KeyPath) -> Rewritten {
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (name, expected) = split_expected(rest);
        let hint = suggestion(name, &expected);
        return Rewritten::Keep(if path.is_root() {
            match hint {
                Some(s) => format!("unknown section [{name}] (did you mean [{s}]?)"),
                None => format!("unknown section [{name}]"),
            }
        } else {
            match hint {
                Some(s) => format!("unknown key \"{name}\" (did you mean \"{s}\"?)"),
                None if expected.is_empty() => format!("unknown key \"{name}\""),
                None => format!(
                    "unknown key \"{name}\", expected one of {}",
                    expected.join(", ")
                ),
            }
        });
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `") {
        let (name, expected) = split_expected(rest);
        return Rewritten::Keep(format!(
            "unknown variant \"{name}\", expected one of {}",
            expected.join(", ")
        ));
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return if path.is_root() {
            Rewritten::MissingSection(format!("missing section [{name}]"))
        } else {
            Rewritten::Keep(format!("missing key \"{name}\""))
        };
    }
    Rewritten::Keep(msg.replace('`', ""))
}

/// `name`, expected one of `a`, `b` → (name, [a, b]).
fn split_expected(rest: &str) -> (&str, Vec<&str>) {
    let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let expected = match tail.split_once("expected") {
        Some((_, list)) => list.split('`').skip(1).step_by(2).collect(),
        None => Vec::new(),
    };
    (name, expected)
}

/// The known name closest to `name`, if it is close enough to be a typo.
pub(crate) fn suggestion<'c>(name: &str, known: &[&'c str]) -> Option<&'c str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| {
            (
                edit_distance(&name.to_ascii_lowercase(), &k.to_ascii_lowercase()),
                *k,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance over chars, a swap of two neighbours counting as one edit (optimal string
/// alignment): `lgo` is one edit from `log`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_print_in_toml_notation() {
        let p = KeyPath::root()
            .k("ivr")
            .k("main")
            .k("options")
            .k("*")
            .k("route");
        assert_eq!(p.to_string(), "ivr.main.options.\"*\".route");
        assert_eq!(
            KeyPath::root().k("teams").i(1).k("strategy").to_string(),
            "teams[1].strategy"
        );
    }

    #[test]
    fn suggestions_only_for_near_misses() {
        assert_eq!(suggestion("lissten", &["listen", "domain"]), Some("listen"));
        assert_eq!(suggestion("colour", &["listen", "domain"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("lgo", "log"), 1);
        assert_eq!(suggestion("lgo", &["sip", "log"]), Some("log"));
    }
}
