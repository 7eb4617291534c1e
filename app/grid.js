// The review grid: one Streamlit component (st.components.v2) that draws every card, the
// relabel menu and the larger view of one sample from `data`, and sends each decision back
// as one "action" trigger. One element instead of ~10 Streamlit widgets per card is what
// makes the page fast; the keys are handled here too (listed in KEYS below, shown in the app).
//
// data: {run, columns, cards: [card], classes: [name], digit_keys: {key: name},
//        focus, focus_seq, detail: null | {...}}
// action: {type: accept|keep|relabel|none|clear|undo|page|open|close, id, label, delta, next}.
// Sample ids travel as strings.

const G = (window.__labelcleanGrid = window.__labelcleanGrid || {});

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);
const pct = (p) => `${Math.round(100 * p)}%`;

function badge(text, kind, title, note) {
  const extra = note ? ` <span class="lc-note">${esc(note)}</span>` : "";
  return `<span class="lc-badge lc-${kind}" title="${esc(title)}">${esc(text)}${extra}</span>`;
}

function labels(c) {
  const given = badge(c.given, c.same ? "given-same" : "given",
    `given label ${c.given}: the model gives it ${(100 * c.given_prob).toFixed(1)}%`, pct(c.given_prob));
  if (c.same) return given;
  return `${given}<span class="lc-nowrap"><span class="lc-arrow">→</span>${badge(c.suggested, "sugg",
    `suggested label ${c.suggested}: the model gives it ${(100 * c.suggested_prob).toFixed(1)}%`,
    pct(c.suggested_prob))}</span>`;
}

function picture(c, big) {
  if (c.image) {
    const size = big && c.width ? ` width="${c.width}" height="${c.height}"` : "";
    return `<img src="${c.image}" alt="${esc(c.name)}"${size} draggable="false">`;
  }
  const p = c.placeholder;
  return `<div class="lc-noimg lc-${esc(p.kind)}" title="${esc(p.tooltip)}"><div><b>${esc(p.title)}</b>` +
    `<br>${esc(p.detail)}</div></div>`;
}

function decisionLine(c) {
  return c.decision ? `<div class="lc-dec">✓ ${esc(c.decision)}</div>` : "";
}

function cardHtml(c) {
  return `<div class="lc-pic" data-act="open" title="Larger view (Enter)">${picture(c, false)}</div>` +
    `<div class="lc-meta" title="${esc(c.source)}"><b class="${c.flagged ? "lc-flagged" : ""}" ` +
    `title="${c.flagged ? "flagged" : "not flagged"}: rank by loss">#${c.rank.toLocaleString("en")}</b>` +
    ` · ${esc(c.name)}</div><div class="lc-labels">${labels(c)}</div>` +
    `<div class="lc-meta">mislabel ${c.mislabel_prob.toFixed(2)} · loss ${c.loss.toFixed(2)}</div>` +
    decisionLine(c) +
    `<div class="lc-actions"><button data-act="accept" class="${!c.decision && !c.same ? "lc-primary" : ""}" ` +
    `title="Accept the suggestion: ${esc(c.suggested)} (A)">Accept</button>` +
    `<button data-act="keep" title="Keep the given label: ${esc(c.given)} (K)">Keep</button>` +
    `<button data-act="menu" title="Relabel, fits no class, clear (R)">⋯</button></div>`;
}

function menuHtml(d, c) {
  const keyOf = Object.fromEntries(Object.entries(d.digit_keys).map(([k, name]) => [name, k]));
  const chips = d.classes.map((name) => `<button data-act="relabel" data-label="${esc(name)}" ` +
    `class="${name === c.suggested ? "lc-primary" : ""}">${keyOf[name] !== undefined ?
      `<kbd>${esc(keyOf[name])}</kbd> ` : ""}${esc(name)}</button>`).join("");
  return `<div class="lc-menu-title">Relabel #${c.rank.toLocaleString("en")} to</div>` +
    `<div class="lc-chips">${chips}</div>` +
    `<input class="lc-type" list="lc-class-list" placeholder="type a class name, Enter" autocomplete="off">` +
    `<datalist id="lc-class-list">${d.classes.map((n) => `<option value="${esc(n)}">`).join("")}</datalist>` +
    `<div class="lc-menu-row"><button data-act="none">Fits no class <kbd>X</kbd></button>` +
    `<button data-act="clear" ${c.decision ? "" : "disabled"}>Clear decision</button>` +
    `<button data-act="open">Larger view <kbd>↵</kbd></button></div>`;
}

