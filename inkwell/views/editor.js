// The corrector's line editor: an anywidget front-end module with no imports (no JupyterLab, no ipywidgets
// package), so it renders wherever anywidget does: JupyterLab 4, Notebook 7, VS Code and Cursor.
//
// The kernel sends the line shown (`line`), the page's image (`page_image`), its boxes (`boxes`) and the palette
// (`palette`); every action goes back as ONE message holding the action, the line's key and the text typed, so a
// check always holds exactly what was in the box. While the kernel answers, the box is read-only (nothing typed
// then can land in the wrong line). Every key pressed inside the editor stops here: the notebook's own shortcuts
// (a, b, m, d d, arrows, Shift+Enter, Escape...) never see it.

const KEYS = [
  ["Enter", "check the line (as typed) and open the next one"],
  ["\u2191 / \u2193 (or Alt+\u2191 / Alt+\u2193)", "the line before / after, without checking (what you typed is kept)"],
  ["Alt+N", "not text (a stain, a stamp, a drawing): the line leaves training"],
  ["Alt+J", "join this box with the next box of its page into one line"],
  ["Alt+1 \u2026 Alt+9, Alt+0", "insert the palette's 1st \u2026 10th character at the cursor"],
  ["Esc", "undo your typing in this line"],
  ["click a box on the page", "open its line"],
];

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function render({ model, el: host }) {
  const root = el("div", "iw-ed");
  root.tabIndex = -1;
  const pageCol = el("div", "iw-ed-page");
  const pageWrap = el("div", "iw-ed-page-wrap");
  const pageImg = el("img");
  pageImg.alt = "the page, every line's box coloured by confidence and state";
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  pageWrap.append(pageImg, svg);
  const legend = el("div", "iw-ed-legend");
  legend.innerHTML =
    "<span><i class='iw-sw' style='border-color:#d62728'></i>unsure</span>" +
    "<span><i class='iw-sw' style='border-color:#e6a700'></i>fairly sure</span>" +
    "<span><i class='iw-sw' style='border-color:#2ca02c'></i>sure</span>" +
    "<span><i class='iw-sw iw-accepted'></i>accepted</span>" +
    "<span><i class='iw-sw iw-corrected'></i>corrected</span>" +
    "<span><i class='iw-sw iw-no_text'></i>not text</span>";
  pageCol.append(pageWrap, legend);

  const main = el("div", "iw-ed-main");
  const info = el("div", "iw-ed-info");
  const lineImg = el("img", "iw-ed-line");
  const read = el("div", "iw-ed-read");
  const input = el("input", "iw-ed-text");
  input.type = "text";
  input.spellcheck = false;
  input.autocomplete = "off";
  input.setAttribute("data-lm-suppress-shortcuts", "true");
  input.setAttribute("aria-label", "the line's text");
  const palette = el("div", "iw-ed-palette");
  const buttons = el("div", "iw-ed-buttons");
  const mk = (label, title, action) => {
    const b = el("button", "iw-ed-button", label);
    b.type = "button";
    b.title = title;
    b.dataset.action = action;
    b.addEventListener("click", () => act(action));
    return b;
  };
  const backB = mk("\u25b2 back", "the line before, without checking (\u2191)", "back");
  const nextB = mk("next \u25bc", "the line after, without checking (\u2193)", "next");
  const checkB = mk("\u2714 check", "check the line as typed and open the next (Enter)", "check");
  const notB = mk("not text", "a stain, a stamp, a drawing: leaves training (Alt+N)", "not_text");
  const joinB = mk("join with next box", "join this box with the next box of its page (Alt+J)", "join");
  const where = el("span", "iw-ed-position");
  buttons.append(backB, nextB, checkB, notB, joinB, where);
  const keys = el("details", "iw-ed-keys");
  keys.open = true;
  const summary = el("summary", "", "Keys");
  const table = el("table");
  for (const [k, what] of KEYS) {
    const tr = el("tr");
    tr.append(el("td", "iw-ed-key", k), el("td", "", what));
    table.append(tr);
  }
  keys.append(summary, table);
  main.append(info, lineImg, read, input, palette, buttons, keys);
  root.append(pageCol, main);
  host.append(root);

  let pending = false;
  let shownKey = null;
  let original = "";

  function setPending(on) {
    pending = on;
    input.readOnly = on;
    root.classList.toggle("iw-ed-pending", on);
  }

  function act(action, target) {
    const line = model.get("line") || {};
    if (pending || !line.key) return;
    setPending(true);
    model.send({ action, key: line.key, text: input.value, target: target || "" });
  }

  function insert(ch) {
    if (pending || input.disabled) return;
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? start;
    input.setRangeText(ch, start, end, "end");
    input.focus();
  }

  function drawPalette() {
    palette.textContent = "";
    const chars = model.get("palette") || [];
    chars.forEach((ch, k) => {
      // a combining mark alone is shown on a dotted circle, as keyboards and character maps show it
      const b = el("button", "iw-ed-char", /^\p{M}/u.test(ch) ? "\u25cc" + ch : ch);
      b.type = "button";
      b.title = k < 10 ? `Alt+${(k + 1) % 10}: insert ${ch}` : `insert ${ch}`;
      b.dataset.char = ch;
      if (k < 10) b.append(el("sub", "", String((k + 1) % 10)));
      // mousedown, not click: the text box keeps its cursor and selection
      b.addEventListener("mousedown", (e) => { e.preventDefault(); insert(ch); });
      palette.append(b);
    });
    palette.style.display = chars.length ? "" : "none";
  }

  function drawBoxes() {
    const boxes = model.get("boxes") || [];
    const size = model.get("page_size") || [0, 0];
    const current = (model.get("line") || {}).key;
    svg.textContent = "";
    svg.setAttribute("viewBox", `0 0 ${size[0] || 1} ${size[1] || 1}`);
    svg.setAttribute("preserveAspectRatio", "none");
    for (const b of boxes) {
      const poly = document.createElementNS(svgNS, "polygon");
      poly.setAttribute("points", b.points);
      poly.setAttribute("class", `iw-box iw-${b.state}` + (b.key === current ? " iw-current" : ""));
      poly.style.stroke = b.color;
      poly.dataset.key = b.key;
      const title = document.createElementNS(svgNS, "title");
      title.textContent = b.title;
      poly.append(title);
      poly.addEventListener("click", () => act("open", b.key));
      svg.append(poly);
    }
  }

  function drawPage() {
    const src = model.get("page_image") || "";
    pageCol.style.display = src ? "" : "none";
    if (src && pageImg.getAttribute("src") !== src) pageImg.setAttribute("src", src);
    drawBoxes();
  }

  function drawLine() {
    const line = model.get("line") || {};
    root.dataset.key = line.key || "";
    root.dataset.serial = String(line.serial ?? "");
    if (!line.key) {
      info.textContent = "These readings hold no lines to correct.";
      input.disabled = true;
      lineImg.removeAttribute("src");
      setPending(false);
      return;
    }
    input.disabled = false;
    info.innerHTML = line.info_html || "";
    if (lineImg.getAttribute("src") !== line.image) lineImg.setAttribute("src", line.image || "");
    lineImg.alt = `line ${line.key}`;
    read.innerHTML = line.read_html || "";
    where.textContent = line.position || "";
    backB.disabled = !line.has_back;
    nextB.disabled = !line.has_next;
    joinB.disabled = !line.can_join;
    // a line pushed again unchanged (a count changed elsewhere) keeps what is being typed in it
    if (pending || shownKey !== line.key || line.text !== original) input.value = line.text;
    original = line.text;
    shownKey = line.key;
    setPending(false);
    const end = input.value.length;
    input.setSelectionRange(end, end);
    if (root.contains(document.activeElement)) input.focus({ preventScroll: true });
  }

  // every key pressed inside the editor stays inside it
  const stop = (e) => e.stopPropagation();
  root.addEventListener("keyup", stop);
  root.addEventListener("keypress", stop);
  root.addEventListener("keydown", (e) => {
    e.stopPropagation();
    if (e.isComposing) return;
    if (pending) {  // the kernel has not shown the next line yet: nothing typed now may change the old one
      if (e.key.length === 1 || ["Enter", "Backspace", "Delete"].includes(e.key)) e.preventDefault();
      return;
    }
    const alt = e.altKey && !e.ctrlKey && !e.metaKey;
    let handled = true;
    if (e.key === "Enter" && !e.shiftKey && !alt) act("check");
    else if (e.key === "Enter" && e.shiftKey) act("check");  // Shift+Enter: the same, never the cell's run
    else if (e.key === "ArrowUp" && !e.shiftKey) act("back");
    else if (e.key === "ArrowDown" && !e.shiftKey) act("next");
    else if (alt && e.code === "KeyN") act("not_text");
    else if (alt && e.code === "KeyJ") { if (!joinB.disabled) act("join"); }
    else if (alt && /^Digit[0-9]$/.test(e.code)) {
      const k = (Number(e.code.slice(5)) + 9) % 10;
      const ch = (model.get("palette") || [])[k];
      if (ch) insert(ch);
    } else if (e.key === "Escape") { input.value = original; }
    else handled = false;
    if (handled) e.preventDefault();
  });

  model.on("change:line", () => { drawLine(); drawBoxes(); });
  model.on("change:boxes", drawBoxes);
  model.on("change:page_image", drawPage);
  model.on("change:page_size", drawBoxes);
  model.on("change:palette", drawPalette);
  drawPalette();
  drawPage();
  drawLine();
  return () => {};
}

export default { render };
