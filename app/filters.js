// The review filters (sidebar): native form controls in one Streamlit component, because a
// dozen Streamlit widgets cost the page about a second to draw. Python owns the values: it
// sends them in `data`, and each change comes back as one "set" trigger {name, value}.
//
// data: {order, orders, flagged_only, status, statuses, classes, chosen, class_field, class_fields, pairs,
//        pair, score, scores, low, high, top, per_page, per_pages, columns, columns_options}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (value) => String(value ?? "").replace(/[&<>"']/g, (c) => ESCAPES[c]);

function options(pairs, chosen) {
  return pairs.map(([value, text]) =>
    `<option value="${esc(value)}" ${String(value) === String(chosen) ? "selected" : ""}>${esc(text)}</option>`).join("");
}

function field(label, control, name) {
  return `<label class="lc-field" data-field="${name}"><span>${esc(label)}</span>${control}</label>`;
}

function select(name, pairs, chosen) {
  return `<select name="${name}">${options(pairs, chosen)}</select>`;
}

function draw(d) {
  const chips = d.chosen.map((name) =>
    `<button type="button" class="lc-chip" data-remove="${esc(name)}" title="remove">${esc(name)} ×</button>`).join("");
  const pairs = [["", "All pairs"], ...d.pairs.map((p, i) => [i, `${p[0]} → ${p[1]}  (${p[2]} flagged)`])];
  return `<div class="lc-filters">` +
    field("Order", select("order", d.orders, d.order), "order") +
    `<label class="lc-check"><input type="checkbox" name="flagged_only" ${d.flagged_only ? "checked" : ""}> Flagged only</label>` +
    field("Review status", select("status", d.statuses, d.status), "status") +
    field("Classes", `<input name="class_add" list="lc-filter-classes" placeholder="type or pick a class" autocomplete="off">` +
      `<datalist id="lc-filter-classes">${d.classes.map((n) => `<option value="${esc(n)}">`).join("")}</datalist>`, "classes") +
    (chips ? `<div class="lc-chips">${chips}</div>` + field("Class matches", select("class_field", d.class_fields, d.class_field), "class_field") : "") +
    field("Label pair (given → suggested)", select("pair", pairs, d.pair ?? ""), "pair") +
    field("Score", select("score", d.scores, d.score), "score") +
    `<div class="lc-range"><label>from <input name="low" type="number" step="0.01" min="0" max="${d.top}" value="${d.low}"></label>` +
    `<label>to <input name="high" type="number" step="0.01" min="0" max="${d.top}" value="${d.high}"></label></div>` +
    `<div class="lc-pair">${field("Per page", select("per_page", d.per_pages, d.per_page), "per_page")}` +
    `${field("Per row", select("columns", d.columns_options, d.columns), "columns")}</div></div>`;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let root = parentElement.querySelector(".lc-filters-root");
  if (!root) {
    root = document.createElement("div");
    root.className = "lc-filters-root";
    parentElement.appendChild(root);
  }
  root.__send = setTriggerValue;
  const html = draw(data);
  if (root.__html === html) return;
  root.__html = html;
  root.innerHTML = html;
  const send = (name, value) => root.__send("set", { name, value, nonce: Date.now() + Math.random() });
  // A picked option or a ticked box hands the keys back to the grid at once (a focused
  // select would take the next A or arrow key for itself).
  root.querySelectorAll("select").forEach((el) => el.addEventListener("change", () => {
    send(el.name, el.value);
    el.blur();
  }));
  root.querySelector("[name=flagged_only]").addEventListener("change", (e) => {
    send("flagged_only", e.target.checked);
    e.target.blur();
  });
  const add = root.querySelector("[name=class_add]");
  add.addEventListener("change", () => {
    const name = data.classes.find((n) => n.toLowerCase() === add.value.trim().toLowerCase());
    if (name !== undefined) send("classes", [...new Set([...data.chosen, name])]);
  });
  root.querySelectorAll("[data-remove]").forEach((el) =>
    el.addEventListener("click", () => send("classes", data.chosen.filter((n) => n !== el.dataset.remove))));
  root.querySelectorAll(".lc-range input").forEach((el) =>
    el.addEventListener("change", () => send("score_range", [
      Number(root.querySelector("[name=low]").value), Number(root.querySelector("[name=high]").value)])));
}
