"""The playground (`/playground`, linked from `/`): one query, useful and noisy results side by
side for the same seed, each result's raw JSON one click away.

Plain HTML and a little JavaScript served by the app itself (no front-end build). The page
calls the public API (`GET /search.json`, `GET /backends`) from the browser, with the key typed
into it if the server has keys, so what it shows is what clients get, errors included: an empty
or over-long query shows the API's own message.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["playground"])

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>serpsim</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 44rem; margin: 2rem auto">
<h1>serpsim</h1>
<p>Simulated search behind the APIs agents already call.</p>
<ul>
<li><a href="playground">Playground</a>: useful and noisy results side by side</li>
<li><a href="docs">API reference</a> (SerpApi's <code>/search.json</code>, Search-R1's <code>/retrieve</code>)</li>
<li><a href="backends">Backends</a> this server hosts</li>
<li>Provider shapes: <code>/tavily</code>, <code>/searxng</code>, <code>/serper</code>, <code>/brave</code>,
<code>/cse</code>, <code>/exa</code>; MCP at <code>/mcp</code></li>
</ul>
</body></html>
"""

PLAYGROUND = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>serpsim playground</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #202124 }
 form { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin-bottom: 1rem }
 label { display: flex; flex-direction: column; font-size: .8rem; color: #5f6368 }
 input[name=q] { width: 28rem }
 .columns { display: grid; grid-template-columns: 1fr 1fr; gap: 2rem }
 .result { margin: 0 0 1.1rem }
 .result .url { color: #188038; font-size: .85rem }
 .result a.title { font-size: 1.1rem; color: #1a0dab; text-decoration: none }
 .result .snippet { margin: .2rem 0; font-size: .9rem }
 .label { font-size: .7rem; padding: 0 .3rem; border-radius: .2rem; background: #e8f0fe }
 .label.noisy { background: #fce8e6 }
 .error { color: #b3261e; font-weight: 600 }
 pre { font-size: .75rem; background: #f1f3f4; padding: .4rem; white-space: pre-wrap }
 h2 { font-size: 1rem }
</style></head>
<body>
<h1>serpsim playground</h1>
<form id="search">
 <label>Query <input name="q" autocomplete="off"></label>
 <label>Results <input name="num" type="number" value="5" min="1" max="100" style="width:4rem"></label>
 <label>Seed <input name="seed" type="number" value="1" min="0" style="width:6rem"></label>
 <label>Noise ratio (right column; empty: all noisy)
  <input name="noise_ratio" type="number" min="0" max="1" step="0.1" style="width:6rem"></label>
 <label>Backend <select name="backend"></select></label>
 <label>API key <input name="api_key" type="password" style="width:10rem"></label>
 <button type="submit">Search</button>
</form>
<div class="columns">
 <section id="useful" data-state="idle"><h2>useful</h2><div class="body"></div></section>
 <section id="noisy" data-state="idle"><h2>noisy</h2><div class="body"></div></section>
</div>
<script>
const form = document.getElementById("search");
const kinds = {};

async function loadBackends() {
  const select = form.elements.backend;
  try {
    const body = await (await fetch("backends")).json();
    for (const b of body.backends) {
      kinds[b.name] = b.kind;
      const option = new Option(`${b.name} (${b.kind})`, b.name);
      select.add(option);
    }
  } catch (e) { select.add(new Option("(default)", "")); }
}

function params(column) {
  const f = form.elements, p = new URLSearchParams();
  p.set("q", f.q.value); p.set("num", f.num.value);
  if (f.seed.value !== "") p.set("seed", f.seed.value);
  if (f.backend.value) p.set("backend", f.backend.value);
  if (f.api_key.value) p.set("api_key", f.api_key.value);
  if (kinds[f.backend.value] && kinds[f.backend.value] !== "simulated") return p;
  if (column === "useful") p.set("quality", "useful");
  else if (f.noise_ratio.value !== "") p.set("noise_ratio", f.noise_ratio.value);
  else p.set("quality", "noisy");
  return p;
}

function text(tag, cls, value) {
  const el = document.createElement(tag);
  if (cls) el.className = cls;
  el.textContent = value;
  return el;
}

function render(section, url, body, ok) {
  const out = section.querySelector(".body");
  out.replaceChildren();
  const raw = document.createElement("a");
  raw.href = url; raw.textContent = "raw JSON"; raw.className = "raw";
  out.append(raw);
  if (!ok || !body.organic_results) {
    out.append(text("p", "error", body.error || "No results."));
    out.lastChild.setAttribute("role", "alert");
    return;
  }
  const labels = (body.simulation && body.simulation.labels) || [];
  body.organic_results.forEach((r, i) => {
    const div = document.createElement("div");
    div.className = "result";
    const a = text("a", "title", r.title); a.href = r.link;
    div.append(text("div", "url", r.displayed_link || r.link), a, text("p", "snippet", r.snippet));
    if (labels[i]) div.append(text("span", "label " + labels[i], labels[i]));
    const details = document.createElement("details");
    details.append(text("summary", "", "JSON"), text("pre", "json", JSON.stringify(r, null, 2)));
    div.append(details);
    out.append(div);
  });
}

async function run(column) {
  const section = document.getElementById(column);
  section.dataset.state = "loading";
  if (column === "noisy" && kinds[form.elements.backend.value] && kinds[form.elements.backend.value] !== "simulated") {
    render(section, "#", {error: "Real search: no noisy variant."}, false);
    section.dataset.state = "done";
    return;
  }
  const url = "search.json?" + params(column).toString();
  try {
    const response = await fetch(url);
    render(section, url, await response.json(), response.ok);
  } catch (e) {
    render(section, url, {error: String(e)}, false);
  }
  section.dataset.state = "done";
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run("useful"); run("noisy");
});
loadBackends();
</script>
</body></html>
"""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> str:
    return INDEX


@router.get("/playground", response_class=HTMLResponse, include_in_schema=False)
async def playground() -> str:
    return PLAYGROUND
