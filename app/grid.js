// The review grid: one Streamlit component (st.components.v2) that draws every card, the
// relabel menu and the larger view of one sample from `data`, and handles the keys (listed
// in the app above the grid). One element instead of ~10 Streamlit widgets per card is what
// makes the page fast.
//
// Actions go back as a queue. Streamlit keeps only the newest pending value of a trigger,
// and the grid moves on at once, so every send carries all actions not yet acknowledged,
// each numbered in this tab (G.client, seq); the server applies each number once and the
// next drawing acknowledges them (data.acks) or says why one was refused (data.refused).
// Unacknowledged actions are sent again after a pause. A key that would act on a sample the
// reviewer cannot see yet (the next page, the next sample of the larger view still loading)
// is refused on screen, never guessed.
//
// data: {run, shown_html, keys_html, page, pages, columns, cards: [card], classes: [name],
//        digit_keys: {key: name}, focus, focus_seq, detail: null | {...}, acks: {client: seq},
//        refused: [{client, seq, id, text}]}
// action: {seq, type: accept|keep|relabel|none|clear|undo|page|open|close|image, id, label,
//          delta, key}. Sample ids travel as strings.

const G = (window.__labelcleanGrid = window.__labelcleanGrid || {});
G.client = G.client || `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
G.seq = G.seq || 0;
G.queue = G.queue || [];
G.images = G.images || new Map();  // the larger view's pictures by image_key, newest last
G.asked = G.asked || new Set();
G.shownRefused = G.shownRefused || 0;
G.refusedCount = G.refusedCount || 0;

const KEEP_IMAGES = 32;  // as many as app/grid.py takes the browser to hold
const RESEND_MS = 2000;
const DECISIONS = new Set(["accept", "keep", "relabel", "none", "clear"]);
const PENDING_TEXT = { accept: "accepting", keep: "keeping", relabel: "relabelling", none: "fits no class", clear: "clearing" };

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
// Whole percent, never "0%" or "100%" for what is merely unlikely or likely.
const pct = (p) => (p < 0.005 ? "<1%" : p > 0.995 ? ">99%" : `${Math.round(100 * p)}%`);
const num = (n) => Number(n).toLocaleString("en");

// --- the cards -----------------------------------------------------------------------------

function classKeys(c) {
  // A: the suggestion; S and D: the next classes the card lists; K: the given label.
  const keys = {};
  const free = ["S", "D"];
  for (const row of c.classes) {
    if (row.name === c.suggested) keys[row.name] = "A";
    else if (free.length) keys[row.name] = free.shift();
    else if (row.given) keys[row.name] = "K";
  }
  return keys;
}

function classRows(c) {
  const keys = classKeys(c);
  return c.classes.map((row) => {
    const kind = row.name === c.suggested ? " lc-top1" : row.given ? " lc-given-row" : "";
    const title = `${row.name}: ${(100 * row.prob).toFixed(1)}% chance that it is the true class` +
      (row.given ? " (the given label)" : "") + (keys[row.name] ? `, key ${keys[row.name]}` : "");
    return `<div class="lc-class${kind}${row.given && c.flagged ? " lc-doubt" : ""}" title="${esc(title)}">` +
      `<span class="lc-fill" style="width:${(100 * row.prob).toFixed(1)}%"></span>` +
      `<kbd>${keys[row.name] ?? ""}</kbd><span class="lc-cname">${esc(row.name)}</span>` +
      (row.given ? `<span class="lc-tag">given</span>` : "") + `<span class="lc-p">${pct(row.prob)}</span></div>`;
  }).join("");
}

function moreNumbers(c) {
  return `network: given ${c.given} ${(100 * c.given_net).toFixed(1)}%, suggested ${c.suggested} ` +
    `${(100 * c.suggested_net).toFixed(1)}% · mislabel probability ${c.mislabel_prob.toFixed(3)} · ` +
    `loss ${c.loss.toFixed(3)} (rank ${num(c.rank)})` +
    (c.gain === null ? "" : ` · a review is expected to add ${c.gain.toFixed(2)} right labels`);
}

function picture(c, big) {
  if (c.image) {
    const size = big && c.width ? ` width="${c.width}" height="${c.height}"` : "";
    return `<img class="${c.sharp ? "lc-sharp" : ""}" src="${c.image}" alt="${esc(c.name)}"${size} draggable="false">`;
  }
  const p = c.placeholder || { kind: "missing", title: "Loading", detail: "", tooltip: "" };
  return `<div class="lc-noimg lc-${esc(p.kind)}" title="${esc(p.tooltip)}"><div><b>${esc(p.title)}</b>` +
    `<br>${esc(p.detail)}</div></div>`;
}

function decisionLine(c, ui) {
  const pending = lastQueued(c.id);
  if (pending) return `<div class="lc-dec lc-saving">… ${esc(PENDING_TEXT[pending.type])}` +
    `${pending.label ? ` → ${esc(pending.label)}` : ""}</div>`;
  const refused = ui.refusedIds.get(c.id);
  if (refused) return `<div class="lc-dec lc-not-saved" title="${esc(refused)}">✕ not saved</div>`;
  return c.decision ? `<div class="lc-dec">✓ ${esc(c.decision)}</div>` : "";
}

function cardHtml(c, ui) {
  return `<div class="lc-pic" data-act="open" title="Larger view (Enter)">${picture(c, false)}</div>` +
    `<div class="lc-meta"><b class="${c.flagged ? "lc-flagged" : ""}" title="${c.flagged ? "flagged" : "not flagged"}: ` +
    `place ${num(c.pos)} in this order">#${num(c.pos)}</b> · <span title="${esc(c.source)}">${esc(c.name)}</span>` +
    `<span class="lc-info" title="${esc(moreNumbers(c))}">i</span></div>` +
    `<div class="lc-classes">${classRows(c)}</div>` + decisionLine(c, ui) +
    `<div class="lc-actions"><button data-act="accept" class="${!c.decision && !c.same ? "lc-primary" : ""}" ` +
    `title="Accept the suggestion: ${esc(c.suggested)} (A)">Accept</button>` +
    `<button data-act="keep" title="Keep the given label: ${esc(c.given)} (K)">Keep</button>` +
    `<button data-act="menu" title="Relabel, fits no class, clear (R)">⋯</button></div>`;
}