function detailHtml(s) {
  const top = s.top.map(([name, p]) => `<div class="lc-top"><span class="lc-top-name">${esc(name)}</span>` +
    `<span class="lc-bar"><span style="width:${(100 * p).toFixed(1)}%"></span></span>` +
    `<span class="lc-top-p">${(100 * p).toFixed(1)}%</span></div>`).join("");
  const near = s.neighbours.map((n) => `<div class="lc-near${n.id === s.id ? " lc-here" : ""}" data-act="open" ` +
    `data-id="${esc(n.id)}" title="#${n.rank}: ${esc(n.given)} → ${esc(n.suggested)}">${picture(n, false)}` +
    `<span>#${n.rank.toLocaleString("en")}</span></div>`).join("");
  return `<div class="lc-detail" data-id="${esc(s.id)}">` +
    `<div class="lc-detail-pic">${picture(s, true)}<div class="lc-caption">${esc(s.image_note)}</div></div>` +
    `<div class="lc-detail-side">` +
    `<div class="lc-detail-head"><b>#${s.rank.toLocaleString("en")}</b> · ${s.position.toLocaleString("en")} of ` +
    `${s.view_size.toLocaleString("en")} in this view` +
    `<button data-act="close" title="Close (Esc)">✕</button></div>` +
    `<div class="lc-labels">${labels(s)}</div>` +
    `<div class="lc-meta">${s.flagged ? "<b class='lc-flagged'>flagged</b> · " : ""}mislabel ` +
    `${s.mislabel_prob.toFixed(3)} · loss ${s.loss.toFixed(3)} · sample ${esc(s.id)}</div>` +
    (s.true_prob === null ? "" : `<div class="lc-meta">the suggestion is the true class with probability ` +
      `${s.true_prob.toFixed(3)}</div>`) +
    `<div class="lc-section">${s.top_complete ? "The model's top classes" : "The model's probabilities"}</div>${top}` +
    (s.top_complete ? "" : `<div class="lc-caption">The audit stores only the suggested and given labels' ` +
      `probabilities (no top-3 column).</div>`) +
    `<div class="lc-section">Source</div><div class="lc-source">${esc(s.source)}</div>` +
    decisionLine(s) +
    `<div class="lc-actions"><button data-act="accept" class="lc-primary">Accept <kbd>A</kbd></button>` +
    `<button data-act="keep">Keep <kbd>K</kbd></button><button data-act="menu">Relabel… <kbd>R</kbd></button>` +
    `<button data-act="none">Fits no class <kbd>X</kbd></button></div>` +
    `<div class="lc-section">Neighbours in the ranking <span class="lc-caption">← →</span></div>` +
    `<div class="lc-nears">${near}</div></div></div>`;
}

// --- drawing -------------------------------------------------------------------------------

function skeleton(parent) {
  const ui = { focus: null, focusSeq: null, menuFor: null };
  const root = document.createElement("div");  // beside the <style> Streamlit put in parent
  root.innerHTML = `<div class="lc-headbar"><div class="lc-shown"></div><div class="lc-pager"></div></div>` +
    `<div class="lc-keys"></div><div class="lc-grid"></div><div class="lc-bottom"><div class="lc-pager"></div></div>` +
    `<div class="lc-menu" hidden></div><div class="lc-overlay" hidden></div>`;
  root.className = "lc-root";
  parent.appendChild(root);
  ui.root = root;
  ui.grid = parent.querySelector(".lc-grid");
  ui.shown = parent.querySelector(".lc-shown");
  ui.keys = parent.querySelector(".lc-keys");
  ui.pagers = parent.querySelectorAll(".lc-pager");
  ui.menu = parent.querySelector(".lc-menu");
  ui.overlay = parent.querySelector(".lc-overlay");
  parent.addEventListener("click", onClick);
  ui.menu.addEventListener("keydown", onMenuKey);
  ui.overlay.addEventListener("click", (e) => { if (e.target === ui.overlay) send({ type: "close" }); });
  return ui;
}

