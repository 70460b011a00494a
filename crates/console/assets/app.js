// Switchboard agent console.
//
// One page, no framework, no build step. It talks to the HTTP API only (crates/api/API.md):
// reads calls and conversations, acts on calls, and follows the server-sent event stream.
//
// How it holds together:
// - `calls` is the page's copy of the calls that involve the signed-in agent, fed by events
//   and re-read from GET /v1/calls whenever the stream (re)opens or reports it lagged.
// - Every change goes through `render()`, which derives what to show (ringing popups, the
//   call toolbar, the open view) from `calls` and the route in the URL fragment. Components
//   that hold user input (transfer field, SMS composer) are built once and updated in place,
//   so an event arriving while the agent types never clears what they typed.
// - Text from the network (caller names, SMS bodies, CRM cards) only ever becomes text nodes.
//   The page's Content-Security-Policy enforces Trusted Types with no policy, so the browser
//   itself refuses to parse a string as markup.
// - `?toolbar=CALL` opens the same page as a detached call toolbar. It acts through the API
//   and hears about the call from the main page over a BroadcastChannel; if the main page
//   goes away it opens its own event stream.

const SESSION_KEY = "switchboard.session";
const RECENT_KEY = "switchboard.recent";
const AVAILABILITY_KEY = "switchboard.available";
const CHANNEL_NAME = "switchboard-console";
const EVENT_TYPES = [
  "call.created", "call.ringing", "call.answered", "call.declined", "call.updated",
  "call.ended", "ivr.choice", "message.received", "conversation.updated",
];
const RECONNECT_FIRST_MS = 1000;
const RECONNECT_MAX_MS = 30000;
const RECENT_MAX = 20;

// ---------------------------------------------------------------------------------------------
// Small helpers

const $ = (id) => document.getElementById(id);

/** Creates an element. `props`: class, text, on{Event} listeners, anything else an attribute. */
function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function formatDuration(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const s = total % 60;
  const m = Math.floor(total / 60) % 60;
  const hours = Math.floor(total / 3600);
  const mm = hours > 0 ? String(m).padStart(2, "0") : String(m);
  return (hours > 0 ? `${hours}:` : "") + `${mm}:${String(s).padStart(2, "0")}`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const formatTime = (ms) => (Number.isFinite(ms) ? timeFormat.format(new Date(ms)) : "");

/** A path segment; `+` stays literal, as the API documents. */
const segment = (s) => encodeURIComponent(s).replace(/%2B/g, "+");

function conversationHash(line, customer) {
  return `#/conversation/${encodeURIComponent(line)}/${encodeURIComponent(customer)}`;
}

const callerLabel = (call) => call.caller.name || call.caller.number;

function announce(text, urgent) {
  const region = $(urgent ? "announcer" : "polite");
  if (!region) return;
  // Clearing first makes a repeated message be read again.
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

// ---------------------------------------------------------------------------------------------
// Session and API

function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    return s && typeof s.user === "string" && typeof s.token === "string" ? s : null;
  } catch {
    return null;
  }
}

let session = loadSession();

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${session ? session.token : ""}` };
  const init = { method, headers, cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "the server cannot be reached");
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data && typeof data.error === "string" ? data.error : response.statusText;
    throw new ApiError(response.status, message);
  }
  return data;
}

const callAction = (id, action, body) =>
  api("POST", `/v1/calls/${segment(id)}/${action}`, body === undefined ? {} : body);

// ---------------------------------------------------------------------------------------------
// Calls

/** The calls that involve the signed-in agent, by id. */
const calls = new Map();
/** Calls this tab's detached toolbar windows control. */
const detached = new Set();
/** Ids of calls an event touched while GET /v1/calls was in flight. */
let touchedDuringResync = null;

function myAgent(call) {
  return session ? call.agents.find((a) => a.user === session.user) : undefined;
}

function isRingingMe(call) {
  const me = myAgent(call);
  return call.state === "ringing" && me !== undefined && me.state === "ringing";
}

function isMine(call) {
  return session !== null && call.answered_by === session.user &&
    (call.state === "answered" || call.state === "held");
}

function activeCall() {
  for (const call of calls.values()) if (isMine(call)) return call;
  return null;
}

function applyCall(type, call, agent) {
  if (touchedDuringResync) touchedDuringResync.add(call.id);
  const wasRinging = calls.has(call.id) && isRingingMe(calls.get(call.id));
  const involved = session !== null &&
    (call.answered_by === session.user || call.agents.some((a) => a.user === session.user));
  if (type === "call.ended" || !involved) {
    calls.delete(call.id);
  } else {
    calls.set(call.id, call);
    remember(call);
  }
  broadcast(call, type === "call.ended" || !involved);
  const me = session && agent === session.user;
  if (type === "call.ringing" && me && isRingingMe(call) && !wasRinging) {
    const branch = call.ivr.branch ? `, IVR branch ${call.ivr.branch}` : "";
    announce(`Incoming call from ${callerLabel(call)} ${call.caller.name ? call.caller.number : ""}` +
      ` on ${call.line.name} ${call.line.number}${branch}.`, true);
    notify(call);
  }
  if (wasRinging && !isRingingMe(call)) {
    closeNotification(call.id);
    if (type === "call.ended") announce(`Call from ${callerLabel(call)} ended.`);
    else if (call.answered_by && call.answered_by !== session.user) {
      announce(`Call from ${callerLabel(call)} answered by ${call.answered_by}.`);
    }
  }
  if (type === "call.answered" && me && isMine(call)) {
    location.hash = `#/call/${encodeURIComponent(call.id)}`;
    announce(`Connected to ${callerLabel(call)}.`);
  }
  if (type === "call.ended" && session && call.answered_by === session.user) {
    announce(`Call with ${callerLabel(call)} ended.`);
  }
  render();
}

