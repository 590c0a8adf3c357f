// The Mica web wallet and explorer. It reads and writes only through the node
// service's system GraphQL endpoint ("/") and its notifications subscription.
//
// Everything shown comes from chains, and much of it (operation summaries,
// application descriptions, message JSON) is written by whoever sent a block
// or built an application. It is therefore only ever set as text
// (textContent), never parsed as HTML, and links are built from ids this page
// checks, never taken as given.

import { initToken, getToken, setToken, query, queryPartial, Subscriptions } from "./gql.js";

const MAX_FEED = 50; // entries kept in each live list
const BLOCKS_SHOWN = 10;

const WALLET_QUERY = `query WalletChains {
  wallet { defaultChain owners chains { chainId owner isDefault nextHeight balance } }
}`;

const CHAIN_QUERY = `query ChainPanel($chain: ChainID, $limit: Int) {
  chain(chain: $chain) {
    chainId balance epoch nextHeight tipHash timestamp closed
    ownerBalances { owner balance }
    ownership { superOwners owners { owner weight } multiLeaderRounds open }
    inbox { pendingBundles bundles { origin height transactionIndex messages summary } }
    outbox { targets pendingHeights }
    applications { applicationId description link }
    blocks(limit: $limit) { height hash timestamp operations { kind } incomingBundles { origin } }
  }
}`;

const BLOCK_FIELDS = `chainId height hash previousHash timestamp epoch authenticatedOwner round
  operations { index kind applicationId summary json }
  incomingBundles { origin height action messages { destination kind applicationId summary json } }
  outgoingMessages { destination kind applicationId summary json }
  events { streamApplication streamName index valueBase64 }
  certificate { hash kind round signatures }`;

const BLOCK_BY_HEIGHT = `query BlockByHeight($chain: ChainID, $height: Int64) {
  block(chain: $chain, height: $height) { ${BLOCK_FIELDS} }
}`;

const INCOMING_OF_BLOCK = `query IncomingOfBlock($chain: ChainID, $height: Int64) {
  block(chain: $chain, height: $height) {
    height incomingBundles { origin height action messages { kind summary } }
  }
}`;

const TRANSFER = `mutation Transfer($chain: ChainID, $recipient: Account!, $amount: Amount!) {
  transfer(chain: $chain, recipient: $recipient, amount: $amount) { chainId height hash }
}`;

const PROCESS_INBOX = `mutation ProcessInbox($chain: ChainID) {
  processInbox(chain: $chain) { chainId height hash }
}`;

const NOTIFICATIONS = `subscription Notifications {
  notifications { chainId kind height hash origin round }
}`;

const state = {
  chains: [], // WalletChain objects from the last wallet query
  selected: null, // chain id shown in the chain panel
  defaultChain: null,
};

const $ = (id) => document.getElementById(id);

// el builds an element; text children are text nodes, never HTML.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// Identifiers are hex (possibly with a scheme prefix or an @): anything else is
// not used in a link or an element id.
const ID_RE = /^[A-Za-z0-9:@._-]{1,300}$/;
function safeId(s) {
  return typeof s === "string" && ID_RE.test(s) ? s : null;
}

function short(id) {
  if (typeof id !== "string") return "";
  return id.length > 16 ? id.slice(0, 10) + "…" + id.slice(-4) : id;
}

function idSpan(id) {
  return el("span", { class: "id", title: id, "data-full": id }, short(id));
}

