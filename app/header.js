// The page's header: title, where the audit came from, the counts (HTML built and escaped by
// app/header.py) and the view tabs, which send the chosen view as one "view" trigger. Its CSS
// (style.css) styles the whole page.
//
// data: {html, views: [name], view}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let root = parentElement.querySelector(".lc-header");
  if (!root) {
    root = document.createElement("div");
    root.className = "lc-header";
    parentElement.appendChild(root);
    root.addEventListener("click", (e) => {
      const tab = e.target.closest("[data-view]");
      if (tab && !tab.classList.contains("lc-current")) setTriggerValue("view", tab.dataset.view);
    });
  }
  const tabs = data.views.map((name) =>
    `<button data-view="${name}" class="${name === data.view ? "lc-current" : ""}">${name}</button>`).join("");
  root.innerHTML = `${data.html}<div class="lc-tabs">${tabs}</div>`;
}