function replaceCalls(list) {
  const touched = touchedDuringResync || new Set();
  touchedDuringResync = null;
  const fresh = new Map(list.map((c) => [c.id, c]));
  for (const id of [...calls.keys()]) {
    if (!fresh.has(id) && !touched.has(id)) {
      closeNotification(id);
      calls.delete(id);
    }
  }
  for (const [id, call] of fresh) {
    if (!touched.has(id)) {
      calls.set(id, call);
      remember(call);
      broadcast(call, false);
    }
  }
  render();
}

async function resync() {
  if (!session) return;
  touchedDuringResync = new Set();
  try {
    const data = await api("GET", `/v1/calls?user=${encodeURIComponent(session.user)}`);
    replaceCalls(Array.isArray(data.calls) ? data.calls : []);
  } catch (e) {
    touchedDuringResync = null;
    if (e.status === 401 || e.status === 403) signOut("Your token was refused; sign in again.");
  }
}

// ---------------------------------------------------------------------------------------------
// The event stream: EventSource, with our own reconnection (backoff, token check, resync).

class Live {
  constructor(onEvent, onOpen) {
    this.onEvent = onEvent;
    this.onOpen = onOpen;
    this.source = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
    this.source = null;
  }

  connect() {
    if (this.stopped || !session) return;
    const url = `/v1/events?user=${encodeURIComponent(session.user)}` +
      `&access_token=${encodeURIComponent(session.token)}`;
    const source = new EventSource(url);
    this.source = source;
    source.addEventListener("open", () => {
      this.attempt = 0;
      setConnection("Live", "live");
      this.onOpen();
    });
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (e) => {
        let data;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        this.onEvent(type, data);
      });
    }
    // The server dropped events for us: whatever we hold may be stale.
    source.addEventListener("lagged", () => this.onOpen());
    source.addEventListener("error", () => {
      if (this.source !== source) return;
      source.close();
      this.source = null;
      this.retry();
    });
  }

  async retry() {
    if (this.stopped) return;
    // A refused token closes the stream too; tell it apart from a network failure.
    try {
      await api("GET", `/v1/calls?user=${encodeURIComponent(session.user)}`);
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        signOut("Your token was refused; sign in again.");
        return;
      }
    }
    const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** this.attempt);
    const delay = Math.round(ceiling * (0.75 + Math.random() * 0.5));
    this.attempt += 1;
    setConnection(`Disconnected; retrying in ${Math.ceil(delay / 1000)} s`, "down");
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }
}

function setConnection(text, state) {
  const el = $("connection");
  el.textContent = text;
  el.dataset.state = state || "";
}

function handleEvent(type, data) {
  if (data.call && typeof data.call === "object") {
    applyCall(type, data.call, data.agent);
    return;
  }
  if (type === "message.received" || type === "conversation.updated") {
    conversationChanged(data.conversation || data.message || null);
  }
}

// ---------------------------------------------------------------------------------------------
// Recent conversations (from the calls seen in this tab)

function loadRecent() {
  try {
    const list = JSON.parse(sessionStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function remember(call) {
  const list = loadRecent().filter(
    (r) => !(r.line === call.line.number && r.customer === call.caller.number));
  list.unshift({
    line: call.line.number, lineName: call.line.name,
    customer: call.caller.number, name: call.caller.name || null, at: call.created_at,
  });
  sessionStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, RECENT_MAX)));
}

function lineName(number) {
  for (const call of calls.values()) if (call.line.number === number) return call.line.name;
  const r = loadRecent().find((x) => x.line === number && x.lineName);
  return r ? r.lineName : null;
}

// ---------------------------------------------------------------------------------------------
// Shared pieces of call UI

function ivrElement(call) {
  if (!call.ivr || !call.ivr.branch) return null;
  return h("p", { class: "ivr" },
    h("span", { class: "label", text: "IVR branch " }),
    h("span", {
      class: "ivr-branch", text: call.ivr.branch,
      title: call.ivr.path ? `IVR path: ${call.ivr.path}` : null,
    }));
}

function crmElement(crm, open) {
  if (!crm || typeof crm !== "object") return null;
  const rows = [];
  for (const [key, value] of Object.entries(crm)) {
    if (value === null || value === undefined || value === "") continue;
    let content;
    if (typeof value === "string" && /^https?:\/\//i.test(value)) {
      content = h("a", { href: value, target: "_blank", rel: "noopener noreferrer", text: value });
    } else {
      content = typeof value === "object" ? JSON.stringify(value) : String(value);
    }
    rows.push(h("dt", { text: key.replace(/_/g, " ") }), h("dd", {}, content));
  }
  if (rows.length === 0) return null;
  return h("details", { class: "crm", open: open || null },
    h("summary", { text: "CRM card" }), h("dl", {}, rows));
}

function callerElement(call) {
  return h("p", { class: "caller" },
    h("strong", { class: "caller-name", text: call.caller.name || call.caller.number }),
    call.caller.name ? h("span", { class: "caller-number", text: call.caller.number }) : null);
}