function formatTime(micros) {
  if (typeof micros !== "number" || !isFinite(micros) || micros <= 0) return "";
  const d = new Date(micros / 1000);
  return isNaN(d.getTime()) ? "" : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

function blockHref(chain, height) {
  const c = safeId(chain);
  if (!c || !Number.isSafeInteger(height) || height < 0) return null;
  return "#/block/" + encodeURIComponent(c) + "/" + height;
}

function blockLink(chain, height, text) {
  const href = blockHref(chain, height);
  return href ? el("a", { href, class: "block-link" }, text) : el("span", {}, text);
}

function showError(node, err) {
  if (!err) {
    node.hidden = true;
    node.textContent = "";
    return;
  }
  node.textContent = err.message || String(err);
  node.hidden = false;
}

function pushFeed(list, item) {
  const empty = list.querySelector(".empty");
  if (empty) empty.remove();
  list.prepend(item);
  while (list.children.length > MAX_FEED) list.lastElementChild.remove();
}

// ---- wallet chains ----

async function loadWallet() {
  const data = await query(WALLET_QUERY);
  const w = data.wallet;
  state.chains = w.chains || [];
  state.defaultChain = w.defaultChain;
  if (!state.selected || !state.chains.some((c) => c.chainId === state.selected)) {
    state.selected = w.defaultChain || (state.chains[0] && state.chains[0].chainId) || null;
  }
  renderChains();
  renderTransferFrom();
}

function renderChains() {
  const body = $("chains-body");
  body.replaceChildren();
  if (state.chains.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: 4 }, "The wallet has no chains yet.")));
    return;
  }
  for (const c of state.chains) {
    const id = safeId(c.chainId);
    const select = el("button", { type: "button", class: "chain-select", "data-chain": id, "aria-pressed": c.chainId === state.selected ? "true" : "false" }, idSpan(c.chainId));
    select.addEventListener("click", () => selectChain(c.chainId));
    const row = el(
      "tr",
      { id: id ? "chain-" + id : null, "data-chain": id, class: c.chainId === state.selected ? "selected" : null },
      el("td", {}, select, c.isDefault ? el("span", { class: "badge" }, "default") : null),
      el("td", {}, c.owner ? idSpan(c.owner) : el("span", { class: "muted" }, "read-only")),
      el("td", { class: "num balance", id: id ? "balance-" + id : null }, c.balance),
      el("td", { class: "num next-height" }, String(c.nextHeight)),
    );
    body.append(row);
  }
}

function renderTransferFrom() {
  const sel = $("transfer-from");
  const previous = sel.value;
  sel.replaceChildren();
  for (const c of state.chains) {
    if (!c.owner) continue; // read-only chains cannot sign
    sel.append(el("option", { value: c.chainId }, short(c.chainId) + " — balance " + c.balance + (c.isDefault ? " (default)" : "")));
  }
  if (sel.options.length === 0) sel.append(el("option", { value: "" }, "No chain of this wallet can sign"));
  if ([...sel.options].some((o) => o.value === previous)) sel.value = previous;
  else if (state.defaultChain && [...sel.options].some((o) => o.value === state.defaultChain)) sel.value = state.defaultChain;
}

// ---- chain panel ----

async function selectChain(chain) {
  state.selected = chain;
  renderChains();
  await loadChainPanel();
}

async function loadChainPanel() {
  const chain = state.selected;
  if (!chain) return;
  $("selected-chain").replaceChildren(idSpan(chain));
  let c;
  try {
    const { data, errors } = await queryPartial(CHAIN_QUERY, { chain, limit: BLOCKS_SHOWN });
    // Show what came back; a field the node could not answer is reported.
    showError($("chain-error"), errors);
    c = data.chain;
  } catch (e) {
    showError($("chain-error"), e);
    return;
  }
  if (state.selected !== chain || !c) return; // another chain was chosen meanwhile
  const dl = $("chain-details");
  dl.replaceChildren();
  const add = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, v));
  add("Balance", el("span", { id: "chain-balance" }, c.balance));
  add("Next height", String(c.nextHeight));
  add("Epoch", String(c.epoch));
  add("Tip", c.tipHash ? idSpan(c.tipHash) : "none");
  if (c.timestamp) add("Last block time", formatTime(c.timestamp));
  add("Closed", c.closed ? "yes" : "no");
  const own = c.ownership || {};
  add("Owners", (own.owners || []).length === 0 && (own.superOwners || []).length === 0 ? (own.open ? "open chain" : "none") : el("span", {}, ...[...(own.superOwners || []).map((o) => el("span", { class: "owner" }, idSpan(o), " (super) ")), ...(own.owners || []).map((o) => el("span", { class: "owner" }, idSpan(o.owner), " weight " + o.weight + " "))]));
  if ((c.ownerBalances || []).length > 0) {
    add("Owner balances", el("ul", { class: "plain" }, ...c.ownerBalances.map((b) => el("li", {}, idSpan(b.owner), ": " + b.balance))));
  }
  if (c.outbox) add("Outbox", c.outbox.targets + " targets, " + c.outbox.pendingHeights + " heights pending");

  renderBlocks(chain, c.blocks || []);
  if (c.inbox) renderInbox(c.inbox);
  renderApplications(chain, c.applications || []);
}

function renderBlocks(chain, blocks) {
  const body = $("blocks-body");
  body.replaceChildren();
  if (blocks.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: 5 }, "No blocks yet.")));
    return;
  }
  for (const b of blocks) {
    body.append(
      el(
        "tr",
        { class: "block-row", id: safeId(chain) ? "block-" + chain + "-" + b.height : null, "data-height": b.height },
        el("td", { class: "num" }, blockLink(chain, b.height, String(b.height))),
        el("td", {}, idSpan(b.hash)),
        el("td", {}, formatTime(b.timestamp)),
        el("td", { class: "num" }, String((b.operations || []).length)),
        el("td", { class: "num" }, String((b.incomingBundles || []).length)),
      ),
    );
  }
}

