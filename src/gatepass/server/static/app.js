// gatepass /app: a single-page demo of the token column (API.md), plain ES modules, no build.
//
// It signs in with POST /auth/token/login and transport "cookie": the access and
// refresh tokens arrive in HttpOnly cookies, so no token ever lives in this script,
// localStorage or sessionStorage (SECURITY.md CK-08). Unsafe requests carry the login's
// CSRF token in X-CSRF-Token: the one the login response returned (kept in memory
// only), or else the readable CSRF cookie. Expired access tokens are refreshed once for
// every tab and parallel call (refresh.js). Everything the server sends is put in the
// page with textContent, never innerHTML.
import { createRefresher, withRefresh } from "/static/refresh.js";

const root = document.getElementById("app");
const csrfCookieName = root.dataset.csrfCookie;
const apiOrigin = root.dataset.apiOrigin || "";
const channel = "BroadcastChannel" in window ? new BroadcastChannel("gatepass") : null;
let csrfToken = null;
let currentMethod = null;
let currentSid = null;

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
    timeStyle: "medium",
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

// One JSON call. Same-origin calls send cookies; calls to the API service send them too
// (credentials "include": the service checks the token and, for unsafe methods, CSRF).
async function call(method, url, { body, csrf = false } = {}) {
  const headers = { Accept: "application/json" };
  const crossOrigin = url.startsWith("http");
  const init = {
    method,
    headers,
    credentials: crossOrigin ? "include" : "same-origin",
    cache: "no-store",
    // A stalled request must not hold the refresh lock (and every tab) forever.
    signal: AbortSignal.timeout(15000),
  };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (csrf) {
    const token = currentCsrf();
    if (token) headers["X-CSRF-Token"] = token;
  }
  let response;
  try {
    response = await fetch(url, init);
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

const refreshOnce = createRefresher({
  refresh: () => call("POST", "/auth/token/refresh", { body: {}, csrf: true }),
  onRefreshed: (result) => {
    if (result.data && result.data.csrf_token) csrfToken = result.data.csrf_token;
    if (channel) channel.postMessage({ type: "refreshed" });
  },
});

// A call that survives an expired access token (only the token column can refresh).
function authed(method, url, options) {
  const once = () => call(method, url, options);
  if (currentMethod === "session") return once();
  return withRefresh(once, refreshOnce);
}

function showSignedOut(reason) {
  currentMethod = null;
  csrfToken = null;
  $("signed-in").hidden = true;
  $("logins-card").hidden = true;
  $("api-card").hidden = true;
  $("signed-out").hidden = false;
  if (reason) setStatus(reason);
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
    first.dataset.label = "Login";
    const kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = login.method === "session" ? "Browser session" : "App login (tokens)";
    first.append(kind);
    if (login.current) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "This device";
      first.append(badge);
    }
    const sid = document.createElement("div");
    sid.className = "sid";
    sid.textContent = login.id;
    first.append(sid);
    row.append(first);
    const device = document.createElement("td");
    device.className = "device";
    device.dataset.label = "Device";
    const agent = document.createElement("div");
    agent.className = "ua";
    agent.textContent = login.user_agent || "unknown device";
    agent.title = login.user_agent || "";
    const address = document.createElement("div");
    address.className = "ip";
    address.textContent = "from " + (login.ip || "an unknown address");
    device.append(agent, address);
    const started = cell(formatTime(login.created_at), "time");
    started.dataset.label = "Started";
    const expires = cell(formatTime(login.expires_at), "time");
    expires.dataset.label = "Expires";
    row.append(device, started, expires);
    const action = document.createElement("td");
    action.className = "action";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.textContent = login.current ? "Sign out" : "Revoke";
    button.setAttribute(
      "aria-label",
      login.current ? "Sign out this device" : "Revoke login " + login.id,
    );
    button.addEventListener("click", () => revoke(login.id, Boolean(login.current)));
    action.append(button);
    row.append(action);
    body.append(row);
  }
  $("logins-card").hidden = false;
}

async function loadLogins() {
  const result = await authed("GET", "/auth/sessions");
  if (result.ok && result.data) renderLogins(result.data.sessions || []);
}