function lineElement(call) {
  return h("p", { class: "line" },
    h("span", { class: "label", text: "Line " }),
    h("span", { class: "line-name", text: call.line.name }), " ",
    h("span", { class: "line-number", text: call.line.number }));
}

function timerElement(call) {
  const since = call.answered_at || call.created_at;
  return h("span", {
    class: "timer", role: "timer", "aria-label": "Call duration", "data-since": since,
    text: formatDuration(Date.now() - since),
  });
}

function tickTimers() {
  const now = Date.now();
  for (const el of document.querySelectorAll(".timer[data-since]")) {
    el.textContent = formatDuration(now - Number(el.dataset.since));
  }
}

/** Runs an action from a button: disables it meanwhile, shows a failure in `status`. */
async function act(button, status, work) {
  button.disabled = true;
  if (status) status.textContent = "";
  try {
    return await work();
  } catch (e) {
    if (status) status.textContent = e.message ? `Failed: ${e.message}` : "Failed";
    return undefined;
  } finally {
    button.disabled = false;
  }
}

/** Replaces the children of `parent`, putting focus back on the same action when it had it. */
function replaceKeepingFocus(parent, children) {
  const focused = document.activeElement;
  const action = focused && parent.contains(focused) ? focused.dataset.action : null;
  parent.replaceChildren(...children.filter(Boolean));
  if (action) {
    const again = parent.querySelector(`[data-action="${action}"]`);
    if (again) again.focus();
  }
}

function keypad(call, status) {
  const sent = h("output", { class: "dtmf-sent", "aria-label": "Digits sent" });
  const send = async (digit, button) => {
    const ok = await act(button, status, () => callAction(call.id, "dtmf", { digits: digit }));
    if (ok !== undefined) sent.textContent = (sent.textContent + digit).slice(-24);
  };
  const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"].map((digit) => {
    const button = h("button", {
      type: "button", class: "key", text: digit, "data-action": `dtmf-${digit}`,
      "aria-label": `Send ${digit === "*" ? "star" : digit === "#" ? "pound" : digit}`,
    });
    button.addEventListener("click", () => send(digit, button));
    return button;
  });
  const grid = h("div", { class: "keypad", role: "group", "aria-label": "Keypad" }, keys);
  grid.addEventListener("keydown", (e) => {
    const key = keys.find((k) => k.textContent === e.key);
    if (key && !e.ctrlKey && !e.metaKey && !e.altKey) {
      e.preventDefault();
      key.focus();
      key.click();
    }
  });
  return h("div", { class: "keypad-wrap" }, grid, sent);
}

function holdButton(call, status) {
  const held = call.state === "held";
  const button = h("button", {
    type: "button", class: "hold", "data-action": "hold", "aria-pressed": held ? "true" : "false",
    text: held ? "Resume" : "Hold",
  });
  button.addEventListener("click", () =>
    act(button, status, () => callAction(call.id, held ? "unhold" : "hold", held ? {} : { hold: true })));
  return button;
}

function hangupButton(call, status, onDone) {
  const button = h("button", { type: "button", class: "danger hangup", "data-action": "hangup", text: "Hang up" });
  button.addEventListener("click", async () => {
    const done = await act(button, status, () => callAction(call.id, "hangup"));
    if (done !== undefined && onDone) onDone();
  });
  return button;
}

// ---------------------------------------------------------------------------------------------
// Ringing popups

/** Call id → popup element. */
const popups = new Map();
let focusBeforePopup = null;

function renderPopups() {
  const container = $("popups");
  const ringing = [...calls.values()].filter(isRingingMe);
  const ids = new Set(ringing.map((c) => c.id));
  let focusLost = false;
  for (const [id, el] of popups) {
    if (!ids.has(id)) {
      if (el.contains(document.activeElement)) focusLost = true;
      el.remove();
      popups.delete(id);
    }
  }
  for (const call of ringing) {
    let el = popups.get(call.id);
    const created = !el;
    if (created) {
      el = h("section", {
        class: "popup", role: "alertdialog", "data-call-id": call.id,
        "aria-labelledby": `popup-title-${call.id}`, "aria-describedby": `popup-body-${call.id}`,
      });
      popups.set(call.id, el);
      container.prepend(el);
    }
    fillPopup(el, call);
    if (created) focusPopup(el);
  }
  if (focusLost) restoreFocus();
}

function fillPopup(el, call) {
  const status = el.querySelector(".popup-status") || h("p", { class: "popup-status", role: "status" });
  const accept = h("button", { type: "button", class: "accept", "data-action": "accept", text: "Accept" });
  accept.addEventListener("click", async () => {
    const done = await act(accept, status, () => callAction(call.id, "accept", { agent: session.user }));
    if (done !== undefined) status.textContent = "Connecting…";
    else status.textContent += ". Answer on your phone.";
  });
  const decline = h("button", { type: "button", class: "danger decline", "data-action": "decline", text: "Decline" });
  decline.addEventListener("click", () =>
    act(decline, status, () => callAction(call.id, "decline", { agent: session.user })));
  const open = h("a", {
    class: "button", "data-action": "open", href: conversationHash(call.line.number, call.caller.number),
    text: "Open conversation",
  });
  replaceKeepingFocus(el, [
    h("h2", { id: `popup-title-${call.id}`, class: "popup-title", text: "Incoming call" }),
    h("div", { id: `popup-body-${call.id}`, class: "popup-body" },
      callerElement(call), lineElement(call), ivrElement(call)),
    crmElement(call.crm, true),
    status,
    h("div", { class: "buttons" }, accept, decline, open),
  ]);
}

