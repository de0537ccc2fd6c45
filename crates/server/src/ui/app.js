// phoneboot's admin UI: the pages are rendered by the server; every change goes through the
// JSON API (/api/v1) with the session's CSRF token, so the UI obeys the same rules as the CLI
// and scripts, and shows a refusal next to the field the API names.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf"]')?.content ?? "";

async function api(method, url, body, { etag, type } = {}) {
  const headers = { "X-CSRF-Token": csrf() };
  if (etag) headers["If-Match"] = etag;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = type ?? "application/json";
    payload = typeof body === "string" || body instanceof Blob ? body : JSON.stringify(body);
  }
  const response = await fetch(url, { method, headers, body: payload, credentials: "same-origin" });
  let json = null;
  const text = await response.text();
  try { json = text ? JSON.parse(text) : null; } catch { json = { detail: text }; }
  return { ok: response.ok, status: response.status, json, headers: response.headers };
}

// `lines[0].dn` (the API's field) is the input named `lines.0.dn`.
const inputName = (field) => field.replace(/\[(\d+)\]/g, ".$1");

function clearErrors(form) {
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
  form.querySelectorAll(".field-error").forEach((e) => e.remove());
  const box = form.querySelector(".form-error");
  if (box) box.textContent = "";
}

function showProblem(form, problem) {
  const box = form.querySelector(".form-error");
  const detail = problem?.detail ?? "the request failed";
  const field = problem?.field ? inputName(problem.field) : null;
  const input = field
    ? form.querySelector(`[name="${CSS.escape(field)}"]`) ?? form.querySelector(`[data-field~="${CSS.escape(field)}"]`)
    : null;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    const note = document.createElement("div");
    note.className = "error field-error";
    note.id = `${field}-error`;
    note.setAttribute("role", "alert");
    note.textContent = detail;
    input.setAttribute("aria-describedby", note.id);
    input.insertAdjacentElement("afterend", note);
    input.focus();
  }
  if (box) box.textContent = input ? "" : detail;
}

// The form's inputs as an object: `lines.0.dn` becomes { lines: [{ dn }] }; empty optional
// values are left out, numbers stay text (the API reads both).
function formObject(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled || el.type === "submit" || el.type === "button") continue;
    let value = el.type === "checkbox" ? el.checked : el.value;
    if (value === "" && el.dataset.optional !== undefined) continue;
    const path = el.name.split(".");
    let node = out;
    path.forEach((key, i) => {
      const last = i === path.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(path[i + 1]);
      if (last) { node[key] = value; return; }
      node[key] ??= nextIsIndex ? [] : {};
      node = node[key];
    });
  }
  // A list whose every row was removed is sent empty (a merge patch would keep it otherwise).
  form.querySelectorAll("[data-list-name]").forEach((f) => { out[f.dataset.listName] ??= []; });
  // Lists made from numbered inputs may have gaps (a removed line): close them.
  const compact = (v) => Array.isArray(v) ? v.filter((x) => x !== undefined).map(compact)
    : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, compact(x)])) : v;
  return compact(out);
}

document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!form.dataset.api) return;
  event.preventDefault();
  clearErrors(form);
  let body = form.dataset.json ? JSON.parse(form.querySelector("textarea").value || "{}") : formObject(form);
  if (form.dataset.wrap) body = { [form.dataset.wrap]: body };
  const answer = await api(form.dataset.method ?? "POST", form.dataset.api, body, { etag: form.dataset.etag });
  if (!answer.ok) return showProblem(form, answer.json);
  const next = form.dataset.next === "location" ? answer.headers.get("Location")?.replace("/api/v1/", "/ui/") : form.dataset.next;
  if (next) location.assign(next); else location.reload();
});

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const form = button.closest("form");
  switch (button.dataset.action) {
    case "add-line": {
      const list = button.dataset.list ?? "lines";
      const rows = document.querySelector(`#${list} tbody`);
      const index = rows.querySelectorAll("tr").length;
      const row = document.querySelector(`#${list}-template`).content.firstElementChild.cloneNode(true);
      row.querySelectorAll("input").forEach((i) => { i.name = i.name.replace("$", index); i.id = i.name; });
      rows.appendChild(row);
      row.querySelector("input").focus();
      break;
    }
    case "remove-line":
      button.closest("tr").querySelectorAll("input").forEach((i) => { i.disabled = true; });
      button.closest("tr").hidden = true;
      break;
    case "call": {
      // A body from a field of the page (the user to log in), or none.
      const from = button.dataset.bodyFrom ? document.querySelector(button.dataset.bodyFrom) : null;
      const body = from ? { [button.dataset.bodyField]: from.value } : undefined;
      const answer = await api(button.dataset.method ?? "POST", button.dataset.url, body, { etag: button.dataset.etag });
      if (!answer.ok && form) return showProblem(form, answer.json);
      if (!answer.ok) return alert(answer.json?.detail ?? "failed");
      if (button.dataset.next) location.assign(button.dataset.next); else location.reload();
      break;
    }
    case "logout":
      await api("DELETE", "/api/v1/session");
      location.assign("/ui/login");
      break;
  }
});

