import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';

/**
 * Debian's chromium, driven by playwright-core: no browser download; playwright gives every launch a fresh
 * temporary user-data directory and removes it on close, and every page gets its own context. A page
 * opened through {@link Chrome.page} is watched: a console error or an uncaught exception fails the test
 * at {@link WatchedPage.assertClean} unless it was expected (a 401 the test provoked, for instance).
 */

/** The Debian package's binary; playwright-core drives it over CDP. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A page with the console errors and page errors it produced. */
export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors and uncaught exceptions so far, as text. */
  readonly errors: string[];
  /** Errors matching `pattern` are expected from now on and do not fail {@link assertClean}. */
  allow(pattern: RegExp): void;
  /** Throws when the page logged an unexpected error; closes nothing. */
  assertClean(): void;
}

export class Chrome {
  private constructor(readonly browser: Browser) {}

  /** Launches chromium (a fresh temporary profile: playwright passes its own `--user-data-dir`). */
  static async launch(): Promise<Chrome> {
    return new Chrome(await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 30_000 }));
  }

  /**
   * A new page in an isolated context (its own cookies and localStorage), watched for errors. The context
   * is closed by {@link close} or by the caller (`context.close()`).
   */
  async page(options: BrowserContextOptions = {}): Promise<WatchedPage> {
    const context = await this.browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
    const page = await context.newPage();
    const errors: string[] = [];
    const allowed: RegExp[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => errors.push(`uncaught: ${error.stack ?? error.message}`));
    // chromium logs most CSP refusals itself; this names every one, whatever the browser version says
    // (a string: the tests are compiled without the DOM's types)
    await page.addInitScript({
      content: "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));",
    });
    return {
      page,
      context,
      errors,
      allow(pattern: RegExp) {
        allowed.push(pattern);
      },
      assertClean() {
        const unexpected = errors.filter((e) => !allowed.some((p) => p.test(e)));
        if (unexpected.length > 0) throw new Error(`the page logged errors:\n${unexpected.join('\n')}`);
      },
    };
  }

  /** Closes every context and the browser. */
  async close(): Promise<void> {
    await this.browser.close();
  }
}