function focusPopup(el) {
  const active = document.activeElement;
  // Someone typing keeps their caret; the assertive announcement still tells them.
  const typing = active && (active.tagName === "TEXTAREA" || active.tagName === "INPUT") && active.value;
  if (typing) return;
  if (!active || !active.closest(".popup")) focusBeforePopup = active;
  const accept = el.querySelector('[data-action="accept"]');
  if (accept) accept.focus();
}

function restoreFocus() {
  const next = [...popups.values()][0];
  if (next) {
    focusPopup(next);
    return;
  }
  const target = focusBeforePopup && document.contains(focusBeforePopup) &&
    focusBeforePopup !== document.body ? focusBeforePopup : $("main");
  focusBeforePopup = null;
  target.focus();
}

// ---------------------------------------------------------------------------------------------
// Browser notifications (for a hidden tab or a minimised window)

const notifications = new Map();

function notify(call) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  if (!document.hidden && document.hasFocus()) return;
  const parts = [call.caller.name ? call.caller.number : null, `${call.line.name} ${call.line.number}`,
    call.ivr.branch ? `IVR: ${call.ivr.branch}` : null].filter(Boolean);
  const n = new Notification(`Incoming call: ${callerLabel(call)}`, {
    body: parts.join(" · "), tag: `call-${call.id}`, requireInteraction: true,
    icon: document.querySelector('link[rel="icon"]').href,
  });
  n.addEventListener("click", () => {
    window.focus();
    n.close();
    const el = popups.get(call.id);
    if (el) focusPopup(el);
  });
  notifications.set(call.id, n);
}

function closeNotification(id) {
  const n = notifications.get(id);
  if (n) n.close();
  notifications.delete(id);
}

function updateNotificationButton() {
  const button = $("notifications");
  button.hidden = !("Notification" in window) || Notification.permission !== "default";
}

function askNotificationPermission() {
  if (!("Notification" in window) || Notification.permission !== "default") return;
  Notification.requestPermission().then(updateNotificationButton, updateNotificationButton);
}

// ---------------------------------------------------------------------------------------------
// In-call view

let callView = null; // { id, status, refs... }

function renderCallView(id) {
  const body = $("call-body");
  const call = calls.get(id);
  if (!call || !isMine(call)) {
    callView = null;
    body.replaceChildren(h("p", { class: "empty" },
      "This call is not in progress for you. ", h("a", { href: "#/", text: "Back to your calls" })));
    $("call-title").textContent = "Call";
    return;
  }
  $("call-title").textContent = `Call with ${callerLabel(call)}`;
  if (!callView || callView.id !== id) callView = buildCallView(call);
  updateCallView(call);
  if (body.firstChild !== callView.root) body.replaceChildren(callView.root);
}

function buildCallView(call) {
  const status = h("p", { class: "call-status", role: "status" });
  const summary = h("div", { class: "call-summary" });
  const controls = h("div", { class: "controls" });
  const kind = h("select", { id: "transfer-kind", "aria-label": "Transfer to" },
    h("option", { value: "user", text: "User" }),
    h("option", { value: "team", text: "Team" }),
    h("option", { value: "number", text: "Number" }));
  const target = h("input", {
    id: "transfer-target", "aria-label": "Transfer target", placeholder: "bob, sales or +33…",
    spellcheck: "false", autocapitalize: "off", required: true,
  });
  const transferButton = h("button", { type: "submit", text: "Transfer" });
  const transfer = h("form", { class: "inline-form transfer", novalidate: true },
    h("span", { class: "label", text: "Transfer to" }), kind, target, transferButton);
  transfer.addEventListener("submit", (e) => {
    e.preventDefault();
    const value = target.value.trim();
    if (!value) {
      status.textContent = "Type a user, a team or a number to transfer to.";
      target.focus();
      return;
    }
    const spec = kind.value === "number" ? value : `${kind.value}:${value}`;
    act(transferButton, status, async () => {
      await callAction(call.id, "transfer", { target: spec });
      status.textContent = `Transferred to ${spec}.`;
      target.value = "";
    });
  });
  const crm = h("div", { class: "crm-slot" });
  const pad = keypad(call, status);
  const root = h("div", { class: "call-card" },
    summary, controls, status, transfer,
    h("section", { class: "keypad-section", "aria-labelledby": "keypad-title" },
      h("h2", { id: "keypad-title", text: "Keypad" }), pad),
    crm);
  return { id: call.id, root, status, summary, controls, crm };
}

function updateCallView(call) {
  const v = callView;
  const held = call.state === "held";
  v.summary.replaceChildren(
    callerElement(call), lineElement(call), ivrElement(call),
    h("p", { class: "call-state" }, timerElement(call),
      held ? h("span", { class: "badge held", text: "On hold" }) : null));
  const detachButton = h("button", {
    type: "button", "data-action": "detach",
    text: detached.has(call.id) ? "Toolbar detached" : "Detach toolbar",
    disabled: detached.has(call.id) || null,
  });
  detachButton.addEventListener("click", () => detachToolbar(call));
  replaceKeepingFocus(v.controls, [
    holdButton(call, v.status),
    hangupButton(call, v.status),
    h("a", { class: "button", href: conversationHash(call.line.number, call.caller.number),
      "data-action": "open", text: "Open conversation" }),
    detachButton,
  ]);
  v.crm.replaceChildren(...[crmElement(call.crm, true)].filter(Boolean));
}