function renderInbox(inbox) {
  $("inbox-summary").textContent = inbox.pendingBundles === 0 ? "No pending messages." : inbox.pendingBundles + " pending bundle(s).";
  const list = $("inbox");
  list.replaceChildren();
  for (const b of inbox.bundles || []) {
    list.append(el("li", { class: "inbox-bundle" }, "From ", idSpan(b.origin), " at height " + b.height + ": " + b.summary + " (" + b.messages + " message(s))"));
  }
  $("process-inbox").disabled = inbox.pendingBundles === 0;
}

function renderApplications(chain, apps) {
  const list = $("applications");
  list.replaceChildren();
  if (apps.length === 0) {
    list.append(el("li", { class: "empty" }, "No applications on this chain."));
    return;
  }
  for (const a of apps) {
    const c = safeId(chain);
    const app = safeId(a.applicationId);
    // The link is built here from checked ids; the server's link must agree.
    const href = c && app ? "/chains/" + encodeURIComponent(c) + "/applications/" + encodeURIComponent(app) : null;
    const desc = a.description === null || a.description === undefined ? "" : typeof a.description === "string" ? a.description : JSON.stringify(a.description);
    list.append(
      el(
        "li",
        { class: "application", "data-application": app },
        idSpan(a.applicationId),
        " ",
        href ? el("a", { href, class: "graphiql-link" }, "GraphiQL") : null,
        desc ? el("span", { class: "muted description" }, " " + desc.slice(0, 200)) : null,
      ),
    );
  }
}

// ---- transfer form ----

const AMOUNT_RE = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

function validateTransfer(from, recipient, amount) {
  if (!from) return "Choose the chain to send from.";
  if (!recipient) return "Enter a recipient: a chain id, or owner@chain.";
  if (/\s/.test(recipient)) return "The recipient must not contain spaces.";
  if (!safeId(recipient)) return "The recipient is not a chain id or owner@chain.";
  if (!amount) return "Enter an amount.";
  if (!AMOUNT_RE.test(amount)) return "The amount must be a positive decimal number, like 10 or 0.5.";
  if (!/[1-9]/.test(amount)) return "The amount must be more than zero.";
  return null;
}

async function onTransfer(ev) {
  ev.preventDefault();
  const from = $("transfer-from").value;
  const recipient = $("transfer-recipient").value.trim();
  const amount = $("transfer-amount").value.trim();
  const errNode = $("transfer-error");
  const okNode = $("transfer-result");
  showError(errNode, null);
  okNode.hidden = true;
  const problem = validateTransfer(from, recipient, amount);
  if (problem) {
    showError(errNode, new Error(problem));
    return;
  }
  const button = $("transfer-submit");
  button.disabled = true;
  button.textContent = "Sending…";
  try {
    const r = (await query(TRANSFER, { chain: from, recipient, amount })).transfer;
    okNode.replaceChildren("Sent " + amount + " to ", idSpan(recipient), " in ", blockLink(r.chainId, r.height, "block " + r.height), " (", idSpan(r.hash), ").");
    okNode.hidden = false;
    $("transfer-amount").value = "";
    refreshSoon();
  } catch (e) {
    showError(errNode, new Error("Transfer failed: " + e.message));
  } finally {
    button.disabled = false;
    button.textContent = "Send";
  }
}

async function onProcessInbox() {
  const chain = state.selected;
  const errNode = $("inbox-error");
  showError(errNode, null);
  $("process-inbox").disabled = true;
  try {
    await query(PROCESS_INBOX, { chain });
  } catch (e) {
    showError(errNode, new Error("Processing the inbox failed: " + e.message));
  }
  refreshSoon();
}

// ---- block lookup and block view ----

function onLookup(ev) {
  ev.preventDefault();
  const chain = $("lookup-chain").value.trim();
  const height = $("lookup-height").value.trim();
  const errNode = $("lookup-error");
  showError(errNode, null);
  if (!safeId(chain)) {
    showError(errNode, new Error("Enter a chain id."));
    return;
  }
  if (height !== "" && !/^\d{1,15}$/.test(height)) {
    showError(errNode, new Error("The height must be a whole number."));
    return;
  }
  window.location.hash = "#/block/" + encodeURIComponent(chain) + (height === "" ? "" : "/" + height);
}

