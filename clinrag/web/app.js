// clinrag web page: ask (streamed answer with numbered citations that open the cited passage),
// coding (codes with highlighted evidence) and rare disease (HPO chips, ranked diseases).
// Every text from the server is inserted with textContent, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
};
// Character (Unicode scalar) offsets, as the server counts them.
const chars = (s) => Array.from(s);
const slice = (arr, a, b) => arr.slice(a, b).join("");

// ---------------------------------------------------------------------------------------------
// token and requests

const TOKEN_KEY = "clinrag-token";
function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }
$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  $("token-box").open = false;
});

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

function headers(json) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const t = token();
  if (t) h["Authorization"] = "Bearer " + t;
  return h;
}

async function failure(resp) {
  let msg = resp.status + " " + resp.statusText;
  try {
    const j = await resp.json();
    if (j && j.error && j.error.message) msg = j.error.message;
  } catch (_) { /* not JSON */ }
  if (resp.status === 401) {
    $("token-box").open = true;
    $("token").focus();
    msg += " — enter an access token above.";
  }
  return new ApiError(resp.status, msg);
}

async function getJson(path) {
  const r = await fetch(path, { headers: headers(false) });
  if (!r.ok) throw await failure(r);
  return r.json();
}

async function postJson(path, body) {
  const r = await fetch(path, { method: "POST", headers: headers(true), body: JSON.stringify(body) });
  if (!r.ok) throw await failure(r);
  return r.json();
}

// POST and read server-sent events; calls onEvent(name, data) for each.
async function postStream(path, body, onEvent, signal) {
  const r = await fetch(path, {
    method: "POST", headers: { ...headers(true), Accept: "text/event-stream" },
    body: JSON.stringify(body), signal,
  });
  if (!r.ok) throw await failure(r);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).replace(/^ /, "") + "\n";
      }
      if (data) onEvent(name, JSON.parse(data));
    }
  }
}

function setStatus(id, text, isError = false) {
  const s = $(id);
  s.textContent = text;
  s.classList.toggle("error", isError);
}

// ---------------------------------------------------------------------------------------------
// tabs (arrow keys move between them)

const tabs = ["ask", "code", "rare"];
function showTab(name, focus) {
  for (const t of tabs) {
    const on = t === name;
    const b = $("tab-" + t);
    b.setAttribute("aria-selected", String(on));
    b.tabIndex = on ? 0 : -1;
    $("view-" + t).hidden = !on;
    if (on && focus) b.focus();
  }
  history.replaceState(null, "", "#" + name);
}
for (const t of tabs) {
  const b = $("tab-" + t);
  b.addEventListener("click", () => showTab(t, false));
  b.addEventListener("keydown", (ev) => {
    const i = tabs.indexOf(t);
    if (ev.key === "ArrowRight") showTab(tabs[(i + 1) % tabs.length], true);
    else if (ev.key === "ArrowLeft") showTab(tabs[(i + tabs.length - 1) % tabs.length], true);
    else return;
    ev.preventDefault();
  });
}
if (tabs.includes(location.hash.slice(1))) showTab(location.hash.slice(1), false);

// ---------------------------------------------------------------------------------------------
// passage viewer

// Opens a document with the span [start, end) highlighted, showing its section (or a window
// around the span when the section is long).
async function openPassage(docId, start, end, title) {
  const dlg = $("passage");
  $("passage-title").textContent = title || docId;
  $("passage-meta").textContent = "Loading " + docId + "…";
  $("passage-text").replaceChildren();
  if (!dlg.open) dlg.showModal();
  try {
    const d = await getJson("/v1/documents/" + encodeURIComponent(docId) +
      "?start=" + start + "&end=" + end);
    const body = chars(d.body);
    const sec = d.sections.find((s) => s.start <= start && end <= s.end);
    let a = sec ? sec.start : 0, b = sec ? sec.end : body.length;
    if (b - a > 3000) { a = Math.max(a, start - 1200); b = Math.min(b, end + 1200); }
    const mark = el("mark", { id: "passage-mark", text: d.passage.text });
    $("passage-title").textContent = d.title;
    $("passage-meta").textContent = [d.doc_id, d.passage.section, d.journal, d.year,
      "characters " + start + "–" + end].filter(Boolean).join(" · ");
    $("passage-text").replaceChildren(
      a > 0 ? "…" : "", slice(body, a, start), mark, slice(body, end, b), b < body.length ? "…" : "");
    mark.scrollIntoView({ block: "center" });
    $("passage-text").focus();
  } catch (e) {
    $("passage-meta").textContent = "Cannot open " + docId + ": " + e.message;
  }
}

