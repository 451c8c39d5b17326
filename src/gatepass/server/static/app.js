// gatepass /app: a single-page demo of the token column (API.md), vanilla JS, no build.
//
// It signs in with POST /auth/token/login and transport "cookie": the access and
// refresh tokens arrive in HttpOnly cookies, so no token ever lives in this script,
// localStorage or sessionStorage (SECURITY.md CK-08). Unsafe requests carry the login's
// CSRF token in X-CSRF-Token: the one the last login/refresh response returned (kept in
// memory only), or else the readable CSRF cookie. Everything the server sends is put in
// the page with textContent, never innerHTML.
"use strict";

(() => {
  const root = document.getElementById("app");
  const csrfCookieName = root.dataset.csrfCookie;
  let csrfToken = null;
  let currentMethod = null;

  const $ = (id) => document.getElementById(id);

  function readCookie(name) {
    for (const part of document.cookie.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === name) {
        return decodeURIComponent(part.slice(eq + 1).trim());
      }
    }
    return null;
  }

  function currentCsrf() {
    return csrfToken || readCookie(csrfCookieName);
  }

  function formatTime(seconds) {
    if (!seconds) return "-";
    return new Date(seconds * 1000).toLocaleString(undefined, {
      dateStyle: "medium",
      timeStyle: "short",
    });
  }

  function setStatus(text) {
    $("status").textContent = text || "";
  }

  function showError(text) {
    const box = $("form-error");
    box.textContent = text || "";
    box.hidden = !text;
  }

  // One JSON call: credentials stay same-origin, bodies are application/json.
  async function call(method, path, body, withCsrf) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (withCsrf) {
      const token = currentCsrf();
      if (token) headers["X-CSRF-Token"] = token;
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { ok: false, status: 0, data: { detail: "The server cannot be reached." } };
    }
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (err) {
        data = null;
      }
    }
    return { ok: response.ok, status: response.status, data };
  }

  function detail(result, fallback) {
    return (result.data && result.data.detail) || fallback;
  }

  function showSignedOut() {
    currentMethod = null;
    $("signed-in").hidden = true;
    $("logins-card").hidden = true;
    $("signed-out").hidden = false;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function renderLogins(sessions) {
    const body = $("logins");
    body.replaceChildren();
    for (const login of sessions) {
      const row = document.createElement("tr");
      if (login.current) row.className = "current";
      const first = document.createElement("td");
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = login.method === "session" ? "Browser session" : "App login (tokens)";
      first.append(kind);
      if (login.current) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "This app";
        first.append(badge);
      }
      const sid = document.createElement("div");
      sid.className = "sid";
      sid.textContent = login.id;
      first.append(sid);
      row.append(first);
      const device = document.createElement("td");
      device.className = "device";
      const agent = document.createElement("div");
      agent.className = "ua";
      agent.textContent = login.user_agent || "unknown device";
      agent.title = login.user_agent || "";
      const address = document.createElement("div");
      address.className = "ip";
      address.textContent = "from " + (login.ip || "an unknown address");
      device.append(agent, address);
      row.append(
        device,
        cell(formatTime(login.created_at), "time"),
        cell(formatTime(login.expires_at), "time"),
      );
      const action = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "small";
      button.textContent = login.current ? "Sign out" : "Revoke";
      button.addEventListener("click", () => revoke(login.id, Boolean(login.current)));
      action.append(button);
      row.append(action);
      body.append(row);
    }
    $("logins-card").hidden = false;
  }

  async function loadLogins() {
    const result = await call("GET", "/auth/sessions");
    if (result.ok && result.data) renderLogins(result.data.sessions || []);
  }

  async function refresh() {
    const result = await call("POST", "/auth/token/refresh", {}, true);
    if (result.ok && result.data && result.data.csrf_token) csrfToken = result.data.csrf_token;
    return result;
  }

  // Show who is signed in; an expired access cookie is refreshed once.
  async function loadMe(tryRefresh) {
    let result = await call("GET", "/auth/me");
    if (result.status === 401 && tryRefresh && currentCsrf()) {
      const refreshed = await refresh();
      if (refreshed.ok) result = await call("GET", "/auth/me");
    }
    if (!result.ok || !result.data) {
      showSignedOut();
      return false;
    }
    const me = result.data;
    const auth = me.auth || {};
    currentMethod = auth.method;
    $("me-email").textContent = me.email;
    $("me-id").textContent = me.id;
    $("me-method").textContent =
      auth.method === "jwt" ? "tokens (HttpOnly cookies)" : "a browser session";
    $("me-sid").textContent = auth.sid || "";
    $("me-expires").textContent = formatTime(auth.expires_at);
    $("me-scopes").textContent = (auth.scopes || []).join(" ") || "(none)";
    $("refresh").disabled = auth.method !== "jwt";
    $("signed-out").hidden = true;
    $("signed-in").hidden = false;
    await loadLogins();
    return true;
  }

  function credentials() {
    return { email: $("app-email").value, password: $("app-password").value };
  }

  async function login(event) {
    event.preventDefault();
    showError("");
    const body = { ...credentials(), transport: "cookie" };
    const result = await call("POST", "/auth/token/login", body);
    if (!result.ok) {
      showError(detail(result, "Sign-in failed."));
      return;
    }
    csrfToken = result.data && result.data.csrf_token;
    $("app-password").value = "";
    setStatus("Signed in.");
    await loadMe(false);
  }

  async function register() {
    showError("");
    const form = $("login-form");
    if (!form.reportValidity()) return;
    const result = await call("POST", "/auth/register", credentials());
    if (!result.ok) {
      showError(detail(result, "Could not create the account."));
      return;
    }
    await login(new Event("submit"));
  }

  async function logout() {
    const path = currentMethod === "jwt" ? "/auth/token/logout" : "/auth/session/logout";
    const result = await call("POST", path, {}, true);
    if (!result.ok && result.status !== 401) {
      setStatus(detail(result, "Sign-out failed."));
      return;
    }
    csrfToken = null;
    setStatus("Signed out.");
    showSignedOut();
  }

  async function revoke(id, current) {
    const result = await call("DELETE", "/auth/sessions/" + encodeURIComponent(id), undefined, true);
    if (!result.ok) {
      setStatus(detail(result, "Could not revoke that login."));
      return;
    }
    if (current) {
      csrfToken = null;
      setStatus("Signed out.");
      showSignedOut();
      return;
    }
    setStatus("Login revoked.");
    await loadLogins();
  }

  $("login-form").addEventListener("submit", login);
  $("register").addEventListener("click", register);
  $("logout").addEventListener("click", logout);
  $("refresh").addEventListener("click", async () => {
    const result = await refresh();
    setStatus(result.ok ? "Tokens refreshed: the old refresh token is now spent." :
      detail(result, "Refresh failed."));
    if (result.ok) await loadMe(false);
    else if (result.status === 401) showSignedOut();
  });

  loadMe(true);
})();
