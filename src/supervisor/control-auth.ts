import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { systemClock, type Clock } from '../clock.js';

/** The session cookie the dashboard holds. */
export const SESSION_COOKIE = 'rw_session';
/** A one-time login link works once, within this time. */
export const LOGIN_TOKEN_TTL_MS = 10 * 60_000;
/** A dashboard session lasts this long after sign-in (the supervisor's restart ends it sooner). */
export const SESSION_TTL_MS = 12 * 3_600_000;
/** Bounds on what is kept in memory, whatever a client does. */
const MAX_LOGIN_TOKENS = 64;
const MAX_SESSIONS = 256;

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Constant-time equality of two secrets of any length: their digests are compared, never the texts. */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** How a request proved who it is. */
export type Credential = 'token' | 'session';

/**
 * Who may use the control endpoint: the holder of the token (the CLI, `Authorization: Bearer <token>`),
 * or a browser holding a session cookie that a one-time login token bought (`rabbit-worker dashboard`
 * prints the link, as Jupyter does). Login tokens and sessions are kept by their SHA-256 digest: looking
 * one up reveals nothing through timing, and a memory dump does not hand out usable values.
 */
export class ControlAuth {
  readonly #token: string;
  readonly #clock: Clock;
  readonly #logins = new Map<string, number>();
  readonly #sessions = new Map<string, number>();

  constructor(token: string, clock: Clock = systemClock) {
    this.#token = token;
    this.#clock = clock;
  }

  /** The credential a request carries, if any is valid. */
  check(request: IncomingMessage): Credential | undefined {
    const header = request.headers.authorization;
    if (typeof header === 'string' && /^Bearer /i.test(header)) return sameSecret(header.slice(7).trim(), this.#token) ? 'token' : undefined;
    const session = cookie(request, SESSION_COOKIE);
    if (session !== undefined && this.#valid(this.#sessions, session)) return 'session';
    return undefined;
  }

  /** A new one-time login token. */
  issueLogin(): string {
    const token = randomBytes(24).toString('base64url');
    this.#remember(this.#logins, token, LOGIN_TOKEN_TTL_MS, MAX_LOGIN_TOKENS);
    return token;
  }

  /** Spends a login token: a new session id, or undefined when it is unknown, used or expired. */
  redeem(loginToken: string): string | undefined {
    const key = digest(loginToken).toString('hex');
    const expires = this.#logins.get(key);
    this.#logins.delete(key);
    if (expires === undefined || expires < this.#clock.now()) return undefined;
    const session = randomBytes(24).toString('base64url');
    this.#remember(this.#sessions, session, SESSION_TTL_MS, MAX_SESSIONS);
    return session;
  }

  /** The Set-Cookie value for a session: HttpOnly, SameSite=Strict, for the whole endpoint. */
  static sessionCookie(session: string): string {
    return `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_TTL_MS / 1000}`;
  }

  #valid(store: Map<string, number>, value: string): boolean {
    const key = digest(value).toString('hex');
    const expires = store.get(key);
    if (expires === undefined) return false;
    if (expires >= this.#clock.now()) return true;
    store.delete(key);
    return false;
  }

  #remember(store: Map<string, number>, value: string, ttlMs: number, max: number): void {
    const now = this.#clock.now();
    for (const [key, expires] of store) if (expires < now) store.delete(key);
    // the oldest goes first when a client asks for too many
    while (store.size >= max) store.delete(store.keys().next().value as string);
    store.set(digest(value).toString('hex'), now + ttlMs);
  }
}

/** The value of cookie `name` in the request, if present. */
function cookie(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
  }
  return undefined;
}