// ---------------------------------------------------------------------------------------------
// Call toolbar (bottom left while in a call elsewhere in the console), and its detached window

function toolbarContent(call, options) {
  const status = h("p", { class: "toolbar-status", role: "status" });
  const held = call.state === "held";
  const head = h("div", { class: "toolbar-head" },
    h("span", { class: "toolbar-caller", text: callerLabel(call) }),
    timerElement(call),
    held ? h("span", { class: "badge held", text: "On hold" }) : null);
  const buttons = [holdButton(call, status), hangupButton(call, status, options.onHungUp)];
  if (options.window) {
    const back = h("button", { type: "button", "data-action": "back", text: "Back to console" });
    back.addEventListener("click", () => {
      if (window.opener && !window.opener.closed) window.opener.focus();
      window.close();
    });
    buttons.push(back);
  } else {
    buttons.push(
      h("a", { class: "button", href: `#/call/${encodeURIComponent(call.id)}`, "data-action": "open-call",
        text: "Call view" }));
    const detach = h("button", { type: "button", "data-action": "detach", text: "Detach" });
    detach.addEventListener("click", () => detachToolbar(call));
    buttons.push(detach);
  }
  const parts = [head,
    h("p", { class: "toolbar-line" }, `${call.line.name} · `,
      call.ivr.branch ? h("span", {
        class: "ivr-branch", text: call.ivr.branch,
        title: call.ivr.path ? `IVR path: ${call.ivr.path}` : null,
      }) : "no IVR"),
    h("div", { class: "buttons" }, buttons), status, crmElement(call.crm, options.window)];
  if (options.window) {
    parts.push(h("details", { class: "toolbar-keypad" }, h("summary", { text: "Keypad" }), keypad(call, status)));
  }
  return parts;
}

function renderToolbar(route) {
  const bar = $("toolbar");
  const call = activeCall();
  const onCallView = route.name === "call" && call && route.id === call.id;
  if (!call || onCallView || detached.has(call.id)) {
    bar.hidden = true;
    bar.replaceChildren();
    bar.dataset.callId = "";
    return;
  }
  bar.hidden = false;
  bar.dataset.callId = call.id;
  // Keep the CRM card open or closed as the agent left it.
  const wasOpen = bar.querySelector("details.crm")?.open;
  replaceKeepingFocus(bar, toolbarContent(call, { window: false }));
  const crm = bar.querySelector("details.crm");
  if (crm && wasOpen) crm.open = true;
}