// ---------------------------------------------------------------------------------------------
// ask

let askAbort = null;
$("question").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    $("ask-form").requestSubmit();
  }
});

function renderEvidence(passages) {
  $("evidence").replaceChildren(...passages.map((p) => el("li", { value: p.n },
    el("strong", { text: p.title }), " ",
    el("span", { class: "src", text: "(" + p.doc_id + ", " + p.section + ")" }), " ",
    el("span", { text: p.text.length > 400 ? p.text.slice(0, 400) + "…" : p.text }))));
  $("evidence-box").hidden = passages.length === 0;
}

// The verified answer: each sentence with its footnote markers; the footnotes list each cited
// quote, and a marker or footnote opens the passage with the quote highlighted.
function renderAnswer(ans) {
  const box = $("answer");
  box.classList.add("final");
  box.replaceChildren();
  const notes = [];
  const noteOf = new Map();
  const byN = new Map((ans.evidence || []).map((p) => [p.n, p]));
  const footnote = (c) => {
    const key = c.doc_id + ":" + c.start + ":" + c.end;
    if (!noteOf.has(key)) {
      notes.push(c);
      noteOf.set(key, notes.length);
    }
    return noteOf.get(key);
  };
  if (ans.abstained) {
    box.append(el("p", { class: "abstain",
      text: ans.abstain_reason || "No answer: the retrieved passages do not support one." }));
  }
  const p = el("p");
  for (const s of ans.sentences || []) {
    p.append(s.text);
    for (const c of s.citations || []) {
      const n = footnote(c);
      const pass = byN.get(c.passage);
      const a = el("a", { href: "#fn-" + n, class: "cite", text: "[" + n + "]",
        "aria-label": "source " + n, "data-doc": c.doc_id, "data-start": c.start, "data-end": c.end });
      a.addEventListener("click", (ev) => {
        ev.preventDefault();
        openPassage(c.doc_id, c.start, c.end, pass ? pass.title : c.doc_id);
      });
      p.append(el("sup", {}, a));
    }
    p.append(" ");
  }
  box.append(p);
  $("footnotes").replaceChildren(...notes.map((c, i) => {
    const pass = byN.get(c.passage);
    const open = el("a", { href: "#", class: "open", text: "open passage",
      "data-doc": c.doc_id, "data-start": c.start, "data-end": c.end });
    open.addEventListener("click", (ev) => {
      ev.preventDefault();
      openPassage(c.doc_id, c.start, c.end, pass ? pass.title : c.doc_id);
    });
    return el("li", { id: "fn-" + (i + 1), class: "footnote" },
      el("q", { text: c.quote }), " ",
      el("span", { class: "src", text: "— " + (pass ? pass.title + ", " : "") + c.doc_id +
        (pass && pass.section ? ", " + pass.section : "") + ", characters " + c.start + "–" + c.end + ". " }),
      open);
  }));
  $("footnotes-box").hidden = notes.length === 0;
}

$("ask-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  if (askAbort) askAbort.abort();
  askAbort = new AbortController();
  const btn = $("ask-button");
  btn.disabled = true;
  $("answer").classList.remove("final");
  $("answer").replaceChildren();
  $("footnotes-box").hidden = true;
  $("evidence-box").hidden = true;
  setStatus("ask-status", "Searching…");
  let gotAnswer = false;
  try {
    await postStream("/v1/ask", { question }, (name, data) => {
      if (name === "evidence") {
        renderEvidence(data.passages || []);
        setStatus("ask-status", (data.passages || []).length + " passages found; answering…");
      } else if (name === "token") {
        $("answer").append(data.text);
      } else if (name === "answer") {
        gotAnswer = true;
        renderAnswer(data);
        const n = (data.sentences || []).length;
        setStatus("ask-status", data.abstained ? "No supported answer." :
          n + " verified sentence" + (n === 1 ? "" : "s") + ".");
      } else if (name === "error") {
        throw new ApiError(0, (data.error && data.error.message) || "the answer failed");
      }
    }, askAbort.signal);
    if (!gotAnswer) setStatus("ask-status", "The answer stream ended early.", true);
  } catch (e) {
    if (e.name !== "AbortError") setStatus("ask-status", e.message, true);
  } finally {
    btn.disabled = false;
  }
});