async function showBlock(chain, height) {
  $("wallet-view").hidden = true;
  $("block-view").hidden = false;
  const errNode = $("block-error");
  showError(errNode, null);
  $("block-title").textContent = "Block " + (height === null ? "(latest)" : height);
  for (const id of ["block-header", "block-nav", "block-operations-body", "block-incoming", "block-messages", "block-events", "block-certificate"]) $(id).replaceChildren();
  let b;
  try {
    b = (await query(BLOCK_BY_HEIGHT, height === null ? { chain } : { chain, height })).block;
  } catch (e) {
    showError(errNode, e);
    return;
  }
  if (!b) {
    showError(errNode, new Error("No block " + (height === null ? "yet" : "at height " + height) + " on chain " + chain + "."));
    return;
  }
  renderBlock(b);
}

function renderBlock(b) {
  $("block-title").textContent = "Block " + b.height + " of chain " + short(b.chainId);
  const dl = $("block-header");
  const add = (k, v) => dl.append(el("dt", {}, k), el("dd", {}, v));
  add("Chain", el("span", { class: "id", id: "block-chain" }, b.chainId));
  add("Height", el("span", { id: "block-height" }, String(b.height)));
  add("Hash", el("span", { class: "id", id: "block-hash" }, b.hash));
  add("Previous", b.previousHash ? el("span", { class: "id" }, b.previousHash) : "none (first block)");
  add("Time", formatTime(b.timestamp));
  add("Epoch", String(b.epoch));
  add("Round", b.round);
  add("Signed by", b.authenticatedOwner ? el("span", { class: "id" }, b.authenticatedOwner) : "nobody (no operations)");

  const nav = $("block-nav");
  if (b.height > 0) nav.append(blockLink(b.chainId, b.height - 1, "← previous block"), " ");
  nav.append(blockLink(b.chainId, b.height + 1, "next block →"));

  const ops = $("block-operations-body");
  if ((b.operations || []).length === 0) ops.append(el("tr", {}, el("td", { colspan: 4 }, "No operations.")));
  for (const op of b.operations || []) {
    ops.append(
      el(
        "tr",
        { class: "operation", "data-kind": op.kind },
        el("td", { class: "num" }, String(op.index)),
        el("td", { class: "op-kind" }, op.kind),
        el("td", {}, op.applicationId ? idSpan(op.applicationId) : el("span", { class: "muted" }, "system")),
        el("td", { class: "op-summary" }, op.summary, jsonDetails(op.json)),
      ),
    );
  }

  const inc = $("block-incoming");
  if ((b.incomingBundles || []).length === 0) inc.append(el("li", { class: "empty" }, "None."));
  for (const bundle of b.incomingBundles || []) {
    inc.append(el("li", { class: "incoming-bundle" }, bundle.action + " from ", blockLink(bundle.origin, bundle.height, short(bundle.origin) + " block " + bundle.height), messageList(bundle.messages)));
  }
  const out = $("block-messages");
  if ((b.outgoingMessages || []).length === 0) out.append(el("li", { class: "empty" }, "None."));
  for (const m of b.outgoingMessages || []) out.append(messageItem(m));
  const ev = $("block-events");
  if ((b.events || []).length === 0) ev.append(el("li", { class: "empty" }, "None."));
  for (const e of b.events || []) {
    ev.append(el("li", { class: "event" }, (e.streamApplication ? short(e.streamApplication) : "system") + " / " + e.streamName + " #" + e.index + ": " + e.valueBase64.length + " base64 characters"));
  }
  const cert = $("block-certificate");
  const c = b.certificate || {};
  cert.append(el("dt", {}, "Kind"), el("dd", {}, c.kind), el("dt", {}, "Round"), el("dd", {}, c.round), el("dt", {}, "Signatures"), el("dd", { id: "block-signatures" }, String(c.signatures)), el("dt", {}, "Hash"), el("dd", { class: "id" }, c.hash));
}

function messageItem(m) {
  return el("li", { class: "message" }, m.destination ? el("span", {}, "to ", idSpan(m.destination), ": ") : null, m.kind + (m.applicationId ? " (" + short(m.applicationId) + ")" : "") + " — " + m.summary, jsonDetails(m.json));
}

function messageList(messages) {
  if (!messages || messages.length === 0) return null;
  return el("ul", {}, ...messages.map(messageItem));
}

function jsonDetails(json) {
  if (json === null || json === undefined) return null;
  let text;
  try {
    text = JSON.stringify(json, null, 2);
  } catch (e) {
    return null;
  }
  if (text.length > 20000) text = text.slice(0, 20000) + "\n…";
  return el("details", {}, el("summary", {}, "JSON"), el("pre", {}, text));
}

// ---- live notifications ----