function menuHtml(d, c) {
  const keyOf = Object.fromEntries(Object.entries(d.digit_keys).map(([k, name]) => [name, k]));
  const chips = d.classes.map((name) => `<button data-act="relabel" data-label="${esc(name)}" title="${esc(name)}" ` +
    `class="${name === c.suggested ? "lc-primary" : ""}">${keyOf[name] !== undefined ?
      `<kbd>${esc(keyOf[name])}</kbd> ` : ""}<span class="lc-cname">${esc(name)}</span></button>`).join("");
  return `<div class="lc-menu-title">Relabel #${num(c.pos)} to</div>` +
    `<div class="lc-chips">${chips}</div>` +
    `<input class="lc-type" list="lc-class-list" placeholder="type a class name, Enter" autocomplete="off">` +
    `<datalist id="lc-class-list">${d.classes.map((n) => `<option value="${esc(n)}">`).join("")}</datalist>` +
    `<div class="lc-menu-row"><button data-act="none">Fits no class <kbd>X</kbd></button>` +
    `<button data-act="clear" ${c.decision ? "" : "disabled"}>Clear decision</button>` +
    `<button data-act="open">Larger view <kbd>↵</kbd></button></div>`;
}

function detailHtml(s, full, strip, ui) {
  // `full`: the server's larger view of s; otherwise s is a card drawn at once from what the
  // page already has (its thumbnail), until the larger picture arrives.
  const near = strip.map((n) => `<div class="lc-near${n.id === s.id ? " lc-here" : ""}" data-act="open" ` +
    `data-id="${esc(n.id)}" title="#${num(n.pos)}: ${esc(n.given)} → ${esc(n.suggested)}">${picture(n, false)}` +
    `<span>#${num(n.pos)}</span></div>`).join("");
  const shown = full ? { ...s, image: full.image } : s;
  const note = full ? full.image_note : "loading the larger picture…";
  const size = full && full.view_size ? ` of ${num(full.view_size)} in this view` : "";
  return `<div class="lc-detail" data-id="${esc(s.id)}" data-full="${full ? 1 : 0}">` +
    `<div class="lc-detail-pic${ui.zoom ? " lc-zoom" : ""}" data-act="zoom" title="Zoom (Z)">${picture(shown, true)}</div>` +
    `<div class="lc-detail-side">` +
    `<div class="lc-detail-head"><b>#${num(s.pos)}</b>${size}` +
    `<button data-act="close" title="Close (Esc)">✕</button></div>` +
    `<div class="lc-caption">${esc(note)}${full ? " · <kbd>Z</kbd> zoom" : ""}</div>` +
    `<div class="lc-section">How likely each class is the true one</div>` +
    `<div class="lc-classes lc-big">${classRows(s)}</div>` +
    (s.complete ? "" : `<div class="lc-caption">The audit has no top_classes column: only the suggested ` +
      `and the given label are known.</div>`) +
    `<details class="lc-more"><summary>More numbers</summary>${esc(moreNumbers(s))}` +
    ` · sample ${esc(s.id)}</details>` +
    `<div class="lc-section">Source</div><div class="lc-source">${esc(s.source)}</div>` +
    decisionLine(s, ui) +
    `<div class="lc-actions"><button data-act="accept" class="lc-primary">Accept <kbd>A</kbd></button>` +
    `<button data-act="keep">Keep <kbd>K</kbd></button><button data-act="menu">Relabel… <kbd>R</kbd></button>` +
    `<button data-act="none">Fits no class <kbd>X</kbd></button></div>` +
    (near ? `<div class="lc-section">Neighbours in this order <span class="lc-caption">← →</span></div>` +
      `<div class="lc-nears">${near}</div>` : "") + `</div></div>`;
}

