// gatepass: a single-flight refresh helper for pages on the token-cookie transport.
//
// When the access token expires, every parallel call of every open tab sees a 401 at
// about the same moment. Rotating refresh tokens make that dangerous for naive clients
// (each tab spending the same refresh token) and wasteful for all. This module makes
// them share one refresh:
//
// - inside a tab, concurrent callers await the same promise;
// - across tabs, the refresh runs under the Web Locks API (one holder at a time), and
//   a tab that gets the lock after another tab refreshed (a timestamp in localStorage,
//   never a token) skips its own refresh and simply retries with the new cookies.
//
// The tokens themselves stay in HttpOnly cookies: no token is ever readable here.

const LOCK_NAME = "gatepass-refresh";
const STAMP_KEY = "gatepass.refreshed-at";
// 401 codes a refresh cannot cure: the login itself is over.
const FINAL = new Set(["token_revoked", "refresh_reused", "session_expired"]);

function readStamp(storage) {
  try {
    return Number(storage.getItem(STAMP_KEY)) || 0;
  } catch (err) {
    return 0;
  }
}

function writeStamp(storage, value) {
  try {
    storage.setItem(STAMP_KEY, String(value));
  } catch (err) {
    // storage disabled: tabs then refresh one after another under the lock
  }
}

/**
 * A function `refreshOnce(failedAt)` that refreshes at most once for everyone.
 *
 * @param {object} options
 * @param {() => Promise<{ok: boolean, status: number}>} options.refresh performs one
 *   POST /auth/token/refresh and resolves to its result.
 * @param {() => number} [options.now] the clock (ms), shared by every tab.
 * @param {Storage} [options.storage] where the last refresh time is shared.
 * @param {LockManager} [options.locks] navigator.locks (absent: in-tab only).
 * @param {(result: object) => void} [options.onRefreshed] told after a refresh this
 *   tab performed.
 */
export function createRefresher({
  refresh,
  now = () => Date.now(),
  storage = globalThis.localStorage,
  locks = globalThis.navigator && globalThis.navigator.locks,
  onRefreshed = () => {},
}) {
  let inflight = null;

  const exclusive = (task) => (locks ? locks.request(LOCK_NAME, task) : task());

  return function refreshOnce(failedAt) {
    if (inflight) return inflight;
    inflight = exclusive(async () => {
      const stamp = readStamp(storage);
      // Another tab refreshed after this call failed (a stamp from the future, after a
      // clock change, is ignored so that it cannot block refreshes for good).
      if (stamp > failedAt && stamp <= now()) {
        return { ok: true, status: 200, shared: true };
      }
      const result = await refresh();
      if (result.ok) {
        writeStamp(storage, now());
        onRefreshed(result);
      }
      return result;
    }).finally(() => {
      inflight = null;
    });
    return inflight;
  };
}

/**
 * Run `call`; on a 401 that a refresh can cure, refresh once (shared) and run it again.
 *
 * @param {() => Promise<{status: number, data: any}>} call the request to make.
 * @param {(failedAt: number) => Promise<{ok: boolean}>} refreshOnce from createRefresher.
 * @param {() => number} [now] the same clock as the refresher's.
 */
export async function withRefresh(call, refreshOnce, now = () => Date.now()) {
  const started = now();
  const first = await call();
  const code = first.data && first.data.error;
  if (first.status !== 401 || FINAL.has(code)) return first;
  const refreshed = await refreshOnce(started);
  if (!refreshed.ok) return first;
  return call();
}