let refreshTimer = null;
// refreshSoon coalesces the refreshes a burst of notifications asks for.
function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(async () => {
    refreshTimer = null;
    try {
      await loadWallet();
      showError($("page-error"), null);
    } catch (e) {
      showError($("page-error"), e);
    }
    if (!$("wallet-view").hidden) await loadChainPanel();
  }, 150);
}

function onNotification(n) {
  const chain = safeId(n.chainId);
  if (!chain) return;
  const ours = state.chains.some((c) => c.chainId === chain);
  switch (n.kind) {
    case "NEW_BLOCK":
      pushFeed($("activity"), el("li", { class: "notification new-block", "data-chain": chain, "data-height": n.height }, "New block ", blockLink(chain, n.height, String(n.height)), " on ", idSpan(chain)));
      showIncoming(chain, n.height);
      break;
    case "NEW_INCOMING_BUNDLE":
      pushFeed($("activity"), el("li", { class: "notification new-incoming-bundle", "data-chain": chain }, "Incoming messages for ", idSpan(chain), n.origin ? el("span", {}, " from ", idSpan(n.origin)) : null));
      break;
    default:
      return; // rounds and events do not change what the page shows
  }
  if (ours || chain === state.selected) refreshSoon();
}

// showIncoming lists what a new block received (transfers among them).
async function showIncoming(chain, height) {
  let b;
  try {
    b = (await query(INCOMING_OF_BLOCK, { chain, height })).block;
  } catch (e) {
    return; // the block view will show the error if the user opens it
  }
  if (!b) return;
  for (const bundle of b.incomingBundles || []) {
    for (const m of bundle.messages || []) {
      pushFeed($("incoming"), el("li", { class: "incoming", "data-chain": chain, "data-height": b.height }, blockLink(chain, b.height, "Block " + b.height), " on ", idSpan(chain), " received from ", idSpan(bundle.origin), ": " + m.summary + (bundle.action && bundle.action.toUpperCase() !== "ACCEPT" ? " (" + bundle.action + ")" : "")));
    }
  }
}

const LIVE_TEXT = {
  live: "Live",
  connecting: "Connecting…",
  offline: "Offline, reconnecting…",
  refused: "Live updates refused: check the access token",
};

function setLive(stateName) {
  const node = $("live-status");
  node.dataset.state = stateName;
  node.textContent = LIVE_TEXT[stateName] || stateName;
}

// ---- routing and start ----

function route() {
  const m = /^#\/block\/([^/]+)(?:\/(\d{1,15}))?$/.exec(window.location.hash);
  if (m) {
    const chain = decodeURIComponent(m[1]);
    if (safeId(chain)) {
      showBlock(chain, m[2] === undefined ? null : Number(m[2]));
      return;
    }
  }
  $("block-view").hidden = true;
  $("wallet-view").hidden = false;
  loadChainPanel();
}

function renderTokenState() {
  $("token-state").textContent = getToken() ? "A token is set for this tab." : "No token set.";
}

async function start() {
  initToken();
  renderTokenState();
  let subs = null;
  const tokenChanged = () => {
    renderTokenState();
    if (subs) subs.reconnect();
    refreshSoon();
  };
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken($("token-input").value.trim());
    $("token-input").value = "";
    tokenChanged();
  });
  $("token-forget").addEventListener("click", () => {
    setToken("");
    tokenChanged();
  });
  $("transfer-form").addEventListener("submit", onTransfer);
  $("lookup-form").addEventListener("submit", onLookup);
  $("process-inbox").addEventListener("click", onProcessInbox);
  window.addEventListener("hashchange", route);

  try {
    await loadWallet();
    // Time from navigation to the balances on screen (devtools, tests).
    if (window.performance && performance.mark) performance.mark("mica-wallet-shown");
  } catch (e) {
    showError($("page-error"), e);
  }
  route();

  subs = new Subscriptions("/", { onStatus: setLive, onReconnect: refreshSoon });
  // The service ends the stream of a subscriber that fell too far behind (a
  // DROPPED notification, then complete): subscribe again and reload what
  // may have been missed. After an error, wait longer before trying again.
  const listen = () => {
    let ended = false;
    const again = (delay) => {
      if (ended) return;
      ended = true;
      setTimeout(() => {
        listen();
        refreshSoon();
      }, delay);
    };
    subs.subscribe(NOTIFICATIONS, {}, {
      next: (data) => data && data.notifications && onNotification(data.notifications),
      error: (msg) => {
        showError($("page-error"), new Error("Live updates failed: " + msg));
        again(10000);
      },
      complete: () => again(1000),
    });
  };
  listen();
  document.body.dataset.ready = "true";
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