// Show who is signed in (refreshing an expired access token once, for every tab).
async function loadMe() {
  const me = () => call("GET", "/auth/me");
  // Only a browser that has signed in (it holds a CSRF cookie) can have tokens to refresh.
  const result = currentCsrf() ? await withRefresh(me, refreshOnce) : await me();
  if (!result.ok || !result.data) {
    const ended = result.data && result.data.error === "token_revoked";
    showSignedOut(ended ? "This login was revoked: you are signed out." : "");
    return false;
  }
  const user = result.data;
  const auth = user.auth || {};
  // A different login (another tab signed in again): its CSRF token is in the cookie.
  if (currentSid !== null && auth.sid !== currentSid) csrfToken = null;
  currentSid = auth.sid;
  currentMethod = auth.method;
  $("me-email").textContent = user.email;
  $("me-id").textContent = user.id;
  $("me-method").textContent =
    auth.method === "jwt" ? "tokens (HttpOnly cookies)" : "a browser session";
  $("me-sid").textContent = auth.sid || "";
  $("me-expires").textContent = formatTime(auth.expires_at);
  $("me-scopes").textContent = (auth.scopes || []).join(" ") || "(none)";
  $("refresh").disabled = auth.method !== "jwt";
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  if (apiOrigin) {
    $("api-origin").textContent = apiOrigin;
    $("api-card").hidden = false;
  }
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
  const result = await call("POST", "/auth/token/login", { body });
  if (!result.ok) {
    showError(detail(result, "Sign-in failed."));
    return;
  }
  csrfToken = result.data && result.data.csrf_token;
  currentSid = null;
  $("app-password").value = "";
  setStatus("Signed in.");
  if (channel) channel.postMessage({ type: "signed-in" });
  await loadMe();
}

async function register() {
  showError("");
  const form = $("login-form");
  if (!form.reportValidity()) return;
  const result = await call("POST", "/auth/register", { body: credentials() });
  if (!result.ok) {
    showError(detail(result, "Could not create the account."));
    return;
  }
  await login(new Event("submit"));
}

async function logout() {
  const path = currentMethod === "jwt" ? "/auth/token/logout" : "/auth/session/logout";
  const result = await authed("POST", path, { body: {}, csrf: true });
  if (!result.ok && result.status !== 401) {
    setStatus(detail(result, "Sign-out failed."));
    return;
  }
  if (channel) channel.postMessage({ type: "signed-out" });
  showSignedOut("Signed out.");
}

// Revoking another login needs the password again once this login is older than the
// server's re-authentication window (403 reauth_required): ask for it in a form.
let pendingRevoke = null;

async function revoke(id, current, password) {
  const url = "/auth/sessions/" + encodeURIComponent(id);
  const options = password === undefined ? { csrf: true } : { csrf: true, body: { password } };
  const result = await authed("DELETE", url, options);
  if (!result.ok && result.data && result.data.error === "reauth_required") {
    pendingRevoke = { id, current };
    $("reauth-form").hidden = false;
    $("reauth-password").value = "";
    $("reauth-password").focus();
    setStatus(password === undefined ? detail(result, "Enter your password.") : "That password is not right.");
    return;
  }
  pendingRevoke = null;
  $("reauth-form").hidden = true;
  if (!result.ok) {
    setStatus(detail(result, "Could not revoke that login."));
    return;
  }
  if (current) {
    if (channel) channel.postMessage({ type: "signed-out" });
    showSignedOut("Signed out.");
    return;
  }
  setStatus("Login revoked.");
  await loadLogins();
}

function showApiResult(text) {
  $("api-result").textContent = text;
}

async function callApi(method) {
  showApiResult("Calling the API service…");
  const options = method === "POST" ? { body: { item: "a demo order" }, csrf: true } : {};
  const result = await authed(method, apiOrigin + "/orders", options);
  if (result.ok && result.data) {
    const orders = result.data.orders || [];
    showApiResult(
      `The API service accepted the token of user ${result.data.user} (login ` +
        `${result.data.sid}): ${orders.length} order${orders.length === 1 ? "" : "s"}.`,
    );
    return;
  }
  if (result.status === 401) {
    showApiResult("The API service refused the token: " + detail(result, "unauthorized"));
    await loadMe();
    return;
  }
  showApiResult("The API service answered " + result.status + ": " + detail(result, "error"));
}

$("login-form").addEventListener("submit", login);
$("reauth-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (pendingRevoke) revoke(pendingRevoke.id, pendingRevoke.current, $("reauth-password").value);
});
$("register").addEventListener("click", register);
$("logout").addEventListener("click", logout);
$("whoami").addEventListener("click", async () => {
  if (await loadMe()) setStatus("Checked at " + new Date().toLocaleTimeString() + ".");
});
$("refresh").addEventListener("click", async () => {
  const result = await refreshOnce(Date.now());
  setStatus(
    result.ok
      ? "Tokens refreshed: the old refresh token is now spent."
      : detail(result, "Refresh failed."),
  );
  if (result.ok) await loadMe();
  else if (result.status === 401) showSignedOut();
});
$("api-list").addEventListener("click", () => callApi("GET"));
$("api-add").addEventListener("click", () => callApi("POST"));

// Other tabs of this browser: follow their sign-in and sign-out at once.
if (channel) {
  channel.addEventListener("message", (event) => {
    const type = event.data && event.data.type;
    if (type === "signed-out") showSignedOut("Signed out in another tab.");
    else if (type === "signed-in") {
      csrfToken = null; // the new login's token is in the CSRF cookie
      loadMe();
    }
  });
}
// Coming back to the tab: check the login is still alive (it may have been revoked).
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && currentMethod) loadMe();
});

// For tests and the curious: the helpers this page runs on.
window.gatepassDemo = { call, authed, refreshOnce, loadMe };

loadMe();