// --- drawing -------------------------------------------------------------------------------

function skeleton(parent) {
  const ui = { focus: null, focusSeq: null, menuFor: null, detail: null, waitFor: null, waitText: "",
    atEnd: null, zoom: false, refusedIds: new Map() };
  const root = document.createElement("div");  // beside the <style> Streamlit put in parent
  root.innerHTML = `<div class="lc-headbar"><div class="lc-shown"></div><div class="lc-pager"></div></div>` +
    `<div class="lc-keys"></div><div class="lc-hint" hidden></div><div class="lc-grid"></div>` +
    `<div class="lc-bottom"><div class="lc-pager"></div></div>` +
    `<div class="lc-menu" hidden></div><div class="lc-overlay" hidden></div><div class="lc-alert" hidden></div>`;
  root.className = "lc-root";
  root.tabIndex = -1;
  parent.appendChild(root);
  ui.root = root;
  for (const name of ["grid", "shown", "keys", "hint", "menu", "overlay", "alert"]) {
    ui[name] = root.querySelector(`.lc-${name}`);
  }
  ui.pagers = root.querySelectorAll(".lc-pager");
  parent.addEventListener("click", onClick);
  ui.menu.addEventListener("keydown", onMenuKey);
  ui.overlay.addEventListener("click", (e) => { if (e.target === ui.overlay) closeDetail(); });
  ui.alert.addEventListener("click", () => { ui.alert.hidden = true; });
  return ui;
}

function drawGrid(ui, d) {
  ui.grid.style.setProperty("--lc-cols", d.columns);
  const old = new Map([...ui.grid.children].map((el) => [el.dataset.id, el]));
  const cards = d.cards.map((c) => {
    const html = cardHtml(c, ui);
    let el = old.get(String(c.id));
    if (!el) {
      el = document.createElement("div");
      el.className = "lc-card";
      el.dataset.id = c.id;
    }
    if (el.__html !== html) { el.innerHTML = html; el.__html = html; }  // unchanged cards keep their images
    el.classList.toggle("lc-decided", Boolean(c.decision));
    el.classList.toggle("lc-pending", Boolean(lastQueued(c.id)));
    return el;
  });
  ui.grid.replaceChildren(...cards);
}