function detachToolbar(call) {
  const name = `switchboard-toolbar-${call.id.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const w = window.open(`/?toolbar=${encodeURIComponent(call.id)}`, name,
    "popup,width=380,height=460");
  if (!w) {
    announce("The browser blocked the toolbar window; allow pop-ups for this page.");
    return;
  }
  detached.add(call.id);
  render();
}

const channel = "BroadcastChannel" in window ? new BroadcastChannel(CHANNEL_NAME) : null;

function broadcast(call, ended) {
  if (!channel || !detached.has(call.id)) return;
  channel.postMessage(ended ? { kind: "call-ended", callId: call.id } : { kind: "call", call });
  if (ended) detached.delete(call.id);
}

function listenAsMainPage() {
  if (!channel) return;
  channel.addEventListener("message", (e) => {
    const m = e.data || {};
    if (m.kind === "toolbar-open" || m.kind === "hello") {
      detached.add(m.callId);
      const call = calls.get(m.callId);
      channel.postMessage(call ? { kind: "call", call } : { kind: "call-ended", callId: m.callId });
      render();
    } else if (m.kind === "toolbar-closed") {
      detached.delete(m.callId);
      render();
    }
  });
  window.addEventListener("pagehide", () => channel.postMessage({ kind: "main-closing" }));
  // After a reload, toolbar windows still open say so again (their calls stay detached).
  channel.postMessage({ kind: "main-ready" });
}

/** The page opened as `?toolbar=CALL`: only the toolbar, for that call. */
async function runToolbarWindow(callId) {
  document.body.classList.add("toolbar-window");
  document.title = "Call toolbar · Switchboard";
  const bar = $("toolbar");
  bar.hidden = false;
  const show = (call) => {
    document.title = `${callerLabel(call)} · Switchboard`;
    const wasOpen = bar.querySelector("details.toolbar-keypad")?.open;
    replaceKeepingFocus(bar, toolbarContent(call, { window: true, onHungUp: ended }));
    const pad = bar.querySelector("details.toolbar-keypad");
    if (pad && wasOpen) pad.open = true;
  };
  const ended = () => {
    document.title = "Call ended · Switchboard";
    const close = h("button", { type: "button", "data-action": "close", text: "Close window" });
    close.addEventListener("click", () => window.close());
    replaceKeepingFocus(bar, [h("p", { class: "toolbar-ended", role: "status", text: "Call ended." }), close]);
    close.focus();
  };
  if (!session) {
    bar.replaceChildren(h("p", { class: "error", text: "Sign in from the console first." }));
    return;
  }
  let own = null;
  let heard = false;
  const onCall = (type, call) => {
    if (call.id !== callId) return;
    heard = true;
    if (type === "call.ended" || !isMine(call)) ended();
    else show(call);
  };
  if (channel) {
    channel.addEventListener("message", (e) => {
      const m = e.data || {};
      if (m.kind === "call" && m.call) onCall("call.updated", m.call);
      else if (m.kind === "call-ended" && m.callId === callId) { heard = true; ended(); }
      else if (m.kind === "main-closing" && !own) startOwnStream();
      else if (m.kind === "main-ready") channel.postMessage({ kind: "toolbar-open", callId });
    });
    window.addEventListener("pagehide", () => channel.postMessage({ kind: "toolbar-closed", callId }));
  }
  function startOwnStream() {
    own = new Live((type, data) => { if (data.call) onCall(type, data.call); }, async () => {
      try {
        onCall("call.updated", await api("GET", `/v1/calls/${segment(callId)}`));
      } catch (e) {
        if (e.status === 404) ended();
      }
    });
    own.start();
  }
  try {
    onCall("call.updated", await api("GET", `/v1/calls/${segment(callId)}`));
  } catch (e) {
    if (e.status === 404) ended();
    else bar.replaceChildren(h("p", { class: "error", text: `Cannot load the call: ${e.message}` }));
  }
  if (channel) {
    channel.postMessage({ kind: "toolbar-open", callId });
    // No main page answering: follow the call ourselves.
    setTimeout(() => { if (!heard && !own) startOwnStream(); }, 3000);
  } else {
    startOwnStream();
  }
  setInterval(tickTimers, 1000);
}

// ---------------------------------------------------------------------------------------------
// Conversations

let conversation = null; // { line, customer, data|null }

function renderConversationsList() {
  const list = $("recent-conversations");
  const recent = loadRecent();
  $("recent-empty").hidden = recent.length > 0;
  list.replaceChildren(...recent.map((r) => h("li", {},
    h("a", { href: conversationHash(r.line, r.customer) },
      h("strong", { text: r.name || r.customer }),
      r.name ? ` ${r.customer}` : "",
      h("span", { class: "meta", text: ` on ${r.lineName || r.line} · ${formatTime(r.at)}` })))));
}

async function loadConversation(line, customer) {
  const same = conversation && conversation.line === line && conversation.customer === customer;
  if (!same) {
    conversation = { line, customer, data: null };
    $("conversation-items").replaceChildren();
    $("message-body").value = "";
    $("message-status").textContent = "";
    $("assign-user").value = session.user;
  }
  $("conversation-error").textContent = "";
  renderConversationHeader();
  try {
    const data = await api("GET", `/v1/conversations/${segment(line)}/${segment(customer)}`);
    if (conversation.line !== line || conversation.customer !== customer) return;
    showConversation(data);
  } catch (e) {
    if (conversation.line !== line || conversation.customer !== customer) return;
    conversation.data = null;
    renderConversationHeader();
    $("conversation-items").replaceChildren(h("li", { class: "empty", text:
      e.status === 404 ? "No history with this customer yet." :
      e.status === 403 ? "This conversation is not yours to see." : `Cannot load: ${e.message}` }));
  }
}

function showConversation(data) {
  conversation.data = data;
  renderConversationHeader();
  const items = $("conversation-items");
  const list = Array.isArray(data.items) ? data.items : [];
  items.replaceChildren(...list.map(itemElement));
  if (list.length === 0) items.append(h("li", { class: "empty", text: "Nothing here yet." }));
  items.scrollTop = items.scrollHeight;
}

function renderConversationHeader() {
  const { line, customer, data } = conversation;
  const name = (data && data.customer_name) || nameFromCalls(line, customer);
  $("conversation-title").textContent = name || customer;
  const lname = lineName(line);
  const meta = [name ? customer : null, `Line ${lname ? `${lname} ` : ""}${line}`];
  if (data) {
    meta.push(data.state === "closed" ? "Closed" : "Open");
    meta.push(data.assignee ? `Assigned to ${data.assignee}` : "Unassigned");
  }
  $("conversation-meta").textContent = meta.filter(Boolean).join(" · ");
  const known = data !== null;
  $("conversation-actions").hidden = !known;
  $("conversation-close").hidden = !known || data.state === "closed";
  $("conversation-reopen").hidden = !known || data.state !== "closed";
  document.title = `${name || customer} · Switchboard`;
}

function nameFromCalls(line, customer) {
  for (const call of calls.values()) {
    if (call.line.number === line && call.caller.number === customer && call.caller.name) {
      return call.caller.name;
    }
  }
  return null;
}

const OUTCOMES = {
  missed: "Missed call",
  declined: "Declined by every agent",
  voicemail: "Voicemail",
  abandoned: "The caller hung up before an answer",
  failed: "Call failed",
};

function itemElement(item) {
  if (item.kind === "call") return callItem(item);
  if (item.kind === "message") return messageItem(item);
  if (item.kind === "log") return logItem(item);
  return h("li", { class: "log", text: `Unknown entry (${item.kind})` });
}

function callItem(c) {
  const inbound = c.direction !== "outbound";
  const outcome = c.outcome === "answered"
    ? `Answered by ${c.answered_by || "someone"} · ${formatDuration(c.duration_ms || 0)}`
    : OUTCOMES[c.outcome] || c.outcome;
  return h("li", { class: `bubble call ${inbound ? "in" : "out"} outcome-${c.outcome}` },
    h("p", { class: "bubble-title" },
      h("span", { class: "icon", "aria-hidden": "true", text: inbound ? "↙" : "↗" }),
      inbound ? "Inbound call" : "Outbound call"),
    h("p", { class: "outcome", text: outcome }),
    c.ivr_branch ? h("p", { class: "ivr" }, h("span", { class: "label", text: "IVR branch " }),
      h("span", { class: "ivr-branch", text: c.ivr_branch, title: c.ivr_path ? `IVR path: ${c.ivr_path}` : null }))
      : null,
    c.voicemail ? h("p", { class: "voicemail", text: "A voicemail was left (recording kept on the server)." }) : null,
    c.agents_rung && c.agents_rung.length ? h("p", { class: "meta", text: `Rang ${c.agents_rung.join(", ")}` }) : null,
    h("p", { class: "meta" }, h("time", { datetime: new Date(c.started_at).toISOString(), text: formatTime(c.started_at) })));
}

function messageItem(m) {
  const inbound = m.direction === "inbound";
  return h("li", { class: `bubble message ${inbound ? "in" : "out"}` },
    h("p", { class: "body", text: m.body }),
    h("p", { class: "meta" }, inbound ? "SMS from the customer · " : `SMS by ${m.author || "an agent"} · `,
      h("time", { datetime: new Date(m.at).toISOString(), text: formatTime(m.at) })));
}

function logItem(l) {
  const who = l.actor || "Switchboard";
  const detail = l.detail ? ` ${l.detail}` : "";
  const text = {
    assigned: `${who} assigned the conversation to${detail || " someone"}`,
    unassigned: `${who} unassigned the conversation`,
    closed: `${who} closed the conversation`,
    reopened: l.actor ? `${who} reopened the conversation` : "Reopened: the customer came back",
    transferred: `${who} transferred the call${l.detail ? ` to ${l.detail}` : ""}`,
    declined: `${who} declined the call`,
  }[l.action] || `${who}: ${l.action}${detail}`;
  return h("li", { class: "log" }, h("span", { text }), " · ",
    h("time", { datetime: new Date(l.at).toISOString(), text: formatTime(l.at) }));
}

function conversationChanged(value) {
  if (!conversation) return;
  const route = parseRoute();
  if (route.name !== "conversation") return;
  // A conversation event names its line and customer; a message may not: re-read either way
  // unless it is clearly about another conversation.
  if (value && value.line && value.customer &&
      (value.line !== conversation.line || value.customer !== conversation.customer)) return;
  if (value && Array.isArray(value.items) && value.line) showConversation(value);
  else loadConversation(conversation.line, conversation.customer);
}

function setupConversationForms() {
  const path = (action) =>
    `/v1/conversations/${segment(conversation.line)}/${segment(conversation.customer)}/${action}`;
  const status = $("conversation-error");
  $("assign-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const user = $("assign-user").value.trim() || session.user;
    const button = e.target.querySelector("button");
    act(button, status, async () => showConversation(await api("POST", path("assign"), { user })));
  });
  $("conversation-close").addEventListener("click", (e) =>
    act(e.currentTarget, status, async () => {
      showConversation(await api("POST", path("close"), {}));
      $("conversation-reopen").focus();
    }));
  $("conversation-reopen").addEventListener("click", (e) =>
    act(e.currentTarget, status, async () => {
      showConversation(await api("POST", path("reopen"), {}));
      $("conversation-close").focus();
    }));
  const form = $("message-form");
  const body = $("message-body");
  const send = form.querySelector("button");
  const messageStatus = $("message-status");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = body.value.trim();
    if (!text) {
      messageStatus.textContent = "Write a message first.";
      body.focus();
      return;
    }
    const target = { line: conversation.line, customer: conversation.customer };
    act(send, messageStatus, async () => {
      messageStatus.textContent = "Sending…";
      await api("POST", `/v1/conversations/${segment(target.line)}/${segment(target.customer)}/messages`,
        { body: text });
      body.value = "";
      messageStatus.textContent = "Sent.";
      if (conversation.line === target.line && conversation.customer === target.customer) {
        loadConversation(target.line, target.customer);
      }
    });
  });
  body.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  $("open-conversation-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const line = $("open-line").value.trim();
    const customer = $("open-customer").value.trim();
    if (line && customer) location.hash = conversationHash(line, customer);
  });
}

// ---------------------------------------------------------------------------------------------
// Home: the agent's calls in progress

function renderHome() {
  const list = [...calls.values()].sort((a, b) => a.created_at - b.created_at);
  $("home-empty").hidden = list.length > 0;
  $("home-calls").replaceChildren(...list.map((call) => {
    const me = myAgent(call);
    const state = isMine(call) ? (call.state === "held" ? "On hold with you" : "With you")
      : call.answered_by ? `Answered by ${call.answered_by}`
      : me ? (me.state === "ringing" ? "Ringing you" : `You: ${me.state}`) : call.state;
    return h("li", { class: "call-row" },
      h("div", {}, h("strong", { text: callerLabel(call) }),
        call.caller.name ? ` ${call.caller.number}` : "",
        h("p", { class: "meta", text: `${call.line.name} ${call.line.number} · ${state}` +
          (call.ivr.branch ? ` · IVR ${call.ivr.branch}` : "") })),
      isMine(call) ? h("a", { class: "button", href: `#/call/${encodeURIComponent(call.id)}`, text: "Call view" }) : null,
      h("a", { class: "button", href: conversationHash(call.line.number, call.caller.number), text: "Conversation" }));
  }));
}