// ---------------------------------------------------------------------------------------------
// coding

$("code-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("note").value;
  const system = $("system").value;
  setStatus("code-status", "Coding…");
  $("codes").replaceChildren();
  try {
    const r = await postJson("/v1/code/" + system, { text, k: 10 });
    renderCodes(text, r);
    setStatus("code-status", r.codes.length + " codes" +
      (r.warnings.length ? " — " + r.warnings.join("; ") : ""));
  } catch (e) {
    setStatus("code-status", e.message, true);
  }
});

function renderCodes(text, r) {
  // Evidence spans, numbered by code, non-overlapping in text order.
  const spans = [];
  r.codes.forEach((c, i) => c.evidence.forEach((e) => spans.push({ ...e, code: i })));
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const t = chars(text);
  const parts = [];
  let pos = 0;
  for (const s of spans) {
    if (s.start < pos) continue;
    parts.push(slice(t, pos, s.start));
    parts.push(el("mark", { text: slice(t, s.start, s.end), "data-code": s.code,
      title: r.codes[s.code].code }));
    pos = s.end;
  }
  parts.push(slice(t, pos, t.length));
  $("note-view").replaceChildren(...parts);
  $("note-view").hidden = false;
  const marks = (i) => $("note-view").querySelectorAll('mark[data-code="' + i + '"]');
  $("codes").replaceChildren(...r.codes.map((c, i) => {
    const li = el("li", { tabIndex: 0 },
      el("span", { class: "code", text: c.code }), " ", c.title, " ",
      c.primary ? null : el("span", { class: "alt", text: "(alternative)" }),
      el("div", { class: "meta", text: "score " + c.score.toFixed(2) +
        (c.evidence.length ? " · evidence: " + c.evidence.map((e) => "“" + e.text + "”").join(", ") : "") }));
    const on = (v) => marks(i).forEach((m) => m.classList.toggle("active", v));
    li.addEventListener("mouseenter", () => on(true));
    li.addEventListener("mouseleave", () => on(false));
    li.addEventListener("focus", () => { on(true); const m = marks(i)[0]; if (m) m.scrollIntoView({ block: "nearest" }); });
    li.addEventListener("blur", () => on(false));
    return li;
  }));
}

// ---------------------------------------------------------------------------------------------
// rare disease

const chips = new Map(); // id -> {id, name, absent}
let suggestions = [];
let active = -1;
let suggestTimer = null;

function renderChips() {
  $("chips").replaceChildren(...[...chips.values()].map((c) => {
    const li = el("li", { class: "chip" + (c.absent ? " absent" : ""), tabIndex: 0,
      "aria-label": c.name + (c.absent ? " (absent)" : " (present)") },
      el("span", { text: c.name }), el("span", { class: "id", text: c.id }));
    const rm = el("button", { type: "button", text: "×", "aria-label": "remove " + c.name });
    rm.addEventListener("click", () => { chips.delete(c.id); renderChips(); });
    li.append(rm);
    li.addEventListener("keydown", (ev) => {
      if (ev.key === " ") { c.absent = !c.absent; renderChips(); ev.preventDefault(); }
      else if (ev.key === "Delete" || ev.key === "Backspace") { chips.delete(c.id); renderChips(); $("hpo-input").focus(); }
    });
    li.addEventListener("dblclick", () => { c.absent = !c.absent; renderChips(); });
    return li;
  }));
}

function closeList() {
  $("hpo-list").hidden = true;
  $("hpo-input").setAttribute("aria-expanded", "false");
  $("hpo-input").removeAttribute("aria-activedescendant");
  active = -1;
}

