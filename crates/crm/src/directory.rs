//! The local directory: cards from `[[contacts]]` and from a CSV export, in memory.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;

use config::Contact;

use crate::number::{normalise, Masked};
use crate::{Card, CardSource, CrmError};

/// Cards by normalised number; a lookup is one hash probe.
#[derive(Clone, Debug, Default)]
pub struct Directory {
    cards: HashMap<String, Card>,
    skipped: Vec<SkippedRow>,
}

/// A CSV row left out of the directory, for `check`-style reporting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRow {
    /// 1-based line in the file (the header is line 1).
    pub line: u64,
    pub reason: String,
}

impl Directory {
    /// The cards of the configuration's `[[contacts]]`.
    pub fn from_contacts(contacts: &[Contact]) -> Directory {
        let mut directory = Directory::default();
        directory.add_contacts(contacts);
        directory
    }

    /// The CSV file's cards, then the configuration's contacts, which win over a CSV row with
    /// the same number (the configuration is the deliberate, reviewed source).
    pub fn load(contacts: &[Contact], csv: Option<&Path>) -> Result<Directory, CrmError> {
        let mut directory = match csv {
            Some(path) => {
                let origin = path.display().to_string();
                let file = std::fs::File::open(path).map_err(|e| CrmError::Csv {
                    origin: origin.clone(),
                    reason: e.to_string(),
                })?;
                Directory::from_csv_reader(io::BufReader::new(file), &origin)?
            }
            None => Directory::default(),
        };
        directory.add_contacts(contacts);
        Ok(directory)
    }

