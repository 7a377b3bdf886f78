// The control server's JSON API. Auth is the session cookie the server set at /login: the page never sees
// a token, it only sends the cookie back (same origin). A 401 anywhere means the session is gone, and the
// handler registered with onUnauthorized() shows the sign-in screen.

/** A non-2xx answer, or no answer (status 0). Callers branch on `status`, never on the message. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the server could not be reached
   * @param {string} message the server's one-line `error`, or a description
   */
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** @type {() => void} */
let unauthorized = () => {};

/**
 * Registers what happens when any request answers 401.
 * @param {() => void} handler
 */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/**
 * @param {string} path
 * @param {RequestInit} init
 * @returns {Promise<any>} the parsed JSON body
 */
async function request(path, init) {
  let response;
  try {
    response = await fetch(path, { credentials: 'same-origin', cache: 'no-store', ...init });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'the supervisor cannot be reached');
  }
  const text = await response.text();
  let body;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = null;
  }
  if (!response.ok) {
    if (response.status === 401) unauthorized();
    const message = body !== null && typeof body === 'object' && typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
    throw new ApiError(response.status, message);
  }
  return body;
}

/**
 * @param {string} path
 * @param {AbortSignal} [signal]
 */
export const getJson = (path, signal) => request(path, { headers: { accept: 'application/json' }, signal });

/**
 * A write, as the server requires it: POST, same-origin credentials, a JSON body.
 * @param {string} path
 * @param {unknown} body
 */
export const postJson = (path, body) =>
  request(path, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/**
 * The path of a queue's dead letters, the name URL-encoded.
 * @param {string} queue
 * @param {'' | '/replay' | '/purge'} [action]
 */
export const deadLettersPath = (queue, action = '') => `/api/dead-letters/${encodeURIComponent(queue)}${action}`;
