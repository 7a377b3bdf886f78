import type { Command } from 'commander';
import { controlAddress, postLoginToken } from '../supervisor/control-client.js';
import { portFlag } from './status.js';

/**
 * `rabbit-worker dashboard [config]`: prints the dashboard's address with a one-time login token, as
 * Jupyter does. Opening it signs the browser in (an HttpOnly session cookie) and the token is spent.
 * Opens nothing by itself: the host may have no browser, and the link may be wanted through a tunnel.
 */
export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('print the dashboard address of the running supervisor with a one-time login link (opens nothing)')
    .argument('[config]', 'config file or directory; its control section says where the supervisor listens')
    .option('--port <port>', 'control port, instead of reading the config file')
    .action(async (config: string | undefined, flags: { port?: string }) => {
      const address = await controlAddress(config, portFlag(flags.port));
      const { token } = await postLoginToken(address);
      process.stdout.write(`${address.base}/login?token=${encodeURIComponent(token)}\n`);
      process.stderr.write('Open this link once, within 10 minutes, in the browser to sign in (it works once; run this again for another).\n');
    });
}