function drawPager(ui, d) {
  // The counts, page buttons and keys come as HTML built (and escaped) by app/grid.py.
  ui.shown.innerHTML = d.shown_html;
  ui.keys.innerHTML = d.keys_html;
  const pager = `<button data-act="prev" ${d.page <= 1 ? "disabled" : ""}>← Prev</button>` +
    `<span>page <b>${num(d.page)}</b> of ${num(d.pages)}</span>` +
    `<button data-act="next" ${d.page >= d.pages ? "disabled" : ""}>Next →</button>`;
  ui.pagers.forEach((el, i) => { el.innerHTML = i === 0 || d.pages > 1 ? pager : ""; });
}

function drawFocus(ui, d) {
  if (!d.cards.some((c) => c.id === ui.focus)) ui.focus = d.cards.length ? d.cards[0].id : null;
  for (const el of ui.grid.children) el.classList.toggle("lc-focus", el.dataset.id === String(ui.focus));
}

function fullPicture(d) {
  // The server's larger view with its picture: sent once, then kept here by image_key.
  const s = d.detail;
  if (!s || !s.image_key) return s;
  if (s.image) {
    G.images.delete(s.image_key);
    G.images.set(s.image_key, s.image);
    while (G.images.size > KEEP_IMAGES) G.images.delete(G.images.keys().next().value);
    G.asked.delete(s.image_key);
    return s;
  }
  const kept = G.images.get(s.image_key);
  if (kept) return { ...s, image: kept };
  if (!G.asked.has(s.image_key)) { G.asked.add(s.image_key); send({ type: "image", key: s.image_key }); }
  return { ...s, image: null, placeholder: { kind: "missing", title: "Loading", detail: "", tooltip: "" } };
}

function drawDetail(ui, d) {
  ui.overlay.hidden = ui.detail === null;
  let html = "";
  if (ui.detail !== null) {
    const full = d.detail && d.detail.id === ui.detail ? fullPicture(d) : null;
    const s = full || cardOf(ui.detail);
    const strip = d.detail ? d.detail.neighbours : [];
    html = s ? detailHtml(s, full, strip, ui) : `<div class="lc-detail lc-loading">Loading…</div>`;
  }
  if (ui.overlay.__html !== html) { ui.overlay.innerHTML = html; ui.overlay.__html = html; }
}

function drawAll(ui, d) {
  drawPager(ui, d);
  drawGrid(ui, d);
  drawFocus(ui, d);
  drawDetail(ui, d);
  ui.root.parentElement.dataset.lcPending = G.queue.length;
}

async function markDrawn(parent, run) {
  // Tests and the benchmark wait for data-lc-run: the run drawn, its images decoded.
  await Promise.all([...parent.querySelectorAll("img")].map((img) => img.decode().catch(() => null)));
  if (G.latest && G.latest.data.run === run) parent.dataset.lcRun = run;
}

function showAlert(ui, text) {
  G.refusedCount += 1;
  ui.root.parentElement.dataset.lcRefused = G.refusedCount;
  ui.alertCount = ui.alert.hidden || ui.alertText !== text ? 1 : (ui.alertCount || 1) + 1;
  ui.alertText = text;
  ui.alert.innerHTML = `<b>Not saved:</b> ${esc(text)}${ui.alertCount > 1 ? ` (${ui.alertCount} times)` : ""}` +
    `<span class="lc-alert-close">✕</span>`;
  ui.alert.hidden = false;
  clearTimeout(ui.alertTimer);
  ui.alertTimer = setTimeout(() => { ui.alert.hidden = true; }, 8000);
}

// --- the queue -----------------------------------------------------------------------------

function send(action) {
  G.seq += 1;
  G.queue.push({ ...action, seq: G.seq });
  G.resendMs = RESEND_MS;
  flush();
  return G.seq;
}

function flush() {
  clearTimeout(G.resendTimer);
  if (!G.queue.length || !G.latest) return;
  G.latest.send("action", { client: G.client, actions: G.queue.slice() });
  G.latest.parentElement.dataset.lcPending = G.queue.length;
  // Sent again until acknowledged (a newer trigger of another widget can replace this one);
  // each wait twice the last, so a slow run is not restarted over and over.
  G.resendTimer = setTimeout(() => { G.resendMs *= 2; flush(); }, G.resendMs);
}

function lastQueued(id) {
  for (let i = G.queue.length - 1; i >= 0; i -= 1) {
    if (G.queue[i].id === id && DECISIONS.has(G.queue[i].type)) return G.queue[i];
  }
  return null;
}