// ---------------------------------------------------------------------------------------------
// Routing and rendering

function parseRoute() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts[0] === "call" && parts[1]) return { name: "call", id: parts[1] };
  if (parts[0] === "conversation" && parts[1] && parts[2]) {
    return { name: "conversation", line: parts[1], customer: parts[2] };
  }
  if (parts[0] === "conversations") return { name: "conversations" };
  return { name: "home" };
}

const VIEWS = ["sign-in-view", "home-view", "call-view", "conversations-view", "conversation-view"];

function showView(id) {
  for (const v of VIEWS) $(v).hidden = v !== id;
}

function render() {
  if (!session) {
    showView("sign-in-view");
    $("nav").hidden = true;
    $("identity").hidden = true;
    $("toolbar").hidden = true;
    renderPopupsSafely();
    return;
  }
  $("nav").hidden = false;
  $("identity").hidden = false;
  const route = parseRoute();
  for (const a of $("nav").querySelectorAll("a")) {
    const current = (a.getAttribute("href") === "#/" && route.name === "home") ||
      (a.getAttribute("href") === "#/conversations" &&
        (route.name === "conversations" || route.name === "conversation"));
    if (current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (route.name === "call") {
    showView("call-view");
    renderCallView(route.id);
  } else if (route.name === "conversation") {
    showView("conversation-view");
    if (conversation) renderConversationHeader();
  } else if (route.name === "conversations") {
    showView("conversations-view");
    renderConversationsList();
  } else {
    showView("home-view");
    renderHome();
  }
  if (route.name !== "conversation") document.title = "Switchboard";
  renderPopups();
  renderToolbar(route);
}

function renderPopupsSafely() {
  for (const el of popups.values()) el.remove();
  popups.clear();
}

function onRouteChange() {
  const route = parseRoute();
  if (session && route.name === "conversation") loadConversation(route.line, route.customer);
  render();
  // Move focus to the new view's heading so a screen reader hears where they are.
  const view = VIEWS.map($).find((v) => !v.hidden);
  const heading = view && view.querySelector("h1");
  if (heading && !document.activeElement?.closest(".popup, .toolbar")) {
    heading.setAttribute("tabindex", "-1");
    heading.focus();
  }
}

// ---------------------------------------------------------------------------------------------
// Sign in / out, availability

let live = null;

function startSession() {
  $("who").textContent = session.user;
  updateAvailability(sessionStorage.getItem(AVAILABILITY_KEY) !== "false");
  updateNotificationButton();
  live = new Live(handleEvent, resync);
  live.start();
  const route = parseRoute();
  if (route.name === "conversation") loadConversation(route.line, route.customer);
  render();
}

function signOut(reason) {
  if (live) live.stop();
  live = null;
  for (const id of notifications.keys()) closeNotification(id);
  session = null;
  calls.clear();
  conversation = null;
  callView = null;
  sessionStorage.removeItem(SESSION_KEY);
  setConnection("", "");
  $("sign-in-error").textContent = reason || "";
  render();
  $("sign-in-user").focus();
}

function setupSignIn() {
  $("sign-in-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const user = $("sign-in-user").value.trim();
    const token = $("sign-in-token").value.trim();
    const error = $("sign-in-error");
    if (!user || !token) {
      error.textContent = "Enter your user id and your API token.";
      (user ? $("sign-in-token") : $("sign-in-user")).focus();
      return;
    }
    // A user gesture: the one moment a browser lets us ask for notifications.
    askNotificationPermission();
    const button = e.target.querySelector("button");
    button.disabled = true;
    error.textContent = "";
    session = { user, token };
    try {
      // Checks the token, and that it belongs to this user (a user token naming another user
      // is refused; an admin token must name a known user).
      await api("GET", `/v1/calls?user=${encodeURIComponent(user)}`);
    } catch (err) {
      session = null;
      error.textContent = err.status === 401 ? "This token is not valid."
        : err.status === 403 ? `This token does not belong to ${user}.`
        : err.status === 404 ? `There is no user ${user}.` : `Cannot sign in: ${err.message}`;
      button.disabled = false;
      return;
    }
    button.disabled = false;
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    $("sign-in-token").value = "";
    startSession();
    const heading = $("home-title");
    if (!heading.closest("[hidden]")) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("notifications").addEventListener("click", askNotificationPermission);
  $("availability").addEventListener("click", async (e) => {
    const button = e.currentTarget;
    const next = button.getAttribute("aria-pressed") !== "true";
    button.disabled = true;
    try {
      await api("POST", `/v1/users/${segment(session.user)}/availability`, { available: next });
      updateAvailability(next);
      announce(next ? "You are available for calls." : "You are away: no call will ring you.");
    } catch (err) {
      announce(`Could not change availability: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  });
}

function updateAvailability(available) {
  sessionStorage.setItem(AVAILABILITY_KEY, available ? "true" : "false");
  const button = $("availability");
  button.setAttribute("aria-pressed", available ? "true" : "false");
  button.textContent = available ? "Available" : "Away";
  button.title = available ? "Calls ring you. Press to go away." : "No call rings you. Press to become available.";
}

// ---------------------------------------------------------------------------------------------
// Boot

function boot() {
  const toolbarCall = new URLSearchParams(location.search).get("toolbar");
  if (toolbarCall) {
    runToolbarWindow(toolbarCall);
    return;
  }
  setupSignIn();
  setupConversationForms();
  listenAsMainPage();
  window.addEventListener("hashchange", onRouteChange);
  setInterval(tickTimers, 1000);
  if (session) startSession();
  else render();
}

boot();