    /// Cards from CSV text: a header row naming the columns `number` and `name` (required),
    /// `company` and `url` (optional), in any order and any case; every other column becomes
    /// a field of the card under its header. Empty cells are left out. A row without a usable
    /// number or name is skipped (see [`Directory::skipped`]); a later row with the same number
    /// replaces an earlier one. `origin` names the source in errors.
    pub fn from_csv_reader(reader: impl io::Read, origin: &str) -> Result<Directory, CrmError> {
        let csv_error = |e: csv::Error| CrmError::Csv {
            origin: origin.to_owned(),
            reason: e.to_string(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers: Vec<String> = reader
            .headers()
            .map_err(csv_error)?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').to_owned())
            .collect();
        let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let (Some(number_at), Some(name_at)) = (column("number"), column("name")) else {
            return Err(CrmError::CsvHeader {
                origin: origin.to_owned(),
                found: headers.join(","),
            });
        };
        let (company_at, url_at) = (column("company"), column("url"));
        let known = [Some(number_at), Some(name_at), company_at, url_at];

        let mut directory = Directory::default();
        for (index, record) in reader.records().enumerate() {
            let line = index as u64 + 2;
            let record = match record {
                Ok(record) => record,
                // A broken row (wrong number of cells, bad UTF-8) costs that row only.
                Err(e) if !matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                    directory.skip(line, e.to_string());
                    continue;
                }
                Err(e) => return Err(csv_error(e)),
            };
            let cell = |at: Option<usize>| {
                at.and_then(|at| record.get(at))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
            };
            let Some(raw_number) = cell(Some(number_at)) else {
                directory.skip(line, "no number".into());
                continue;
            };
            let Some(number) = normalise(&raw_number) else {
                directory.skip(line, format!("not a phone number: {raw_number:?}"));
                continue;
            };
            let Some(name) = cell(Some(name_at)) else {
                directory.skip(line, "no name".into());
                continue;
            };
            let fields: BTreeMap<String, String> = headers
                .iter()
                .enumerate()
                .filter(|(at, _)| !known.contains(&Some(*at)))
                .filter_map(|(at, header)| cell(Some(at)).map(|v| (header.clone(), v)))
                .collect();
            let card = Card {
                number: number.clone(),
                name,
                company: cell(company_at),
                url: cell(url_at),
                fields,
                source: CardSource::Csv,
            };
            if directory.cards.insert(number, card).is_some() {
                tracing::debug!(line, "CSV contact replaces an earlier row with its number");
            }
        }
        if !directory.skipped.is_empty() {
            tracing::warn!(
                origin,
                skipped = directory.skipped.len(),
                first_line = directory.skipped[0].line,
                "CSV contacts: rows skipped"
            );
        }
        Ok(directory)
    }

    /// The card for `number`, in any of the spellings [`normalise`] accepts.
    pub fn get(&self, number: &str) -> Option<&Card> {
        self.cards.get(&normalise(number)?)
    }

    pub fn len(&self) -> usize {
        self.cards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    /// CSV rows that were left out, in file order.
    pub fn skipped(&self) -> &[SkippedRow] {
        &self.skipped
    }

    fn add_contacts(&mut self, contacts: &[Contact]) {
        for contact in contacts {
            // `PhoneNumber` is already + and digits; normalising again keeps one key function.
            let Some(number) = normalise(contact.number.as_str()) else {
                tracing::warn!(number = %Masked(contact.number.as_str()), "contact skipped");
                continue;
            };
            let card = Card {
                number: number.clone(),
                name: contact.name.clone(),
                company: contact.company.clone(),
                url: contact.url.as_ref().map(|url| url.as_str().to_owned()),
                fields: contact.fields.clone(),
                source: CardSource::Config,
            };
            self.cards.insert(number, card);
        }
    }

    fn skip(&mut self, line: u64, reason: String) {
        self.skipped.push(SkippedRow { line, reason });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(number: &str, name: &str) -> Contact {
        Contact {
            number: number.parse().unwrap(),
            name: name.into(),
            company: Some("ACME".into()),
            url: Some("https://crm.example.com/c/1".parse().unwrap()),
            fields: BTreeMap::from([("tier".to_owned(), "gold".to_owned())]),
        }
    }

    fn testdata() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/contacts.csv")
    }

    #[test]
    fn contacts_become_config_cards() {
        let directory = Directory::from_contacts(&[contact("+33100000001", "Jeanne Dupont")]);
        let card = directory.get("+33 1 00 00 00 01").unwrap();
        assert_eq!(
            *card,
            Card {
                number: "+33100000001".into(),
                name: "Jeanne Dupont".into(),
                company: Some("ACME".into()),
                url: Some("https://crm.example.com/c/1".into()),
                fields: BTreeMap::from([("tier".to_owned(), "gold".to_owned())]),
                source: CardSource::Config,
            }
        );
        assert_eq!(directory.get("+33100000002"), None);
        assert_eq!(directory.get("not a number"), None);
    }

    #[test]
    fn the_csv_file_gives_cards_with_extra_columns_as_fields() {
        let directory = Directory::load(&[], Some(&testdata())).unwrap();
        let card = directory.get("+44 20 7946 0018").unwrap();
        assert_eq!(
            *card,
            Card {
                number: "+442079460018".into(),
                name: "Oliver Smith".into(),
                company: Some("Smith & Sons".into()),
                url: None,
                fields: BTreeMap::from([
                    ("Account manager".to_owned(), "alice".to_owned()),
                    ("plan".to_owned(), "enterprise".to_owned()),
                ]),
                source: CardSource::Csv,
            }
        );
        // Written with separators in the file, found in any spelling.
        let card = directory.get("+33612345678").unwrap();
        assert_eq!(card.name, "Camille Martin");
        assert_eq!(card.url.as_deref(), Some("https://crm.example.com/c/42"));
        assert_eq!(card.fields.get("plan").map(String::as_str), Some("starter"));
        assert!(!card.fields.contains_key("Account manager"), "empty cell");
    }

    #[test]
    fn unusable_csv_rows_are_skipped_and_reported() {
        let directory = Directory::load(&[], Some(&testdata())).unwrap();
        let lines: Vec<u64> = directory.skipped().iter().map(|s| s.line).collect();
        assert_eq!(lines, [5, 6, 7, 8], "{:?}", directory.skipped());
        assert_eq!(directory.len(), 3);
    }

    #[test]
    fn config_contacts_win_over_csv_rows() {
        let directory = Directory::load(
            &[contact("+33612345678", "Camille M. (config)")],
            Some(&testdata()),
        )
        .unwrap();
        let card = directory.get("+33612345678").unwrap();
        assert_eq!(card.name, "Camille M. (config)");
        assert_eq!(card.source, CardSource::Config);
    }

    #[test]
    fn a_header_without_number_or_name_is_an_error() {
        let error =
            Directory::from_csv_reader("phone,name\n+331,A\n".as_bytes(), "inline").unwrap_err();
        assert!(matches!(error, CrmError::CsvHeader { .. }), "{error}");
        let error = Directory::load(&[], Some(Path::new("/nonexistent/contacts.csv"))).unwrap_err();
        assert!(matches!(error, CrmError::Csv { .. }), "{error}");
    }

    #[test]
    fn header_names_ignore_case_order_and_a_byte_order_mark() {
        let text = "\u{feff}Name,URL,Number\nAda,,+33 100\n";
        let directory = Directory::from_csv_reader(text.as_bytes(), "inline").unwrap();
        let card = directory.get("+33100").unwrap();
        assert_eq!((card.name.as_str(), card.url.as_deref()), ("Ada", None));
        assert!(card.fields.is_empty());
    }
}