// Login: no session yet, so no CSRF token.
document.querySelector("#login")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const answer = await api("POST", "/api/v1/session", { name: form.name.value, password: form.password.value });
  if (!answer.ok) return showProblem(form, answer.json);
  // Only back to a page of the UI: a link to the login page cannot send anyone elsewhere.
  const next = new URLSearchParams(location.search).get("next") ?? "";
  location.assign(/^\/ui\/[^/\\]?/.test(next) && !next.startsWith("//") ? next : "/ui/");
});

// The dashboard: counters polled every 2 s, rates from the difference.
const dashboard = document.querySelector("#dashboard");
if (dashboard) {
  let last = null;
  const tick = async () => {
    const answer = await api("GET", "/api/v1/counters");
    if (answer.ok) {
      const now = answer.json;
      const rate = (name) => last ? Math.max(0, (now[name] - last.values[name]) / ((Date.now() - last.at) / 1000)) : 0;
      const set = (id, v) => { const e = document.getElementById(id); if (e) e.textContent = v; };
      set("rate", rate("Requests").toFixed(1));
      set("processed", now.RequestsProcessed);
      set("notfound", now.RequestsNotFound);
      set("busy", now.RequestsOverflow);
      set("progress", now.RequestsInProgress);
      set("build", `version ${now.DatabaseVersion ?? "?"}`);
      last = { values: now, at: Date.now() };
    }
  };
  tick();
  setInterval(tick, 2000);
}

// Import: the dry run shows what every row would do; Apply writes it all or nothing.
const importForm = document.querySelector("#import");
if (importForm) {
  const run = async (dryRun) => {
    clearErrors(importForm);
    const text = importForm.querySelector("textarea").value;
    const replace = importForm.querySelector("[name=replace]").checked;
    const answer = await api("POST", `/api/v1/import?dry_run=${dryRun}&replace=${replace}`, text, { type: "text/csv" });
    const out = document.querySelector("#import-result");
    out.replaceChildren();
    if (!answer.ok) {
      const problems = answer.json?.problems ?? [];
      importForm.querySelector(".form-error").textContent = answer.json?.detail ?? "refused";
      for (const p of problems) {
        const li = document.createElement("li");
        li.textContent = `line ${p.line}${p.column ? `, ${p.column}` : ""}: ${p.reason}`;
        out.appendChild(li);
      }
      document.querySelector("#apply").disabled = true;
      return;
    }
    const summary = document.createElement("p");
    summary.className = "ok";
    summary.textContent = dryRun
      ? `Preview: ${answer.json.added} to add, ${answer.json.replaced} to replace. Nothing written yet.`
      : `Imported: ${answer.json.added} added, ${answer.json.replaced} replaced (version ${answer.json.version}).`;
    out.appendChild(summary);
    const table = document.createElement("table");
    table.innerHTML = "<thead><tr><th>Line</th><th>Kind</th><th>Name</th><th>Change</th></tr></thead><tbody></tbody>";
    for (const r of answer.json.rows) {
      const tr = document.createElement("tr");
      for (const v of [r.line, r.kind, r.name, r.change]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      table.tBodies[0].appendChild(tr);
    }
    out.appendChild(table);
    document.querySelector("#apply").disabled = !dryRun ? true : false;
  };
  importForm.addEventListener("submit", (e) => { e.preventDefault(); run(true); });
  document.querySelector("#apply").addEventListener("click", () => run(false));
  importForm.querySelector("input[type=file]")?.addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (file) importForm.querySelector("textarea").value = await file.text();
  });
}

// Custom files: upload with progress (XMLHttpRequest reports it; fetch does not).
const upload = document.querySelector("#upload");
if (upload) {
  upload.addEventListener("submit", (event) => {
    event.preventDefault();
    clearErrors(upload);
    const file = upload.querySelector("input[type=file]").files[0];
    if (!file) return;
    const name = upload.querySelector("[name=name]").value || file.name;
    const bar = upload.querySelector("progress");
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/api/v1/files/${name.split("/").map(encodeURIComponent).join("/")}`);
    xhr.setRequestHeader("X-CSRF-Token", csrf());
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = e.loaded / e.total; };
    xhr.onload = () => {
      if (xhr.status < 300) return location.reload();
      let problem = null;
      try { problem = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      showProblem(upload, problem);
    };
    xhr.send(file);
  });
}