function drawGrid(ui, d) {
  ui.grid.style.setProperty("--lc-cols", d.columns);
  const old = new Map([...ui.grid.children].map((el) => [el.dataset.id, el]));
  const cards = d.cards.map((c) => {
    const html = cardHtml(c);
    let el = old.get(String(c.id));
    if (!el) {
      el = document.createElement("div");
      el.className = "lc-card";
      el.dataset.id = c.id;
    }
    if (el.__html !== html) { el.innerHTML = html; el.__html = html; }  // unchanged cards keep their images
    el.classList.toggle("lc-decided", Boolean(c.decision));
    el.classList.remove("lc-pending");
    return el;
  });
  ui.grid.replaceChildren(...cards);
}

function drawPager(ui, d) {
  // The counts, page buttons and keys come as HTML built (and escaped) by app/grid.py.
  ui.shown.innerHTML = d.shown_html;
  ui.keys.innerHTML = d.keys_html;
  const pager = `<button data-act="prev" ${d.page <= 1 ? "disabled" : ""}>← Prev</button>` +
    `<span>page <b>${d.page.toLocaleString("en")}</b> of ${d.pages.toLocaleString("en")}</span>` +
    `<button data-act="next" ${d.page >= d.pages ? "disabled" : ""}>Next →</button>`;
  ui.pagers.forEach((el, i) => { el.innerHTML = i === 0 || d.pages > 1 ? pager : ""; });
}

function drawFocus(ui, d) {
  if (!d.cards.some((c) => c.id === ui.focus)) ui.focus = d.cards.length ? d.cards[0].id : null;
  for (const el of ui.grid.children) el.classList.toggle("lc-focus", el.dataset.id === String(ui.focus));
}

function drawDetail(ui, d) {
  ui.overlay.hidden = !d.detail;
  const html = d.detail ? detailHtml(d.detail) : "";
  if (ui.overlay.__html !== html) { ui.overlay.innerHTML = html; ui.overlay.__html = html; }
}

async function markDrawn(parent, run) {
  // Tests and the benchmark wait for data-lc-run: the run drawn, its images decoded.
  await Promise.all([...parent.querySelectorAll("img")].map((img) => img.decode().catch(() => null)));
  if (G.latest && G.latest.data.run === run) parent.dataset.lcRun = run;
}

// --- acting --------------------------------------------------------------------------------

function send(action) {
  G.latest.send("action", { ...action, nonce: Date.now() + Math.random() });
}

function current() {
  const { data, ui } = G.latest;
  if (data.detail) return data.detail;
  return data.cards.find((c) => c.id === ui.focus) || null;
}

function nextAfter(id) {
  const { data } = G.latest;
  if (data.detail) return data.detail.next_id;
  const at = data.cards.findIndex((c) => c.id === id);
  return data.cards[Math.min(at + 1, data.cards.length - 1)]?.id ?? null;
}

function decide(type, c, label) {
  if (!c) return;
  closeMenu();
  const next = nextAfter(c.id);
  const { ui } = G.latest;
  const el = ui.grid.querySelector(`.lc-card[data-id="${CSS.escape(c.id)}"]`);
  if (el) el.classList.add("lc-pending");  // shown at once; the saved state follows
  if (!G.latest.data.detail && next !== null) { ui.focus = next; drawFocus(ui, G.latest.data); }
  send({ type, id: c.id, label: label ?? null, next });
}