function renderList() {
  const list = $("hpo-list");
  list.replaceChildren(...suggestions.map((s, i) => {
    const li = el("li", { id: "hpo-opt-" + i, role: "option", "aria-selected": String(i === active) },
      s.name, " ", el("span", { class: "id", text: s.id + (s.synonym ? " · " + s.label : "") }));
    li.addEventListener("mousedown", (ev) => { ev.preventDefault(); addChip(s); });
    return li;
  }));
  list.hidden = suggestions.length === 0;
  $("hpo-input").setAttribute("aria-expanded", String(!list.hidden));
  if (active >= 0) $("hpo-input").setAttribute("aria-activedescendant", "hpo-opt-" + active);
}

function addChip(s, absent = false) {
  if (!chips.has(s.id)) chips.set(s.id, { id: s.id, name: s.name, absent });
  renderChips();
  $("hpo-input").value = "";
  suggestions = [];
  closeList();
}

$("hpo-input").addEventListener("input", () => {
  clearTimeout(suggestTimer);
  const q = $("hpo-input").value.trim();
  if (q.length < 2) { suggestions = []; closeList(); return; }
  suggestTimer = setTimeout(async () => {
    try {
      const r = await getJson("/v1/hpo/suggest?limit=10&q=" + encodeURIComponent(q));
      if ($("hpo-input").value.trim() !== q) return;
      suggestions = r.terms;
      active = suggestions.length ? 0 : -1;
      renderList();
    } catch (e) {
      setStatus("rare-status", e.message, true);
    }
  }, 150);
});

$("hpo-input").addEventListener("keydown", (ev) => {
  if (ev.key === "ArrowDown" && suggestions.length) { active = (active + 1) % suggestions.length; renderList(); }
  else if (ev.key === "ArrowUp" && suggestions.length) { active = (active + suggestions.length - 1) % suggestions.length; renderList(); }
  else if (ev.key === "Enter") { if (active >= 0 && suggestions[active]) addChip(suggestions[active]); }
  else if (ev.key === "Escape") closeList();
  else return;
  ev.preventDefault();
});
$("hpo-input").addEventListener("blur", () => setTimeout(closeList, 100));

async function rank(withText) {
  const present = [...chips.values()].filter((c) => !c.absent).map((c) => c.id);
  const absent = [...chips.values()].filter((c) => c.absent).map((c) => c.id);
  const text = withText ? $("case-text").value.trim() : "";
  if (!present.length && !absent.length && !text) {
    setStatus("rare-status", "Add a phenotype or describe the case first.", true);
    return;
  }
  setStatus("rare-status", "Ranking…");
  try {
    const body = { hpo: present, exclude: absent, k: 10 };
    if (text) body.text = text;
    const r = await postJson("/v1/rare", body);
    for (const t of r.text_terms) addChip({ id: t.id, name: t.name }, t.negated);
    renderDiseases(r);
    setStatus("rare-status", r.diseases_scored + " diseases scored" +
      (r.warnings.length ? " — " + r.warnings.join("; ") : ""));
  } catch (e) {
    setStatus("rare-status", e.message, true);
  }
}

function renderDiseases(r) {
  $("diseases").replaceChildren(...r.candidates.map((d) => el("li", {},
    el("strong", { text: d.name }), " ", el("span", { class: "id", text: d.id }), " ",
    el("span", { class: "score", text: "score " + d.score.toFixed(2) +
      (d.posterior != null ? " · posterior " + d.posterior.toFixed(3) : "") }),
    d.matched.length ? el("ul", {}, ...d.matched.map((m) => el("li", {
      text: m.patient.name + " ↔ " + m.disease.name + " (frequency " + m.frequency.toFixed(2) + ")" }))) : null,
    d.not_observed.length ? el("div", { class: "meta",
      text: "Usually present, not observed: " + d.not_observed.slice(0, 4).map((t) => t.name).join("; ") }) : null)));
}

$("find-terms").addEventListener("click", () => rank(true));
$("case-form").addEventListener("submit", (ev) => { ev.preventDefault(); rank(true); });