function acknowledge(ui, d) {
  const acked = (d.acks || {})[G.client] || 0;
  const before = G.queue.length;
  G.queue = G.queue.filter((a) => a.seq > acked);
  if (G.queue.length < before) G.resendMs = RESEND_MS;
  if (!G.queue.length) clearTimeout(G.resendTimer);
  if (ui.waitFor !== null && acked >= ui.waitFor) { ui.waitFor = null; ui.waitText = ""; }
  for (const r of d.refused || []) {
    if (r.client !== G.client || r.seq <= G.shownRefused) continue;
    G.shownRefused = r.seq;
    if (r.id !== null && r.id !== undefined) ui.refusedIds.set(String(r.id), r.text);
    showAlert(ui, r.text);
  }
  if (!G.queue.length) ui.detail = d.detail ? d.detail.id : null;  // the server has caught up
}

// --- acting --------------------------------------------------------------------------------

function current() {
  const { data, ui } = G.latest;
  if (ui.detail !== null) return cardOf(ui.detail);
  return data.cards.find((c) => c.id === ui.focus) || null;
}

function cardOf(id) {
  const { data } = G.latest;
  if (data.detail && data.detail.id === id) return data.detail;
  return (data.detail ? data.detail.neighbours : []).find((c) => c.id === id) ||
    data.cards.find((c) => c.id === id) || null;
}

function following(id) {
  // The sample after `id` in the view, as far as this page knows: {next} or {more} (there
  // are samples after it that are not drawn yet) or neither (the view ends with it).
  const { data, ui } = G.latest;
  const strip = ui.detail !== null && data.detail ? data.detail.neighbours : [];
  const inStrip = strip.findIndex((c) => c.id === id);
  if (inStrip >= 0) {
    const next = strip[inStrip + 1];
    return next ? { next: next.id } : { more: strip[inStrip].pos < data.detail.view_size };
  }
  const at = data.cards.findIndex((c) => c.id === id);
  if (at >= 0 && at + 1 < data.cards.length) return { next: data.cards[at + 1].id };
  return { more: data.page < data.pages };
}

function refuse(text) {
  showAlert(G.latest.ui, text);
}

function wait(seq, text) {
  const { ui } = G.latest;
  ui.waitFor = seq;
  ui.waitText = text;
}

function decide(type, c, label) {
  if (!c) return;
  const { ui, data } = G.latest;
  if (ui.waitFor !== null) return refuse(`${ui.waitText}; press the key again once it shows`);
  if (ui.atEnd === c.id && DECISIONS.has(type)) {
    return refuse("that was the last sample of this view; use its buttons to change its decision");
  }
  closeMenu();
  ui.refusedIds.delete(c.id);
  const seq = send({ type, id: c.id, label: label ?? null });
  const then = following(c.id);
  if (then.next) {
    if (ui.detail !== null) ui.detail = then.next;
    else ui.focus = then.next;
  } else if (then.more) {
    wait(seq, ui.detail !== null ? "the next sample is loading" : `page ${num(data.page + 1)} is loading`);
  } else {
    ui.atEnd = c.id;
  }
  drawAll(ui, data);
  ui.grid.querySelector(".lc-focus")?.scrollIntoView({ block: "nearest" });
}

function pickClass(c, key) {
  if (!c) return;
  const name = Object.entries(classKeys(c)).find(([, k]) => k === key)?.[0];
  if (name === undefined) return refuse(`card #${num(c.pos)} lists no class for ${key}`);
  decide("relabel", c, name);
}

function openDetail(id) {
  const { ui, data } = G.latest;
  closeMenu();
  ui.atEnd = null;
  ui.detail = id;
  send({ type: "open", id });
  drawDetail(ui, data);
}

function closeDetail() {
  const { ui, data } = G.latest;
  if (ui.detail === null) return;
  const id = ui.detail;
  ui.detail = null;
  ui.zoom = false;
  const seq = send({ type: "close" });
  if (data.cards.some((c) => c.id === id)) ui.focus = id;
  else wait(seq, "the page of that sample is loading");
  drawAll(ui, data);
}

