//! The console in real headless Chromium against the real API, with a stand-in engine.
//!
//! Each test opens the page, signs in with a user token, plays the engine's part by publishing
//! events, acts in the page like an agent (mouse or keyboard), and checks both what the page
//! shows and which command the engine received. Screenshots for review are written to
//! `$CARGO_TARGET_TMPDIR/console-screenshots/` and their paths printed.
//!
//! Needs `chromium` and `chromium-driver` (Debian); skips with a message without them.

mod common;

use api::{Action, TransferTarget};
use common::browser::{
    assert_no_page_errors, click, eval, fill, screenshot, sign_in, text_of, wait_until,
    watch_errors, with_browser,
};
use common::{ring_alice, ringing_call, sample_conversation, Node, ALICE_TOKEN, CUSTOMER, LINE};
use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ringing_popup_shows_caller_line_and_ivr_branch_and_decline_reaches_the_engine() {
    let node = Node::start().await;
    let node = &node;
    with_browser("popup", |client| async move {
        // A wrong token is refused on the sign-in form.
        client.goto(&node.url).await.expect("open the console");
        fill(&client, "#sign-in-user", "alice").await;
        fill(&client, "#sign-in-token", "not-a-token").await;
        click(&client, "#sign-in-form button[type=submit]").await;
        assert_eq!(
            text_of(&client, "#sign-in-error").await,
            "This token is not valid."
        );

        sign_in(&client, &node.url, "alice", ALICE_TOKEN).await;
        assert_eq!(text_of(&client, "#who").await, "alice");
        assert_eq!(
            eval(&client, "document.getElementById('home-view').hidden").await,
            json!(false)
        );

        // The caller's name carries markup: it must show as text, never become an element.
        let name = "Jeanne <img src=x id=injected> Dupont";
        ring_alice(node, ringing_call(node.clock, "c-ring-1", name, CUSTOMER));
        let popup = r#".popup[data-call-id="c-ring-1"]"#;
        wait_until(&client, "the ringing popup", &format!("!!document.querySelector('{popup}')")).await;
        assert_eq!(text_of(&client, &format!("{popup} .caller-name")).await, name);
        assert_eq!(text_of(&client, &format!("{popup} .caller-number")).await, CUSTOMER);
        assert_eq!(text_of(&client, &format!("{popup} .line-name")).await, "Support FR");
        assert_eq!(text_of(&client, &format!("{popup} .line-number")).await, LINE);
        assert_eq!(
            text_of(&client, &format!("{popup} .ivr-branch")).await,
            "Billing disputes"
        );
        assert_eq!(
            eval(&client, &format!("document.querySelector('{popup} .ivr-branch').title")).await,
            json!("IVR path: main:2;billing:1")
        );
        let crm = text_of(&client, &format!("{popup} details.crm")).await;
        assert!(crm.contains("ACME Industries") && crm.contains("gold"), "{crm}");
        assert_eq!(eval(&client, "document.querySelectorAll('#injected, .popup img').length").await, json!(0));
        // Focus moved to Accept; screen readers heard who is calling.
        assert_eq!(
            eval(&client, "document.activeElement.dataset.action").await,
            json!("accept")
        );
        let announced = text_of(&client, "#announcer").await;
        assert!(
            announced.starts_with("Incoming call from") && announced.contains("Billing disputes"),
            "{announced}"
        );
        assert_eq!(
            eval(&client, &format!("document.querySelector('{popup}').getAttribute('role')")).await,
            json!("alertdialog")
        );
        wait_until(&client, "the popup animation to end", &format!("document.querySelector('{popup}').getAnimations().length === 0")).await;
        screenshot(&client, "console-popup-ringing").await;

        click(&client, &format!("{popup} [data-action=decline]")).await;
        assert_eq!(
            node.next_action().await,
            Action::Decline {
                call: "c-ring-1".into(),
                agent: "alice".into()
            }
        );
        wait_until(&client, "the popup to close", "document.querySelectorAll('.popup').length === 0").await;

        // With the tab hidden, a ringing call also raises a browser notification; clicking it
        // brings focus to the popup. (Headless Chromium shows no notifications: the page's
        // Notification is replaced by a recorder, and the tab is made to look hidden.)
        eval(&client, "(() => {
            window.__notifications = [];
            window.Notification = class extends EventTarget {
              static permission = 'granted';
              constructor(title, options) { super(); this.title = title; this.options = options;
                this.closed = false; window.__notifications.push(this); }
              close() { this.closed = true; }
            };
            Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
            document.activeElement.blur();
            return true; })()").await;
        ring_alice(node, ringing_call(node.clock, "c-ring-2", "Paul Martin", "+33633333333"));
        let note = wait_until(&client, "a notification", "window.__notifications[0] && [window.__notifications[0].title, window.__notifications[0].options.body, window.__notifications[0].options.tag]").await;
        assert_eq!(
            note,
            json!([
                "Incoming call: Paul Martin",
                "+33633333333 · Support FR +33100000001 · IVR: Billing disputes",
                "call-c-ring-2"
            ])
        );
        eval(&client, "(() => { document.activeElement.blur(); window.__notifications[0].dispatchEvent(new Event('click')); return true; })()").await;
        assert_eq!(
            eval(&client, "[document.activeElement.dataset.action, document.activeElement.closest('.popup')?.dataset.callId, window.__notifications[0].closed]").await,
            json!(["accept", "c-ring-2", true])
        );
        // The caller gives up: the popup goes, and so would the notification.
        let mut gone = ringing_call(node.clock, "c-ring-2", "Paul Martin", "+33633333333");
        gone.state = api::CallState::Ended;
        gone.outcome = Some("abandoned".into());
        node.publisher.publish(api::Event::call_ended(node.clock.at(2), gone));
        wait_until(&client, "the second popup to close", "document.querySelectorAll('.popup').length === 0").await;
        assert_eq!(text_of(&client, "#polite").await, "Call from Paul Martin ended.");
        eval(&client, "(() => { delete document.hidden; return true; })()").await;

        // Availability: away, then available again.
        click(&client, "#availability").await;
        assert_eq!(
            node.next_action().await,
            Action::SetAvailability {
                user: "alice".into(),
                available: false
            }
        );
        wait_until(&client, "the Away state", "document.getElementById('availability').textContent === 'Away'").await;
        assert_eq!(
            eval(&client, "document.getElementById('availability').getAttribute('aria-pressed')").await,
            json!("false")
        );
        screenshot(&client, "console-away").await;
        click(&client, "#availability").await;
        assert_eq!(
            node.next_action().await,
            Action::SetAvailability {
                user: "alice".into(),
                available: true
            }
        );
        assert_no_page_errors(&client).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_by_keyboard_in_call_controls_and_detached_toolbar_hangs_up() {
    let node = Node::start().await;
    let node = &node;
    with_browser("toolbar", |client| async move {
        // The call already rings when the agent signs in: no event will tell the page, the
        // snapshot read when the stream opens does.
        node.calls()
            .upsert(ringing_call(node.clock, "c-live", "Marc Petit", "+33622222222"));
        sign_in(&client, &node.url, "alice", ALICE_TOKEN).await;
        wait_until(&client, "the ringing popup", "document.activeElement?.dataset.action === 'accept'").await;

        // Keyboard only: focus is on Accept, Enter takes the call.
        client
            .active_element()
            .await
            .expect("focused element")
            .send_keys(&Key::Enter.to_string())
            .await
            .expect("press Enter");
        assert_eq!(
            node.next_action().await,
            Action::Accept {
                call: "c-live".into(),
                agent: "alice".into()
            }
        );
        // The engine's call.answered opens the in-call view.
        wait_until(&client, "the in-call view", "!document.getElementById('call-view').hidden && !!document.querySelector('.call-card')").await;
        assert_eq!(text_of(&client, ".call-card .caller-name").await, "Marc Petit");
        assert_eq!(text_of(&client, ".call-card .ivr-branch").await, "Billing disputes");
        assert!(text_of(&client, ".call-card details.crm").await.contains("ACME Industries"));
        let timer = text_of(&client, ".call-card .timer").await;
        assert!(timer.contains(':'), "timer shows m:ss, got {timer}");
        assert_eq!(eval(&client, "document.querySelectorAll('.popup').length").await, json!(0));

        // Keypad, hold, transfer.
        click(&client, ".call-card [data-action=dtmf-5]").await;
        assert_eq!(
            node.next_action().await,
            Action::Dtmf {
                call: "c-live".into(),
                digits: "5".into()
            }
        );
        click(&client, ".call-card [data-action=\"dtmf-#\"]").await;
        assert_eq!(
            node.next_action().await,
            Action::Dtmf {
                call: "c-live".into(),
                digits: "#".into()
            }
        );
        wait_until(&client, "the digits sent", "document.querySelector('.dtmf-sent').textContent === '5#'").await;
        click(&client, ".call-card [data-action=hold]").await;
        assert_eq!(
            node.next_action().await,
            Action::Hold {
                call: "c-live".into(),
                hold: true
            }
        );
        wait_until(&client, "the held state", "document.querySelector('.call-card [data-action=hold]').textContent === 'Resume'").await;
        assert_eq!(text_of(&client, ".call-card .badge.held").await, "On hold");
        client
            .find(Locator::Css("#transfer-kind"))
            .await
            .expect("transfer kind")
            .select_by_value("team")
            .await
            .expect("choose team");
        fill(&client, "#transfer-target", "support").await;
        click(&client, ".transfer button[type=submit]").await;
        assert_eq!(
            node.next_action().await,
            Action::Transfer {
                call: "c-live".into(),
                target: TransferTarget::Team("support".into())
            }
        );
        wait_until(&client, "the transfer confirmation", "document.querySelector('.call-status').textContent === 'Transferred to team:support.'").await;
        screenshot(&client, "console-in-call").await;

        // Elsewhere in the console, the call stays in the toolbar, bottom left.
        click(&client, ".call-card [data-action=open]").await;
        wait_until(&client, "the conversation view", "!document.getElementById('conversation-view').hidden").await;
        wait_until(&client, "the call toolbar", "!document.getElementById('toolbar').hidden").await;
        assert_eq!(text_of(&client, "#toolbar .toolbar-caller").await, "Marc Petit");
        assert_eq!(text_of(&client, "#toolbar .ivr-branch").await, "Billing disputes");
        assert!(eval(&client, "!!document.querySelector('#toolbar details.crm')").await == json!(true));
        let corner = eval(&client, "(() => { const r = document.getElementById('toolbar').getBoundingClientRect(); return [Math.round(r.left), Math.round(window.innerHeight - r.bottom)]; })()").await;
        assert!(
            corner[0].as_i64().is_some_and(|x| x < 40) && corner[1].as_i64().is_some_and(|y| y < 40),
            "toolbar at bottom left, got {corner}"
        );
        screenshot(&client, "console-toolbar-inline").await;

        // Detach it into its own window.
        let main = client.window().await.expect("main window");
        click(&client, "#toolbar [data-action=detach]").await;
        wait_until(&client, "the inline toolbar to hide", "document.getElementById('toolbar').hidden").await;
        let mut windows = Vec::new();
        for _ in 0..300 {
            windows = client.windows().await.expect("windows");
            if windows.len() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(windows.len(), 2, "a second window opened");
        let toolbar_window = windows.iter().find(|w| **w != main).cloned().expect("new window");
        client.switch_to_window(toolbar_window).await.expect("switch to toolbar");
        wait_until(&client, "the detached toolbar", "document.body.classList.contains('toolbar-window') && !!document.querySelector('#toolbar .toolbar-caller')").await;
        watch_errors(&client).await;
        assert_eq!(text_of(&client, "#toolbar .toolbar-caller").await, "Marc Petit");
        assert!(text_of(&client, "#toolbar details.crm").await.contains("ACME Industries"));
        assert!(eval(&client, "location.search").await == json!("?toolbar=c-live"));
        screenshot(&client, "console-toolbar-window").await;

        click(&client, "#toolbar [data-action=hangup]").await;
        assert_eq!(
            node.next_action().await,
            Action::Hangup {
                call: "c-live".into()
            }
        );
        assert_eq!(text_of(&client, "#toolbar .toolbar-ended").await, "Call ended.");
        screenshot(&client, "console-toolbar-window-ended").await;
        assert_no_page_errors(&client).await;

        // The main page heard the end too: no toolbar, no call.
        client.switch_to_window(main).await.expect("back to main");
        wait_until(&client, "the main page to drop the call", "document.getElementById('toolbar').hidden && document.querySelectorAll('.popup').length === 0").await;
        assert!(node.calls().get("c-live").is_none());
        assert_no_page_errors(&client).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_shows_calls_messages_and_logs_and_sends_an_sms() {
    let node = Node::start().await;
    let node = &node;
    node.store.insert(sample_conversation(node.clock));
    with_browser("conversation", |client| async move {
        sign_in(&client, &node.url, "alice", ALICE_TOKEN).await;
        click(&client, "nav a[href='#/conversations']").await;
        fill(&client, "#open-line", LINE).await;
        fill(&client, "#open-customer", CUSTOMER).await;
        click(&client, "#open-conversation-form button[type=submit]").await;
        wait_until(&client, "six entries", "document.querySelectorAll('#conversation-items > li').length === 6").await;

        assert_eq!(text_of(&client, "#conversation-title").await, "Jeanne Dupont");
        let meta = text_of(&client, "#conversation-meta").await;
        assert_eq!(meta, format!("{CUSTOMER} · Line {LINE} · Open · Assigned to alice"));

        let items = eval(&client, "[...document.querySelectorAll('#conversation-items > li')].map((li) => [li.className, (li.querySelector('.outcome') || li.querySelector('.body') || li.querySelector('span')).textContent])").await;
        assert_eq!(
            items,
            json!([
                ["bubble call in outcome-answered", "Answered by alice · 3:12"],
                ["log", "bob assigned the conversation to alice"],
                ["bubble call in outcome-missed", "Missed call"],
                ["bubble call in outcome-voicemail", "Voicemail"],
                ["bubble message in", "Hello, I called about invoice 42 <b>not bold</b>"],
                ["bubble message out", "We are looking into it."],
            ])
        );
        assert_eq!(
            eval(&client, "document.querySelector('.outcome-answered .ivr-branch').textContent + ' | ' + document.querySelector('.outcome-answered .ivr-branch').title").await,
            json!("Billing disputes | IVR path: main:2;billing:1")
        );
        assert!(text_of(&client, ".outcome-voicemail .voicemail").await.contains("voicemail"));
        assert_eq!(eval(&client, "document.querySelectorAll('#conversation-items b').length").await, json!(0));

        // Close, as the header action.
        click(&client, "#conversation-close").await;
        wait_until(&client, "the closed state", "document.getElementById('conversation-meta').textContent.includes('Closed')").await;
        assert_eq!(
            eval(&client, "document.getElementById('conversation-reopen').hidden").await,
            json!(false)
        );
        assert_eq!(
            text_of(&client, "#conversation-items > li:last-child span").await,
            "alice closed the conversation"
        );
        assert_eq!(
            eval(&client, "document.activeElement.id").await,
            json!("conversation-reopen")
        );

        // Reply by SMS from the footer.
        fill(&client, "#message-body", "Your refund is on its way.").await;
        click(&client, "#message-form button[type=submit]").await;
        assert_eq!(
            node.next_action().await,
            Action::SendMessage {
                line: LINE.into(),
                customer: CUSTOMER.into(),
                body: "Your refund is on its way.".into(),
                author: "alice".into(),
            }
        );
        wait_until(&client, "the sent SMS bubble", "document.querySelector('#conversation-items > li:last-child .body')?.textContent === 'Your refund is on its way.'").await;
        assert_eq!(text_of(&client, "#message-status").await, "Sent.");
        assert_eq!(eval(&client, "document.getElementById('message-body').value").await, json!(""));
        screenshot(&client, "console-conversation").await;

        click(&client, "#conversation-reopen").await;
        wait_until(&client, "the open state", "document.getElementById('conversation-meta').textContent.includes('Open')").await;
        assert_no_page_errors(&client).await;
    })
    .await;
}