function openMenu(c, typing) {
  const { ui, data, parentElement } = G.latest;
  if (!c) return;
  ui.menuFor = c.id;
  ui.menu.innerHTML = menuHtml(data, c);
  ui.menu.hidden = false;
  const anchor = parentElement.querySelector(
    data.detail ? ".lc-detail [data-act=menu]" : `.lc-card[data-id="${CSS.escape(c.id)}"] [data-act=menu]`);
  // Under its button, or above it where the window ends; in the larger view fixed to the
  // window like the view, else scrolling with the grid.
  const box = anchor.getBoundingClientRect();
  const origin = data.detail ? { left: 0, top: 0 } : ui.root.getBoundingClientRect();
  const height = ui.menu.offsetHeight;
  const below = box.bottom + 4 + height <= window.innerHeight || box.top < height + 8;
  ui.menu.style.position = data.detail ? "fixed" : "absolute";
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

function cardOf(id) {
  const { data } = G.latest;
  if (data.detail && data.detail.id === id) return data.detail;
  return data.cards.find((c) => c.id === id) || null;
}

function onClick(e) {
  if (!G.latest) return;
  const { ui } = G.latest;
  const clickedCard = e.target.closest(".lc-card");
  if (clickedCard) { ui.focus = clickedCard.dataset.id; drawFocus(ui, G.latest.data); }
  const button = e.target.closest("[data-act]");
  if (!button) return;
  const act = button.dataset.act;
  const inMenu = button.closest(".lc-menu");
  const owner = button.closest("[data-id]");
  const id = inMenu ? ui.menuFor : owner ? owner.dataset.id : null;
  const c = cardOf(id) || current();
  if (act === "menu") return ui.menuFor === c.id && !ui.menu.hidden ? closeMenu() : openMenu(c, false);
  if (act === "open") { closeMenu(); return send({ type: "open", id: button.closest(".lc-near") ? id : c.id }); }
  if (act === "close") return send({ type: "close" });
  if (act === "prev" || act === "next") return send({ type: "page", delta: act === "next" ? 1 : -1 });
  if (act === "relabel") return decide("relabel", c, button.dataset.label);
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
  const at = data.cards.findIndex((c) => c.id === ui.focus);
  const to = Math.min(Math.max(0, at + delta), data.cards.length - 1);
  if (to >= 0) { ui.focus = data.cards[to].id; drawFocus(ui, data); }
  ui.grid.querySelector(".lc-focus")?.scrollIntoView({ block: "nearest" });
}

const TYPING = new Set(["INPUT", "TEXTAREA", "SELECT"]);

function onKey(e) {
  const latest = G.latest;
  if (!latest || !latest.parentElement.isConnected || e.ctrlKey || e.metaKey || e.altKey) return;
  if (TYPING.has(e.target.tagName) || e.target.isContentEditable) return;
  const { data, ui } = latest;
  const c = current();
  const detail = Boolean(data.detail);
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const digit = data.digit_keys[e.key];
  const handlers = {
    ArrowRight: () => (detail ? detail_step(1) : move(1)),
    ArrowLeft: () => (detail ? detail_step(-1) : move(-1)),
    ArrowDown: () => !detail && move(data.columns),
    ArrowUp: () => !detail && move(-data.columns),
    a: () => decide("accept", c),
    k: () => decide("keep", c),
    x: () => decide("none", c),
    r: () => openMenu(c, true),
    "/": () => openMenu(c, true),
    u: () => send({ type: "undo" }),
    Enter: () => !detail && c && send({ type: "open", id: c.id }),
    Escape: () => (!ui.menu.hidden ? closeMenu() : detail && send({ type: "close" })),
    "]": () => !detail && send({ type: "page", delta: 1 }),
    "[": () => !detail && send({ type: "page", delta: -1 }),
  };
  const handler = digit !== undefined ? () => decide("relabel", c, digit) : handlers[key];
  if (!handler) return;
  e.preventDefault();
  e.stopPropagation();  // before Streamlit's own shortcuts (r reruns the script)
  handler();
}

function detail_step(delta) {
  const s = G.latest.data.detail;
  const id = delta > 0 ? s.next_id : s.prev_id;
  if (id !== null) send({ type: "open", id });
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  const ui = parentElement.__lcUi || (parentElement.__lcUi = skeleton(parentElement));
  G.latest = { data, ui, parentElement, send: setTriggerValue };
  if (data.focus_seq !== ui.focusSeq) { ui.focusSeq = data.focus_seq; ui.focus = data.focus; }
  if (ui.menuFor !== null && !cardOf(ui.menuFor)) closeMenu();
  drawPager(ui, data);
  drawGrid(ui, data);
  drawFocus(ui, data);
  drawDetail(ui, data);
  if (G.onKey) window.removeEventListener("keydown", G.onKey, true);
  G.onKey = onKey;
  window.addEventListener("keydown", onKey, true);
  markDrawn(parentElement, data.run);
  return () => { if (G.latest && G.latest.parentElement === parentElement) G.latest = null; };
}