function turnPage(delta) {
  const { ui, data } = G.latest;
  const to = data.page + delta;
  if (to < 1 || to > data.pages) return;
  ui.atEnd = null;
  wait(send({ type: "page", delta }), `page ${num(to)} is loading`);
}

function undo() {
  const { ui } = G.latest;
  ui.atEnd = null;
  wait(send({ type: "undo" }), "the undo is on its way");
}

function openMenu(c, typing) {
  const { ui, data, parentElement } = G.latest;
  if (!c) return;
  ui.menuFor = c.id;
  ui.menu.innerHTML = menuHtml(data, c);
  ui.menu.hidden = false;
  const anchor = parentElement.querySelector(
    ui.detail !== null ? ".lc-detail [data-act=menu]" : `.lc-card[data-id="${CSS.escape(c.id)}"] [data-act=menu]`);
  // Under its button, or above it where the window ends; in the larger view fixed to the
  // window like the view, else scrolling with the grid.
  const box = anchor.getBoundingClientRect();
  const origin = ui.detail !== null ? { left: 0, top: 0 } : ui.root.getBoundingClientRect();
  const height = ui.menu.offsetHeight;
  const below = box.bottom + 4 + height <= window.innerHeight || box.top < height + 8;
  ui.menu.style.position = ui.detail !== null ? "fixed" : "absolute";
  ui.menu.style.left = `${Math.max(8, Math.min(box.left, window.innerWidth - 330)) - origin.left}px`;
  ui.menu.style.top = `${(below ? box.bottom + 4 : box.top - 4 - height) - origin.top}px`;
  if (typing) ui.menu.querySelector(".lc-type").focus();
}

function closeMenu() {
  const { ui } = G.latest;
  ui.menu.hidden = true;
  ui.menuFor = null;
}

function matchClass(typed) {
  const names = G.latest.data.classes;
  const t = typed.trim().toLowerCase();
  const exact = names.filter((n) => n.toLowerCase() === t);
  const prefix = names.filter((n) => n.toLowerCase().startsWith(t));
  return exact.length === 1 ? exact[0] : prefix.length === 1 ? prefix[0] : null;
}

function toggleZoom() {
  const { ui, data } = G.latest;
  ui.zoom = !ui.zoom;
  drawDetail(ui, data);
}

function onClick(e) {
  if (!G.latest) return;
  const { ui, data } = G.latest;
  const clickedCard = e.target.closest(".lc-card");
  if (clickedCard) { ui.focus = clickedCard.dataset.id; ui.atEnd = null; drawFocus(ui, data); }
  const button = e.target.closest("[data-act]");
  if (!button) return;
  const act = button.dataset.act;
  const owner = button.closest("[data-id]");
  const id = button.closest(".lc-menu") ? ui.menuFor : owner ? owner.dataset.id : null;
  const c = cardOf(id) || current();
  if (act === "menu") return ui.menuFor === c.id && !ui.menu.hidden ? closeMenu() : openMenu(c, false);
  if (act === "open") return openDetail(button.closest(".lc-near") ? id : c.id);
  if (act === "close") return closeDetail();
  if (act === "zoom") return toggleZoom();
  if (act === "prev" || act === "next") return turnPage(act === "next" ? 1 : -1);
  if (act === "relabel") return decide("relabel", c, button.dataset.label);
  ui.atEnd = null;  // a click on a card's button means that card, even the last one
  decide(act, c);
}

function onMenuKey(e) {
  if (!e.target.classList.contains("lc-type")) return;
  e.stopPropagation();
  if (e.key === "Escape") closeMenu();
  if (e.key !== "Enter") return;
  const name = matchClass(e.target.value);
  if (name === null) { e.target.classList.add("lc-bad"); return; }
  decide("relabel", cardOf(G.latest.ui.menuFor), name);
}

function move(delta) {
  const { ui, data } = G.latest;
  if (ui.waitFor !== null) return;
  const at = data.cards.findIndex((c) => c.id === ui.focus);
  const to = Math.min(Math.max(0, at + delta), data.cards.length - 1);
  if (to >= 0) { ui.focus = data.cards[to].id; ui.atEnd = null; drawFocus(ui, data); }
  ui.grid.querySelector(".lc-focus")?.scrollIntoView({ block: "nearest" });
}

