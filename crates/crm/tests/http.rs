//! The HTTP lookup against a small CRM served on 127.0.0.1 by the test itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crm::{CardSource, CrmLookup, Directory, LookupOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CARD: &str = r#"{"name": "Jeanne Dupont", "company": "ACME", "fields": {"tier": "gold"}}"#;

/// How the fake CRM answers every request.
#[derive(Clone)]
enum Reply {
    Now {
        status: u16,
        body: &'static str,
    },
    /// Answers a card after `delay`, and records that it did.
    After {
        delay: Duration,
        answered: Arc<AtomicBool>,
    },
}

struct Server {
    url: String,
    requests: Arc<AtomicUsize>,
    /// Request targets (path and query), in arrival order.
    targets: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(reply: Reply) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cards", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let targets = Arc::new(Mutex::new(Vec::new()));
    let server = Server {
        url,
        requests: Arc::clone(&requests),
        targets: Arc::clone(&targets),
    };
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (reply, requests, targets) =
                (reply.clone(), Arc::clone(&requests), Arc::clone(&targets));
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let target = head.split(' ').nth(1).unwrap_or_default().to_owned();
                targets.lock().unwrap().push(target);
                requests.fetch_add(1, Ordering::SeqCst);
                let (status, body) = match reply {
                    Reply::Now { status, body } => (status, body),
                    Reply::After { delay, answered } => {
                        tokio::time::sleep(delay).await;
                        answered.store(true, Ordering::SeqCst);
                        (200, CARD)
                    }
                };
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    server
}

/// A budget no test run comes near unless the code under test is wrong (then the assertions
/// on the answer fail, not a timing bound).
fn generous() -> LookupOptions {
    LookupOptions {
        budget: Duration::from_secs(10),
        ..LookupOptions::default()
    }
}

fn lookup(url: &str, options: LookupOptions) -> CrmLookup {
    CrmLookup::new(Directory::default(), Some(url), options).unwrap()
}

#[tokio::test]
async fn a_card_comes_from_the_crm_with_the_number_percent_encoded() {
    let server = serve(Reply::Now {
        status: 200,
        body: CARD,
    })
    .await;
    let crm = lookup(&format!("{}?key=a%20b", server.url), generous());
    let card = crm.card("+33 6 12-34-56-78").await.unwrap();
    assert_eq!(card.number, "+33612345678");
    assert_eq!(card.name, "Jeanne Dupont");
    assert_eq!(card.company.as_deref(), Some("ACME"));
    assert_eq!(card.fields.get("tier").map(String::as_str), Some("gold"));
    assert_eq!(card.source, CardSource::Http);
    assert_eq!(
        *server.targets.lock().unwrap(),
        ["/cards?key=a%20b&number=%2B33612345678"]
    );
}

#[tokio::test]
async fn a_second_lookup_is_answered_from_the_cache() {
    let server = serve(Reply::Now {
        status: 200,
        body: CARD,
    })
    .await;
    let crm = lookup(&server.url, generous());
    let first = crm.card("+33612345678").await;
    let second = crm.card("+33 6 12 34 56 78").await;
    assert!(first.is_some());
    assert_eq!(first, second);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn callers_from_the_same_number_share_one_request() {
    let server = serve(Reply::Now {
        status: 200,
        body: CARD,
    })
    .await;
    let crm = lookup(&server.url, generous());
    // `join!` polls all three before any of them can get an answer: the first starts the
    // request, the two others find it in flight.
    let (a, b, c) = tokio::join!(
        crm.card("+33612345678"),
        crm.card("+33612345678"),
        crm.card("+33 612 345 678")
    );
    assert!(a.is_some());
    assert_eq!((&a, &a), (&b, &c));
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_slow_crm_gives_no_card_within_the_budget() {
    let answered = Arc::new(AtomicBool::new(false));
    let server = serve(Reply::After {
        delay: Duration::from_secs(2),
        answered: Arc::clone(&answered),
    })
    .await;
    let options = LookupOptions {
        budget: Duration::from_millis(200),
        ..LookupOptions::default()
    };
    let crm = lookup(&server.url, options);
    let card = crm.card("+33612345678").await;
    assert_eq!(card, None);
    assert!(
        !answered.load(Ordering::SeqCst),
        "card() waited for the CRM's answer"
    );
}

#[tokio::test]
async fn server_errors_and_garbage_give_no_card() {
    for (status, body) in [
        (500, r#"{"error": "boom"}"#),
        (200, "<html>not json</html>"),
        (200, r#"{"company": "no name"}"#),
        (200, "[1, 2, 3]"),
    ] {
        let server = serve(Reply::Now { status, body }).await;
        let crm = lookup(&server.url, generous());
        assert_eq!(crm.card("+33612345678").await, None, "{status} {body}");
        assert_eq!(server.requests(), 1);
    }
}

#[tokio::test]
async fn not_found_is_remembered() {
    let server = serve(Reply::Now {
        status: 404,
        body: "",
    })
    .await;
    let crm = lookup(&server.url, generous());
    assert_eq!(crm.card("+33612345678").await, None);
    assert_eq!(crm.card("+33612345678").await, None);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn an_unreachable_crm_gives_no_card() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again: connections are refused
    let crm = lookup(&format!("http://127.0.0.1:{port}/cards"), generous());
    assert_eq!(crm.card("+33612345678").await, None);
}

#[tokio::test]
async fn the_directory_answers_first_and_bad_numbers_ask_nobody() {
    let server = serve(Reply::Now {
        status: 200,
        body: CARD,
    })
    .await;
    let csv = "number,name\n+33 6 12 34 56 78,Camille Martin\n";
    let directory = Directory::from_csv_reader(csv.as_bytes(), "inline").unwrap();
    let crm = CrmLookup::new(directory, Some(&server.url), generous()).unwrap();
    let card = crm.card("+33612345678").await.unwrap();
    assert_eq!(
        (card.name.as_str(), card.source),
        ("Camille Martin", CardSource::Csv)
    );
    assert_eq!(crm.card("anonymous").await, None);
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn from_config_reads_contacts_csv_url_and_timeout() {
    let server = serve(Reply::Now {
        status: 200,
        body: CARD,
    })
    .await;
    let csv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/contacts.csv");
    let crm_config = config::Crm {
        url: Some(server.url.parse().unwrap()),
        timeout: Duration::from_secs(10),
        csv: Some(csv),
    };
    let contacts = [config::Contact {
        number: "+33100000001".parse().unwrap(),
        name: "Reception".into(),
        company: None,
        url: None,
        fields: Default::default(),
    }];
    let crm = CrmLookup::from_config(&crm_config, &contacts).unwrap();
    assert_eq!(
        crm.card("+33100000001").await.map(|c| c.source),
        Some(CardSource::Config)
    );
    assert_eq!(
        crm.card("+442079460018").await.map(|c| c.source),
        Some(CardSource::Csv)
    );
    assert_eq!(
        crm.card("+15550000000").await.map(|c| c.source),
        Some(CardSource::Http)
    );
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn a_lookup_can_run_on_any_task() {
    fn sendable<T: Send>(_: &T) {}
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<CrmLookup>();
    let crm = CrmLookup::new(Directory::default(), None, generous()).unwrap();
    let lookup = crm.card("+33612345678");
    sendable(&lookup);
    assert_eq!(lookup.await, None, "no directory entry and no CRM URL");
}