function detailStep(delta) {
  const { data, ui } = G.latest;
  const strip = data.detail ? data.detail.neighbours : data.cards;
  const at = strip.findIndex((c) => c.id === ui.detail);
  const to = at >= 0 ? strip[at + delta] : null;
  if (to) openDetail(to.id);
  else if (data.detail && data.detail.id === ui.detail) {
    const id = delta > 0 ? data.detail.next_id : data.detail.prev_id;
    if (id !== null) openDetail(id);
  }
}

const TYPING = new Set(["INPUT", "TEXTAREA", "SELECT"]);

function inGrid(el) {
  return Boolean(G.latest && G.latest.ui.root.contains(el));
}

function onKey(e) {
  const latest = G.latest;
  if (!latest || !latest.parentElement.isConnected || e.ctrlKey || e.metaKey || e.altKey) return;
  if (TYPING.has(e.target.tagName) || e.target.isContentEditable) {
    // A sidebar control has the keys: Esc hands them back to the grid.
    if (e.key === "Escape" && !inGrid(e.target)) {
      e.target.blur();
      latest.ui.root.focus({ preventScroll: true });
      showHint(false);
      e.preventDefault();
    }
    return;
  }
  const { data, ui } = latest;
  const c = current();
  const detail = ui.detail !== null;
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const digit = data.digit_keys[e.key];
  const handlers = {
    ArrowRight: () => (detail ? detailStep(1) : move(1)),
    ArrowLeft: () => (detail ? detailStep(-1) : move(-1)),
    ArrowDown: () => !detail && move(data.columns),
    ArrowUp: () => !detail && move(-data.columns),
    a: () => decide("accept", c),
    s: () => pickClass(c, "S"),
    d: () => pickClass(c, "D"),
    k: () => decide("keep", c),
    x: () => decide("none", c),
    r: () => openMenu(c, true),
    "/": () => openMenu(c, true),
    u: () => undo(),
    z: () => detail && toggleZoom(),
    Enter: () => !detail && c && openDetail(c.id),
    Escape: () => (!ui.menu.hidden ? closeMenu() : detail && closeDetail()),
    "]": () => !detail && turnPage(1),
    "[": () => !detail && turnPage(-1),
  };
  const handler = digit !== undefined ? () => decide("relabel", c, digit) : handlers[key];
  if (!handler) return;
  e.preventDefault();
  e.stopPropagation();  // before Streamlit's own shortcuts (r reruns the script)
  handler();
}

function showHint(on, target) {
  if (!G.latest) return;
  const { hint } = G.latest.ui;
  hint.hidden = !on;
  if (!on) return;
  const label = target.closest("label")?.querySelector("span")?.textContent || target.name || "a control";
  hint.innerHTML = `The keys are going to the sidebar's <b>${esc(label)}</b>: press <kbd>Esc</kbd> to give ` +
    `them back to the grid.`;
}

function onFocusIn(e) {
  if (TYPING.has(e.target.tagName) && !inGrid(e.target)) showHint(true, e.target);
}

function onFocusOut(e) {
  if (TYPING.has(e.target.tagName)) showHint(false);
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const mounted = !parentElement.__lcUi;
  const ui = parentElement.__lcUi || (parentElement.__lcUi = skeleton(parentElement));
  G.latest = { data, ui, parentElement, send: setTriggerValue };
  acknowledge(ui, data);
  if (data.focus_seq !== ui.focusSeq) { ui.focusSeq = data.focus_seq; ui.focus = data.focus; ui.atEnd = null; }
  if (ui.menuFor !== null && !cardOf(ui.menuFor)) closeMenu();
  drawAll(ui, data);
  for (const [name, handler] of [["keydown", onKey], ["focusin", onFocusIn], ["focusout", onFocusOut]]) {
    if (G[name]) window.removeEventListener(name, G[name], true);
    G[name] = handler;
    window.addEventListener(name, handler, true);
  }
  if (mounted && G.queue.length) flush();  // drawn anew (another view and back): resend what is left
  markDrawn(parentElement, data.run);
  return () => { if (G.latest && G.latest.parentElement === parentElement) G.latest = null; };
}
